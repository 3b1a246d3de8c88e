"""The dashboard (/) and the Jobs page. Views parse input, call one selector or action, and render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from certpanel.dashboard import jobs as job_selectors
from certpanel.dashboard.actions import job_retry
from certpanel.dashboard.selectors import dashboard as dashboard_data
from certpanel.errors import PanelError
from certpanel.web import acting_user, post_only, staff_required
from repository import emails


def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/index.html", {**dashboard_data(), "notified": emails.recipients_state()})


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() else 1


def jobs(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    text = request.GET.get("q", "").strip()[:200]
    page = job_selectors.jobs_page(kind=kind, status=status, text=text, page=_page_number(request.GET.get("page")))
    context = {
        "page": page,
        "kind": kind if kind in job_selectors.KINDS else "",
        "status": status if status in job_selectors.STATUSES else "",
        "q": text,
        "kinds": [(key, each.label) for key, each in job_selectors.KINDS.items()],
        "statuses": job_selectors.STATUSES,
    }
    template = "dashboard/partials/jobs_table.html" if getattr(request, "htmx", False) else "dashboard/jobs.html"
    return render(request, template, context)


def job_detail(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    try:
        job, row = job_selectors.job_get(kind, pk)
    except LookupError:
        raise Http404(f"There is no {kind} #{pk}.") from None
    label = job_selectors.KINDS[kind].label
    return render(request, "dashboard/job_detail.html", {"job": job, "row": row, "label": label})


def _jobs_page(request: HttpRequest, **_: object) -> str:
    return reverse("jobs")


@staff_required
@post_only(_jobs_page)
def job_retry_view(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    try:
        done = job_retry(kind, pk, user=acting_user(request))
    except (PanelError, ObjectDoesNotExist) as exc:
        messages.error(request, str(exc) or f"There is no {kind} #{pk}.")
    else:
        messages.success(request, done)
    return redirect("jobs")
