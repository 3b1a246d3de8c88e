"""RC2-CBC decryption (RFC 2268), for the legacy PKCS#12 files that encrypt their certificates with 40-bit RC2
(older OpenSSL and Windows exports). ``cryptography`` offers RC2 with 128-bit keys only.

Pure Python and slow (about 30 µs a block), so ``pkcs12`` caps how much it decrypts (``limits.MAX_RC2_BYTES``).
Only the stdlib: no Django.
"""

from __future__ import annotations

# RFC 2268 section 2: the key-expansion permutation, from the digits of pi.
PITABLE = bytes.fromhex(
    "d978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32"
    "bd8f40eb86b77b0bf09521225c6b4e8254d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626"
    "6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed708e8eade8052eef784aa72ac354d6a2a"
    "961ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731"
    "2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2e"
    "c5f3db47e5a59c770aa62068fe7fc1ad"
)
_MASK = 0xFFFF


def expand_key(key: bytes, effective_bits: int) -> list[int]:
    """The 64 16-bit round keys (RFC 2268 section 2)."""
    if not 1 <= len(key) <= 128 or not 1 <= effective_bits <= 1024:
        raise ValueError("RC2 keys are 1 to 128 bytes, with 1 to 1024 effective bits")
    expanded = bytearray(128)
    expanded[: len(key)] = key
    for i in range(len(key), 128):
        expanded[i] = PITABLE[(expanded[i - 1] + expanded[i - len(key)]) & 0xFF]
    t8 = (effective_bits + 7) // 8
    expanded[128 - t8] = PITABLE[expanded[128 - t8] & (0xFF >> (8 * t8 - effective_bits))]
    for i in range(127 - t8, -1, -1):
        expanded[i] = PITABLE[expanded[i + 1] ^ expanded[i + t8]]
    return [expanded[2 * i] | (expanded[2 * i + 1] << 8) for i in range(64)]


def decrypt_block(keys: list[int], block: bytes) -> bytes:
    """One 8-byte block (RFC 2268 section 4): five r-mixing rounds, r-mashing, six, r-mashing, five."""
    r0, r1, r2, r3 = (block[i] | (block[i + 1] << 8) for i in range(0, 8, 2))
    j = 63
    for rounds in (5, 6, 5):
        for _ in range(rounds):
            r3 = (((r3 >> 5) | (r3 << 11)) - keys[j] - (r2 & r1) - (~r2 & r0)) & _MASK
            r2 = (((r2 >> 3) | (r2 << 13)) - keys[j - 1] - (r1 & r0) - (~r1 & r3)) & _MASK
            r1 = (((r1 >> 2) | (r1 << 14)) - keys[j - 2] - (r0 & r3) - (~r0 & r2)) & _MASK
            r0 = (((r0 >> 1) | (r0 << 15)) - keys[j - 3] - (r3 & r2) - (~r3 & r1)) & _MASK
            j -= 4
        if j > 0:
            r3 = (r3 - keys[r2 & 63]) & _MASK
            r2 = (r2 - keys[r1 & 63]) & _MASK
            r1 = (r1 - keys[r0 & 63]) & _MASK
            r0 = (r0 - keys[r3 & 63]) & _MASK
    return bytes((r0 & 0xFF, r0 >> 8, r1 & 0xFF, r1 >> 8, r2 & 0xFF, r2 >> 8, r3 & 0xFF, r3 >> 8))


def cbc_decrypt(key: bytes, effective_bits: int, iv: bytes, data: bytes) -> bytes:
    """RC2-CBC decryption; padding is left for the caller to check."""
    if len(iv) != 8 or len(data) % 8:
        raise ValueError("RC2-CBC needs an 8-byte IV and whole 8-byte blocks")
    keys = expand_key(key, effective_bits)
    plain = bytearray()
    previous = iv
    for offset in range(0, len(data), 8):
        block = data[offset : offset + 8]
        plain += bytes(a ^ b for a, b in zip(decrypt_block(keys, block), previous, strict=True))
        previous = block
    return bytes(plain)
