"""Certificate chains: ordering an upload into leaf and path, verifying it, finding what is missing, AIA URLs,
and checking a chain as a server sends it (for the probes).

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from repository.errors import CryptoError
from repository.pki import safe
from repository.pki.dates import as_utc, utc_text
from repository.pki.keytypes import PrivateKey, PublicKey
from repository.pki.limits import MAX_SIGNATURE_CHECKS, refuse_too_many_certificates
from repository.pki.match import certificate_has_key

_SHA256 = hashes.SHA256()


def _attribute_text(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attributes = name.get_attributes_for_oid(oid)
    if not attributes:
        return ""
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def unreadable_name(cert: x509.Certificate) -> str:
    """How a certificate whose name cannot be read is called: by its fingerprint, which always can."""
    return f"(unreadable name, SHA-256 {cert.fingerprint(_SHA256).hex()[:16]}…)"


def display_name(cert: x509.Certificate) -> str:
    """Short name an admin recognises: CN, else O, else the full subject; the fingerprint when it is unreadable."""
    try:
        subject = safe.subject(cert)
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
            if value := _attribute_text(subject, oid):
                return value
        return safe.name_text(subject)
    except CryptoError:
        return unreadable_name(cert)


def subject_label(cert: x509.Certificate) -> str:
    """The full subject as text, or the words naming the certificate by its fingerprint when it is unreadable."""
    try:
        return safe.subject_text(cert)
    except CryptoError:
        return unreadable_name(cert)


def _issuer_label(cert: x509.Certificate) -> str:
    """The issuer's name as text, or the words saying it cannot be read."""
    try:
        return safe.issuer_text(cert)
    except CryptoError:
        return "(unreadable name)"


def _unusable_key(issuer: x509.Certificate) -> CryptoError | None:
    """Why signatures cannot be checked with the issuer's key, or None when they can."""
    try:
        safe.public_key(issuer)
    except CryptoError as exc:
        return exc
    return None


