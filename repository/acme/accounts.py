"""ACME accounts: register at a directory, and open a session for an account."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from certpanel.audit.actions import AuditAction, audit_record
from repository.acme.client import AcmeSession, DirectoryInfo
from repository.acme.problems import AcmeError
from repository.errors import RepositoryError
from repository.keystore import key_load, key_store
from repository.models import AcmeAccount, PrivateKey
from repository.pki.convert import certificates_to_pem
from repository.pki.generate import generate_private_key
from repository.pki.parse import parse_certificates

log = logging.getLogger(__name__)

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRESETS: dict[str, tuple[str, str]] = {
    "letsencrypt": ("Let's Encrypt", LETS_ENCRYPT),
    "letsencrypt-staging": ("Let's Encrypt staging", LETS_ENCRYPT_STAGING),
}


class TermsNotAgreed(RepositoryError):
    """The directory publishes Terms of Service and the admin did not agree to them."""

    def __init__(self, terms_of_service: str) -> None:
        super().__init__(f"You must agree to the CA's Terms of Service: {terms_of_service}")
        self.terms_of_service = terms_of_service


def ca_bundle_check(ca_bundle_pem: str) -> str:
    """A private CA's bundle as clean PEM; a CryptoError when it holds no certificate."""
    if not ca_bundle_pem.strip():
        return ""
    certificates = parse_certificates(ca_bundle_pem.encode())
    return certificates_to_pem(certificates).decode("ascii")


def session_for(account: AcmeAccount) -> AcmeSession:
    key = key_load(account.key)
    return session_new(account.directory_url, key, ca_bundle_pem=account.ca_bundle_pem, account_uri=account.uri)


def session_new(directory_url: str, key: Any, *, ca_bundle_pem: str = "", account_uri: str = "") -> AcmeSession:
    return AcmeSession(
        directory_url=directory_url,
        account_key=key,
        account_uri=account_uri,
        ca_bundle_pem=ca_bundle_pem,
        bundle_dir=settings.DATA_DIR / "ca-bundles",
        timeout=settings.CERTPANEL_ACME_TIMEOUT,
    )


def account_register_at(
    session: AcmeSession, *, email: str, agree_tos: bool, eab_kid: str = "", eab_hmac_key: str = ""
) -> tuple[str, DirectoryInfo]:
    """Read the directory and register the session's key (newAccount): the account URL and the directory."""
    info = session.directory_info()
    if info.terms_of_service and not agree_tos:
        raise TermsNotAgreed(info.terms_of_service)
    if info.external_account_required and not (eab_kid and eab_hmac_key):
        raise AcmeError(
            "externalAccountRequired",
            "This CA requires External Account Binding: give the EAB key id and HMAC key from your CA account.",
        )
    return session.register(email=email, eab_kid=eab_kid, eab_hmac_key=eab_hmac_key), info


def acme_account_create(
    *, info: DirectoryInfo, uri: str, key: PrivateKey, name: str, ca_bundle_pem: str, email: str, eab_kid: str
) -> AcmeAccount:
    """The row of an account the CA accepted, on its stored key."""
    account = AcmeAccount.objects.create(
        name=(name or _default_name(info.url))[:100],
        directory_url=info.url,
        ca_bundle_pem=ca_bundle_pem,
        email=email,
        key=key,
        uri=uri,
        terms_of_service=info.terms_of_service[:500],  # whatever the CA wrote: shown as a link only when http(s)
        eab_kid=eab_kid,
        profiles=info.profiles,
    )
    detail = f"{info.url}, contact {email or 'none'}" + (", with external account binding" if eab_kid else "")
    audit_record(action=AuditAction.ACME_ACCOUNT_CREATE, target=account, detail=detail)
    log.info("registered ACME account #%s at %s", account.pk, info.url)
    return account


def acme_account_register(
    *,
    directory_url: str,
    email: str,
    agree_tos: bool,
    name: str = "",
    ca_bundle_pem: str = "",
    eab_kid: str = "",
    eab_hmac_key: str = "",
    key_type: str = "ec256",
) -> AcmeAccount:
    """Register a new account here and now (the CLI; the settings page queues `acme/registrations.py` instead);
    nothing is stored unless the CA accepted it."""
    bundle = ca_bundle_check(ca_bundle_pem)
    key = generate_private_key(key_type)
    session = session_new(directory_url, key, ca_bundle_pem=bundle)
    uri, info = account_register_at(
        session, email=email, agree_tos=agree_tos, eab_kid=eab_kid, eab_hmac_key=eab_hmac_key
    )
    with transaction.atomic():
        return acme_account_create(
            info=info, uri=uri, key=key_store(key), name=name, ca_bundle_pem=bundle, email=email, eab_kid=eab_kid
        )


def acme_account_reregister(account: AcmeAccount, session: AcmeSession) -> None:
    """The CA forgot the account (accountDoesNotExist): register the same key again, once."""
    session.net.account = None
    account.uri = session.register(email=account.email)
    account.save(update_fields=["uri"])
    log.warning("ACME account #%s re-registered at %s", account.pk, account.directory_url)


def acme_account_profiles_refresh(account: AcmeAccount, session: AcmeSession) -> bool:
    """Store the profiles the directory advertises now, when they changed since registration (or the last issuance):
    New Certificate offers what the CA offers today. The session has read the directory already: no extra request.
    True when they changed."""
    profiles = session.directory_info().profiles
    if profiles == (account.profiles or {}):
        return False
    AcmeAccount.objects.filter(pk=account.pk).update(profiles=profiles)
    account.profiles = profiles
    log.info("ACME account #%s: the directory's profiles are now %s", account.pk, ", ".join(profiles) or "none")
    return True


def _default_name(directory_url: str) -> str:
    for label, url in PRESETS.values():
        if url == directory_url:
            return label
    return directory_url.split("//", 1)[-1].split("/", 1)[0]
