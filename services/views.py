"""The services page: every secure listener, its certificate, deployments and what the port really serves."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from certpanel.access.reauth import ReauthForm, reauth_confirm
from certpanel.errors import PanelError
from certpanel.web import acting_user, form_data, post_only, staff_required
from repository.forms import secret_bytes
from repository.models import Certificate
from services import actions, selectors
from services.deploy import server_name_of
from services.errors import ListenerNotFound, NeedsConfirmation
from services.forms import AssignForm, ListenerForm, ReplaceForm
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


def _live(request: HttpRequest, page: str, partial: str, context: dict[str, object]) -> HttpResponse:
    """The page, or only its live part when htmx polls it (every 2 s while work is in progress)."""
    polled = bool(getattr(request, "htmx", False))  # django-htmx's middleware: true for an HX-Request
    return render(request, partial if polled else page, context)


def service_list(request: HttpRequest) -> HttpResponse:
    context = dict(selectors.listener_overview())
    return _live(request, "services/list.html", "services/partials/list_live.html", context)


def service_detail(request: HttpRequest, listener_id: int) -> HttpResponse:
    listener = _listener(listener_id)
    context = {"listener": listener, **selectors.listener_detail(listener)}
    return _live(request, "services/detail.html", "services/partials/detail_live.html", context)


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


@require_http_methods(["GET", "POST"])
@staff_required
def service_delete(request: HttpRequest, listener_id: int) -> HttpResponse:
    """GET: what will be removed, and what stays; POST: removed."""
    listener = _listener(listener_id)
    if request.method == "POST":
        actions.listener_delete(listener, user=acting_user(request))
        messages.success(request, f"Removed {listener.name} (its files on disk were left in place).")
        return redirect("services:list")
    context = {"listener": listener, "deployments": listener.deployments.count()}
    return render(request, "services/delete.html", context)


@sensitive_post_parameters("passphrase")
@require_http_methods(["GET", "POST"])
@staff_required
def service_select(request: HttpRequest, listener_id: int) -> HttpResponse:
    """ "Change" → "Select from repository" → passphrase prompt if the key has one → Save (and deploy)."""
    listener = _listener(listener_id)
    sni_name = request.POST.get("sni_name") or request.GET.get("sni", "")
    chosen = request.POST.get("certificate") or request.GET.get("certificate")
    certificate = selectors.certificate_picked(chosen)
    names = selectors.listener_names(listener, sni_name=sni_name)
    form = AssignForm(*form_data(request), initial={"certificate": chosen, "sni_name": sni_name})
    if request.method == "POST" and form.is_valid():
        passphrase = secret_bytes(form.cleaned_data["passphrase"])
        try:
            actions.listener_assign_and_deploy(
                listener,
                form.cleaned_data["certificate"],
                sni_name=sni_name,
                passphrase=passphrase,
                confirmed=form.cleaned_data["confirm"],
                user=acting_user(request),
            )
        except NeedsConfirmation as exc:
            form.add_error("confirm", str(exc))
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"{certificate.name if certificate else 'The certificate'} assigned to "
                f"{listener.name}{' for ' + sni_name if sni_name else ''}; deploying it now "
                f"({listener.action_label}). This page follows the deployment.",
            )
            return redirect("services:detail", listener.pk)
    current = listener.certificate_id
    if sni_name:
        current = next((s.certificate_id for s in listener.sni.all() if s.server_name == sni_name.lower()), None)
    offers = selectors.certificates_offered(names=names, current_id=current, search=request.GET.get("q", ""))
    context = {
        "listener": listener,
        "offers": offers,
        "chosen": certificate,
        "fit": selectors.certificate_fitness(certificate, names) if certificate else None,
        "default_note": _default_name_note(listener, certificate) if certificate and not names else "",
        "form": form,
        "sni_name": sni_name,
        "q": request.GET.get("q", ""),
    }
    return render(request, "services/select.html", context)


@staff_required
@post_only("services:detail")
def service_remove_sni(request: HttpRequest, listener_id: int) -> HttpResponse:
    listener = _listener(listener_id)
    name = request.POST.get("sni_name", "")
    actions.listener_remove_sni(listener, name, user=acting_user(request))
    messages.success(request, f"Clients asking {listener.name} for {name} now get its own certificate.")
    return redirect("services:detail", listener.pk)


@staff_required
@post_only("services:detail")
def service_deploy(request: HttpRequest, listener_id: int) -> HttpResponse:
    listener = _listener(listener_id)
    actions.listener_deploy_queue(listener, trigger="manual", user=acting_user(request))
    messages.success(request, f"Deployment of {listener.name} queued.")
    return redirect("services:detail", listener.pk)


@staff_required
@post_only("services:detail")
def service_verify(request: HttpRequest, listener_id: int) -> HttpResponse:
    """One listener: queued for a worker (a probe is outbound traffic, never made inside a request)."""
    listener = _listener(listener_id)
    actions.listener_verify_queue(listener, user=acting_user(request))
    messages.info(request, f"Verification of {listener.name} queued: the result appears here as it comes.")
    return redirect("services:detail", listener_id)


@staff_required
@post_only("services:list")
def service_verify_all(request: HttpRequest) -> HttpResponse:
    """Every listener: queued for a worker, which probes them concurrently; the page shows stored results."""
    count = actions.listeners_verify_queue(user=acting_user(request))
    messages.info(
        request,
        f"Verification of {count} listener{'s' if count != 1 else ''} queued: results appear here as they come.",
    )
    return redirect("services:list")


def _default_name_note(listener: Listener, certificate: Certificate) -> str:
    """A listener without a server_name answers for this host's name: a mismatch there is noted, not blocking."""
    name = server_name_of(listener)
    if selectors.certificate_covers(certificate, name) is False:
        return f"It does not cover {name}, this host's name, which {listener.name} answers for (no server name set)."
    return ""


