"""ACME orders: create (for a new certificate or the renewal of one), then drive through the state machine until
issued or failed.

Every transition is stored with its time (AcmeOrderEvent) so the UI can show live progress.
The key is stored before the CSR leaves, the order URL as soon as it exists: a worker that dies
mid-order leaves enough to resume. A lease on the order row keeps two workers from driving the
same order at once (a redelivered task and a sweep resume, say).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from certpanel.audit.actions import AuditAction, audit_record
from certpanel.db_transient import retry_briefly
from certpanel.leases import Lease, lease_free, rows_of
from repository.acme.accounts import acme_account_profiles_refresh, acme_account_reregister, session_for
from repository.acme.client import AcmeSession, Authorization, Challenge, Order, ari_certificate_id, deadline
from repository.acme.dns_challenges import dns01_cleanup, dns01_publish, dns01_targets_check
from repository.acme.outcomes import certificate_store_issued
from repository.acme.problems import AcmeError, challenge_not_offered, explain, no_reason_given
from repository.acme.profiles import MAX_NAMES, profile_check_names, profile_check_offered, profile_limits
from repository.acme.renewals import renewal_failed
from repository.acme.selectors import order_alive
from repository.errors import CryptoError, KeyStoreError, OrderBusy, RepositoryError
from repository.keystore import key_load, key_store
from repository.models import (
    ACTIVE_STATUSES,
    AcmeAccount,
    AcmeChallenge,
    AcmeOrder,
    AcmeOrderEvent,
    Certificate,
    CertificateSource,
    ChallengeType,
    OrderStatus,
    PrivateKey,
)
from repository.pki.generate import SubjectFields, create_csr, generate_private_key
from repository.pki.hostnames import is_ip_address, normalize_hostname
from repository.pki.keytypes import KEY_TYPES
from repository.pki.parse import parse_certificates

log = logging.getLogger(__name__)

# What the CA can report about a stored order, whatever the panel last saw (a worker may have died at any step,
# and the CA moves on without it): pending → challenges published / validating, ready or processing →
# finalizing, valid → issued, invalid → failed, gone (404, account unknown) → queued, to order anew.
_REPORTED: set[str] = {
    OrderStatus.QUEUED,
    OrderStatus.CHALLENGES_PUBLISHED,
    OrderStatus.VALIDATING,
    OrderStatus.FINALIZING,
    OrderStatus.ISSUED,
    OrderStatus.FAILED,
}
# Which statuses are active is ACTIVE_STATUSES' to say (repository/models/acme.py, the one list; the database's
# "one active order" constraints use it too): an active order may move to whatever the CA reports, a final one
# (issued, failed) nowhere. The panel's own step is a new order at the CA, always from queued (ordering anew
# passes through queued).
TRANSITIONS: dict[str, set[str]] = {
    **{status: set() for status in OrderStatus},
    **dict.fromkeys(ACTIVE_STATUSES, _REPORTED),
    OrderStatus.QUEUED: {OrderStatus.ORDER_CREATED, *_REPORTED},
}


def order_hostnames(raw: Sequence[str], challenge: str = ChallengeType.HTTP_01) -> list[str]:
    """The names of an order, canonical and deduplicated. Wildcards (one leading ``*.`` label) need DNS-01."""
    names: list[str] = []
    for value in raw:
        name = _order_name(value.strip(), challenge)
        if is_ip_address(name):
            raise CryptoError(f"'{name}' is an IP address: request certificates for hostnames.")
        if name not in names:
            names.append(name)
    if not names:
        raise CryptoError("Give at least one hostname.")
    if len(names) > MAX_NAMES:
        raise CryptoError(f"At most {MAX_NAMES} hostnames per certificate.")
    return names


def _order_name(value: str, challenge: str) -> str:
    if not value.startswith("*"):
        return normalize_hostname(value, allow_wildcard=False)
    if challenge != ChallengeType.DNS_01:
        raise CryptoError(
            f"'{value}' is a wildcard: HTTP-01 cannot validate wildcards (they need DNS-01). "
            "Choose DNS-01, or list each hostname instead."
        )
    name = normalize_hostname(value, allow_wildcard=True)
    # normalize_hostname keeps a leading "*." only; any other "*" makes it refuse the name.
    if not name.startswith("*.") or name.count(".") < 2:
        raise CryptoError(
            f"'{value}' is not a wildcard a CA issues: only a leading '*.' label, under a name of two labels or "
            "more (*.example.com)."
        )
    return name


def _event(order: AcmeOrder, status: str, message: str = "") -> None:
    if status != order.status and status not in TRANSITIONS[order.status]:
        raise AssertionError(f"order #{order.pk}: {order.status} → {status} is not a valid transition")
    order.status = status
    order.save(update_fields=["status", "updated_at", "error", "problem_type", "order_url", "key", "certificate"])
    AcmeOrderEvent.objects.create(order=order, status=status, message=message)
    log.info("order #%s: %s %s", order.pk, status, message)


def names_digest(names: Sequence[str]) -> str:
    """The same names in any order give the same digest (one active order per account and names)."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def acme_order_create(
    *,
    account: AcmeAccount,
    hostnames: Sequence[str],
    key_type: str = "ec256",
    profile: str = "",
    auto_renew: bool = True,
    reuse_key: bool = False,
    challenge: str = ChallengeType.HTTP_01,
    replaces: Certificate | None = None,
    user: User | None = None,
) -> AcmeOrder:
    """A queued order; or the active one for the same certificate or the same names, unless it is abandoned.

    Two partial unique constraints decide, not a check-then-insert: a double click, a retry after an error
    page and the beat sweep cannot order twice. An active order with no progress for longer than the order
    deadline and no live lease is abandoned: it fails (a renewal then backs off and emails) and a new one is
    created, so nothing ever attaches to a stuck order.

    The profile's name limit is checked here, before anything is stored; whether the CA offers the profile is
    checked for a new certificate only: a renewal keeps its certificate's profile, and if the CA dropped it
    meanwhile, its answer (invalidProfile) fails the renewal in plain words, emailed like any failed renewal.
    """
    if challenge not in ChallengeType.values:
        raise CryptoError(f"Unknown challenge type '{challenge}': choose http-01 or dns-01.")
    names = order_hostnames(hostnames, challenge)
    profile_check_names(profile, names)
    if replaces is None:
        profile_check_offered(profile, account.profiles or {})
    if key_type not in KEY_TYPES:
        raise CryptoError(f"Unknown key type '{key_type}'.")
    if challenge == ChallengeType.DNS_01 and replaces is None:
        dns01_targets_check(names)  # a renewal finds out in the worker, and fails in plain words like any other
    digest = names_digest(names)
    for _ in range(3):
        try:
            with transaction.atomic():
                order = AcmeOrder.objects.create(
                    account=account,
                    hostnames=names,
                    names_digest=digest,
                    key_type=key_type,
                    profile=profile,
                    auto_renew=auto_renew,
                    reuse_key=reuse_key,
                    challenge_type=challenge,
                    replaces=replaces,
                    dispatched_at=timezone.now(),  # set back to NULL if the broker cannot take it
                    created_by=user if user is not None and user.is_authenticated else None,
                )
                AcmeOrderEvent.objects.create(
                    order=order, status=OrderStatus.QUEUED, message="renewal" if replaces else "new certificate"
                )
                audit_record(
                    action=AuditAction.CERTIFICATE_RENEW if replaces else AuditAction.CERTIFICATE_ORDER,
                    actor=user,
                    target=order,
                    detail=f"at {account.name}" + (f", replacing #{replaces.pk} ({replaces.name})" if replaces else ""),
                )
            return order
        except IntegrityError:
            twin = _active_twin(account=account, digest=digest, replaces=replaces)
            if twin is not None and not _abandon(twin):
                return twin
            # The twin ended (or was abandoned) since the insert failed: the insert can succeed now.
    raise RepositoryError(f"Could not queue an order for {', '.join(names)}: it is being requested right now.")


