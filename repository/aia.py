"""Completing a chain: the system trust store and AIA "CA Issuers" downloads.

The repository's only fetch of a URL found in a certificate; it goes through certpanel/outbound.py, and it runs
in the worker (repository/chain_fetches.py), never inside a request.
"""

from __future__ import annotations

import logging
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cryptography import x509

from certpanel import outbound
from repository.errors import CryptoError
from repository.pki import safe
from repository.pki.chain import aia_ca_issuers_urls, missing_issuer, subject_label
from repository.pki.describe import describe_certificate
from repository.pki.parse import parse_certificates

log = logging.getLogger(__name__)

MAX_HOPS = 4
MAX_BYTES = 256 * 1024
_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


@dataclass
class Completion:
    chain: list[x509.Certificate]
    notes: list[str] = field(default_factory=list)
    error: str = ""  # why a fetch stopped, when one did


@cache
def trusted_subjects() -> frozenset[bytes]:
    """DER subjects of the system's root CAs, to know when a path needs nothing more."""
    paths = [ssl.get_default_verify_paths().cafile or "", *_BUNDLES]
    for path in paths:
        if path and Path(path).is_file():
            try:
                with warnings.catch_warnings():  # some distro roots have odd serials; only subjects matter
                    warnings.simplefilter("ignore")
                    roots = x509.load_pem_x509_certificates(Path(path).read_bytes())
            except ValueError:
                continue
            return frozenset(safe.subject_der(root) for root in roots)
    return frozenset()


def _is_anchor(cert: x509.Certificate) -> bool:
    issuer = safe.issuer_der(cert)
    return issuer == safe.subject_der(cert) or issuer in trusted_subjects()


def fetch_certificates(url: str, *, timeout: float) -> list[x509.Certificate]:
    """Download what a "CA Issuers" URL serves, through the outbound guard: public addresses only (unless
    allow-listed), no redirect to another host, at most MAX_BYTES. The message is generic; details are logged."""
    try:
        body = outbound.fetch(url, timeout=timeout, max_bytes=MAX_BYTES)
    except outbound.OutboundError as exc:
        raise CryptoError(f"the CA Issuers URL could not be fetched: {exc}") from None
    try:
        return parse_certificates(body)
    except CryptoError:
        raise CryptoError("the CA Issuers URL did not serve a certificate") from None


def _issuer_from(url: str, child: x509.Certificate, *, timeout: float) -> x509.Certificate:
    for candidate in fetch_certificates(url, timeout=timeout):
        if safe.subject_der(candidate) == safe.issuer_der(child):
            try:
                describe_certificate(candidate)  # every part readable, or it is no use as a chain certificate
                child.verify_directly_issued_by(candidate)
            except (CryptoError, *safe.FAILURES):
                continue
            return candidate
    raise CryptoError(f"the CA Issuers URL did not serve the issuer of {subject_label(child)}")


def fetch_wanted(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
    """Whether `complete_chain` with ``fetch=True`` would download anything: the path ends short of a root or a
    known CA, at a certificate with a "CA Issuers" URL."""
    last = chain[-1] if chain else leaf
    return not _is_anchor(last) and bool(aia_ca_issuers_urls(last))


def complete_chain(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate], *, fetch: bool, timeout: float
) -> Completion:
    """Append missing intermediates from AIA URLs until the path reaches a root or a known CA."""
    result = Completion(chain=list(chain))
    for _ in range(MAX_HOPS):
        last = result.chain[-1] if result.chain else leaf
        urls = aia_ca_issuers_urls(last)
        if _is_anchor(last) or not urls or not fetch:
            break
        try:
            issuer = _issuer_from(urls[0], last, timeout=timeout)
        except CryptoError as exc:
            log.info("AIA completion stopped: %s", exc)
            result.error = str(exc)
            result.notes.append(f"The panel tried to fetch the missing intermediate but {exc}")
            break
        result.chain.append(issuer)
        result.notes.append(f"Added the intermediate '{describe_certificate(issuer).common_name}' from {urls[0]}.")
    missing = missing_issuer(leaf, result.chain)
    if missing is not None:
        result.notes.append(
            f"The intermediate certificate '{missing.rfc4514_string()}' is missing: upload it as the chain, "
            "or clients that do not have it cached will reject this certificate."
        )
    return result
