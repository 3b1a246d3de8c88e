"""The toolbox page: decode, match, verify, convert. Nothing submitted here is stored or logged."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from certpanel.errors import PanelError
from repository import toolbox
from repository.forms import UploadForm, file_field, paste_field, secret_bytes


class DecodeForm(UploadForm):
    inputs = {"data": "Input"}
    data_file = file_field("File", "Certificate, chain, CSR, private key (PEM/DER), PKCS#7 or PKCS#12.")
    data_text = paste_field("…or paste PEM")
    password = forms.CharField(required=False, widget=forms.PasswordInput, label="Password / passphrase")


class MatchForm(UploadForm):
    inputs = {"key": "Private key", "other": "Certificate or CSR"}
    key_file = file_field("Private key")
    key_text = paste_field("…or paste the key")
    other_file = file_field("Certificate or CSR")
    other_text = paste_field("…or paste it")
    password = forms.CharField(required=False, widget=forms.PasswordInput, label="Key passphrase")


class VerifyForm(UploadForm):
    inputs = {"data": "Chain"}
    data_file = file_field("Certificates", "Leaf and intermediates in any order.")
    data_text = paste_field("…or paste them")


class ConvertForm(UploadForm):
    inputs = {"data": "Input"}
    data_file = file_field("File")
    data_text = paste_field("…or paste PEM")
    to = forms.ChoiceField(choices=[(k, v[0]) for k, v in toolbox.CONVERSIONS.items()], label="Convert to")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        label="PKCS#12 password",
        help_text="To read a PKCS#12 input, or to protect a PKCS#12 output.",
    )
    passphrase = forms.CharField(required=False, widget=forms.PasswordInput, label="Key passphrase")


FORMS: dict[str, type[UploadForm]] = {
    "decode": DecodeForm,
    "match": MatchForm,
    "verify": VerifyForm,
    "convert": ConvertForm,
}


def _run(tool: str, data: dict[str, Any]) -> dict[str, Any] | HttpResponse:
    if tool == "decode":
        return {"sections": toolbox.decode(data["data"], password=secret_bytes(data["password"]))}
    if tool == "match":
        ok, message = toolbox.key_matches(
            key_data=data["key"], other_data=data["other"], passphrase=secret_bytes(data["password"])
        )
        return {"match_ok": ok, "match_message": message}
    if tool == "verify":
        sections, problems = toolbox.verify(data["data"])
        return {"sections": sections, "problems": problems, "verified": True}
    target = data["to"]
    content = toolbox.convert(
        data["data"], to=target, password=secret_bytes(data["password"]), passphrase=secret_bytes(data["passphrase"])
    )
    response = HttpResponse(content, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="converted{toolbox.CONVERSIONS[target][1]}"'
    response["Cache-Control"] = "no-store"
    return response


def _missing(form: UploadForm) -> list[str]:
    return [label for name, label in form.inputs.items() if not form.cleaned_data.get(name)]


@never_cache
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def toolbox_page(request: HttpRequest) -> HttpResponse:
    tool = request.POST.get("tool", "decode") if request.method == "POST" else request.GET.get("tool", "decode")
    tool = tool if tool in FORMS else "decode"
    forms_by_tool = {name: cls(prefix=name) for name, cls in FORMS.items()}
    context: dict[str, Any] = {"tool": tool}
    status = 200
    if request.method == "POST":
        form = FORMS[tool](request.POST, request.FILES, prefix=tool)
        forms_by_tool[tool] = form
        if form.is_valid():
            if missing := _missing(form):
                form.add_error(None, f"Provide: {', '.join(missing)}.")
            else:
                try:
                    result = _run(tool, form.cleaned_data)
                except PanelError as exc:
                    form.add_error(None, str(exc))
                else:
                    if isinstance(result, HttpResponse):
                        return result
                    context.update(result)
        if form.errors:
            status = 400
    context["forms"] = forms_by_tool
    return render(request, "repository/toolbox.html", context, status=status)