def _active_twin(*, account: AcmeAccount, digest: str, replaces: Certificate | None) -> AcmeOrder | None:
    same = Q(account=account, names_digest=digest)
    if replaces is not None:
        same |= Q(replaces=replaces)
    return (
        AcmeOrder.objects.select_related("account", "replaces")
        .filter(same, status__in=ACTIVE_STATUSES)
        .order_by("created_at")
        .first()
    )


def renewable(entry: Certificate) -> None:
    if entry.source != CertificateSource.ACME or entry.acme_account_id is None:
        raise RepositoryError(f"'{entry.name}' was not issued through ACME by this panel: it cannot renew itself.")
    if hasattr(entry, "renewed_by") and entry.renewed_by is not None:
        raise RepositoryError(f"'{entry.name}' was already renewed by #{entry.renewed_by.pk}.")


def certificate_renew(certificate_id: int, *, user: User | None = None) -> AcmeOrder:
    """Order the renewal of an ACME certificate (or return the renewal already running)."""
    entry = Certificate.objects.select_related("acme_account").get(pk=certificate_id)
    renewable(entry)
    assert entry.acme_account is not None, "renewable() refuses a certificate without an ACME account"
    return acme_order_create(
        account=entry.acme_account,
        hostnames=list(entry.sans) or [entry.common_name],
        key_type=entry.key_type if entry.key_type in KEY_TYPES else "ec256",
        profile=entry.acme_profile,
        reuse_key=entry.reuse_key,
        challenge=entry.acme_challenge,
        replaces=entry,
        user=user,
    )


