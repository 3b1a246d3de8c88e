"""Repository pages. Views parse input, call one action or selector, and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from certpanel.access.reauth import reauth_confirm
from certpanel.errors import PanelError
from certpanel.web import acting_user, form_data, staff_required
from repository import actions, selectors
from repository.errors import NotFoundError
from repository.exports import SECRET_FORMATS, certificate_export
from repository.forms import CompleteForm, CsrForm, DeleteForm, ExportForm, ImportForm, SelfSignedForm
from repository.models import Certificate, CertificateStatus

PAGE_SIZE = 50


def _entry_or_404(certificate_id: int) -> Certificate:
    try:
        return selectors.certificate_get(certificate_id)
    except NotFoundError as exc:
        raise Http404(str(exc)) from None


def _flash_warnings(request: HttpRequest, warnings: list[str]) -> None:
    for warning in warnings:
        messages.warning(request, warning)


def certificate_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    page = Paginator(selectors.certificate_list(search=search, status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "q": search, "status": status, "statuses": CertificateStatus.choices}
    return render(request, "repository/list.html", context)


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@staff_required
def create_self_signed(request: HttpRequest) -> HttpResponse:
    form = SelfSignedForm(*form_data(request))
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
    form = CsrForm(*form_data(request))
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


def certificate_detail(request: HttpRequest, certificate_id: int) -> HttpResponse:
    entry = _entry_or_404(certificate_id)
    context: dict[str, Any] = {"entry": entry, "export_form": ExportForm(), **selectors.certificate_detail(entry)}
    if entry.is_pending:
        context["complete_form"] = CompleteForm()
    return render(request, "repository/detail.html", context)


@require_http_methods(["POST"])
@staff_required
def complete(request: HttpRequest, certificate_id: int) -> HttpResponse:
    entry = _entry_or_404(certificate_id)
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
    return render(request, "repository/complete.html", {"entry": entry, "form": form}, status=400)


@sensitive_post_parameters()
@require_http_methods(["POST"])
def export(request: HttpRequest, certificate_id: int) -> HttpResponse:
    entry = _entry_or_404(certificate_id)
    form = ExportForm(request.POST)
    if form.is_valid():
        export_format = form.cleaned_data["export_format"]
        if export_format in SECRET_FORMATS and not request.user.is_staff:
            raise PermissionDenied("Only staff users may export private keys.")
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
            form.add_error(None, str(exc))
        else:
            response = HttpResponse(result.content, content_type=result.content_type)
            response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
            if result.secret:
                response["Cache-Control"] = "no-store"
            return response
    return render(request, "repository/export.html", {"entry": entry, "form": form}, status=400)


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
