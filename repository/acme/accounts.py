"""ACME accounts: register at a directory, and open a session for an account."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from repository.acme.client import AcmeSession
from repository.acme.problems import AcmeError
from repository.errors import RepositoryError
from repository.keystore import key_load, key_store
from repository.models import AcmeAccount
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


def _check_bundle(ca_bundle_pem: str) -> str:
    if not ca_bundle_pem.strip():
        return ""
    certificates = parse_certificates(ca_bundle_pem.encode())
    return certificates_to_pem(certificates).decode("ascii")


def session_for(account: AcmeAccount) -> AcmeSession:
    return AcmeSession(
        directory_url=account.directory_url,
        account_key=key_load(account.key),
        account_uri=account.uri,
        ca_bundle_pem=account.ca_bundle_pem,
        bundle_dir=settings.DATA_DIR / "ca-bundles",
        timeout=settings.CERTPANEL_ACME_TIMEOUT,
    )


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
    """Register a new account; nothing is stored unless the CA accepted it."""
    bundle = _check_bundle(ca_bundle_pem)
    key = generate_private_key(key_type)
    session = AcmeSession(
        directory_url=directory_url,
        account_key=key,
        ca_bundle_pem=bundle,
        bundle_dir=settings.DATA_DIR / "ca-bundles",
        timeout=settings.CERTPANEL_ACME_TIMEOUT,
    )
    info = session.directory_info()
    if info.terms_of_service and not agree_tos:
        raise RepositoryError(f"You must agree to the CA's Terms of Service: {info.terms_of_service}")
    if info.external_account_required and not (eab_kid and eab_hmac_key):
        raise AcmeError(
            "externalAccountRequired",
            "This CA requires External Account Binding: give the EAB key id and HMAC key from your CA account.",
        )
    uri = session.register(email=email, eab_kid=eab_kid, eab_hmac_key=eab_hmac_key)
    with transaction.atomic():
        account = AcmeAccount.objects.create(
            name=name or _default_name(directory_url),
            directory_url=directory_url,
            ca_bundle_pem=bundle,
            email=email,
            key=key_store(key),
            uri=uri,
            terms_of_service=info.terms_of_service,
            eab_kid=eab_kid,
            profiles=info.profiles,
        )
    log.info("registered ACME account #%s at %s", account.pk, directory_url)
    return account


def acme_account_reregister(account: AcmeAccount, session: AcmeSession) -> None:
    """The CA forgot the account (accountDoesNotExist): register the same key again, once."""
    session.net.account = None
    account.uri = session.register(email=account.email)
    account.save(update_fields=["uri"])
    log.warning("ACME account #%s re-registered at %s", account.pk, account.directory_url)


def _default_name(directory_url: str) -> str:
    for label, url in PRESETS.values():
        if url == directory_url:
            return label
    return directory_url.split("//", 1)[-1].split("/", 1)[0]