def certificate_reuse_key_set(certificate_id: int, *, reuse_key: bool, user: User | None = None) -> Certificate:
    """ "Keep the same private key on renewal" of an ACME certificate, on or off; recorded in the audit log."""
    with transaction.atomic():
        entry = Certificate.objects.select_for_update().get(pk=certificate_id)
        if entry.source != CertificateSource.ACME:
            raise RepositoryError(f"'{entry.name}' is not an ACME certificate: the panel does not renew it.")
        if entry.reuse_key != reuse_key:
            entry.reuse_key = reuse_key
            entry.save(update_fields=["reuse_key", "updated_at"])
            state = "on" if reuse_key else "off"
            audit_record(
                action=AuditAction.SETTINGS_CHANGE,
                actor=user,
                target=entry,
                detail=f"keep the same private key on renewal: {state}",
            )
    return entry


def acme_order_retry(order_id: int, *, user: User | None = None) -> AcmeOrder:
    """A failed order asked for again: a new order for the same names, account, key type and profile (and the same
    certificate to replace, unless that one was renewed meanwhile). The caller hands it over (queue_order)."""
    failed = AcmeOrder.objects.select_related("account", "replaces").get(pk=order_id)
    if failed.status != OrderStatus.FAILED:
        raise RepositoryError(f"Order #{failed.pk} has not failed ({failed.get_status_display().lower()}).")
    replaces = failed.replaces
    if replaces is not None and Certificate.objects.filter(renewed_from=replaces).exists():
        replaces = None
    return acme_order_create(
        account=failed.account,
        hostnames=failed.hostnames,
        key_type=failed.key_type,
        profile=failed.profile,
        auto_renew=failed.auto_renew,
        reuse_key=failed.reuse_key,
        challenge=failed.challenge_type,
        replaces=replaces,
        user=user,
    )


def _abandon(order: AcmeOrder) -> bool:
    """Fail an active order nothing drives any more; False when it is alive (or a worker took it meanwhile)."""
    now = timezone.now()
    if AcmeOrder.objects.filter(order_alive(now), pk=order.pk).exists():
        return False
    try:
        token = _lease(order.pk)
    except OrderBusy:
        return False
    try:
        order.refresh_from_db()
        if not order.is_active:
            return True
        minutes = max(1, int((now - order.updated_at).total_seconds() // 60))
        _fail(order, AcmeError("abandoned", f"No progress for {minutes} minutes: abandoned; a new order replaces it."))
    finally:
        _release(order.pk, token)
    return True


# -- hand-over to workers ---------------------------------------------------------------------------------
def acme_order_undispatched(order_id: int) -> None:
    """The broker did not take the order: the resume sweep sends it as soon as the broker is back."""
    AcmeOrder.objects.filter(pk=order_id).update(dispatched_at=None)


def acme_orders_to_resume(now: datetime) -> list[int]:
    """Active orders no worker has: never handed over (broker down), lease run out (a dead worker), or handed
    over long enough ago that the task must be lost. One query over the few active rows."""
    quiet = now - timedelta(seconds=settings.CERTPANEL_ACME_LEASE_SECONDS)
    return list(
        AcmeOrder.objects.filter(status__in=ACTIVE_STATUSES)
        .filter(lease_free(now))
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=quiet))
        .values_list("pk", flat=True)
    )


def acme_orders_dispatched(order_ids: Sequence[int], *, now: datetime) -> None:
    AcmeOrder.objects.filter(pk__in=order_ids).update(dispatched_at=now)


def acme_order_retry_later(order_id: int, *, seconds: float) -> None:
    """A transient error: the task retries in ``seconds``. Until then the lease keeps the resume sweep (and an
    attaching renewal) from treating the order as abandoned, and a rate-limited CA from being asked again."""
    until = timezone.now() + timedelta(seconds=seconds)
    AcmeOrder.objects.filter(pk=order_id, lease_until__isnull=True).update(lease_until=until)


