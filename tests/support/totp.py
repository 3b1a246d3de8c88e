"""An authenticator app for tests: RFC 6238 codes (HMAC-SHA1, 6 digits, 30 s steps) from the secret a page shows.

Written from the RFCs rather than with the panel's library, so a mistake on either side shows. Each code is for a
later time step than the one before: a server refuses a code of a step it already accepted (no replay), so a test
that logs in twice within 30 seconds takes the next step's code, as a user would wait for it. The server follows
the drift (django-otp's OTP_TOTP_SYNC), so a test may stay a few steps ahead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time


def hotp(key: bytes, counter: int, digits: int = 6) -> str:
    """RFC 4226: the dynamic truncation of HMAC-SHA1(key, counter)."""
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


class Authenticator:
    def __init__(self, secret: str) -> None:
        text = re.sub(r"\s", "", secret).upper()
        self.key = base64.b32decode(text + "=" * (-len(text) % 8))
        self.last_step = -1

    def code(self) -> str:
        step = max(int(time.time()) // 30, self.last_step + 1)
        self.last_step = step
        return hotp(self.key, step)
