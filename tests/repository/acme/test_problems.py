"""acme/problems.py: problem documents (RFC 8555 §6.7) in words an admin can act on, and which are retried."""

import pytest

from repository.acme.problems import explain, no_reason_given


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        (
            {"type": "urn:ietf:params:acme:error:connection", "detail": "127.0.0.1: Connection refused"},
            "The CA could not reach http://mail.example.com/.well-known/acme-challenge/tok: 127.0.0.1: Connection "
            "refused — port 80 of mail.example.com must reach this panel",
        ),
        (
            {"type": "urn:ietf:params:acme:error:dns", "detail": "NXDOMAIN looking up A"},
            "DNS lookup failed for mail.example.com: NXDOMAIN looking up A — check its A/AAAA records",
        ),
        (
            {"type": "urn:ietf:params:acme:error:caa", "detail": "CAA record prevents issuance"},
            "CAA records of mail.example.com forbid this CA from issuing",
        ),
        (
            {
                "type": "urn:ietf:params:acme:error:rateLimited",
                "detail": "too many certificates, retry after 2026-11-26",
            },
            "Rate limited by the CA: too many certificates, retry after 2026-11-26",
        ),
        (
            {"type": "urn:ietf:params:acme:error:unauthorized", "detail": "Invalid response from ...: 404"},
            "got the wrong answer",
        ),
        ({"type": "urn:ietf:params:acme:error:somethingNew"}, "The CA refused (somethingNew): no details given"),
    ],
)
def test_problem_documents_become_actionable_messages(problem: dict, words: str) -> None:
    assert words in str(explain(problem, identifier="mail.example.com", token="tok"))


def test_subproblems_name_the_failing_identifier() -> None:
    error = explain(
        {
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "Error creating new order",
            "subproblems": [
                {
                    "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                    "detail": "blocked name",
                    "identifier": "bad.example",
                }
            ],
        }
    )
    assert str(error) == "The CA refuses to issue for bad.example: blocked name"


def test_rate_limits_and_server_errors_are_retried_others_are_final() -> None:
    assert explain({"type": "urn:ietf:params:acme:error:rateLimited"}).transient
    assert explain({"type": "urn:ietf:params:acme:error:serverInternal"}).transient
    assert explain({"type": "urn:ietf:params:acme:error:badNonce"}).transient  # a burst: the task tries again
    assert not explain({"type": "urn:ietf:params:acme:error:caa"}).transient


# ---------------------------------------------------------------- the CA gave no reason


def test_an_invalid_http01_validation_without_a_reason_says_so_and_what_is_known() -> None:
    error = no_reason_given(
        identifier="mail.example.com",
        authorization_status="invalid",
        challenge_type="http-01",
        challenge_status="invalid",
        token="tok3n",
    )
    assert error.code == "noReasonGiven" and not error.transient
    assert str(error) == (
        "The CA marked the validation of mail.example.com invalid and gave no reason (authorization invalid; "
        "http-01 challenge invalid; the URL the CA was to fetch: "
        "http://mail.example.com/.well-known/acme-challenge/tok3n)."
    )
    assert "port 80" not in str(error) and "wrong answer" not in str(error), "no invented cause"


def test_no_reason_without_a_challenge_names_the_authorization_status_only() -> None:
    error = no_reason_given(
        identifier="mail.example.com", authorization_status="deactivated", challenge_type="", challenge_status=""
    )
    assert str(error) == "The CA marked the validation of mail.example.com invalid and gave no reason " + (
        "(authorization deactivated)."
    )


def test_unauthorized_outside_a_challenge_gives_no_port_80_advice() -> None:
    problem = {"type": "urn:ietf:params:acme:error:unauthorized", "detail": "requester account did not request it"}
    assert str(explain(problem)) == "The CA refused the request (unauthorized): requester account did not request it"
    assert "port 80" in str(explain(problem, identifier="mail.example.com", token="t")), "a challenge's still has it"