# -- leases -----------------------------------------------------------------------------------------------
LEASE = Lease(seconds=lambda: settings.CERTPANEL_ACME_LEASE_SECONDS)


def _lease(order_id: int) -> str:
    token = LEASE.take(rows_of(AcmeOrder, order_id))
    if token is None:
        raise OrderBusy(f"Order #{order_id} is being processed by another worker.")
    return token


def _renew_lease(order: AcmeOrder, token: str) -> None:
    if not LEASE.renew(rows_of(AcmeOrder, order.pk), token):
        raise OrderBusy(f"Order #{order.pk} was taken over by another worker.")


def _release(order_id: int, token: str) -> None:
    # Runs in a `finally`: the database error that ended the run may have broken the connection too. Release on
    # a fresh one, or the task's retry would find the lease held and wait for it to run out.
    retry_briefly(lambda: LEASE.release(rows_of(AcmeOrder, order_id), token))


# -- the state machine ------------------------------------------------------------------------------------
def acme_order_process(order_id: int) -> str:
    """Drive one order as far as it goes; returns the final (or current) status.

    Transient AcmeErrors (network, 5xx, rate limits) propagate for the task to retry later;
    everything else fails the order with a message an admin can act on.
    """
    order = AcmeOrder.objects.select_related("account", "replaces").get(pk=order_id)
    if not order.is_active:
        return order.status
    token = _lease(order_id)
    try:
        order.attempts += 1
        order.save(update_fields=["attempts"])
        session = session_for(order.account)
        try:
            _drive(order, session, token)
        except AcmeError as error:
            if error.code == "accountDoesNotExist":
                acme_account_reregister(order.account, session)
                order.order_url = ""  # orders belong to the old account
                _event(order, OrderStatus.QUEUED, "the CA no longer knew the account: registered again, ordering anew")
                _drive(order, session, token)
            else:
                raise
    except AcmeError as error:
        if error.transient:
            raise
        _fail(order, error)
    except CryptoError as error:
        _fail(order, AcmeError("badCertificate", str(error)))
    except KeyStoreError as error:
        # A wrong or missing KEK on this worker: fail loudly (renewals then email the admins and back off)
        # rather than leave the order queued and retried silently every sweep.
        _fail(order, AcmeError("keyEncryptionKey", str(error)))
    finally:
        _release(order_id, token)
    return order.status


def _drive(order: AcmeOrder, session: AcmeSession, lease: str) -> None:
    seconds = settings.CERTPANEL_ACME_ORDER_DEADLINE
    if order.challenge_type == ChallengeType.DNS_01:
        seconds += settings.CERTPANEL_DNS_PROPAGATION_SECONDS  # the wait for the nameservers comes first
    limit = deadline(seconds)
    if order.key_id is None:
        order.key = _order_key(order)
        order.save(update_fields=["key"])
    try:
        state = _current_order(order, session)
    except AcmeError as error:
        if error.code == "invalidProfile":  # the CA's words, with the profile the order named
            acme_account_profiles_refresh(order.account, session)  # New Certificate offers what it offers now
            raise explain({"type": error.code, "detail": error.detail}, profile=order.profile) from None
        raise
    if state.status == "pending":
        _validate(order, session, state, limit, lease)
        _renew_lease(order, lease)
        state = session.poll(
            lambda: session.order(order.order_url),
            lambda o: o.status not in ("pending", "processing"),
            deadline=limit,
            tick=lambda: _renew_lease(order, lease),
            what="validating the order",
        )
    if state.status in ("ready", "processing") and order.status != OrderStatus.FINALIZING:
        _event(order, OrderStatus.FINALIZING)
    if state.status == "ready":
        assert order.key is not None, "stored at the top of _drive"
        csr = create_csr(
            key=key_load(order.key),
            subject=SubjectFields(order.hostnames[0]),
            sans=order.hostnames[1:],
            common_name=profile_limits(order.profile).common_name,
        )
        state = session.finalize(state.finalize, csr.public_bytes(serialization.Encoding.DER))
        _renew_lease(order, lease)
    if state.status == "processing":
        state = session.poll(
            lambda: session.order(order.order_url),
            lambda o: o.status != "processing",
            deadline=limit,
            tick=lambda: _renew_lease(order, lease),
            what="issuing the certificate",
        )
    if state.status == "invalid":
        raise _why_invalid(session, state, order.challenge_type)
    if state.status != "valid" or not state.certificate:
        raise AcmeError("unexpected", f"The CA left the order in state '{state.status}'.")
    if order.status != OrderStatus.FINALIZING:
        _event(order, OrderStatus.FINALIZING)
    _store_result(order, session.download(state.certificate))
    # The account's profiles are a copy of the directory's: kept current by every issuance (and every invalidProfile).
    acme_account_profiles_refresh(order.account, session)


