"""Certificate chains: ordering an upload into leaf and path, verifying it, finding what is missing, AIA URLs,
and checking a chain as a server sends it (for the probes).

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from repository.errors import CryptoError
from repository.pki.dates import as_utc, utc_text
from repository.pki.keytypes import PrivateKey, PublicKey
from repository.pki.match import public_key_matches

# What can go wrong inside cryptography when a certificate is unusual.
_CRYPTO_FAILURES = (ValueError, TypeError, UnsupportedAlgorithm, InvalidSignature)
_SHA256 = hashes.SHA256()


def display_name(cert: x509.Certificate) -> str:
    """Short name an admin recognises: CN, else O, else the full subject."""
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attributes = cert.subject.get_attributes_for_oid(oid)
        if attributes:
            value = attributes[0].value
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return cert.subject.rfc4514_string()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Name match plus a signature check, so a look-alike issuer name is not enough."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except _CRYPTO_FAILURES:
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    """Subject equals issuer and the certificate's own key verifies its signature."""
    return _issued_by(cert, cert)


def unique_certificates(certificates: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[bytes] = set()
    result: list[x509.Certificate] = []
    for cert in certificates:
        digest = cert.fingerprint(_SHA256)
        if digest not in seen:
            seen.add(digest)
            result.append(cert)
    return result


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return False


def _find_leaf(certificates: list[x509.Certificate], leaf_key: PublicKey | PrivateKey | None) -> x509.Certificate:
    if leaf_key is not None:
        for cert in certificates:
            if public_key_matches(leaf_key, cert):
                return cert
        raise CryptoError("None of the certificates matches the private key.")
    # The leaf is the end of the path: nothing in the upload was issued by it.
    candidates = [
        cert
        for cert in certificates
        if not any(other is not cert and _issued_by(other, cert) for other in certificates)
    ]
    pool = candidates or certificates
    return next((cert for cert in pool if not _is_ca(cert)), pool[0])


def order_chain(
    certificates: Sequence[x509.Certificate],
    *,
    leaf_key: PublicKey | PrivateKey | None = None,
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Return (leaf, chain) with the chain ordered leaf's issuer -> ... -> root.

    Input may be in any order; certificates that are not on the leaf's path are dropped.
    """
    unique = unique_certificates(certificates)
    if not unique:
        raise CryptoError("No certificate was given.")
    leaf = _find_leaf(unique, leaf_key)
    path = [leaf]
    remaining = [cert for cert in unique if cert is not leaf]
    while not is_self_signed(path[-1]):
        issuer = next((cert for cert in remaining if _issued_by(path[-1], cert)), None)
        if issuer is None:
            break
        path.append(issuer)
        remaining.remove(issuer)
    return leaf, path[1:]


def path_ends_at_root(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
    """True when the last certificate of the path is self-signed (a root)."""
    return is_self_signed(chain[-1] if chain else leaf)


def missing_issuer(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> x509.Name | None:
    """Issuer name of the certificate that is certainly missing, else None.

    CAs commonly ship leaf + intermediate without the root, and servers must not send the root
    anyway, so a path that stops at an intermediate counts as complete. Only a lone leaf that
    is not self-signed is certainly missing its issuer.
    """
    if chain or is_self_signed(leaf):
        return None
    return leaf.issuer


def aia_ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    """HTTP(S) URLs from the AIA "CA Issuers" entries: where the issuer certificate lives."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return []
    urls: list[str] = []
    for description in aia:
        location = description.access_location
        if (
            description.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(location, x509.UniformResourceIdentifier)
            and location.value.lower().startswith(("http://", "https://"))
        ):
            urls.append(location.value)
    return urls


def _validity_problem(cert: x509.Certificate, now: datetime) -> str | None:
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now > not_after:
        return f"{display_name(cert)} expired on {not_after:%Y-%m-%d}."
    if now < not_before:
        return f"{display_name(cert)} is not valid yet (valid from {not_before:%Y-%m-%d})."
    return None


def verify_chain(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate], *, now: datetime | None = None
) -> list[str]:
    """Problems with the leaf and its chain in admin words; empty when the chain is usable.

    The root is not required (see ``missing_issuer``).
    """
    now = as_utc(now)
    path = [leaf, *chain]
    problems = [
        f"{display_name(cert)} is not signed by {display_name(issuer)}."
        for cert, issuer in itertools.pairwise(path)
        if not _issued_by(cert, issuer)
    ]
    problems.extend(p for p in (_validity_problem(cert, now) for cert in path) if p)
    missing = missing_issuer(leaf, chain)
    if missing is not None:
        problems.append(f"The intermediate certificate for issuer '{missing.rfc4514_string()}' is missing.")
    return problems


# --- the chain as a server sends it: order matters, and the words are the probe report's ---------------------


def _served_name(cert: x509.Certificate) -> str:
    """The probe report names a certificate by its CN, else by its whole subject."""
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common_names[0].value) if common_names else cert.subject.rfc4514_string() or "(no subject)"


def _served_validity_problem(cert: x509.Certificate, position: int, now: datetime) -> str | None:
    who = f"the certificate '{_served_name(cert)}'" if position == 0 else f"the intermediate '{_served_name(cert)}'"
    if now < cert.not_valid_before_utc:
        return f"{who} is not valid until {utc_text(cert.not_valid_before_utc)}"
    if now > cert.not_valid_after_utc:
        return f"{who} expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def _served_link_problem(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    if _issued_by(cert, issuer):
        return None
    if cert.issuer != issuer.subject:
        return (
            f"the chain is out of order or wrong: '{_served_name(cert)}' is issued by "
            f"'{cert.issuer.rfc4514_string()}', but the next certificate served is '{_served_name(issuer)}'"
        )
    return (
        f"the chain is broken: '{_served_name(issuer)}' is named as the issuer of '{_served_name(cert)}' "
        "but did not sign it"
    )


def verify_served_chain(chain: Sequence[x509.Certificate], *, now: datetime) -> list[str]:
    """Problems with the chain exactly as a server sent it (leaf first), in words for the admin; [] when sound.

    Unlike an upload (``order_chain``), nothing is reordered: a client reads the chain as it comes. The root is
    not required (see ``missing_issuer``).
    """
    if not chain:
        return ["the server sent no certificate"]
    problems = [p for i, cert in enumerate(chain) if (p := _served_validity_problem(cert, i, now))]
    problems += [p for cert, issuer in itertools.pairwise(chain) if (p := _served_link_problem(cert, issuer))]
    # Clients have the root but not the intermediates: a CA-issued leaf served alone cannot be verified.
    missing = missing_issuer(chain[0], chain[1:])
    if missing is not None:
        problems.append(
            f"the chain is incomplete: '{_served_name(chain[0])}' is issued by '{missing.rfc4514_string()}', "
            "but the server does not send that intermediate certificate"
        )
    return problems
