"""The only module that imports `acme`/`josepy`: RFC 8555 requests made robust for real CAs.

What the bare library does not do, and this does: bounded badNonce retries that reuse the nonce
of the error response, Retry-After (seconds or HTTP-date) on 429/503 and on polls, retries with
backoff on connection errors, fast polling (from 50 ms, backing off) under a deadline, `replaces`
(ARI) and `profile` on new orders, and problem documents turned into `AcmeError`s.

Every request, redirects included, goes through the outbound guard (certpanel/outbound.py): the directory URL was
typed by an admin and every other URL comes from the CA, so each connection is checked against the allowed
addresses, no answer is read past MAX_RESPONSE_BYTES, and errors name no internal host (details are logged).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# From josepy's own modules: its package __init__ re-exports these without `__all__`, which strict mypy refuses.
from josepy.errors import DeserializationError
from josepy.interfaces import JSONDeSerializable
from josepy.jwa import ES256, ES384, ES512, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

from certpanel import outbound
from certpanel.files import write_atomically
from repository.acme.problems import AcmeError, explain

log = logging.getLogger(__name__)

USER_AGENT = "certpanel/0.1 (+acme-python)"
NONCE_ATTEMPTS = 6
NETWORK_ATTEMPTS = 4
MAX_INLINE_WAIT = 20.0  # longer Retry-After values are left to the task's own retry
MAX_RESPONSE_BYTES = 1024 * 1024  # a certificate chain is a few KB; a directory less
# A CA answers fast when it can (Pebble in ~10 ms, Let's Encrypt in a second or two): look again soon, then back off.
POLL_FIRST = 0.02
POLL_MAX = 2.0
T = TypeVar("T")


class _Network(acme_client.ClientNetwork):
    """ClientNetwork that keeps the fresh nonce an error response carries (RFC 8555 §6.5)."""

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response: requests.Response = super()._send_request(method, url, *args, **kwargs)
        if response.status_code >= 400 and self.REPLAY_NONCE_HEADER in response.headers:
            with contextlib.suppress(acme_errors.BadNonce):
                self._add_nonce(response)
        return response

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, NONCE_ATTEMPTS + 1):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == NONCE_ATTEMPTS:
                    raise
                log.debug("badNonce, retry %d", attempt)
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class DirectoryInfo:
    url: str
    terms_of_service: str
    profiles: dict[str, str]
    external_account_required: bool
    has_renewal_info: bool


@dataclass(frozen=True)
class Challenge:
    type: str
    url: str
    token: str
    status: str
    error: dict[str, Any] | None


@dataclass(frozen=True)
class Authorization:
    url: str
    status: str
    identifier: str  # for a wildcard, the name without "*." (RFC 8555 §7.1.4)
    challenges: list[Challenge]
    wildcard: bool = False

    def challenge(self, challenge_type: str) -> Challenge | None:
        """The challenge of that type the CA offers, if any; whatever else it offers (tls-alpn-01, dns-account-01,
        dns-persist-01, types yet to come) is left alone."""
        return next((c for c in self.challenges if c.type == challenge_type), None)

    def offered(self) -> str:
        """The challenge types the CA offers, for a message: "http-01, dns-01", or "none"."""
        return ", ".join(c.type for c in self.challenges if c.type) or "none"


@dataclass(frozen=True)
class Order:
    url: str
    status: str
    authorizations: list[str]
    finalize: str
    certificate: str | None
    error: dict[str, Any] | None
    retry_after: float | None = None


@dataclass(frozen=True)
class RenewalWindow:
    start: datetime
    end: datetime
    retry_after: timedelta


@dataclass
class _Deadline:
    at: float = field(default_factory=lambda: time.monotonic() + 120)

    def left(self) -> float:
        return self.at - time.monotonic()


def _jwk(key: Any) -> tuple[JWK, JWASignature]:
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key), RS256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: ES256, 384: ES384, 521: ES512}[key.curve.key_size]
        return JWKEC(key=key), alg
    raise AcmeError("unsupportedKey", "ACME account keys must be RSA or ECDSA.")


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: both forms of RFC 9110 (delta-seconds and HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def ari_certificate_id(cert: x509.Certificate) -> str:
    """RFC 9773 CertID: base64url(AKI keyIdentifier) "." base64url(DER serial)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    if aki is None:
        raise AcmeError("malformed", "The certificate has no Authority Key Identifier, so ARI cannot name it.")
    serial = cert.serial_number
    serial_bytes = serial.to_bytes(math.ceil((serial.bit_length() + 1) / 8), "big", signed=True)
    return f"{_b64(aki)}.{_b64(serial_bytes)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _problem(error: messages.Error) -> AcmeError:
    subproblems = [
        {"type": sub.typ, "detail": sub.detail, "identifier": getattr(sub.identifier, "value", None)}
        for sub in (getattr(error, "subproblems", None) or [])
    ]
    return explain({"type": error.typ, "detail": error.detail or "", "subproblems": subproblems})


