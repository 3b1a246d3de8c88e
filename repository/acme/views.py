"""The Let's Encrypt tab, order progress, settings page and the HTTP-01 responder."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from certpanel.dispatch import broker_label
from certpanel.errors import PanelError
from certpanel.notifications import last_of_kind, mail_server, undelivered
from certpanel.web import acting_user, form_data, staff_required
from repository import emails
from repository.acme.accounts import acme_account_register
from repository.acme.forms import NewCertificateForm, NotificationForm, RegisterAccountForm
from repository.acme.orders import acme_order_create, certificate_renew
from repository.acme.sweep_watch import sweep_state
from repository.models import AcmeAccount, AcmeChallenge, AcmeOrder, Certificate, PanelSettings
from repository.tasks import queue_order


def letsencrypt(request: HttpRequest) -> HttpResponse:
    certificates = (
        Certificate.objects.filter(source="acme")
        .only("id", "name", "sans", "not_after", "renew_at", "auto_renew", "renewal_failures", "last_error")
        .order_by("name", "id")[:500]
    )
    orders = AcmeOrder.objects.select_related("account").order_by("-created_at")[:20]
    context = {"certificates": certificates, "orders": orders, "accounts": AcmeAccount.objects.exists(), "tab": "acme"}
    return render(request, "repository/letsencrypt.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def new_certificate(request: HttpRequest) -> HttpResponse:
    if not AcmeAccount.objects.exists():
        messages.warning(request, "Register an ACME account first (Settings).")
        return redirect("settings")
    form = NewCertificateForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        asked = timezone.now()
        try:
            order = acme_order_create(
                account=data["account"],
                hostnames=data["hostnames"],
                key_type=data["key_type"],
                profile=data["profile"],
                auto_renew=data["auto_renew"],
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            return _handed_over(request, order, asked=asked)
    return render(
        request,
        "repository/form.html",
        {"form": form, "title": "New Certificate (Let's Encrypt)", "submit": "Request certificate", "tab": "acme"},
    )


def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = get_object_or_404(AcmeOrder.objects.select_related("account", "certificate", "replaces"), pk=order_id)
    return render(request, "repository/order.html", {"order": order, "events": order.events.all()})


@never_cache
def order_status(request: HttpRequest, order_id: int) -> JsonResponse:
    order = get_object_or_404(AcmeOrder, pk=order_id)
    return JsonResponse(
        {
            "status": order.status,
            "active": order.is_active,
            "waiting_for_queue": order.is_active and order.dispatched_at is None,
            "error": order.error,
            "certificate_id": order.certificate_id,
            "events": [
                {
                    "status": e.status,
                    "label": e.get_status_display(),
                    "message": e.message,
                    "at": e.at.strftime("%H:%M:%S.%f")[:-3],
                }
                for e in order.events.all()
            ],
        }
    )


@require_http_methods(["POST"])
@staff_required
def renew_now(request: HttpRequest, certificate_id: int) -> HttpResponse:
    asked = timezone.now()
    try:
        order = certificate_renew(certificate_id, user=acting_user(request))
    except (PanelError, Certificate.DoesNotExist) as exc:
        messages.error(request, str(exc))
        return redirect("repository:detail", certificate_id)
    return _handed_over(request, order, asked=asked)


def _handed_over(request: HttpRequest, order: AcmeOrder, *, asked: datetime) -> HttpResponse:
    """Queue the order and show it; say plainly when it is one already running or waits for the work queue.

    Never an error page: the order is stored either way, and a page that invites a second click is how a
    broker outage used to become two certificates."""
    if order.created_at < asked:
        messages.info(request, f"Order #{order.pk} for these names is already running: here it is.")
    if not queue_order(order.pk):
        messages.warning(
            request,
            f"The work queue ({broker_label()}) is unavailable. Order #{order.pk} is saved and will run as soon "
            "as the work queue is back: there is no need to request it again.",
        )
    return redirect("repository:order", order.pk)


@sensitive_post_parameters("eab_hmac_key")
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    # A GET only reads: the settings row is created by the first save, not by the first visit.
    panel = PanelSettings.objects.filter(pk=1).first() or PanelSettings(pk=1)
    notify = NotificationForm(initial={"notify_emails": panel.notify_emails})
    register = RegisterAccountForm()
    if request.method == "POST":
        if not request.user.is_staff:
            raise PermissionDenied("Only staff users may change settings.")
        if request.POST.get("form") == "test":
            _queue_test_email(request)
            return redirect(f"{reverse('settings')}#email-delivery")
        if request.POST.get("form") == "notify":
            notify = NotificationForm(request.POST)
            if notify.is_valid():
                panel = PanelSettings.load()
                panel.notify_emails = notify.cleaned_data["notify_emails"]
                panel.save(update_fields=["notify_emails"])
                messages.success(request, "Notification recipients saved.")
                return redirect("settings")
        else:
            register = RegisterAccountForm(request.POST)
            if register.is_valid():
                data = register.cleaned_data
                try:
                    account = acme_account_register(
                        directory_url=data["directory_url"],
                        email=data["email"],
                        agree_tos=data["agree_tos"],
                        name=data["name"],
                        ca_bundle_pem=data["ca_bundle"],
                        eab_kid=data["eab_kid"],
                        eab_hmac_key=data["eab_hmac_key"],
                    )
                except PanelError as exc:
                    register.add_error(None, str(exc))
                else:
                    messages.success(request, f"Registered the ACME account {account.name}.")
                    return redirect("settings")
    context = {
        "notify": notify,
        "register": register,
        "accounts": AcmeAccount.objects.all(),
        "env_recipients": emails.recipients(),
        "sweep": sweep_state(),
        "mail_server": mail_server(),
        "undelivered_rows": undelivered(),
        "last_test": last_of_kind("test"),
    }
    return render(request, "settings.html", context)


def _queue_test_email(request: HttpRequest) -> None:
    queued = emails.queue_test_email(to=emails.notify_to(), requested_by=request.user.get_username())
    if queued is None:
        messages.error(
            request,
            "No one to send a test email to: add recipients under Notifications (or set CERTPANEL_NOTIFY_EMAILS).",
        )
        return
    messages.success(
        request,
        f"Test email queued for {', '.join(queued.recipients)}: a worker sends it through {mail_server().label}. "
        "If the server does not take it, the reason shows under Email delivery.",
    )


@login_not_required
@require_GET
def acme_challenge(request: HttpRequest, token: str) -> HttpResponse:
    """HTTP-01 answers from the database, so any web process (or node) can answer."""
    key_authorization = AcmeChallenge.objects.filter(token=token).values_list("key_authorization", flat=True).first()
    if key_authorization is None:
        raise Http404("unknown token")
    return HttpResponse(key_authorization, content_type="application/octet-stream")
