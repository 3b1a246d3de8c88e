"""The Let's Encrypt tab, a new certificate, order progress, "renew now", the ACME account form of the settings
page, and the HTTP-01 responder. Each view parses its input, calls one action or selector, and renders."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from certpanel.dispatch import broker_label
from certpanel.errors import PanelError
from certpanel.web import (
    HtmxHttpRequest,
    acting_user,
    admin_required,
    form_data,
    post_only,
    safe_next,
    staff_required,
)
from repository.acme.forms import NewCertificateForm, RegisterAccountForm
from repository.acme.orders import acme_order_create, acme_order_retry, certificate_renew, certificate_reuse_key_set
from repository.acme.registrations import acme_registration_agree, acme_registration_create
from repository.acme.selectors import (
    OrderProgress,
    acme_accounts_exist,
    acme_order_progress,
    acme_order_progress_as_dict,
    acme_overview,
    challenge_key_authorization,
)
from repository.errors import NotFoundError
from repository.models import AcmeOrder, AcmeRegistration, Certificate
from repository.settings_views import settings_render
from repository.tasks import queue_order


def letsencrypt(request: HttpRequest) -> HttpResponse:
    overview = acme_overview()
    context = {
        "certificates": overview.certificates,
        "orders": overview.orders,
        "accounts": overview.has_accounts,
        "tab": "acme",
    }
    return render(request, "repository/letsencrypt.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def new_certificate(request: HttpRequest) -> HttpResponse:
    if not acme_accounts_exist():
        return _account_first(request, RegisterAccountForm())
    form = NewCertificateForm(*form_data(request), initial={"hostnames": settings.CERTPANEL_HOSTNAME})
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
                reuse_key=data["reuse_key"],
                challenge=data["challenge"],
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


def _account_first(request: HttpRequest, form: RegisterAccountForm) -> HttpResponse:
    """New Certificate with no ACME account yet: register one here, follow it, and come back to the form."""
    registration = None
    asked = request.GET.get("registration", "")
    if asked.isdigit() and len(asked) < 12:
        registration = AcmeRegistration.objects.filter(pk=int(asked)).select_related("account").first()
    context = {
        "register": form,
        "row": registration,
        "next": reverse("repository:new_acme"),
        "title": "New Certificate (Let's Encrypt)",
        "tab": "acme",
    }
    return render(request, "repository/new_acme_account.html", context)


def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    progress = _progress(order_id)
    return render(request, "repository/order.html", {"order": progress.order, "events": progress.events})


@never_cache
def order_status(request: HttpRequest, order_id: int) -> JsonResponse:
    return JsonResponse(acme_order_progress_as_dict(_progress(order_id)))


def _progress(order_id: int) -> OrderProgress:
    try:
        return acme_order_progress(order_id)
    except NotFoundError as exc:
        raise Http404(str(exc)) from None


@staff_required
@post_only("repository:detail")
def renew_now(request: HttpRequest, certificate_id: int) -> HttpResponse:
    asked = timezone.now()
    try:
        order = certificate_renew(certificate_id, user=acting_user(request))
    except (PanelError, Certificate.DoesNotExist) as exc:
        messages.error(request, str(exc))
        return redirect("repository:detail", certificate_id)
    return _handed_over(request, order, asked=asked)


@staff_required
@post_only("repository:detail")
def reuse_key(request: HttpRequest, certificate_id: int) -> HttpResponse:
    """The certificate page's "Keep the same private key on renewal" switch."""
    on = request.POST.get("reuse_key") == "on"
    try:
        certificate_reuse_key_set(certificate_id, reuse_key=on, user=acting_user(request))
    except Certificate.DoesNotExist:
        raise Http404("No such certificate.") from None
    except PanelError as exc:
        messages.error(request, str(exc))
    else:
        kept = "keep their private key" if on else "get a new private key"
        messages.success(request, f"Renewals of this certificate will {kept}.")
    return redirect("repository:detail", certificate_id)


@staff_required
@post_only("repository:order")
def order_retry(request: HttpRequest, order_id: int) -> HttpResponse:
    """ "Retry" on a failed order: a new order for the same names, shown as it runs."""
    asked = timezone.now()
    try:
        order = acme_order_retry(order_id, user=acting_user(request))
    except AcmeOrder.DoesNotExist:
        raise Http404("No such order.") from None
    except PanelError as exc:
        messages.error(request, str(exc))
        return redirect("repository:order", order_id)
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


def _acme_accounts_page(request: HttpRequest, **_: object) -> str:
    """Where the account forms live: the page named by their ``next`` (New Certificate), else the settings."""
    return safe_next(request) or f"{reverse('settings')}#acme-accounts"


@sensitive_post_parameters("eab_hmac_key")
@admin_required
@post_only(_acme_accounts_page)
def account_register(request: HttpRequest) -> HttpResponse:
    """The settings page's "Register an ACME account" form: stored and queued; a worker asks the CA (never this
    request), and the settings page follows the registration to its end."""
    form = RegisterAccountForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            registration = acme_registration_create(
                directory_url=data["directory_url"],
                email=data["email"],
                agree_tos=data["agree_tos"],
                name=data["name"],
                ca_bundle_pem=data["ca_bundle"],
                eab_kid=data["eab_kid"],
                eab_hmac_key=data["eab_hmac_key"],
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            return _registration_queued(request, registration)
    if safe_next(request):
        return _account_first(request, form)
    return settings_render(request, register=form)


def _registration_queued(request: HttpRequest, registration: AcmeRegistration) -> HttpResponse:
    messages.info(
        request,
        f"Registration at {registration.directory_url} queued: a worker asks the CA, and this page shows the "
        "result as it comes.",
    )
    back = safe_next(request)
    if back:
        return redirect(f"{back}?registration={registration.pk}")
    return redirect(f"{reverse('settings')}#acme-accounts")


@require_GET
def registration_status(request: HtmxHttpRequest, registration_id: int) -> HttpResponse:
    """One registration as it stands, for the pages that follow it (htmx asks every few seconds while queued).
    Once registered, a page that came from New Certificate goes back to it."""
    row = AcmeRegistration.objects.filter(pk=registration_id).select_related("account").first()
    if row is None:
        raise Http404("No such registration.")
    back = safe_next(request)
    response = render(request, "repository/partials/registration.html", {"row": row, "next": back})
    if row.status == "registered" and back and request.htmx:
        response["HX-Redirect"] = back
    return response


@sensitive_post_parameters("eab_hmac_key")
@admin_required
@post_only(_acme_accounts_page)
def registration_agree(request: HttpRequest, registration_id: int) -> HttpResponse:
    """ "I agree and register" under the terms a registration brought back."""
    try:
        registration = acme_registration_agree(
            registration_id, eab_hmac_key=request.POST.get("eab_hmac_key", ""), user=acting_user(request)
        )
    except PanelError as exc:
        messages.error(request, str(exc))
        return redirect(_acme_accounts_page(request))
    return _registration_queued(request, registration)


@login_not_required
@require_GET
def acme_challenge(request: HttpRequest, token: str) -> HttpResponse:
    """HTTP-01 answers from the database, so any web process (or node) can answer."""
    key_authorization = challenge_key_authorization(token)
    if key_authorization is None:
        raise Http404("unknown token")
    return HttpResponse(key_authorization, content_type="application/octet-stream")