def _signature_verifies(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether the issuer's key verifies the certificate's signature; False when its key cannot be used."""
    try:
        safe.public_key(issuer)  # refuses the keys cryptography cannot load and those too costly to check with
        cert.verify_directly_issued_by(issuer)
    except (CryptoError, *safe.FAILURES):
        return False
    return True


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Name match plus a signature check, so a look-alike issuer name is not enough."""
    return safe.issuer_der(cert) == safe.subject_der(issuer) and _signature_verifies(cert, issuer)


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
        constraints = safe.extension(cert, x509.BasicConstraints)
    except CryptoError:
        return False
    return bool(constraints and constraints.ca)


def _find_leaf(certificates: list[x509.Certificate], leaf_key: PublicKey | PrivateKey | None) -> x509.Certificate:
    if leaf_key is not None:
        for cert in certificates:
            if certificate_has_key(cert, leaf_key):
                return cert
        unreadable = next((reason for cert in certificates if (reason := _unusable_key(cert))), None)
        if unreadable is not None:
            raise CryptoError(f"None of the certificates matches the private key. {unreadable}")
        raise CryptoError("None of the certificates matches the private key.")
    # The leaf is the end of the path: no other certificate in the upload names it as its issuer. Names only, no
    # signature checks, so this is linear however many certificates share a name.
    named_as_issuer = Counter(safe.issuer_der(cert) for cert in certificates)

    def issues_another(cert: x509.Certificate) -> bool:
        subject = safe.subject_der(cert)
        return named_as_issuer[subject] - (safe.issuer_der(cert) == subject) > 0

    pool = [cert for cert in certificates if not issues_another(cert)] or certificates
    return next((cert for cert in pool if not _is_ca(cert)), pool[0])


class _Checks:
    """The signature checks of one ordering, at most ``MAX_SIGNATURE_CHECKS``: each same-named candidate costs one."""

    def __init__(self) -> None:
        self.left = MAX_SIGNATURE_CHECKS

    def issued_by(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        if safe.issuer_der(cert) != safe.subject_der(issuer):
            return False
        self.left -= 1
        if self.left < 0:
            raise CryptoError(
                f"These certificates cannot be put in order: too many of them share the name '{display_name(issuer)}'. "
                "Upload the certificate and its own chain only."
            )
        return _signature_verifies(cert, issuer)


def order_chain(
    certificates: Sequence[x509.Certificate],
    *,
    leaf_key: PublicKey | PrivateKey | None = None,
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Return (leaf, chain) with the chain ordered leaf's issuer -> ... -> root.

    Input may be in any order; certificates that are not on the leaf's path are dropped. Issuers are looked up
    by name in an index (never pairwise), and at most ``MAX_CERTIFICATES`` certificates are accepted.
    """
    unique = unique_certificates(certificates)
    if not unique:
        raise CryptoError("No certificate was given.")
    refuse_too_many_certificates(len(unique))
    leaf = _find_leaf(unique, leaf_key)
    by_subject: defaultdict[bytes, list[x509.Certificate]] = defaultdict(list)
    for cert in unique:
        if cert is not leaf:
            by_subject[safe.subject_der(cert)].append(cert)
    checks = _Checks()
    path = [leaf]
    while not checks.issued_by(path[-1], path[-1]):
        candidates = by_subject[safe.issuer_der(path[-1])]
        issuer = next((cert for cert in candidates if checks.issued_by(path[-1], cert)), None)
        if issuer is None:
            break
        path.append(issuer)
        candidates.remove(issuer)
    return leaf, path[1:]


def path_ends_at_root(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
    """True when the last certificate of the path is self-signed (a root)."""
    return is_self_signed(chain[-1] if chain else leaf)


def _lacks_issuer(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
    return not chain and not is_self_signed(leaf)


def missing_issuer(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> x509.Name | None:
    """Issuer name of the certificate that is certainly missing, else None.

    CAs commonly ship leaf + intermediate without the root, and servers must not send the root
    anyway, so a path that stops at an intermediate counts as complete. Only a lone leaf that
    is not self-signed is certainly missing its issuer.
    """
    return safe.issuer(leaf) if _lacks_issuer(leaf, chain) else None


def aia_ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    """HTTP(S) URLs from the AIA "CA Issuers" entries: where the issuer certificate lives."""
    try:
        aia = safe.extension(cert, x509.AuthorityInformationAccess)
    except CryptoError:
        return []
    urls: list[str] = []
    for description in aia or []:
        location = description.access_location
        if (
            description.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(location, x509.UniformResourceIdentifier)
            and location.value.lower().startswith(("http://", "https://"))
        ):
            urls.append(location.value)
    return urls


def _validity_problem(cert: x509.Certificate, now: datetime) -> str | None:
    not_before, not_after = safe.not_before(cert), safe.not_after(cert)
    if now > not_after:
        return f"{display_name(cert)} expired on {not_after:%Y-%m-%d}."
    if now < not_before:
        return f"{display_name(cert)} is not valid yet (valid from {not_before:%Y-%m-%d})."
    return None


def _link_problem(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    if _issued_by(cert, issuer):
        return None
    if safe.issuer_der(cert) == safe.subject_der(issuer) and (reason := _unusable_key(issuer)):
        return f"The signature of {display_name(cert)} by {display_name(issuer)} cannot be checked: {reason}"
    return f"{display_name(cert)} is not signed by {display_name(issuer)}."


def verify_chain(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate], *, now: datetime | None = None
) -> list[str]:
    """Problems with the leaf and its chain in admin words; empty when the chain is usable.

    The root is not required (see ``missing_issuer``).
    """
    now = as_utc(now)
    path = [leaf, *chain]
    problems = [p for cert, issuer in itertools.pairwise(path) if (p := _link_problem(cert, issuer))]
    problems.extend(p for p in (_validity_problem(cert, now) for cert in path) if p)
    if _lacks_issuer(leaf, chain):
        problems.append(f"The intermediate certificate for issuer '{_issuer_label(leaf)}' is missing.")
    return problems


# --- the chain as a server sends it: order matters, and the words are the probe report's ---------------------


def _served_name(cert: x509.Certificate) -> str:
    """The probe report names a certificate by its CN, else by its whole subject."""
    try:
        subject = safe.subject(cert)
        return _attribute_text(subject, NameOID.COMMON_NAME) or safe.name_text(subject) or "(no subject)"
    except CryptoError:
        return unreadable_name(cert)


def _served_validity_problem(cert: x509.Certificate, position: int, now: datetime) -> str | None:
    who = f"the certificate '{_served_name(cert)}'" if position == 0 else f"the intermediate '{_served_name(cert)}'"
    not_before, not_after = safe.not_before(cert), safe.not_after(cert)
    if now < not_before:
        return f"{who} is not valid until {utc_text(not_before)}"
    if now > not_after:
        return f"{who} expired on {not_after:%Y-%m-%d}"
    return None


def _served_link_problem(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    if _issued_by(cert, issuer):
        return None
    if safe.issuer_der(cert) != safe.subject_der(issuer):
        return (
            f"the chain is out of order or wrong: '{_served_name(cert)}' is issued by "
            f"'{_issuer_label(cert)}', but the next certificate served is '{_served_name(issuer)}'"
        )
    if reason := _unusable_key(issuer):
        return f"the signature of '{_served_name(cert)}' by '{_served_name(issuer)}' cannot be checked: {reason}"
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
    if _lacks_issuer(chain[0], chain[1:]):
        problems.append(
            f"the chain is incomplete: '{_served_name(chain[0])}' is issued by '{_issuer_label(chain[0])}', "
            "but the server does not send that intermediate certificate"
        )
    return problems
