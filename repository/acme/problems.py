"""ACME problem documents (RFC 8555 §6.7) in words an admin can act on. Pure; no acme imports."""

from __future__ import annotations

from typing import Any

from repository.errors import RepositoryError

PREFIX = "urn:ietf:params:acme:error:"


class AcmeError(RepositoryError):
    """A failed ACME step. ``transient`` errors are retried with backoff; the others fail the order."""

    def __init__(
        self, code: str, message: str, *, retry_after: float | None = None, transient: bool = False, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        self.transient = transient
        self.detail = detail  # the CA's own words, when a problem document gave them


def _short(problem_type: str) -> str:
    return problem_type.removeprefix(PREFIX)


def _challenge_url(identifier: str, token: str) -> str:
    return f"http://{identifier}/.well-known/acme-challenge/{token or '…'}"


# Worth another attempt later: the CA's own trouble, its rate limit, or a burst of rejected nonces (each request
# already retried several times with fresh nonces; a new attempt a second later usually gets through).
TRANSIENT_CODES = frozenset({"serverInternal", "rateLimited", "badNonce"})


def explain(
    problem: dict[str, Any], *, identifier: str = "", token: str = "", profile: str = "", challenge: str = "http-01"
) -> AcmeError:
    """Turn a problem document into an AcmeError whose message says what to do (``profile``: the one the order
    named, for a CA that refuses it; ``challenge``: the type the order answers, whose advice differs)."""
    code = _short(str(problem.get("type", "")))
    detail = str(problem.get("detail", "")).strip() or "no details given"
    subproblems = problem.get("subproblems") or []
    if subproblems and not identifier:
        first = subproblems[0]
        identifier = str(first.get("identifier") or "")
        if first.get("type"):
            code, detail = _short(str(first["type"])), str(first.get("detail") or detail)
    name = identifier or "this name"
    url = _challenge_url(name, token)
    messages = {
        "connection": f"the CA could not reach {url}: {detail} — port 80 of {name} must reach this panel "
        "(or the nginx location that forwards /.well-known/acme-challenge/ to it)",
        "dns": f"DNS lookup failed for {name}: {detail} — check its A/AAAA records",
        "caa": f"CAA records of {name} forbid this CA from issuing: {detail} — add the CA to the CAA record",
        "unauthorized": f"the CA fetched {url} and got the wrong answer: {detail} — another server answers port 80 "
        f"for {name}, or a proxy does not forward /.well-known/acme-challenge/ to this panel",
        "incorrectResponse": f"the CA fetched {url} and got the wrong answer: {detail}",
        "rejectedIdentifier": f"the CA refuses to issue for {name}: {detail}",
        "unsupportedIdentifier": f"the CA does not issue for {name}: {detail}",
        "rateLimited": f"rate limited by the CA: {detail}",
        "badNonce": f"the CA kept rejecting request nonces (badNonce) after several retries: "
        f"{detail} — try again later",
        "accountDoesNotExist": f"the ACME account no longer exists at the CA: {detail}",
        "externalAccountRequired": f"the CA requires External Account Binding (EAB key id and HMAC): {detail}",
        "userActionRequired": f"the CA needs you to act on the account (often new Terms of Service): {detail}",
        "badCSR": f"the CA rejected the certificate request: {detail}",
        "malformed": f"the CA rejected a request as malformed: {detail}",
        "serverInternal": f"the CA had an internal error: {detail} — it will be retried",
        "tls": f"the CA's TLS connection to {name} failed: {detail}",
        "orderNotReady": f"the order was not ready to finalize: {detail}",
        # draft-ietf-acme-profiles: the directory changed since the account stored its profiles, or never had it.
        "invalidProfile": f"the CA does not offer the profile {_quoted(profile)} (any more): choose another profile, "
        f"or the CA's default, and order again (the CA said: {detail})",
    }
    if challenge == "dns-01" and identifier:
        messages.update(_dns01_messages(name, detail))
    if code == "unauthorized" and not identifier:
        # Not about a challenge (a newOrder's `replaces` naming another account's certificate, say): no port 80 advice.
        messages["unauthorized"] = f"the CA refused the request (unauthorized): {detail}"
    message = messages.get(code, f"the CA refused ({code or 'unknown error'}): {detail}")
    return AcmeError(code, message[:1].upper() + message[1:], transient=code in TRANSIENT_CODES, detail=detail)


def _dns01_messages(name: str, detail: str) -> dict[str, str]:
    """DNS-01: the CA looked up a TXT record, no port 80 involved."""
    record = f"_acme-challenge.{name.removeprefix('*.')}"
    wrong = (
        f"the CA looked up TXT {record} and did not find the value the panel published: {detail} — the panel saw "
        "it on every nameserver of the zone, so check what the CA's resolvers see (a CNAME they follow elsewhere, "
        "a DNSSEC failure, or a nameserver outside the zone's NS set)"
    )
    lookup = (
        f"the CA could not look up TXT {record}: {detail} — check that the zone's nameservers answer from the internet"
    )
    return {"unauthorized": wrong, "incorrectResponse": wrong, "dns": lookup, "connection": lookup}


def _quoted(profile: str) -> str:
    return f"'{profile}'" if profile else "the order asked for"


def challenge_not_offered(*, challenge_type: str, name: str, offered: str) -> AcmeError:
    """The CA offers no challenge of the type the order answers for ``name``."""
    return AcmeError(
        "unsupportedChallenge", f"The CA offers no {challenge_type.upper()} challenge for {name} (offered: {offered})."
    )


def no_reason_given(
    *, identifier: str, authorization_status: str, challenge_type: str, challenge_status: str, token: str = ""
) -> AcmeError:
    """The CA marked an authorization or its challenge invalid without an error document: say exactly that, with
    what is known, rather than guess a cause (a wrong answer on port 80 is only one of many)."""
    name = identifier or "this name"
    facts = [f"authorization {authorization_status or 'status unknown'}"]
    if challenge_type:
        facts.append(f"{challenge_type} challenge {challenge_status or 'status unknown'}")
    if challenge_type == "http-01":
        facts.append(f"the URL the CA was to fetch: {_challenge_url(name, token)}")
    return AcmeError(
        "noReasonGiven", f"The CA marked the validation of {name} invalid and gave no reason ({'; '.join(facts)})."
    )