class AcmeSession:
    """One account at one directory. Blocking; meant for Celery workers and CLI commands."""

    def __init__(
        self,
        *,
        directory_url: str,
        account_key: Any,
        account_uri: str = "",
        ca_bundle_pem: str = "",
        bundle_dir: Path | None = None,
        timeout: int = 30,
    ) -> None:
        jwk, alg = _jwk(account_key)
        self.jwk = jwk
        verify: bool | str = True
        if ca_bundle_pem.strip():
            verify = str(_bundle_file(ca_bundle_pem, bundle_dir or Path("/tmp")))  # noqa: S108
        account = messages.RegistrationResource(uri=account_uri, body=messages.Registration()) if account_uri else None
        self.net = _Network(
            key=jwk,
            account=account,
            alg=alg,
            verify_ssl=verify,  # type: ignore[arg-type]  # acme hands it to requests' `verify`, which takes a CA path
            user_agent=USER_AGENT,
            timeout=timeout,
        )
        outbound.guard(self.net.session, max_bytes=MAX_RESPONSE_BYTES, read_seconds=timeout)
        self.directory_url = directory_url
        self._client: acme_client.ClientV2 | None = None

    # -- plumbing -------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one request: problem documents become AcmeError; network faults and short
        Retry-Afters are retried here, longer ones surface as transient AcmeErrors."""
        for attempt in range(1, NETWORK_ATTEMPTS + 1):
            try:
                return fn()
            except acme_errors.ConflictError:
                raise  # "account exists": register() handles it
            except messages.Error as error:
                problem = _problem(error)
                if problem.code == "rateLimited" or problem.code == "serverInternal":
                    problem.transient = True
                raise problem from None
            except acme_errors.ClientError as error:
                response = error.args[0] if error.args and isinstance(error.args[0], requests.Response) else None
                status = response.status_code if response is not None else 0
                wait = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
                if status in (429, 502, 503, 504) and attempt < NETWORK_ATTEMPTS:
                    if wait is not None and wait > MAX_INLINE_WAIT:
                        raise AcmeError(
                            "rateLimited", f"the CA asked to wait {int(wait)} s", retry_after=wait, transient=True
                        ) from None
                    time.sleep(wait if wait is not None else 0.5 * attempt)
                    continue
                raise AcmeError(
                    "serverInternal", f"{what}: unexpected answer from the CA (HTTP {status})", transient=True
                ) from None
            except outbound.OutboundError as error:
                raise AcmeError(
                    "connectionToCA", f"{what}: cannot reach the CA at {self.directory_url}: {error}"
                ) from None
            except requests.exceptions.SSLError as error:
                log.debug("%s: TLS to %s failed: %s", what, self.directory_url, error)
                raise AcmeError("tlsToCA", f"TLS verification of {self.directory_url} failed") from None
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt == NETWORK_ATTEMPTS:
                    log.debug("%s: %s unreachable: %s", what, self.directory_url, error)
                    raise AcmeError(
                        "connectionToCA",
                        f"{what}: cannot reach the CA at {self.directory_url}: {outbound.reason(error)}",
                        transient=True,
                    ) from None
                time.sleep(0.25 * 2**attempt)
            except requests.RequestException as error:  # a redirect loop or to another scheme, a broken body
                log.debug("%s: request to %s failed: %s", what, self.directory_url, error)
                raise AcmeError(
                    "connectionToCA", f"{what}: the CA at {self.directory_url} failed: {outbound.reason(error)}"
                ) from None
        raise AssertionError("unreachable")

    @property
    def client(self) -> acme_client.ClientV2:
        if self._client is None:
            try:
                directory = self._call(
                    "directory", lambda: acme_client.ClientV2.get_directory(self.directory_url, self.net)
                )
            except (DeserializationError, ValueError):
                raise AcmeError("malformed", f"{self.directory_url} is not an ACME directory") from None
            self._client = acme_client.ClientV2(directory, self.net)
        return self._client

    def _post_as_get(self, url: str) -> requests.Response:
        return self._call(url, lambda: self.client._post(url, None))

    def _post(self, url: str, body: Any) -> requests.Response:
        return self._call(url, lambda: self.client._post(url, body))

    # -- directory and account --------------------------------------------------------------------
    def directory_info(self) -> DirectoryInfo:
        directory = self.client.directory
        meta = directory.meta
        return DirectoryInfo(
            url=self.directory_url,
            terms_of_service=meta.terms_of_service or "",
            profiles=dict(meta.profiles or {}),
            external_account_required=bool(meta.external_account_required),
            has_renewal_info="renewalInfo" in directory.to_partial_json(),
        )

    def register(self, *, email: str, eab_kid: str = "", eab_hmac_key: str = "") -> str:
        """Create (or find, if this key already has one) the account; returns its URL."""
        eab = None
        if eab_kid:
            try:
                eab = messages.ExternalAccountBinding.from_data(
                    account_public_key=self.jwk.public_key(),
                    kid=eab_kid,
                    hmac_key=eab_hmac_key,
                    directory=self.client.directory,
                )
            except (ValueError, TypeError):
                raise AcmeError("malformed", "The EAB HMAC key must be base64url text from your CA.") from None
        registration = messages.NewRegistration.from_data(
            email=email or None, terms_of_service_agreed=True, external_account_binding=eab
        )
        self.net.account = None
        try:
            regr = self._call("newAccount", lambda: self.client.new_account(registration))
        except acme_errors.ConflictError as conflict:
            regr = messages.RegistrationResource(uri=str(conflict.location), body=messages.Registration())
        self.net.account = regr
        return str(regr.uri)

    # -- orders -------------------------------------------------------------------------------------
    def new_order(self, *, identifiers: list[str], profile: str = "", replaces: str = "") -> Order:
        payload: dict[str, Any] = {"identifiers": [{"type": "dns", "value": name} for name in identifiers]}
        if profile:
            payload["profile"] = profile
        if replaces:
            payload["replaces"] = replaces
        response = self._post(self.client.directory["newOrder"], _Json(payload))
        return _order(response.headers.get("Location", ""), response)

    def order(self, url: str) -> Order:
        return _order(url, self._post_as_get(url))

    def authorization(self, url: str) -> Authorization:
        return authorization_from(url, self._post_as_get(url).json())

    def key_authorization(self, token: str) -> str:
        thumbprint = _b64(self.jwk.thumbprint())
        return f"{token}.{thumbprint}"

    def answer(self, challenge_url: str) -> None:
        self._post(challenge_url, _Json({}))

    def finalize(self, finalize_url: str, csr_der: bytes) -> Order:
        response = self._post(finalize_url, _Json({"csr": _b64(csr_der)}))
        return _order(response.headers.get("Location", ""), response)

    def download(self, certificate_url: str) -> str:
        return self._post_as_get(certificate_url).text

    def renewal_info(self, cert: x509.Certificate) -> RenewalWindow:
        """The CA's suggested window (RFC 9773), or an AcmeError saying why it cannot be used."""
        base = self.client.directory["renewalInfo"]
        response = self._call("renewalInfo", lambda: self.net.get(f"{base.rstrip('/')}/{ari_certificate_id(cert)}"))
        try:
            data = response.json()
        except ValueError:
            raise AcmeError("malformed", "the CA's renewal information is not JSON") from None
        return renewal_window(data, retry_after_seconds(response.headers.get("Retry-After")))

    # -- polling ------------------------------------------------------------------------------------
    def poll(
        self,
        fetch: Callable[[], T],
        done: Callable[[T], bool],
        *,
        deadline: _Deadline,
        what: str,
        tick: Callable[[], None] | None = None,
    ) -> T:
        """Poll fast first (≤100 ms), back off to 2 s, honour Retry-After, give up at the deadline.

        ``tick`` runs between polls (the caller renews its order lease there)."""
        delay = POLL_FIRST
        while True:
            value = fetch()
            if done(value):
                return value
            if tick is not None:
                tick()
            hinted = getattr(value, "retry_after", None)
            wait = min(max(delay, hinted or 0.0), deadline.left())
            if wait <= 0:
                raise AcmeError("timeout", f"the CA did not finish {what} in time", transient=True)
            time.sleep(wait)
            delay = min(delay * 1.6, POLL_MAX)