def _certificate_param(value: str | None) -> Certificate | None:
    return selectors.certificate_picked(value) if value and value.isdigit() else None


@sensitive_post_parameters("passphrase")
@require_http_methods(["GET", "POST"])
@staff_required
def service_replace(request: HttpRequest) -> HttpResponse:
    """?from=<id>: "Replace on all these services with…"; ?certificate=<id>: "Use it on services" (the listeners
    whose names it covers first, ticked). One submit reassigns them all and queues a deployment and then a
    verification for each; the progress page follows them."""
    source = _certificate_param(request.GET.get("from"))
    fixed = _certificate_param(request.GET.get("certificate"))
    picked = _certificate_param(request.POST.get("certificate")) or fixed
    targets = selectors.replace_targets(source=source, new=picked)
    form = ReplaceForm(*form_data(request), targets=[t.key for t in targets])
    if request.method == "POST" and form.is_valid():
        try:
            requested = actions.listeners_replace(
                targets=form.cleaned_data["targets"],
                certificate_id=form.cleaned_data["certificate"],
                passphrase=secret_bytes(form.cleaned_data["passphrase"]),
                confirmed=form.cleaned_data["confirm"],
                user=acting_user(request),
            )
        except NeedsConfirmation as exc:
            form.add_error("confirm", str(exc))
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{len(requested)} deployment(s) queued, each followed by a verification.")
            query = urlencode([("d", d.pk) for d in requested])
            return redirect(f"{reverse('services:replace_progress')}?{query}")
    if form.is_bound:
        ticked = set(request.POST.getlist("targets"))
        for target in targets:
            target.checked = target.key in ticked
    names = sorted({name for target in targets if target.checked for name in target.strict_names})
    offers = [] if fixed else selectors.certificates_offered(names=names, current_id=source.pk if source else None)
    daemons = sorted({target.listener.get_daemon_display() for target in targets})
    context = {
        "daemons": ", ".join(daemons),
        "source": source,
        "fixed": fixed,
        "picked": picked,
        "targets": targets,
        "offers": offers,
        "form": form,
        "fit": selectors.certificate_fitness(fixed, []) if fixed else None,
    }
    return render(request, "services/replace.html", context)


def service_replace_progress(request: HttpRequest) -> HttpResponse:
    ids = [int(value) for value in request.GET.getlist("d") if value.isdigit()][:200]
    context = dict(selectors.replace_progress(ids))
    return _live(request, "services/replace_progress.html", "services/partials/replace_live.html", context)
