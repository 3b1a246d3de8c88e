"""/audit/: the audit log, read-only for everyone logged in (no view here or anywhere changes a row)."""

from __future__ import annotations

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from certpanel.audit.forms import AuditFilterForm
from certpanel.audit.selectors import audit_events, target_links

PAGE_SIZE = 50


@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    form.is_valid()  # errors show beside their field; the valid filters still apply
    filters = form.filters()
    paginator = Paginator(audit_events(**filters), PAGE_SIZE)
    asked = request.GET.get("page", "1")
    page_note = ""
    try:
        page = paginator.page(asked)
    except (PageNotAnInteger, EmptyPage):
        page = paginator.page(paginator.num_pages if asked.strip().isdigit() else 1)
        page_note = f"There is no page “{asked[:20]}”: this is page {page.number} of {paginator.num_pages}."
    events = list(page.object_list)
    links = target_links(events)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": [(event, links.get(event.pk)) for event in events],
        "page_note": page_note,
        "filtered": bool(filters),
        "query": query.urlencode(),
        "nav": "audit",
    }
    return render(request, "audit/list.html", context)
