"""Notification emails: render (subject, text, HTML) from templates/emails/ and queue them in the outbox.

Each email is a triplet of templates, <kind>_subject.txt, <kind>_body.txt and <kind>_body.html; the bodies extend
emails/base.txt and emails/base.html, so every email has the same skeleton, button and footer.

Rendering from plain data (never a repository model, never key material: ``certificate_notice`` takes what an
email may say from a certificate); who gets them is ``notify_to``; every
``queue_*`` stores the rendered email as a row of the outbox (certpanel/notifications.py) in the
caller's transaction and returns it, or returns None and stores nothing when there is no recipient.
A worker sends the row (SMTP when EMAIL_HOST is set, otherwise files in <data dir>/emails), retrying
until the server takes it. Dates are shown in UTC whatever TIME_ZONE is, so what an admin reads
matches the logs and ``openssl``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet, Value
from django.template.loader import render_to_string
from django.utils import timezone

from certpanel.audit.actions import AuditAction, audit_record
from certpanel.models import Notification
from certpanel.notifications import Email, mail_server, notification_queue
from repository.models import Certificate, PanelSettings
from repository.pki.dates import days_left, require_aware, utc_text

__all__ = [
    "CertificateNotice",
    "certificate_notice",
    "certificate_url",
    "expiry_advice",
    "notify_emails_save",
    "notify_emails_saved",
    "notify_to",
    "parse_recipients",
    "queue_expiry_warning",
    "queue_renewal_failed",
    "queue_renewal_recovered",
    "queue_service_alert",
    "queue_service_recovered",
    "queue_sweep_recovered",
    "queue_sweep_stalled",
    "queue_test_email",
    "recipients",
    "render",
]

SUBJECT_PREFIX = "[certpanel] "

SOURCE_LABELS: Mapping[str, str] = {
    "acme": "ACME (renews itself)",
    "self_signed": "self-signed",
    "csr": "CA-issued (from a CSR made in the panel)",
    "imported": "imported",
}

_RENEWAL_BROKEN_ADVICE = (
    "Automatic renewal is broken: it should have replaced this certificate by now. Open the certificate page "
    "for the last renewal error, fix the cause, then click Renew now."
)
_ADVICE: Mapping[str, str] = {
    "acme": "It does not renew itself: click Renew now on the certificate page, or assign its replacement "
    "to the services that still use it.",
    "self_signed": "Create a new self-signed certificate and assign it to the services that use this one.",
    "csr": "Renew it with your CA and upload the new certificate.",
    "imported": "Renew it with your CA and upload the new certificate.",
}
_DEFAULT_ADVICE = "Replace it with a new certificate before it expires."

_RECIPIENT_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class CertificateNotice:
    """What an email says about one certificate (no key material, ever)."""

    certificate_id: int
    name: str
    names: list[str]
    not_after: datetime | None
    source: str
    auto_renew: bool = False


def certificate_notice(entry: Certificate) -> CertificateNotice:
    return CertificateNotice(
        certificate_id=entry.pk,
        name=entry.name,
        names=list(entry.sans),
        not_after=entry.not_after,
        source=entry.source,
        auto_renew=entry.auto_renew,
    )


# ---------------------------------------------------------------- small pure helpers


def certificate_url(certificate_id: int) -> str:
    return f"{settings.CERTPANEL_BASE_URL}/certificates/{certificate_id}/"


def _now(now: datetime | None) -> datetime:
    return timezone.now() if now is None else require_aware(now, "now")


def _utc(value: datetime | None) -> str:
    """``2025-06-01 12:00 UTC``, or ``unknown``."""
    return "unknown" if value is None else utc_text(value)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _expiry_phrase(days: int | None) -> str:
    """``expires in 12 days`` / ``EXPIRED`` / empty when the date is unknown."""
    if days is None:
        return ""
    if days < 0:
        return "EXPIRED"
    if days == 0:
        return "expires in less than a day"
    return f"expires in {_plural(days, 'day')}"


def _duration(elapsed: timedelta) -> str:
    """``26 hours`` below two days, then ``3 days``."""
    hours = max(0, elapsed // timedelta(hours=1))
    if hours < 1:
        return "less than an hour"
    if hours < 48:
        return _plural(hours, "hour")
    return _plural(hours // 24, "day")


def expiry_advice(source: str, *, auto_renew: bool = False) -> str:
    """What an admin does about an expiring certificate of this source (one that renews itself and still
    expires has a broken renewal)."""
    if auto_renew:
        return _RENEWAL_BROKEN_ADVICE
    return _ADVICE.get(source, _DEFAULT_ADVICE)


# ---------------------------------------------------------------- recipients


def recipients(extra: Sequence[str] = ()) -> list[str]:
    """CERTPANEL_NOTIFY_EMAILS then ``extra``: blanks dropped, duplicates (any case) dropped, order kept."""
    return recipients_unique([*settings.CERTPANEL_NOTIFY_EMAILS, *extra])


def notify_to() -> list[str]:
    """Who gets every notification: CERTPANEL_NOTIFY_EMAILS, then the addresses saved on the settings page; when
    both are empty, every active admin with an email address, so a fresh panel never fails in silence."""
    return recipients_state().addresses


@dataclass(frozen=True)
class Recipients:
    """Who notifications go to and why, for the pages that warn when it is nobody or only the fallback."""

    addresses: list[str]
    configured: bool

    @property
    def nobody(self) -> bool:
        return not self.addresses


def recipients_state() -> Recipients:
    """The saved addresses and the admins' in one query: the dashboard reads this on every visit."""
    saved = PanelSettings.objects.filter(pk=1).annotate(kind=Value("saved")).values_list("kind", "notify_emails", "pk")
    admins = _admins().annotate(kind=Value("admin")).values_list("kind", "email", "pk")
    rows = sorted(saved.union(admins, all=True), key=lambda row: (row[0] != "saved", row[2]))
    configured = recipients(parse_recipients(next((text for kind, text, _ in rows if kind == "saved"), "")))
    fallback = recipients_unique(text for kind, text, _ in rows if kind == "admin")
    return Recipients(addresses=configured or fallback, configured=bool(configured))


