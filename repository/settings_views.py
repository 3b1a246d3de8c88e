"""The settings page (/settings/): notification recipients, the renewal and check policy (repository/policy.py),
email delivery with its test email, the renewal sweep's last run and the ACME accounts, with the registrations a
worker is carrying out (the page follows them). A GET shows it; each form posts to its own view, and one that does
not validate shows the page again with its errors. Registering an ACME account is acme/views.py's. Everyone may
look; only admins are shown the forms and may post them (certpanel/roles.py): operators change certificates and
services, not settings."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from certpanel.notifications import last_of_kind, mail_server, undelivered
from certpanel.web import acting_user, admin_required, post_only
from repository import emails
from repository.acme.forms import RegisterAccountForm
from repository.acme.registrations import acme_registrations_shown
from repository.acme.schedule import renewal_window
from repository.acme.selectors import acme_accounts
from repository.acme.sweep_watch import sweep_state
from repository.errors import RepositoryError
from repository.expiry import EXPIRY_LEVELS
from repository.forms import NotificationForm, SchedulePolicyForm
from repository.policy import SchedulePolicy, hours_text, schedule_policy
from repository.policy_actions import schedule_policy_save

# The lifetimes the page uses to show what the renewal point means.
EXAMPLE_LIFETIMES = (90, 45, 6)


@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    return settings_render(request)


def schedule_summary(policy: SchedulePolicy) -> dict[str, object]:
    """What runs when: the admin's policy, the environment's values where none is stored, and the sweep's own
    period (an environment variable), shown so an admin knows what to expect."""
    (first, first_left), *others = [
        (days, round(renewal_window(timedelta(days=days), fraction=policy.fraction) / timedelta(days=1)))
        for days in EXAMPLE_LIFETIMES
    ]
    examples = "".join(f", a {days}-day one {left}" for days, left in others)
    return {
        "fraction": str(policy.fraction),
        "renewal_examples": f"A {first}-day certificate renews about {first_left} days before it expires{examples}.",
        "renewal_sweep_minutes": settings.CERTPANEL_RENEWAL_SWEEP_SECONDS // 60,
        "verify_interval": hours_text(policy.verify_interval),
        "verify_stored": policy.verify_interval_stored,
        "expiring_days": policy.expiring_days,
        "expiring_stored": policy.expiring_days_stored,
        "warning_days": ", ".join(str(days) for days in EXPIRY_LEVELS if days),
    }


def settings_render(
    request: HttpRequest,
    *,
    notify: NotificationForm | None = None,
    register: RegisterAccountForm | None = None,
    policy_form: SchedulePolicyForm | None = None,
) -> HttpResponse:
    """The page, with the form that was just posted (bound, with its errors) in place of its empty one."""
    policy = schedule_policy()
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
        "schedule": schedule_summary(policy),
        "policy_form": SchedulePolicyForm.for_policy(policy) if policy_form is None else policy_form,
        "sweep": sweep_state(),
        "mail_server": mail_server(),
        "undelivered_rows": undelivered(),
        "last_test": last_of_kind("test"),
        "nav": "settings",  # the menu marks Settings active on the page and on a form's errors alike
    }
    return render(request, "settings.html", context)


@admin_required
@post_only("settings")
def notify_recipients_save(request: HttpRequest) -> HttpResponse:
    form = NotificationForm(request.POST)
    if not form.is_valid():
        return settings_render(request, notify=form)
    emails.notify_emails_save(form.cleaned_data["notify_emails"], user=acting_user(request))
    messages.success(request, "Notification recipients saved.")
    return redirect("settings")


@admin_required
@post_only("settings")
def schedule_policy_update(request: HttpRequest) -> HttpResponse:
    form = SchedulePolicyForm(request.POST)
    if not form.is_valid():
        return settings_render(request, policy_form=form)
    interval = form.cleaned_data["verify_interval"]
    try:
        saved = schedule_policy_save(
            fraction=Fraction(form.cleaned_data["renewal_fraction"]),
            verify_interval=timedelta(seconds=interval) if interval else None,
            expiring_days=form.cleaned_data["expiring_days"],
            user=acting_user(request),
        )
    except RepositoryError as error:  # the form offers only what the action takes: a guard, not a path
        form.add_error(None, str(error))
        return settings_render(request, policy_form=form)
    messages.success(request, _saved_message(saved.changed, saved.renewals_replanned, saved.expiring_recomputed))
    return redirect(f"{reverse('settings')}#renewal-policy")


def _saved_message(changed: bool, replanned: int, recomputed: int) -> str:
    if not changed:
        return "Renewal and check policy unchanged."
    parts = ["Renewal and check policy saved."]
    if replanned:
        parts.append(f"{replanned} certificate{'s' if replanned != 1 else ''} got a new renewal time.")
    if recomputed:
        parts.append(f'The "expiring" start of {recomputed} certificate{"s" if recomputed != 1 else ""} moved with it.')
    return " ".join(parts)


@admin_required
@post_only("settings")
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
