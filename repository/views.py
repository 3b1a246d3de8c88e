"""Repository pages. Views parse input, call one action or selector, and render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from certpanel.access.reauth import reauth_confirm
from certpanel.errors import PanelError
from certpanel.roles import may_export_keys
from certpanel.web import acting_user, form_data, post_only, staff_required
from repository import actions, selectors
from repository.errors import NotFoundError
from repository.exports import SECRET_FORMATS, ExportFile, certificate_export, certificates_export_public
from repository.forms import (
    BulkDeleteForm,
    CompleteForm,
    CsrForm,
    CsrFromCertificateForm,
    DeleteForm,
    ExportForm,
    ImportForm,
    RenewSelfSignedForm,
    SelfSignedForm,
)
from repository.models import Certificate, CertificateStatus
from repository.pki.dates import public_ca_validity_note

PAGE_SIZE = 50


def _entry_or_404(certificate_id: int) -> Certificate:
    try:
        return selectors.certificate_get(certificate_id)
    except NotFoundError as exc:
        raise Http404(str(exc)) from None


def _flash_warnings(request: HttpRequest, warnings: list[str]) -> None:
    for warning in warnings:
        messages.warning(request, warning)


# The list opens with what needs attention first: the entry closest to (or furthest past) its expiry on top.
DEFAULT_SORT = "days"
SORT_COLUMNS = {"name": "Name", "source": "Source", "expiry": "Expires", "days": "Days left", "status": "Status"}


@dataclass(frozen=True)
class SortHeader:
    label: str
    url: str
    aria_sort: str  # "ascending", "descending" or "" (not the active column)


def _sort_headers(params: QueryDict, sort: str, direction: str) -> dict[str, SortHeader]:
    """Each sortable column's link: the active one flips its direction, the others start ascending; page 1."""
    headers = {}
    for key, label in SORT_COLUMNS.items():
        active = key == sort
        query = params.copy()
        query.pop("page", None)
        query["sort"], query["dir"] = key, ("desc" if active and direction == "asc" else "asc")
        aria = ("ascending" if direction == "asc" else "descending") if active else ""
        headers[key] = SortHeader(label, "?" + query.urlencode(), aria)
    return headers


def _list_query(query: str) -> str:
    """The list URL with a query string sent back by a list form (re-encoded: it only ever sets parameters)."""
    params = QueryDict(query[:2000])
    clean = QueryDict(mutable=True)
    for key in ("q", "status", "sort", "dir", "page"):
        if key in params:
            clean[key] = params[key]
    return reverse("repository:list") + ("?" + clean.urlencode() if clean else "")


def _selected_ids(values: list[str]) -> list[int]:
    return sorted({int(value) for value in values if value.isdigit()})


def certificate_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    sort = request.GET.get("sort", DEFAULT_SORT)
    sort = sort if sort in selectors.SORT_KEYS else DEFAULT_SORT
    direction = "desc" if request.GET.get("dir") == "desc" else "asc"
    now = timezone.now()
    entries = selectors.certificate_list(
        search=search, status=status, sort=sort, descending=direction == "desc", now=now
    )
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    counts = selectors.certificate_counts(now=now)
    context = {
        "page": page,
        "q": search,
        "status": status,
        "statuses": [*CertificateStatus.choices, (selectors.RENEWAL_FAILING, "Renewal failing")],
        "status_counts": [(value, label, counts[value]) for value, label in CertificateStatus.choices],
        "count_all": counts["all"],
        "sort": sort,
        "direction": direction,
        "headers": _sort_headers(request.GET, sort, direction),
        "list_query": params.urlencode(),
        "page_query": request.GET.urlencode(),
    }
    return render(request, "repository/list.html", context)


@post_only("repository:list")
def bulk_export(request: HttpRequest) -> HttpResponse:
    """The list's "Export public certificates": one zip of certificates and chains (anyone may: no keys)."""
    back = _list_query(request.POST.get("query", ""))
    ids = _selected_ids(request.POST.getlist("ids"))
    if not ids:
        messages.error(request, "Select the certificates to export first.")
        return redirect(back)
    try:
        result = certificates_export_public(certificate_ids=ids)
    except PanelError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    return _download(result)