def _order_key(order: AcmeOrder) -> PrivateKey:
    """A new key; or, for a renewal of a certificate that keeps its key, that certificate's stored key (when it is
    of the order's type and needs no passphrase: a worker has none to give)."""
    old = order.replaces
    if order.reuse_key and old is not None and old.key is not None:
        if old.key.key_type == order.key_type and not old.key.has_passphrase:
            return old.key
        log.warning("order #%s: the key of #%s cannot be reused; a new one is generated", order.pk, old.pk)
    return key_store(generate_private_key(order.key_type))


def key_kept(order: AcmeOrder) -> bool:
    """The order signed with the key of the certificate it replaces."""
    return order.replaces is not None and order.key_id is not None and order.key_id == order.replaces.key_id


def _current_order(order: AcmeOrder, session: AcmeSession) -> Order:
    """Resume the stored order when the CA still has it; fail with the CA's reason when the CA marked it
    invalid (from whatever state this panel last saw); otherwise start a new one."""
    if order.order_url:
        try:
            state = session.order(order.order_url)
        except AcmeError as error:
            if error.transient:
                raise
            log.warning("order #%s: stored order is gone at the CA (%s); ordering again", order.pk, error)
            _event(order, OrderStatus.QUEUED, "the CA no longer knows the previous order; starting again")
        else:
            if state.status == "invalid":
                raise _why_invalid(session, state, order.challenge_type)
            return state
    elif order.status != OrderStatus.QUEUED:
        _event(order, OrderStatus.QUEUED, "no order at the CA yet; ordering")
    replaces = _ari_replaces(order, session)
    note = f" (replaces {replaces})" if replaces else ""
    try:
        state = session.new_order(identifiers=order.hostnames, profile=order.profile, replaces=replaces)
    except AcmeError as error:
        if not replaces or error.code in _NOT_ABOUT_REPLACES:
            raise
        # The CA would not take this certificate as the one replaced (issued to another account, unknown to a CA
        # that lost its state, already replaced): the renewal is still due, so order without the hint.
        log.warning("order #%s: the CA refused replaces=%s (%s); ordering without it", order.pk, replaces, error)
        note = f" (the CA refused replaces {replaces}: {error}; ordered without it)"
        state = session.new_order(identifiers=order.hostnames, profile=order.profile)
    order.order_url = state.url
    _event(order, OrderStatus.ORDER_CREATED, state.url + note)
    return state


# Errors that say nothing about the `replaces` field: ordering again without it would only meet them again.
_NOT_ABOUT_REPLACES = frozenset({"rateLimited", "connectionToCA", "tlsToCA", "accountDoesNotExist", "badNonce"})


def _why_invalid(session: AcmeSession, state: Order, challenge: str) -> AcmeError:
    """The CA's reason for an invalid order: the failed challenge's error (it names the host and the URL it
    fetched), else the order's own error, else what is known of the first authorization that is not valid."""
    unexplained: AcmeError | None = None
    for url in state.authorizations:
        authz = session.authorization(url)
        if authz.status == "valid":
            continue
        failed = next((c for c in authz.challenges if c.error), None)
        if failed is not None and failed.error:
            return explain(failed.error, identifier=authz.identifier, token=failed.token, challenge=challenge)
        if unexplained is None and authz.status == "invalid":
            unexplained = _no_reason(authz, authz.challenge(challenge))
    if state.error:
        return explain(state.error)
    return unexplained or AcmeError("orderInvalid", "The CA marked the order invalid and gave no reason.")


def _no_reason(authz: Authorization, challenge: Challenge | None) -> AcmeError:
    return no_reason_given(
        identifier=authz.identifier,
        authorization_status=authz.status,
        challenge_type=challenge.type if challenge else "",
        challenge_status=challenge.status if challenge else "",
        token=challenge.token if challenge else "",
    )


