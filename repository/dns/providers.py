"""DNS providers: add (checked against the server first), list, delete, and the connection details an update needs.

The TSIG secret is sealed on the way in and unsealed only to sign a message; it is never returned to a page, a
log line or the audit log (the audit detail names the zone, server, key name and algorithm, never the secret).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from certpanel.audit.actions import AuditAction, audit_record
from repository.dns import names
from repository.dns.names import ServerAddress
from repository.dns.rfc2136 import Tsig
from repository.dns.zones import zone_check
from repository.errors import DnsError
from repository.keystore import current_kek, open_sealed, seal
from repository.models import DnsProvider


@dataclass(frozen=True)
class Connection:
    """What an update to a provider's zone needs; holds the unsealed secret, so it lives for one operation."""

    zone: str
    server: ServerAddress
    tsig: Tsig


@dataclass(frozen=True)
class ProviderInput:
    """A provider's settings as typed, checked and made canonical (``provider_input``)."""

    zone: str
    server: ServerAddress
    tsig: Tsig


def provider_input(*, zone: str, server: str, tsig_name: str, tsig_algorithm: str, tsig_secret: str) -> ProviderInput:
    """DnsError (with its field) for the first input that is not well-formed; nothing is asked of the network."""
    return ProviderInput(
        zone=names.zone_name(zone),
        server=names.server_address(server),
        tsig=Tsig(names.tsig_key_name(tsig_name), names.tsig_algorithm(tsig_algorithm), names.tsig_secret(tsig_secret)),
    )


def dns_provider_check(settings: ProviderInput) -> None:
    """Ask the server, signed with the key, for the zone's SOA: it must answer authoritatively (DnsError otherwise,
    naming the field to correct: an unreachable server, a zone it does not serve, a key it refuses)."""
    zone_check(settings.server, settings.zone, tsig=settings.tsig)


def dns_provider_create(
    *,
    zone: str,
    server: str,
    tsig_name: str,
    tsig_algorithm: str,
    tsig_secret: str,
    note: str = "",
    user: User | None = None,
) -> DnsProvider:
    settings = provider_input(
        zone=zone, server=server, tsig_name=tsig_name, tsig_algorithm=tsig_algorithm, tsig_secret=tsig_secret
    )
    if DnsProvider.objects.filter(zone=settings.zone).exists():
        raise DnsError(f"There is already a DNS provider for zone {settings.zone}: delete it first.", field="zone")
    dns_provider_check(settings)
    try:
        with transaction.atomic():
            provider = DnsProvider.objects.create(
                zone=settings.zone,
                server=settings.server.host,
                port=settings.server.port,
                tsig_name=settings.tsig.name,
                tsig_algorithm=settings.tsig.algorithm,
                tsig_secret_sealed=seal(settings.tsig.secret, kek=current_kek()),
                note=" ".join(note.split())[:200],
            )
            audit_record(
                action=AuditAction.SETTINGS_CHANGE,
                actor=user,
                target=provider,
                detail=f"added DNS provider for zone {provider.zone} (server {provider.server_label}, TSIG key "
                f"'{provider.tsig_name}', {provider.tsig_algorithm})",
            )
    except IntegrityError:  # the same zone added by someone else a moment ago
        raise DnsError(f"There is already a DNS provider for zone {settings.zone}.", field="zone") from None
    return provider


def dns_provider_delete(*, provider: DnsProvider, user: User | None = None) -> str:
    """Delete the provider and the history of its records (the caller removes live records first: records.py)."""
    zone = provider.zone
    with transaction.atomic():
        audit_record(
            action=AuditAction.SETTINGS_CHANGE,
            actor=user,
            target=provider,
            detail=f"deleted DNS provider for zone {zone} (server {provider.server_label})",
        )
        provider.delete()
    return zone


def dns_provider_connection(provider: DnsProvider) -> Connection:
    tsig = Tsig(provider.tsig_name, provider.tsig_algorithm, open_sealed(provider.tsig_secret_sealed))
    return Connection(provider.zone, ServerAddress(provider.server, provider.port), tsig)


# ---------------------------------------------------------------- selectors


def dns_providers() -> QuerySet[DnsProvider]:
    return DnsProvider.objects.all()


def dns_provider_get(zone: str) -> DnsProvider:
    try:
        key = names.zone_name(zone)
    except DnsError:
        key = zone
    provider = DnsProvider.objects.filter(zone=key).first()
    if provider is None:
        raise DnsError(f"There is no DNS provider for zone {names.shown(zone.strip())} (see `dns list`).", field="zone")
    return provider


def dns_provider_for_name(fqdn: str) -> DnsProvider | None:
    """The provider whose zone holds ``fqdn``: the longest zone that is ``fqdn`` or ends in ``.zone``."""
    labels = fqdn.lower().removesuffix(".").split(".")
    candidates = [".".join(labels[index:]) for index in range(len(labels))]
    found = {provider.zone: provider for provider in DnsProvider.objects.filter(zone__in=candidates)}
    return next((found[name] for name in candidates if name in found), None)
