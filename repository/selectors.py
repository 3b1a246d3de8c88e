"""Reads from the certificate repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from cryptography import x509
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    Model,
    OrderBy,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from repository.acme.selectors import RenewalPlanView, certificate_renewal_plan
from repository.errors import CryptoError, NotFoundError
from repository.models import AcmeOrder, Certificate, CertificateSource, CertificateStatus, KeyExport
from repository.pki.chain import verify_chain
from repository.pki.dates import days_left, reissue_reminder
from repository.pki.describe import CertificateInfo, certificate_fields, describe_certificate
from repository.pki.keytypes import key_description
from repository.pki.parse import parse_certificates
from repository.policy import schedule_policy

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Status(TypedDict):
    """What the list selector annotates on each certificate: its CertificateStatus and whether it signed itself,
    computed in SQL."""

    status: str
    self_issued: bool


LIST_COLUMNS = (
    "id",
    "name",
    "source",
    "is_default",
    "common_name",
    "sans",
    "issuer",
    "serial",
    "fingerprint_sha256",
    "key_type",
    "not_before",
    "not_after",
    "expiring_from",
    "created_at",
)

# The list's sortable columns (?sort=): days left and expiry sort alike, pending CSRs (no expiry) always last.
SORT_KEYS = ("name", "expiry", "days", "source", "status")
_STATUS_RANK = {
    CertificateStatus.EXPIRED: 0,
    CertificateStatus.EXPIRING: 1,
    CertificateStatus.VALID: 2,
    CertificateStatus.PENDING: 3,
}


def status_expression(now: datetime, *, expiring_limit: timedelta | None = None) -> Case:
    """A row's status in SQL; ``expiring_limit`` is the policy's "expiring" threshold, read here unless the caller
    has it already (repository/policy.py)."""
    soon = now + (schedule_policy().expiring_limit if expiring_limit is None else expiring_limit)
    return Case(
        When(not_after__isnull=True, then=Value(CertificateStatus.PENDING)),
        When(not_after__lt=now, then=Value(CertificateStatus.EXPIRED)),
        When(
            Q(not_after__lt=soon) & (Q(expiring_from__isnull=True) | Q(expiring_from__lte=now)),
            then=Value(CertificateStatus.EXPIRING),
        ),
        default=Value(CertificateStatus.VALID),
        output_field=CharField(),
    )


def self_issued_expression() -> Case:
    """Made by the panel as self-signed, or issued by a CA named like the certificate itself (imported self-signed
    certificates): the list shows "self-signed" as their issuer."""
    return Case(
        When(Q(source=CertificateSource.SELF_SIGNED) | (~Q(issuer="") & Q(issuer=F("common_name"))), then=True),
        default=False,
        output_field=BooleanField(),
    )


def _ordering(sort: str, *, descending: bool) -> list[OrderBy | str]:
    def by(field: str) -> OrderBy:
        return F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)

    if sort in ("expiry", "days"):
        return [by("not_after"), "name", "id"]
    if sort == "status":
        return [by("status_rank"), F("not_after").asc(nulls_last=True), "name", "id"]
    if sort == "source":
        return [by("source"), "name", "id"]
    return [by("name"), by("id")]


def _related(name: str) -> QuerySet[Model]:
    """All rows of another app's model that points at Certificate as ``name`` (services' listeners and SNI
    entries), reached through the relation: repository does not import services."""
    model = Certificate._meta.get_field(name).related_model
    assert isinstance(model, type) and issubclass(model, Model), name  # a reverse relation names its model
    return model._default_manager.all()


# Not a status of its own (a failing renewal leaves a certificate valid, then expiring): a filter across them.
RENEWAL_FAILING = "failing"


def certificate_list(
    *,
    search: str = "",
    status: str = "",
    sort: str = "name",
    descending: bool = False,
    now: datetime | None = None,
) -> QuerySet[WithAnnotations[Certificate, _Status]]:
    """Only stored columns: the list page must not parse PEM or load keys, even for 10,000 rows. ``sort`` is one of
    SORT_KEYS (else name); the order is total (ties broken by name and id), so pages never overlap."""
    now = now or timezone.now()
    ranks = [When(status=value, then=Value(rank)) for value, rank in _STATUS_RANK.items()]
    queryset = (
        Certificate.objects.only(*LIST_COLUMNS)
        .annotate(status=status_expression(now), self_issued=self_issued_expression())
        .annotate(status_rank=Case(*ranks, default=Value(9), output_field=IntegerField()))
        .prefetch_related(
            Prefetch("listeners", queryset=_related("listeners").only("id", "name", "certificate_id")),
            Prefetch("sni_listeners", queryset=_related("sni_listeners").select_related("listener")),
        )
    )
    for term in search.lower().split():
        queryset = queryset.filter(Q(search_text__contains=term) | Q(serial__startswith=term))
    if status in CertificateStatus.values:
        queryset = queryset.filter(status=status)
    elif status == RENEWAL_FAILING:
        queryset = queryset.filter(renewal_failures__gt=0)
    return queryset.order_by(*_ordering(sort if sort in SORT_KEYS else "name", descending=descending))


def certificate_counts(*, now: datetime | None = None) -> dict[str, int]:
    """How many entries have each status, and "all": one aggregate query, whatever the repository's size."""
    now = now or timezone.now()
    rows = Certificate.objects.annotate(status=status_expression(now)).values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(CertificateStatus.values, 0)
    for row in rows.order_by():
        counts[row["status"]] = row["n"]
    return {**counts, "all": sum(counts.values())}


