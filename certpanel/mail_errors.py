"""Why an email did not go out, in one sentence an admin can act on (no Django, no ORM; tested directly).

smtplib, ssl and socket each speak their own dialect ("[Errno 111] Connection refused", "STARTTLS extension
not supported by server.", "(550, b'5.1.1 <x>: Recipient address rejected')"). The outbox stores what this
module says, and the banner, the Settings page and `notify` show it as is.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass

MAX_LENGTH = 500
# What OpenSSL says when the other side answered in plain text (an SMTP greeting) to a TLS hello.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "record layer failure", "packet length too long", "UNKNOWN_PROTOCOL")


@dataclass(frozen=True)
class MailServer:
    """Where mail goes: an SMTP server, or (``host`` empty) files in ``file_path``, or another backend."""

    host: str
    port: int
    timeout: int
    user: str = ""
    file_path: str = ""
    backend: str = ""

    @property
    def label(self) -> str:
        if self.host:
            return f"{self.host}:{self.port}"
        return f"the email files in {self.file_path}" if self.file_path else f"the mail backend {self.backend}"


def _decoded(text: bytes | str) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return " ".join(raw.split())


def _reply(code: int, text: bytes | str) -> str:
    """``550 5.1.1 no such user (a permanent refusal)``."""
    kind = " (a temporary refusal)" if 400 <= code < 500 else " (a permanent refusal)" if code >= 500 else ""
    return f"{code} {_decoded(text)}{kind}".strip()


def _smtp_reason(error: smtplib.SMTPException, server: MailServer) -> str:
    where = f"SMTP server {server.label}"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        if "STARTTLS" in str(error):
            return f"{where} does not offer STARTTLS (EMAIL_USE_TLS is on): enable TLS there or set EMAIL_USE_TLS=false"
        if "AUTH" in str(error):
            return f"{where} does not offer a login (AUTH), but EMAIL_HOST_USER is set"
        return f"{where} does not support what was asked: {error}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{address} ({_reply(*reply)})" for address, reply in error.recipients.items())
        return f"{where} refused every recipient: {refused}"
    if isinstance(error, smtplib.SMTPSenderRefused):
        return f"{where} refused the sender {_decoded(error.sender)}: {_reply(error.smtp_code, error.smtp_error)}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"{where} rejected the login of {server.user or 'EMAIL_HOST_USER'}: " + _reply(
            error.smtp_code, error.smtp_error
        )
    if isinstance(error, smtplib.SMTPDataError):
        return f"{where} rejected the message: {_reply(error.smtp_code, error.smtp_error)}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection ({error or 'without a word'})"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{where} answered {_reply(error.smtp_code, error.smtp_error)}"
    return f"{where} failed: {error}"


def _os_reason(error: OSError, server: MailServer) -> str:
    if not server.host:
        return f"cannot write {server.label}: {error.strerror or error}"
    where = f"SMTP server {server.label}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS with {where} failed: its certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        plain_port = any(sign in str(error) for sign in _NOT_TLS)
        hint = " (is EMAIL_USE_SSL right for this port?)" if plain_port else ""
        return f"TLS with {where} failed: {getattr(error, 'reason', None) or error}{hint}"
    if isinstance(error, ConnectionRefusedError):
        return f"{where} refused the connection (is it running on that port?)"
    if isinstance(error, TimeoutError):
        return f"{where} did not answer within {server.timeout} s"
    if isinstance(error, socket.gaierror):
        return f"cannot find the SMTP host {server.host}: {error.strerror or error}"
    return f"cannot reach {where}: {error.strerror or error}"


def mail_error_text(error: BaseException, server: MailServer) -> str:
    """One sentence, at most MAX_LENGTH characters."""
    if isinstance(error, smtplib.SMTPException):
        text = _smtp_reason(error, server)
    elif isinstance(error, OSError):
        text = _os_reason(error, server)
    else:
        text = f"sending through {server.label} failed: {type(error).__name__}: {error}"
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 3] + "..."
