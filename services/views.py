"""The services page: every secure listener, its certificate, deployments and what the port really serves."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from certpanel.access.reauth import ReauthForm, reauth_confirm
from certpanel.errors import PanelError
from certpanel.web import acting_user, form_data, staff_required
from repository.forms import secret_bytes
from services import actions, selectors
from services.errors import ListenerNotFound
from services.forms import AssignForm, ListenerForm
from services.models import Listener

# What decides where key files go and what runs after they are written: changing it needs a recent password or code.
REAUTH_FIELDS = frozenset(
    {"daemon", "fullchain_path", "key_path", "cert_path", "chain_path", "combined_path", "owner", "group", "action"}
)


def _reauth_needed(request: HttpRequest, form: ListenerForm) -> ReauthForm | None:
    return reauth_confirm(request) if REAUTH_FIELDS.intersection(form.changed_data) else None


def _listener(listener_id: int) -> Listener:
    try:
        return selectors.listener_get(listener_id)
    except ListenerNotFound as exc:
        raise Http404(str(exc)) from None


def service_list(request: HttpRequest) -> HttpResponse:
    return render(request, "services/list.html", selectors.listener_overview())


def service_detail(request: HttpRequest, listener_id: int) -> HttpResponse:
    listener = _listener(listener_id)
    return render(request, "services/detail.html", {"listener": listener, **selectors.listener_detail(listener)})


@sensitive_post_parameters("reauth_secret")
@require_http_methods(["GET", "POST"])
@staff_required
def service_add(request: HttpRequest) -> HttpResponse:
    form = ListenerForm(*form_data(request))
    reauth_form = None
    if request.method == "POST" and form.is_valid() and (reauth_form := _reauth_needed(request, form)) is None:
        try:
            listener = actions.listener_create(user=acting_user(request), **form.cleaned_data)
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Added {listener.name}.")
            return redirect("services:detail", listener.pk)
    return render(request, "services/form.html", {"form": form, "reauth_form": reauth_form, "title": "Add a listener"})


@sensitive_post_parameters("reauth_secret")
@require_http_methods(["GET", "POST"])
@staff_required
def service_edit(request: HttpRequest, listener_id: int) -> HttpResponse:
    listener = _listener(listener_id)
    initial = {f: getattr(listener, f) for f in ListenerForm.base_fields}
    form = ListenerForm(*form_data(request), initial=initial)
    reauth_form = None
    if request.method == "POST" and form.is_valid() and (reauth_form := _reauth_needed(request, form)) is None:
        try:
            actions.listener_update(listener, user=acting_user(request), **form.cleaned_data)
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved {listener.name}.")
            return redirect("services:detail", listener.pk)
    context = {"form": form, "reauth_form": reauth_form, "title": f"Edit {listener.name}"}
    return render(request, "services/form.html", context)


@require_http_methods(["POST"])
@staff_required
def service_delete(request: HttpRequest, listener_id: int) -> HttpResponse:
    listener = _listener(listener_id)
    actions.listener_delete(listener, user=acting_user(request))
    messages.success(request, f"Removed {listener.name} (its files on disk were left in place).")
    return redirect("services:list")


@require_http_methods(["GET", "POST"])
@staff_required
def service_select(request: HttpRequest, listener_id: int) -> HttpResponse:
    """ "Change" → "Select from repository" → passphrase prompt if the key has one → Save (and deploy)."""
    listener = _listener(listener_id)
    sni_name = request.POST.get("sni_name") or request.GET.get("sni", "")
    chosen = request.POST.get("certificate") or request.GET.get("certificate")
    certificate = selectors.certificate_picked(chosen)
    form = AssignForm(*form_data(request), initial={"certificate": chosen, "sni_name": sni_name})
    if request.method == "POST" and form.is_valid():
        passphrase = secret_bytes(form.cleaned_data["passphrase"])
        try:
            actions.listener_assign_and_deploy(
                listener,
                form.cleaned_data["certificate"],
                sni_name=sni_name,
                passphrase=passphrase,
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"{certificate.name if certificate else 'The certificate'} assigned to "
                f"{listener.name}{' for ' + sni_name if sni_name else ''}; deploying it now.",
            )
            return redirect("services:detail", listener.pk)
    context = {
        "listener": listener,
        "certificates": selectors.certificates_assignable(search=request.GET.get("q", "")),
        "chosen": certificate,
        "form": form,
        "sni_name": sni_name,
        "q": request.GET.get("q", ""),
    }
    return render(request, "services/select.html", context)


@require_http_methods(["POST"])
@staff_required
def service_remove_sni(request: HttpRequest, listener_id: int) -> HttpResponse:
    listener = _listener(listener_id)
    actions.listener_remove_sni(listener, request.POST.get("sni_name", ""), user=acting_user(request))
    return redirect("services:detail", listener.pk)


@require_http_methods(["POST"])
@staff_required
def service_deploy(request: HttpRequest, listener_id: int) -> HttpResponse:
    listener = _listener(listener_id)
    actions.listener_deploy_queue(listener, trigger="manual", user=acting_user(request))
    messages.success(request, f"Deployment of {listener.name} queued.")
    return redirect("services:detail", listener.pk)


@require_http_methods(["POST"])
@staff_required
def service_verify(request: HttpRequest, listener_id: int) -> HttpResponse:
    """One listener: queued for a worker (a probe is outbound traffic, never made inside a request)."""
    listener = _listener(listener_id)
    actions.listener_verify_queue(listener, user=acting_user(request))
    messages.info(request, f"Verification of {listener.name} queued: the result appears here as it comes.")
    return redirect("services:detail", listener_id)


@require_http_methods(["POST"])
@staff_required
def service_verify_all(request: HttpRequest) -> HttpResponse:
    """Every listener: queued for a worker, which probes them concurrently; the page shows stored results."""
    count = actions.listeners_verify_queue(user=acting_user(request))
    messages.info(
        request,
        f"Verification of {count} listener{'s' if count != 1 else ''} queued: results appear here as they come.",
    )
    return redirect("services:list")