@require_http_methods(["GET", "POST"])
@staff_required
def bulk_delete(request: HttpRequest) -> HttpResponse:
    """The list's "Delete unused": the list posts its selection here and is sent on to the confirmation page
    (GET ?ids=…), which names what goes and what stays because a service uses it; its POST deletes."""
    data = request.POST if request.method == "POST" else request.GET
    ids, query = _selected_ids(data.getlist("ids")), data.get("query", "")
    if not ids:
        messages.error(request, "Select the certificates to delete first.")
        return redirect(_list_query(query))
    confirming = request.method == "POST" and "confirm_page" in request.POST
    if request.method == "POST" and not confirming:  # from the list: on to the confirmation page, a GET
        params = QueryDict(mutable=True)
        params.setlist("ids", [str(pk) for pk in ids])
        params["query"] = query
        return redirect(reverse("repository:bulk_delete") + "?" + params.urlencode())
    form = BulkDeleteForm(request.POST if confirming else None)
    if confirming and form.is_valid():
        try:
            outcome = actions.certificates_delete_unused(certificate_ids=ids, user=acting_user(request))
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            if outcome.deleted:
                messages.success(request, f"Deleted {len(outcome.deleted)}: {', '.join(outcome.deleted)}.")
            if outcome.kept:
                messages.warning(request, f"Kept because services use them: {', '.join(outcome.kept)}.")
            return redirect(_list_query(query))
    preview = selectors.certificates_bulk_delete_preview(ids)
    context = {**preview, "form": form, "ids": ids, "query": query, "back": _list_query(query)}
    return render(request, "repository/bulk_delete.html", context, status=400 if form.errors else 200)


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@staff_required
def create_self_signed(request: HttpRequest) -> HttpResponse:
    form = SelfSignedForm(*form_data(request), initial={"hostname": settings.CERTPANEL_HOSTNAME})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = actions.certificate_create_self_signed(
                hostname=data["hostname"],
                sans=data["sans"],
                key_type=data["key_type"],
                days=data["days"],
                passphrase=form.new_passphrase(),
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Created the self-signed certificate {entry.name}.")
            return redirect("repository:detail", entry.pk)
    return render(
        request,
        "repository/form.html",
        {"form": form, "title": "Create Self-signed Certificate", "submit": "Create Self-Signed Certificate"},
    )


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@staff_required
def create_csr(request: HttpRequest) -> HttpResponse:
    form = CsrForm(*form_data(request), initial={"common_name": settings.CERTPANEL_HOSTNAME})
    if request.method == "POST" and form.is_valid():
        try:
            entry = actions.certificate_create_csr(
                subject=form.subject(),
                sans=form.cleaned_data["sans"],
                key_type=form.cleaned_data["key_type"],
                passphrase=form.new_passphrase(),
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Created a CSR for {entry.name}. Download it and send it to your CA.")
            return redirect("repository:detail", entry.pk)
    return render(
        request,
        "repository/form.html",
        {"form": form, "title": "Generate a CSR for a commercial CA", "submit": "Generate CSR"},
    )


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@staff_required
def import_certificate(request: HttpRequest) -> HttpResponse:
    form = ImportForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            outcome = actions.certificate_import(
                certificate_data=data["certificate"],
                key_data=data["key"],
                chain_data=data["chain"],
                pkcs12_data=data["pkcs12"],
                passphrase=form.secret(),
                name=data["name"],
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Imported {outcome.certificate.name}.")
            _flash_warnings(request, outcome.warnings)
            return redirect("repository:detail", outcome.certificate.pk)
    return render(
        request,
        "repository/form.html",
        {"form": form, "title": "Import a certificate", "submit": "Import", "multipart": True},
    )


def _detail_page(
    request: HttpRequest,
    entry: Certificate,
    *,
    export_form: ExportForm | None = None,
    complete_form: CompleteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "entry": entry,
        "export_form": export_form or ExportForm(keys=may_export_keys(request.user)),
        "csr_note": public_ca_validity_note(timezone.now().date()),
        **selectors.certificate_detail(entry),
    }
    if entry.is_pending:
        context["complete_form"] = complete_form or CompleteForm()
    return render(request, "repository/detail.html", context, status=status)


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def certificate_detail(request: HttpRequest, certificate_id: int) -> HttpResponse:
    """The certificate page. Its export and upload forms post to it (``form`` names which), so a form error shows
    next to the field on this page, at this URL, and a refresh never lands on an action URL."""
    entry = _entry_or_404(certificate_id)
    if request.method == "POST":
        if request.POST.get("form") == "export":
            return _export(request, entry)
        if request.POST.get("form") == "complete":
            return _complete(request, entry)
        return redirect("repository:detail", entry.pk)
    return _detail_page(request, entry)


def _complete(request: HttpRequest, entry: Certificate) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff users may change the repository.")
    form = CompleteForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            outcome = actions.certificate_complete(
                certificate_id=entry.pk,
                uploads=[form.cleaned_data["certificate"], form.cleaned_data["chain"]],
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{entry.name} is now a certificate.")
            _flash_warnings(request, outcome.warnings)
            return redirect("repository:detail", entry.pk)
    return _detail_page(request, entry, complete_form=form, status=400)


def _download(result: ExportFile) -> HttpResponse:
    response = HttpResponse(result.content, content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    if result.secret:
        response["Cache-Control"] = "no-store"
    return response


def _export(request: HttpRequest, entry: Certificate) -> HttpResponse:
    keys = may_export_keys(request.user)
    if not keys and request.POST.get("export_format") in SECRET_FORMATS:
        raise PermissionDenied(
            "Your account is read-only: it may download certificates and chains, never a private key. "
            "Ask an admin or an operator."
        )
    form = ExportForm(request.POST, keys=keys)
    if form.is_valid():
        export_format = form.cleaned_data["export_format"]
        # A private key leaves only after its user proved who they are, recently: a stolen session is not enough.
        reauth_form = reauth_confirm(request) if export_format in SECRET_FORMATS else None
        if reauth_form is not None:
            context = {"entry": entry, "form": form, "reauth_form": reauth_form}
            return render(request, "repository/export.html", context, status=400 if reauth_form.is_bound else 200)
        passphrase, export_password = form.secrets()
        try:
            result = certificate_export(
                certificate_id=entry.pk,
                export_format=export_format,
                passphrase=passphrase,
                export_password=export_password,
                user=acting_user(request),
                actor=request.user.get_username(),
            )
        except PanelError as exc:
            form.add_error(_error_field(form, exc), str(exc))
        else:
            return _download(result)
    return _detail_page(request, entry, export_form=form, status=400)


def _error_field(form: forms.Form, exc: PanelError) -> str | None:
    """The field an action's error is about, when the form has it (a passphrase or password), else the form."""
    text = str(exc).lower()
    for name, words in (("export_password", "export password"), ("passphrase", "passphrase")):
        if name in form.fields and words in text:
            return name
    return None


@staff_required
@post_only("repository:detail")
def complete(request: HttpRequest, certificate_id: int) -> HttpResponse:
    """The upload form's former address."""
    return _complete(request, _entry_or_404(certificate_id))


@sensitive_post_parameters()
@post_only("repository:detail")
def export(request: HttpRequest, certificate_id: int) -> HttpResponse:
    """The export form's former address (scripts post here); read-only users may take certificates and chains."""
    return _export(request, _entry_or_404(certificate_id))


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@staff_required
def renew_self_signed(request: HttpRequest, certificate_id: int) -> HttpResponse:
    entry = _entry_or_404(certificate_id)
    if selectors.certificate_successor_kind(entry) != "renew":
        return redirect("repository:detail", entry.pk)
    lifetime = (entry.not_after - entry.not_before).days if entry.not_after and entry.not_before else 365
    has_passphrase = bool(entry.key and entry.key.has_passphrase)
    form = RenewSelfSignedForm(
        *form_data(request), initial={"days": min(max(lifetime, 1), 3650)}, key_has_passphrase=has_passphrase
    )
    if request.method == "POST" and form.is_valid():
        try:
            new = actions.certificate_renew_self_signed(
                certificate_id=entry.pk,
                days=form.cleaned_data["days"],
                keep_key=form.cleaned_data["keep_key"],
                passphrase=form.secret(),
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(_error_field(form, exc), str(exc))
        else:
            messages.success(request, f"Renewed {entry.name}: this is the new certificate (#{new.pk}).")
            return redirect("repository:detail", new.pk)
    context = {
        "form": form,
        "entry": entry,
        "title": f"Renew {entry.name}",
        "submit": "Renew",
        "intro": "A new self-signed certificate for the same names and key type, stored as a new entry. "
        "This one stays, and keeps serving its services, until you replace and delete it.",
    }
    return render(request, "repository/successor.html", context)


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@staff_required
def csr_from_certificate(request: HttpRequest, certificate_id: int) -> HttpResponse:
    entry = _entry_or_404(certificate_id)
    if selectors.certificate_successor_kind(entry) != "csr":
        return redirect("repository:detail", entry.pk)
    form = CsrFromCertificateForm(*form_data(request), key_has_passphrase=bool(entry.key and entry.key.has_passphrase))
    if request.method == "POST" and form.is_valid():
        try:
            new = actions.certificate_create_csr_from(
                certificate_id=entry.pk,
                keep_key=form.cleaned_data["keep_key"],
                passphrase=form.secret(),
                user=acting_user(request),
            )
        except PanelError as exc:
            form.add_error(_error_field(form, exc), str(exc))
        else:
            messages.success(request, f"Created a CSR for {new.name}. Download it and send it to your CA.")
            return redirect("repository:detail", new.pk)
    context = {
        "form": form,
        "entry": entry,
        "title": f"New CSR from {entry.name}",
        "submit": "Generate CSR",
        "intro": "A certificate signing request with this certificate's subject and names, for your CA's next "
        "certificate. It is stored as a pending entry; this certificate stays in service meanwhile.",
        "csr_note": public_ca_validity_note(timezone.now().date()),
    }
    return render(request, "repository/successor.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def delete(request: HttpRequest, certificate_id: int) -> HttpResponse:
    entry = _entry_or_404(certificate_id)
    usages = selectors.certificate_usages(entry)
    form = DeleteForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            name = actions.certificate_delete(certificate_id=entry.pk, user=acting_user(request))
        except PanelError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Deleted {name}.")
            return redirect("repository:list")
    return render(request, "repository/delete.html", {"entry": entry, "usages": usages, "form": form})
