"""The settings page (/settings/): notification recipients, email delivery with its test email, the renewal
sweep's last run and the ACME accounts, with the registrations a worker is carrying out (the page follows them).
A GET shows it; each form posts to its own view, and one that does not validate shows the page again with its
errors. Registering an ACME account is acme/views.py's. Everyone may look; only admins are shown the forms and may
post them (certpanel/roles.py): operators change certificates and services, not settings."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from certpanel.notifications import last_of_kind, mail_server, undelivered
from certpanel.web import acting_user, admin_required
from repository import emails
from repository.acme.forms import RegisterAccountForm
from repository.acme.registrations import acme_registrations_shown
from repository.acme.selectors import acme_accounts
from repository.acme.sweep_watch import sweep_state
from repository.expiry import EXPIRY_LEVELS
from repository.forms import NotificationForm


@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    return settings_render(request)


def schedule_summary() -> dict[str, object]:
    """What runs when, as configured (environment variables): shown so an admin knows what to expect."""
    return {
        "renewal_sweep_minutes": settings.CERTPANEL_RENEWAL_SWEEP_SECONDS // 60,
        "verify_hours": round(settings.CERTPANEL_VERIFY_SWEEP_SECONDS / 3600, 1),
        "expiring_days": settings.CERTPANEL_EXPIRING_DAYS,
        "warning_days": ", ".join(str(days) for days in EXPIRY_LEVELS if days),
    }


def settings_render(
    request: HttpRequest, *, notify: NotificationForm | None = None, register: RegisterAccountForm | None = None
) -> HttpResponse:
    """The page, with the form that was just posted (bound, with its errors) in place of its empty one."""
    if notify is None:  # only reads: the settings row is created by the first save, not by the first visit
        notify = NotificationForm(initial={"notify_emails": emails.notify_emails_saved()})
    registrations = list(acme_registrations_shown())
    context = {
        "notify": notify,
        "saved_recipients": emails.notify_emails_saved().split(),  # stored one address a line, as validated
        "register": RegisterAccountForm() if register is None else register,
        "accounts": acme_accounts(),
        "registrations": registrations,
        "registering": any(row.status == "queued" for row in registrations),  # the page follows the worker
        "env_recipients": emails.recipients(),
        "notified": emails.recipients_state(),
        "schedule": schedule_summary(),
        "sweep": sweep_state(),
        "mail_server": mail_server(),
        "undelivered_rows": undelivered(),
        "last_test": last_of_kind("test"),
        "nav": "settings",  # the menu marks Settings active on the page and on a form's errors alike
    }
    return render(request, "settings.html", context)


@require_POST
@admin_required
def notify_recipients_save(request: HttpRequest) -> HttpResponse:
    form = NotificationForm(request.POST)
    if not form.is_valid():
        return settings_render(request, notify=form)
    emails.notify_emails_save(form.cleaned_data["notify_emails"], user=acting_user(request))
    messages.success(request, "Notification recipients saved.")
    return redirect("settings")


@require_POST
@admin_required
def test_email_send(request: HttpRequest) -> HttpResponse:
    queued = emails.queue_test_email(
        to=emails.notify_to(), requested_by=request.user.get_username(), user=acting_user(request)
    )
    if queued is None:
        messages.error(
            request,
            "No one to send a test email to: add recipients under Notifications (or set CERTPANEL_NOTIFY_EMAILS).",
        )
    else:
        messages.success(
            request,
            f"Test email queued for {', '.join(queued.recipients)}: a worker sends it through {mail_server().label}. "
            "If the server does not take it, the reason shows under Email delivery.",
        )
    return redirect(f"{reverse('settings')}#email-delivery")
