"""Registering an ACME account from the settings page: the request stores a row, a worker asks the CA.

The directory fetch and newAccount go to a URL an admin typed, so they never run inside a web request: a hanging
directory holds a worker (until CERTPANEL_ACME_TIMEOUT) and the page comes back at once. The row moves
queued → registered (with its account) or failed (with an admin-readable error and, when the CA wants agreement,
its Terms of Service); the settings page follows it. Every row ends: a worker that dies leaves it queued, the resume
sweep hands it on, and after MAX_ATTEMPTS runs it fails.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from certpanel.audit.actions import AuditAction, audit_record
from certpanel.celery import app as celery_app
from certpanel.dispatch import dispatch_on_commit
from certpanel.errors import PanelError
from certpanel.outbound import url_check
from repository.acme.accounts import (
    TermsNotAgreed,
    account_register_at,
    acme_account_create,
    ca_bundle_check,
    session_new,
)
from repository.acme.client import DirectoryInfo
from repository.keystore import current_kek, key_load, key_store, seal, unseal
from repository.models import AcmeRegistration, PrivateKey, RegistrationStatus
from repository.pki.generate import generate_private_key

log = logging.getLogger(__name__)

TASK = "repository.acme_account_register"
MAX_ATTEMPTS = 3
# Longer than a registration can take (the task's time limit): a queued row handed over this long ago lost its task.
STALE = timedelta(minutes=15)
SHOWN_FOR = timedelta(hours=24)
AGREE = "The CA asks you to agree to its Terms of Service: read them, then choose \u201cI agree and register\u201d."


def acme_registration_create(
    *,
    directory_url: str,
    email: str,
    agree_tos: bool,
    name: str = "",
    ca_bundle_pem: str = "",
    eab_kid: str = "",
    eab_hmac_key: str = "",
    key_type: str = "ec256",
    user: User | None = None,
) -> AcmeRegistration:
    """Store the registration (its key already generated and sealed) and hand it to a worker after the commit.

    Nothing is fetched here: a literal address that is not allowed is refused at once, a name when it resolves."""
    url_check(directory_url)
    bundle = ca_bundle_check(ca_bundle_pem)
    with transaction.atomic():
        registration = AcmeRegistration.objects.create(
            directory_url=directory_url,
            name=name,
            email=email,
            ca_bundle_pem=bundle,
            agree_tos=agree_tos,
            eab_kid=eab_kid,
            eab_hmac_sealed=seal(eab_hmac_key.encode(), kek=current_kek()) if eab_hmac_key else b"",
            key=key_store(generate_private_key(key_type)),
            created_by=user,
            dispatched_at=timezone.now(),
        )
        audit_record(
            action=AuditAction.ACME_ACCOUNT_REGISTER,
            actor=user,
            target=registration,
            detail=f"{directory_url}, contact {email or 'none'}"
            + (", with external account binding" if eab_kid else ""),
        )
        rows = AcmeRegistration.objects.filter(pk=registration.pk)
        dispatch_on_commit(
            celery_app.signature(TASK), registration.pk, on_refused=lambda: rows.update(dispatched_at=None)
        )
    log.info("ACME registration #%s at %s queued", registration.pk, directory_url)
    return registration


def acme_registration_agree(
    registration_id: int, *, eab_hmac_key: str = "", user: User | None = None
) -> AcmeRegistration:
    """Register again with everything as before, now agreeing to the terms the CA showed for `registration_id`.

    A second click finds the registration the first one queued and returns it rather than asking twice."""
    asked = AcmeRegistration.objects.filter(pk=registration_id).first()
    if asked is None or not asked.needs_agreement:
        raise PanelError("This registration is not waiting for your agreement: register the account again.")
    again = (
        AcmeRegistration.objects.filter(
            directory_url=asked.directory_url, agree_tos=True, created_at__gte=asked.created_at, created_by=user
        )
        .exclude(status=RegistrationStatus.FAILED)
        .first()
    )
    if again is not None:
        return again
    if asked.eab_kid and not eab_hmac_key:
        raise PanelError("Type the EAB HMAC key again: the panel erases it once a registration ends.")
    return acme_registration_create(
        directory_url=asked.directory_url,
        email=asked.email,
        agree_tos=True,
        name=asked.name,
        ca_bundle_pem=asked.ca_bundle_pem,
        eab_kid=asked.eab_kid,
        eab_hmac_key=eab_hmac_key,
        user=user,
    )


def acme_registrations_resume(now: datetime) -> list[int]:
    """Queued rows no worker has (never handed over, or long ago): marked handed over now; their ids."""
    stale = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - STALE)
    ids = list(
        AcmeRegistration.objects.filter(status=RegistrationStatus.QUEUED).filter(stale).values_list("pk", flat=True)
    )
    AcmeRegistration.objects.filter(pk__in=ids).update(dispatched_at=now)
    return ids


def acme_registrations_shown(now: datetime | None = None) -> QuerySet[AcmeRegistration]:
    """The settings page's rows: every queued one, and those that ended within a day (newest first, at most 5)."""
    recent = Q(status=RegistrationStatus.QUEUED) | Q(updated_at__gte=(now or timezone.now()) - SHOWN_FOR)
    return AcmeRegistration.objects.filter(recent).select_related("account")[:5]


