"""The toolbox page: one form per tool, the result shown below it. Nothing submitted here is stored or logged."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from certpanel.errors import PanelError
from repository.forms import UploadForm, secret_bytes
from repository.toolbox import tools
from repository.toolbox.forms import FORMS


def _run(tool: str, data: dict[str, Any]) -> dict[str, Any] | HttpResponse:
    if tool == "decode":
        return {"sections": tools.decode(data["data"], password=secret_bytes(data["password"]))}
    if tool == "match":
        ok, message = tools.key_matches(
            key_data=data["key"], other_data=data["other"], passphrase=secret_bytes(data["password"])
        )
        return {"match_ok": ok, "match_message": message}
    if tool == "verify":
        sections, problems = tools.verify(data["data"])
        return {"sections": sections, "problems": problems, "verified": True}
    target = data["to"]
    content = tools.convert(
        data["data"], to=target, password=secret_bytes(data["password"]), passphrase=secret_bytes(data["passphrase"])
    )
    response = HttpResponse(content, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="converted{tools.CONVERSIONS[target][1]}"'
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