def _ari_replaces(order: AcmeOrder, session: AcmeSession) -> str:
    """RFC 9773 §5: a renewal names the certificate it replaces (its ARI CertID), at a CA that offers ARI."""
    if order.replaces is None or not order.replaces.certificate_pem or not session.directory_info().has_renewal_info:
        return ""
    try:
        return ari_certificate_id(parse_certificates(order.replaces.certificate_pem.encode())[0])
    except (AcmeError, CryptoError):
        return ""


def _validate(order: AcmeOrder, session: AcmeSession, state: Order, limit: Any, lease: str) -> None:
    authorizations = [session.authorization(url) for url in state.authorizations]
    pending = [authz for authz in authorizations if authz.status == "pending"]
    if order.challenge_type == ChallengeType.DNS_01:
        published = dns01_publish(
            order,
            session,
            pending,
            note=partial(_event, order, OrderStatus.CHALLENGES_PUBLISHED),
            tick=lambda: _renew_lease(order, lease),
        )
    else:
        published = _http01_publish(order, session, pending)
    if order.status != OrderStatus.CHALLENGES_PUBLISHED:
        _event(order, OrderStatus.CHALLENGES_PUBLISHED, ", ".join(a.identifier for a, _ in published))
    for _, challenge in published:
        if challenge.status == "pending":
            session.answer(challenge.url)
    _event(order, OrderStatus.VALIDATING)
    for authz, challenge in published:
        final = session.poll(
            partial(session.authorization, authz.url),
            lambda a: a.status != "pending",
            deadline=limit,
            tick=lambda: _renew_lease(order, lease),
            what=f"validating {authz.identifier}",
        )
        if final.status != "valid":
            failed = next((c for c in final.challenges if c.error), None)
            if failed is not None and failed.error:
                raise explain(
                    failed.error, identifier=final.identifier, token=failed.token, challenge=order.challenge_type
                )
            answered = next((c for c in final.challenges if c.url == challenge.url), challenge)
            raise _no_reason(final, answered)


def _http01_publish(
    order: AcmeOrder, session: AcmeSession, pending: list[Authorization]
) -> list[tuple[Authorization, Challenge]]:
    published = []
    for authz in pending:
        challenge = authz.challenge(ChallengeType.HTTP_01)
        if challenge is None:
            raise challenge_not_offered(
                challenge_type=ChallengeType.HTTP_01, name=authz.identifier, offered=authz.offered()
            )
        AcmeChallenge.objects.update_or_create(
            token=challenge.token,
            defaults={"order": order, "key_authorization": session.key_authorization(challenge.token)},
        )
        published.append((authz, challenge))
    return published


def _fail(order: AcmeOrder, error: AcmeError) -> None:
    # First: whoever sees the order failed finds its records gone (and the order page says so).
    cleaned = dns01_cleanup(order) if order.challenge_type == ChallengeType.DNS_01 else ""
    # One transaction: whoever sees the order failed (`certs renew --wait`, the order page) also sees the
    # renewal's backoff and its queued email.
    with transaction.atomic():
        order.error, order.problem_type = str(error), error.code
        _event(order, OrderStatus.FAILED, f"{error} ({cleaned})" if cleaned else str(error))
        AcmeChallenge.objects.filter(order=order).delete()
        if order.replaces is not None:
            renewal_failed(order.replaces, str(error))


def _store_result(order: AcmeOrder, fullchain_pem: str) -> None:
    # The CA has validated every name: the records are no longer needed.
    cleaned = dns01_cleanup(order) if order.challenge_type == ChallengeType.DNS_01 else ""
    with transaction.atomic():
        locked = AcmeOrder.objects.select_for_update().get(pk=order.pk)
        if locked.certificate_id is not None:  # a previous attempt stored it already
            order.certificate_id = locked.certificate_id
        else:
            order.certificate = certificate_store_issued(order, fullchain_pem)
            detail = f"order #{order.pk}{_kept(order)}"
            audit_record(action=AuditAction.CERTIFICATE_ISSUE, target=order.certificate, detail=detail)
        _event(
            order,
            OrderStatus.ISSUED,
            f"certificate #{order.certificate_id}{_kept(order)}" + (f"; {cleaned}" if cleaned else ""),
        )
        AcmeChallenge.objects.filter(order=order).delete()


def _kept(order: AcmeOrder) -> str:
    return f", same private key as #{order.replaces_id}" if key_kept(order) else ""


def acme_order_give_up(order_id: int, error: AcmeError) -> None:
    """Retries exhausted on a transient error: fail the order with the last error."""
    order = AcmeOrder.objects.select_related("replaces").get(pk=order_id)
    if order.is_active:
        _fail(order, error)