def acme_registration_run(registration_id: int) -> str:
    """The worker's part: directory, Terms of Service and EAB checks, newAccount, then the account row."""
    registration = AcmeRegistration.objects.filter(pk=registration_id, status=RegistrationStatus.QUEUED).first()
    if registration is None:
        return "gone"
    AcmeRegistration.objects.filter(pk=registration.pk).update(attempts=F("attempts") + 1)
    if registration.attempts + 1 > MAX_ATTEMPTS or registration.key is None:
        return _fail(registration, "The worker stopped each time it registered this account: register it again.")
    try:
        session = session_new(
            registration.directory_url, key_load(registration.key), ca_bundle_pem=registration.ca_bundle_pem
        )
        uri, info = account_register_at(
            session,
            email=registration.email,
            agree_tos=registration.agree_tos,
            eab_kid=registration.eab_kid,
            eab_hmac_key=_eab_hmac_key(registration),
        )
    except TermsNotAgreed as exc:
        return _fail(registration, AGREE, terms_of_service=exc.terms_of_service)
    except PanelError as exc:
        return _fail(registration, str(exc))
    except Exception:  # a worker must leave the row final; the traceback is for the server log
        log.exception("ACME registration #%s failed", registration.pk)
        return _fail(registration, "The registration failed unexpectedly: the server log has the details.")
    try:
        return _registered(registration, registration.key, uri=uri, info=info)
    except Exception:  # e.g. the database refusing the row: the registration still ends
        log.exception("ACME registration #%s: the account could not be stored", registration.pk)
        return _fail(registration, "The CA accepted the account but the panel could not store it: see the server log.")


def _registered(registration: AcmeRegistration, key: PrivateKey, *, uri: str, info: DirectoryInfo) -> str:
    with transaction.atomic():
        locked = AcmeRegistration.objects.select_for_update().get(pk=registration.pk)
        if locked.status != RegistrationStatus.QUEUED:
            return str(locked.status)
        locked.account = acme_account_create(
            info=info,
            uri=uri,
            key=key,
            name=registration.name,
            ca_bundle_pem=registration.ca_bundle_pem,
            email=registration.email,
            eab_kid=registration.eab_kid,
        )
        _end(locked, RegistrationStatus.REGISTERED, terms_of_service=info.terms_of_service)
    return str(RegistrationStatus.REGISTERED)


def _eab_hmac_key(registration: AcmeRegistration) -> str:
    sealed = bytes(registration.eab_hmac_sealed or b"")
    return unseal(sealed, kek=current_kek()).decode() if sealed else ""


def _fail(registration: AcmeRegistration, error: str, *, terms_of_service: str = "") -> str:
    with transaction.atomic():
        locked = AcmeRegistration.objects.select_for_update().get(pk=registration.pk)
        if locked.status != RegistrationStatus.QUEUED:
            return str(locked.status)
        key_id = locked.key_id
        locked.key = None
        locked.error = error
        _end(locked, RegistrationStatus.FAILED, terms_of_service=terms_of_service)
        if key_id is not None:
            PrivateKey.objects.filter(pk=key_id).delete()  # never an account's: no account was made with it
    log.info("ACME registration #%s at %s failed: %s", registration.pk, registration.directory_url, error)
    return str(RegistrationStatus.FAILED)


def _end(registration: AcmeRegistration, status: RegistrationStatus, *, terms_of_service: str) -> None:
    registration.status = status
    registration.terms_of_service = terms_of_service
    registration.eab_hmac_sealed = b""
    registration.save()