class BulkDeletePreview(TypedDict):
    """The selected entries split into what "Delete unused" removes and what it keeps because a service uses it."""

    unused: list[Certificate]
    used: list[tuple[Certificate, list[str]]]


def certificates_bulk_delete_preview(certificate_ids: list[int]) -> BulkDeletePreview:
    entries = (
        Certificate.objects.filter(pk__in=certificate_ids)
        .only(*LIST_COLUMNS)
        .prefetch_related(
            "listeners", Prefetch("sni_listeners", queryset=_related("sni_listeners").select_related("listener"))
        )
        .order_by("name", "id")
    )
    preview: BulkDeletePreview = {"unused": [], "used": []}
    for entry in entries:
        usages = certificate_usages(entry)
        if usages:
            preview["used"].append((entry, usages))
        else:
            preview["unused"].append(entry)
    return preview


def certificate_get(certificate_id: int | str, *, for_update: bool = False) -> Certificate:
    queryset = Certificate.objects.select_related("key")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.annotate(status=status_expression(timezone.now())).get(pk=int(certificate_id))
    except (Certificate.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"There is no certificate #{certificate_id}.") from None


def certificate_usages(entry: Certificate) -> list[str]:
    """Listeners serving the certificate, and listeners serving it for one SNI name."""
    return [label for label, _listener_id in certificate_usage_links(entry)]


def certificate_usage_links(entry: Certificate) -> list[tuple[str, int]]:
    """(label, listener id) of each use: the certificate page links each to its service."""
    usages = [(listener.name, listener.pk) for listener in entry.listeners.all()]
    return usages + [(f"{sni.listener.name} ({sni.server_name})", sni.listener_id) for sni in entry.sni_listeners.all()]


def certificate_status(entry: Certificate, *, now: datetime | None = None) -> str:
    status = getattr(entry, "status", None)
    if status:
        return str(status)
    now = now or timezone.now()
    if entry.not_after is None:
        return CertificateStatus.PENDING
    if entry.not_after < now:
        return CertificateStatus.EXPIRED
    soon = entry.not_after < now + schedule_policy().expiring_limit
    if soon and (entry.expiring_from is None or entry.expiring_from <= now):
        return CertificateStatus.EXPIRING
    return CertificateStatus.VALID


def certificate_successor_kind(entry: Certificate) -> str:
    """How the panel makes this entry's successor by hand: "renew" (a self-signed certificate, signed again), "csr"
    (a CA-issued certificate whose key is here: a new CSR for the CA), or "" (a pending CSR, no key, or ACME, which
    renews itself)."""
    if entry.is_pending or entry.key_id is None:
        return ""
    if entry.source == CertificateSource.SELF_SIGNED:
        return "renew"
    if entry.source in (CertificateSource.CSR, CertificateSource.IMPORTED):
        return "csr"
    return ""


# Certificates from a commercial CA (a CSR made here, or an upload from a CA): the "re-issue at your CA" reminder opens
# this long before expiry, with the first expiry warning (repository/expiry.py sends both as one email).
REISSUE_LEAD = timedelta(days=30)
_FROM_A_CA = (CertificateSource.CSR, CertificateSource.IMPORTED)


def _from_a_commercial_ca(entry: Certificate) -> bool:
    """CA-issued and renewed by hand: a CSR made here or an upload; not ACME, not self-signed (as the list says)."""
    self_issued = bool(entry.issuer) and entry.issuer == entry.common_name
    return entry.source in _FROM_A_CA and not entry.is_pending and not self_issued


def certificate_reissue_due(entry: Certificate, *, now: datetime | None = None) -> bool:
    """A certificate from a commercial CA within REISSUE_LEAD of its end (or past it) and not replaced yet."""
    now = now or timezone.now()
    if not _from_a_commercial_ca(entry) or entry.not_after is None or entry.not_after > now + REISSUE_LEAD:
        return False
    return not Certificate.objects.filter(renewed_from=entry).exists()


def certificate_reissue_note(entry: Certificate, *, now: datetime | None = None) -> str:
    """The certificate page's reminder, or "" when none is due."""
    now = now or timezone.now()
    if not certificate_reissue_due(entry, now=now):
        return ""
    assert entry.not_after is not None, "certificate_reissue_due() needs an expiry"
    return reissue_reminder(now.date(), not_after=entry.not_after.astimezone(UTC).date())


