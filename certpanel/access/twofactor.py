"""Two-factor login: one TOTP authenticator per user and ten one-time recovery codes, on django-otp's models.

Setting up is an unconfirmed TOTP device until the user proves it with a code; the confirmed one is what the login
step asks for. Recovery codes are django-otp static tokens, deleted as they are used. Every check runs on rows locked
for update, so a code cannot be spent twice by two requests at once; a TOTP code is refused once a later or equal
one was accepted (no replay), and django-otp doubles the wait after each wrong code (throttling per device).
"""

from __future__ import annotations

import logging
import re
from base64 import b32encode
from dataclasses import dataclass

import segno
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from certpanel.audit.actions import AuditAction, audit_record
from certpanel.errors import PanelError

log = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10
_TOTP_CODE = re.compile(r"\d{6}")


class TwoFactorError(PanelError):
    """A code was refused; the message says why and what to do."""


@dataclass(frozen=True)
class Enrollment:
    secret: str  # base32 in groups of four, as authenticator apps take it typed in
    uri: str  # otpauth://totp/…, what the QR code holds
    qr_svg: str  # the URI as an inline SVG (no script, no image request)


def twofactor_enabled(user: AbstractBaseUser) -> bool:
    """Whether the user has a confirmed authenticator, so the login asks for its code."""
    return bool(TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists())


def totp_device(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first()


def recovery_codes_left(user: AbstractBaseUser) -> int:
    return int(StaticToken.objects.filter(device__user_id=user.pk).count())


def is_recovery_device(device: Device) -> bool:
    return isinstance(device, StaticDevice)


def enrollment_start(*, user: AbstractBaseUser) -> Enrollment:
    """The secret to put in an authenticator app: the same one until it is confirmed (a reload shows it again)."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    secret = b32encode(device.bin_key).decode()
    uri = device.config_url
    qr = segno.make(uri, error="m").svg_inline(scale=4, border=4, light="#fff", title="QR code of the secret")
    return Enrollment(secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)), uri=uri, qr_svg=qr)


def enrollment_confirm(*, user: AbstractBaseUser, code: str) -> tuple[TOTPDevice, list[str]]:
    """The code proves the app holds the secret: the device becomes the user's authenticator, with fresh recovery
    codes (returned once, to be shown once)."""
    with transaction.atomic():
        if TOTPDevice.objects.select_for_update().filter(user_id=user.pk, confirmed=True).exists():
            raise TwoFactorError("Two-factor login is already set up for this account.")
        device = TOTPDevice.objects.select_for_update().filter(user_id=user.pk, confirmed=False).first()
        if device is None:
            raise TwoFactorError("This setup expired: reload the page and scan the new QR code.")
        refusal = _refusal(device) or _check(device, code)
        if refusal is None:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _recovery_codes_replace(user)
            audit_record(action=AuditAction.TWOFACTOR_SETUP, actor=user, target=user)
    # Outside the transaction: a wrong code's throttling count must be kept, not rolled back with an exception.
    if refusal is not None:
        raise TwoFactorError(refusal)
    log.info("two-factor login set up for %s", user.get_username())
    return device, codes


def code_verify(*, user: AbstractBaseUser, code: str) -> Device:
    """The device that accepts `code`: the authenticator for six digits, else a recovery code (used up by this)."""
    code = re.sub(r"[\s-]", "", code).lower()
    model: type[Device] = TOTPDevice if _TOTP_CODE.fullmatch(code) else StaticDevice
    accepted, refusal = None, "That code is not right."
    with transaction.atomic():
        for device in model.objects.select_for_update().filter(user_id=user.pk, confirmed=True):
            refusal = _refusal(device) or _check(device, code) or ""
            if not refusal:
                accepted = device
                break
    if accepted is None:
        raise TwoFactorError(refusal)
    if is_recovery_device(accepted):
        log.info("%s logged in with a recovery code", user.get_username())
    return accepted


def totp_check(*, user: AbstractBaseUser, code: str) -> bool:
    """For re-authentication: True when `code` is a current code of the user's authenticator."""
    if not _TOTP_CODE.fullmatch(code.strip()):
        return False
    try:
        return not is_recovery_device(code_verify(user=user, code=code))
    except TwoFactorError:
        return False


def recovery_codes_new(*, user: AbstractBaseUser) -> list[str]:
    """Ten new recovery codes; the old ones stop working."""
    with transaction.atomic():
        codes = _recovery_codes_replace(user)
        audit_record(action=AuditAction.TWOFACTOR_CODES, actor=user, target=user)
    log.info("new recovery codes for %s", user.get_username())
    return codes


def twofactor_reset(*, user: AbstractBaseUser, actor: AbstractBaseUser | None = None) -> bool:
    """Forget the user's authenticator and recovery codes: the next login sets up a new one. False if none.

    ``actor`` is who asked (the user themselves on their page; None from the `twofa` command)."""
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user_id=user.pk).delete()
        removed_codes, _ = StaticDevice.objects.filter(user_id=user.pk).delete()
        if removed or removed_codes:
            audit_record(action=AuditAction.TWOFACTOR_RESET, actor=actor, target=user)
    if removed or removed_codes:
        log.info("two-factor login of %s reset", user.get_username())
    return bool(removed or removed_codes)


def _recovery_codes_replace(user: AbstractBaseUser) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, defaults={"name": "recovery codes"})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _refusal(device: Device) -> str | None:
    allowed, details = device.verify_is_allowed()
    if allowed:
        return None
    until = (details or {}).get("locked_until")
    wait = max(1, int((until - timezone.now()).total_seconds()) + 1) if until else None
    if wait is None:
        return "Too many wrong codes: try again later."
    return f"Too many wrong codes: try again in {wait} second{'s' if wait > 1 else ''}."


def _check(device: Device, code: str) -> str | None:
    return None if device.verify_token(code) else "That code is not right."