def _admins() -> QuerySet[AbstractUser]:
    return get_user_model().objects.filter(is_active=True, is_superuser=True).exclude(email="")


def recipients_unique(addresses: Iterable[str]) -> list[str]:
    """Blanks dropped, duplicates (any case) dropped, order kept."""
    result: list[str] = []
    seen: set[str] = set()
    for address in addresses:
        cleaned = address.strip()
        if cleaned and cleaned.casefold() not in seen:
            seen.add(cleaned.casefold())
            result.append(cleaned)
    return result


def notify_emails_saved() -> str:
    """The addresses saved on the settings page, as typed there. Reads only: no settings row is created."""
    return PanelSettings.objects.filter(pk=1).values_list("notify_emails", flat=True).first() or ""


def notify_emails_save(notify_emails: str, *, user: User | None = None) -> None:
    """Store the settings page's recipients (already parsed by the form: one address a line)."""
    with transaction.atomic():
        panel = PanelSettings.objects.select_for_update().get(pk=PanelSettings.load().pk)
        before = panel.notify_emails
        panel.notify_emails = notify_emails
        panel.save(update_fields=["notify_emails"])
        if before != notify_emails:
            shown = ", ".join(notify_emails.split()) or "none"
            audit_record(action=AuditAction.SETTINGS_CHANGE, actor=user, detail=f"notification recipients: {shown}")


def parse_recipients(text: str) -> list[str]:
    """Addresses separated by commas, semicolons, spaces or newlines; ValidationError names the first bad one."""
    result: list[str] = []
    seen: set[str] = set()
    for address in _RECIPIENT_SEPARATORS.split(text):
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            shown = address if len(address) <= 80 else address[:77] + "..."
            raise ValidationError(f"'{shown}' is not a valid email address.", code="invalid") from None
        if address.casefold() not in seen:
            seen.add(address.casefold())
            result.append(address)
    return result


# ---------------------------------------------------------------- rendering and sending


def _subject(template: str, context: Mapping[str, Any]) -> str:
    line = " ".join(render_to_string(f"emails/{template}_subject.txt", dict(context)).split())
    return SUBJECT_PREFIX + line