def certificates_reissue_due(*, now: datetime, limit: int = 10) -> list[Certificate]:
    """The dashboard's "re-issue at your CA" rows, soonest end first (one query)."""
    replaced = Certificate.objects.filter(renewed_from__isnull=False).values("renewed_from")
    rows = (
        Certificate.objects.annotate(self_issued=self_issued_expression())
        .filter(source__in=_FROM_A_CA, self_issued=False, not_after__lte=now + REISSUE_LEAD)
        .exclude(certificate_pem="")
        .exclude(pk__in=replaced)
        .only("id", "name", "source", "not_after", "key_id", "issuer", "common_name")
        .order_by("not_after", "id")
    )
    return list(rows[:limit])


class CertificateDetail(TypedDict):
    """What the certificate page shows besides the row itself. A pending CSR has no certificate to read yet:
    its ``info`` is None and its ``fields``, ``chain`` and ``chain_problems`` are empty. A stored certificate the
    panel cannot read in full (stored before it refused such certificates) has ``info`` None and says why in
    ``read_problems``; ``fields`` still shows every part that can be read."""

    status: str
    days_left: int | None
    usages: list[str]
    usage_links: list[tuple[str, int]]
    key_exports: QuerySet[KeyExport]
    key_label: str
    renewed_by: Certificate | None
    successor_kind: str
    orders: QuerySet[AcmeOrder]
    renewal: RenewalPlanView | None
    info: CertificateInfo | None
    fields: list[tuple[str, str]]
    chain: list[CertificateInfo]
    chain_problems: list[str]
    read_problems: list[str]
    reissue: str


def _read_stored(entry: Certificate) -> tuple[x509.Certificate | None, list[x509.Certificate], list[str]]:
    """(leaf, chain, why a part cannot be read) from the stored PEM; never raises for what was stored."""
    if entry.is_pending:
        return None, [], []
    try:
        leaf = parse_certificates(entry.certificate_pem.encode("ascii"))[0]
    except CryptoError as exc:
        return None, [], [f"The stored certificate cannot be read: {exc}"]
    try:
        chain = parse_certificates(entry.chain_pem.encode("ascii")) if entry.chain_pem else []
    except CryptoError as exc:
        return leaf, [], [f"The stored chain cannot be read: {exc}"]
    return leaf, chain, []


def _describe_all(
    leaf: x509.Certificate | None, chain: list[x509.Certificate]
) -> tuple[CertificateInfo | None, list[CertificateInfo], list[str]]:
    """(the leaf's info, the chain's, why a certificate cannot be described): what can be read is shown."""
    problems: list[str] = []
    info: CertificateInfo | None = None
    links: list[CertificateInfo] = []
    for position, cert in enumerate([leaf, *chain] if leaf is not None else []):
        try:
            described = describe_certificate(cert)
        except CryptoError as exc:
            which = "This certificate" if position == 0 else f"Chain certificate {position}"
            problems.append(f"{which} cannot be read in full: {exc}")
            continue
        if position == 0:
            info = described
        else:
            links.append(described)
    return info, links, problems


def certificate_detail(entry: Certificate) -> CertificateDetail:
    """The certificate page: the stored PEM read again for its fields and chain check; the newest 20 key exports
    and 10 ACME orders (the ones that renewed it and the one that issued it)."""
    leaf, chain, read_problems = _read_stored(entry)
    info, links, describe_problems = _describe_all(leaf, chain)
    return {
        "status": certificate_status(entry),
        "days_left": days_left(entry.not_after),
        "usages": certificate_usages(entry),
        "usage_links": certificate_usage_links(entry),
        "key_exports": entry.key_exports.all()[:20],
        "key_label": key_description(entry.key.key_type) if entry.key else "",
        "renewed_by": Certificate.objects.filter(renewed_from=entry).only("id", "name", "not_after").first(),
        "successor_kind": certificate_successor_kind(entry),
        "orders": (entry.renewal_orders.all() | AcmeOrder.objects.filter(certificate=entry)).distinct()[:10],
        "renewal": certificate_renewal_plan(entry),
        "info": info,
        "fields": certificate_fields(leaf) if leaf is not None else [],
        "chain": links,
        "chain_problems": _chain_problems(leaf, chain),
        "read_problems": read_problems + describe_problems,
        "reissue": certificate_reissue_note(entry),
    }


def _chain_problems(leaf: x509.Certificate | None, chain: list[x509.Certificate]) -> list[str]:
    if leaf is None:
        return []
    try:
        return verify_chain(leaf, chain)
    except CryptoError as exc:  # e.g. unreadable validity dates
        return [f"The chain cannot be checked: {exc}"]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def certificate_as_dict(entry: Certificate) -> dict[str, Any]:
    """The JSON shape scripts rely on (README "CLI"): keep keys stable."""
    return {
        "id": entry.pk,
        "name": entry.name,
        "common_name": entry.common_name,
        "sans": list(entry.sans),
        "source": entry.source,
        "status": certificate_status(entry),
        "not_before": _iso(entry.not_before),
        "not_after": _iso(entry.not_after),
        "serial": entry.serial,
        "issuer": entry.issuer,
        "key_type": entry.key_type,
        "fingerprint_sha256": entry.fingerprint_sha256,
        "services": certificate_usages(entry),
        "is_default": entry.is_default,
        "acme_profile": entry.acme_profile,
        "reuse_key": entry.reuse_key,
    }
