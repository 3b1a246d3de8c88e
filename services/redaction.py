"""What a command printed, with every secret taken out before it is stored in a deployment's log.

Pure: no Django; the caller passes the secrets it knows (services/deploy.py: the key-encryption key, the secret
key, passwords from the settings, the secret files in the data dir). Removed, whatever the command was:

- PEM private keys (any kind, encrypted too), from their BEGIN line to their END line, or to the end of the
  output when it was cut off;
- every known secret, as given and, when it is base64, as the hex of its bytes;
- the value of ``password = …``, ``secret: …``, ``token=…`` and the like;
- anything that looks like a key: a run of 32 or more base64 characters mixing upper case, lower case and digits
  (a line of a PEM body, a generated secret), or of 32 or more hex digits, or 16 or more hex bytes in a row as a
  dump shows them; a path is kept unless one of its parts looks like that.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
PRIVATE_KEY_REDACTED = "[private key redacted]"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)", re.DOTALL
)
_NAMED_SECRET = re.compile(
    r"(?i)\b([\w.-]*(?:password|passwd|passphrase|secret|token|credential|api[_-]?key|private[_-]?key)[\w.-]*"
    r"\s*[:=]\s*)(\S.*)$",
    re.MULTILINE,
)
_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")
_HEX = re.compile(r"[0-9A-Fa-f]{32,}")
_HEX_DUMP = re.compile(r"\b(?:[0-9A-Fa-f]{2}[ :]+){15,}[0-9A-Fa-f]{2}\b")  # od, xxd, or a colon-separated key
SHORTEST_SECRET = 8  # a shorter "secret" would redact ordinary words


def _mixed(token: str) -> bool:
    return any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)


def _looks_like_a_key(token: str) -> bool:
    if _HEX.fullmatch(token.rstrip("=")):
        return True
    if token.startswith("/") and "+" not in token:  # a path (/etc/ssl/Mail2/…): a key only in a long segment
        return any(len(part) >= 20 and _mixed(part) for part in token.split("/"))
    return _mixed(token)


def _forms(secret: str) -> list[str]:
    """A secret as given and, when it is base64, as the hex of its bytes (what `xxd -p` or `od` would show)."""
    forms = [secret]
    altchars = b"-_" if "-" in secret or "_" in secret else None
    try:
        raw = base64.b64decode(secret + "=" * (-len(secret) % 4), altchars=altchars)
    except (binascii.Error, ValueError):
        return forms
    if len(raw) >= SHORTEST_SECRET:
        forms += [raw.hex(), raw.hex().upper()]
    return forms


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without private keys, the given secrets, or anything that looks like a key."""
    text = _PRIVATE_KEY.sub(PRIVATE_KEY_REDACTED, text)
    for secret in sorted({s.strip() for s in secrets}, key=len, reverse=True):
        if len(secret) >= SHORTEST_SECRET:
            for form in _forms(secret):
                text = text.replace(form, REDACTED)
    text = _NAMED_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _HEX_DUMP.sub(REDACTED, text)
    return _TOKEN.sub(lambda m: REDACTED if _looks_like_a_key(m.group(0)) else m.group(0), text)