class _Json(JSONDeSerializable):
    """A raw JSON body for fields the acme library does not model (`replaces`, `profile`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_partial_json(self) -> dict[str, Any]:
        return self.data

    @classmethod
    def from_json(cls, jobj: Any) -> _Json:
        return cls(jobj)


def _order(url: str, response: requests.Response) -> Order:
    data = response.json()
    return Order(
        url=url,
        status=data.get("status", ""),
        authorizations=list(data.get("authorizations", [])),
        finalize=data.get("finalize", ""),
        certificate=data.get("certificate"),
        error=data.get("error"),
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def authorization_from(url: str, data: Any) -> Authorization:
    """An authorization as the CA sent it. Challenges of any type are kept (the caller picks the one it answers:
    CAs add types, such as dns-account-01 and dns-persist-01, that carry no token); entries that are not objects
    are dropped rather than crash the order."""
    data = data if isinstance(data, dict) else {}
    identifier = data.get("identifier")
    challenges = data.get("challenges")
    return Authorization(
        url=url,
        status=_text(data.get("status")),
        identifier=_text(identifier.get("value")) if isinstance(identifier, dict) else "",
        challenges=[
            Challenge(
                _text(c.get("type")),
                _text(c.get("url")),
                _text(c.get("token")),
                _text(c.get("status")),
                c.get("error") if isinstance(c.get("error"), dict) else None,
            )
            for c in (challenges if isinstance(challenges, list) else [])
            if isinstance(c, dict)
        ],
        wildcard=data.get("wildcard") is True,
    )


def renewal_window(data: Any, retry_after: float | None) -> RenewalWindow:
    """RFC 9773 §4.2's answer checked: a window with RFC 3339 start and end, end after start (§4.3.3 calls anything
    else malformed). Without Retry-After the CA is asked again in 6 hours."""
    window = data.get("suggestedWindow") if isinstance(data, dict) else None
    if not isinstance(window, dict):
        raise AcmeError("malformed", "the CA's renewal information has no suggestedWindow")
    start, end = _rfc3339(window.get("start")), _rfc3339(window.get("end"))
    if start is None or end is None:
        raise AcmeError("malformed", "the CA's renewal window has no readable start and end times")
    if end <= start:
        raise AcmeError("malformed", f"the CA's renewal window ends ({end:%Y-%m-%d %H:%M}) before it starts")
    return RenewalWindow(start, end, timedelta(seconds=6 * 3600 if retry_after is None else retry_after))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _bundle_file(pem: str, directory: Path) -> Path:
    """requests wants a path; bundles are content-addressed so processes share one file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ca-bundle-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        write_atomically(path, pem.encode("utf-8"), mode=0o644)
    return path


def deadline(seconds: float) -> _Deadline:
    return _Deadline(time.monotonic() + seconds)


def private_key_from_jwk(data: dict[str, Any]) -> Any:
    """An account key from a JWK (certbot's private_key.json), as a `cryptography` private key."""
    try:
        jwk = JWK.from_json(data)
    except (DeserializationError, KeyError, ValueError, TypeError):
        raise AcmeError("malformed", "The account key file is not a private JWK.") from None
    if not isinstance(jwk, JWK):  # from_json is typed on josepy's base class; JWK's always yields a JWK
        raise AcmeError("malformed", "The account key file is not a private JWK.")
    key = getattr(jwk.key, "_wrapped", jwk.key)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise AcmeError("malformed", "The account key file holds no RSA or ECDSA private key.")
    return key
