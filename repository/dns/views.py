"""Settings → DNS providers (/settings/dns-providers/): everyone sees the list (never a secret); admins add,
test and delete. Adding asks the server first (a signed SOA query), so a provider that cannot work is not saved;
Test runs `dns test` (checks.py) in the request, bounded by its deadline, and shows each nameserver's answer."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET

from certpanel.web import acting_user, admin_required, post_only
from repository.dns.checks import ProviderTest, dns_provider_test
from repository.dns.forms import DnsProviderForm
from repository.dns.providers import dns_provider_create, dns_provider_delete, dns_providers
from repository.dns.records import dns_records_live, dns_records_remove_for_provider
from repository.errors import DnsError
from repository.models import DnsProvider

WEB_TEST_SECONDS = 20.0  # a browser waits for the answer: well under any proxy's timeout


def _page(
    request: HttpRequest,
    *,
    form: DnsProviderForm | None = None,
    test: ProviderTest | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "providers": dns_providers(),
        "live_records": dns_records_live().select_related("provider")[:50],
        "form": form or DnsProviderForm(),
        "test": test,
    }
    return render(request, "repository/dns_providers.html", context, status=status)


def _back_to_list(request: HttpRequest, **kwargs: object) -> str:
    return reverse("dns:list")


@require_GET
def provider_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@sensitive_post_parameters("tsig_secret")
@admin_required
@post_only("dns:list")
def provider_add(request: HttpRequest) -> HttpResponse:
    form = DnsProviderForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            provider = dns_provider_create(
                zone=data["zone"],
                server=data["server"],
                tsig_name=data["tsig_name"],
                tsig_algorithm=data["tsig_algorithm"],
                tsig_secret=data["tsig_secret"],
                note=data["note"],
                user=acting_user(request),
            )
        except DnsError as exc:
            form.add_dns_error(exc)
        else:
            messages.success(
                request, f"DNS provider for {provider.zone} added: {provider.server_label} serves the zone."
            )
            return redirect("dns:list")
    return _page(request, form=form, status=400)


@admin_required
@post_only(_back_to_list)
def provider_test(request: HttpRequest, provider_id: int) -> HttpResponse:
    provider = get_object_or_404(DnsProvider, pk=provider_id)
    return _page(request, test=dns_provider_test(provider, seconds=WEB_TEST_SECONDS))


@admin_required
@post_only(_back_to_list)
def provider_delete(request: HttpRequest, provider_id: int) -> HttpResponse:
    provider = get_object_or_404(DnsProvider, pk=provider_id)
    cleanup = dns_records_remove_for_provider(provider)
    zone = dns_provider_delete(provider=provider, user=acting_user(request))
    messages.success(request, f"DNS provider for {zone} deleted.")
    for failure in cleanup.failed:
        messages.warning(request, f"Left in DNS (remove it by hand): {failure}")
    return redirect("dns:list")