def _text(template: str, context: Mapping[str, Any]) -> str:
    body = render_to_string(f"emails/{template}_body.txt", dict(context))
    lines = [line.rstrip() for line in body.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def render(template: str, context: Mapping[str, Any]) -> Email:
    """The three templates of ``template`` with the panel's base URL added."""
    full = {"base_url": settings.CERTPANEL_BASE_URL, **context}
    return Email(
        subject=_subject(template, full),
        text=_text(template, full),
        html=render_to_string(f"emails/{template}_body.html", full),
    )


def _queue(
    template: str, to: Sequence[str], context: Mapping[str, Any], *, dispatch: bool = True
) -> Notification | None:
    if not any(address.strip() for address in to):
        return None  # not even rendered: nobody would read it
    return notification_queue(kind=template, to=to, email=render(template, context), dispatch=dispatch)


def _certificate_context(notice: CertificateNotice, *, now: datetime | None) -> dict[str, Any]:
    days = days_left(notice.not_after, now=now)
    return {
        "certificate_id": notice.certificate_id,
        "name": notice.name,
        "names": list(notice.names) or [notice.name],
        "source": notice.source,
        "source_label": SOURCE_LABELS.get(notice.source, notice.source),
        "url": certificate_url(notice.certificate_id),
        "not_after": _utc(notice.not_after),
        "days_left": days,
        "expired": days is not None and days < 0,
        "expiry_phrase": _expiry_phrase(days),
    }


def queue_renewal_failed(
    *,
    to: Sequence[str],
    notice: CertificateNotice,
    error: str,
    attempts: int,
    next_attempt: datetime | None,
    now: datetime | None = None,
) -> Notification | None:
    """Renewal of an ACME certificate failed: the error, attempts so far, next attempt, time left."""
    context = _certificate_context(notice, now=now)
    context.update(
        error=error.strip() or "No error message was recorded.",
        attempts=attempts,
        attempts_phrase=_plural(attempts, "attempt"),
        next_attempt=_utc(next_attempt) if next_attempt is not None else "",
    )
    return _queue("renewal_failed", to, context)


def queue_renewal_recovered(
    *, to: Sequence[str], notice: CertificateNotice, attempts: int, new_not_after: datetime | None
) -> Notification | None:
    """A certificate whose renewal had failed is renewed now."""
    context = _certificate_context(notice, now=None)
    context.update(
        attempts=attempts,
        attempts_phrase=_plural(attempts, "attempt"),
        new_not_after=_utc(new_not_after),
        new_expiry_phrase=_expiry_phrase(days_left(new_not_after)),
    )
    return _queue("renewal_recovered", to, context)


def queue_expiry_warning(
    *, to: Sequence[str], notice: CertificateNotice, now: datetime | None = None, reissue: str = ""
) -> Notification | None:
    """A certificate expires soon or has expired: one that cannot renew itself, or one whose renewal is broken.
    ``reissue``: the "re-issue at your CA" reminder of a certificate from a commercial CA (its first warning)."""
    context = _certificate_context(notice, now=now)
    context["advice"] = expiry_advice(notice.source, auto_renew=notice.auto_renew)
    context["renewal_broken"] = notice.auto_renew
    context["reissue"] = reissue
    context["csr_url"] = f"{certificate_url(notice.certificate_id)}new-csr/" if reissue else ""
    return _queue("expiry_warning", to, context)


def queue_sweep_stalled(
    *, to: Sequence[str], last_sweep: datetime | None, now: datetime | None = None
) -> Notification | None:
    """No renewal sweep ran for too long: Celery beat (or the worker) is probably down."""
    current = _now(now)
    context = {
        "last_sweep": _utc(last_sweep) if last_sweep is not None else "",
        "since": _duration(current - require_aware(last_sweep, "last_sweep")) if last_sweep is not None else "",
        "now": _utc(current),
    }
    return _queue("sweep_stalled", to, context)


def queue_sweep_recovered(*, to: Sequence[str], last_sweep: datetime) -> Notification | None:
    """Renewal sweeps run again after a stall."""
    return _queue("sweep_recovered", to, {"last_sweep": _utc(last_sweep)})


def queue_service_alert(
    *, to: Sequence[str], listener: str, address: str, problems: Sequence[str], url: str
) -> Notification | None:
    """A port serves something other than its assigned certificate, expires soon, or cannot be reached."""
    return _queue(
        "service_alert", to, {"listener": listener, "address": address, "problems": list(problems), "url": url}
    )


def queue_service_recovered(*, to: Sequence[str], listener: str, address: str, url: str) -> Notification | None:
    return _queue("service_recovered", to, {"listener": listener, "address": address, "url": url})


def queue_test_email(
    *, to: Sequence[str], requested_by: str, dispatch: bool = True, user: User | None = None
) -> Notification | None:
    """Asked for on Settings or by `notify test`: proves the whole path, outbox and worker included."""
    context = {"requested_by": requested_by, "now": _utc(timezone.now()), "server": mail_server().label}
    with transaction.atomic():
        queued = _queue("test", to, context, dispatch=dispatch)
        if queued is not None:
            audit_record(action=AuditAction.TEST_EMAIL, actor=user, detail=f"to {', '.join(queued.recipients)}")
    return queued
