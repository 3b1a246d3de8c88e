"""ACME profiles and key reuse without a CA: the limits table (acme/profiles.py), New Certificate's select and its
refusals, `certs issue --profile/--reuse-key`, the CSR without a Common Name, the CA's invalidProfile in words, and
the certificate page's "Keep the same private key on renewal" switch."""

from __future__ import annotations

import html
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.test import Client

from certpanel.models import AuditEvent
from repository.acme.problems import explain
from repository.acme.profiles import profile_check_names, profile_check_offered, profile_choices, profile_limits
from repository.errors import CryptoError
from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeOrder, Certificate
from repository.pki.generate import SubjectFields, create_csr
from tests.repository.acme.builders import stored_certificate
from tests.support.factories import ec_key

OFFERED = {"classic": "90 days", "tlsserver": "45-day server certificates", "shortlived": "160 hours"}
NAMES_26 = [f"h{n}.example.com" for n in range(26)]


@pytest.fixture
def account(db: None) -> AcmeAccount:
    return AcmeAccount.objects.create(
        name="Let's Encrypt", directory_url="https://ca.invalid/dir", key=key_store(ec_key()), profiles=OFFERED
    )


# ---------------------------------------------------------------- the pure table


def test_lets_encrypts_short_profiles_allow_25_names_and_no_common_name() -> None:
    for name in ("tlsserver", "shortlived"):
        assert profile_limits(name).max_names == 25 and not profile_limits(name).common_name
        profile_check_names(name, NAMES_26[:25])
        with pytest.raises(CryptoError, match=f"The profile '{name}' allows at most 25 hostnames; this request has 26"):
            profile_check_names(name, NAMES_26)


def test_an_unknown_profile_or_none_has_the_general_100_name_limit() -> None:
    for name in ("", "classic", "someday"):
        assert profile_limits(name).max_names == 100 and profile_limits(name).common_name
        profile_check_names(name, NAMES_26)
    with pytest.raises(CryptoError, match="at most 100 hostnames; this request has 101"):
        profile_check_names("someday", [f"h{n}.example.com" for n in range(101)])


def test_a_profile_must_be_offered_and_the_default_always_is() -> None:
    profile_check_offered("", {})
    profile_check_offered("tlsserver", OFFERED)
    with pytest.raises(CryptoError, match=r"does not advertise the profile 'nope' \(offered: classic, shortlived"):
        profile_check_offered("nope", OFFERED)
    with pytest.raises(CryptoError, match=r"\(offered: none\)"):
        profile_check_offered("tlsserver", {})


def test_the_select_offers_the_default_then_each_profile_with_its_description() -> None:
    assert profile_choices({}) == [("", "CA's default")]
    assert profile_choices({"tlsserver": "45 days", "bare": ""}) == [
        ("", "CA's default"),
        ("bare", "bare"),
        ("tlsserver", "tlsserver — 45 days"),
    ]


def test_a_csr_for_a_profile_without_common_name_has_only_sans() -> None:
    csr = create_csr(key=ec_key(), subject=SubjectFields("a.example.com"), sans=["b.example.com"], common_name=False)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["a.example.com", "b.example.com"]
    classic = create_csr(key=ec_key(), subject=SubjectFields("a.example.com"), sans=[])
    assert classic.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "a.example.com"


def test_invalid_profile_is_explained_with_the_profile_it_named() -> None:
    problem = {"type": "urn:ietf:params:acme:error:invalidProfile", "detail": 'profile "gone" not supported'}
    error = explain(problem, profile="gone")
    assert error.code == "invalidProfile" and not error.transient
    assert str(error).startswith("The CA does not offer the profile 'gone' (any more): choose another profile")
    assert 'profile "gone" not supported' in str(error)


# ---------------------------------------------------------------- New Certificate


def _post(client: Client, account: AcmeAccount, **fields: Any) -> str:
    data = {"hostnames": "mail.example.com", "key_type": "ec256", "account": account.pk, **fields}
    response = client.post("/certificates/letsencrypt/new/", data)
    return html.unescape(response.content.decode()) if response.status_code == 200 else response["Location"]


def test_new_certificate_offers_the_accounts_profiles_with_their_descriptions(
    staff_client: Client, account: AcmeAccount
) -> None:
    page = html.unescape(staff_client.get("/certificates/letsencrypt/new/").content.decode())
    assert '<option value="" selected>CA\'s default</option>' in page
    assert "tlsserver — 45-day server certificates" in page and "shortlived — 160 hours" in page
    assert "Keep the same private key on renewal" in page


def test_new_certificate_refuses_26_names_for_tlsserver_before_ordering(
    staff_client: Client, account: AcmeAccount
) -> None:
    page = _post(staff_client, account, hostnames="\n".join(NAMES_26), profile="tlsserver")
    assert "The profile 'tlsserver' allows at most 25 hostnames; this request has 26" in page
    assert not AcmeOrder.objects.exists()
    assert _post(staff_client, account, hostnames="\n".join(NAMES_26), profile="classic").startswith("/certificates/")


def test_new_certificate_refuses_a_profile_the_directory_does_not_offer(
    staff_client: Client, account: AcmeAccount
) -> None:
    page = _post(staff_client, account, profile="nope")
    assert "This CA does not advertise the profile 'nope'" in page
    assert not AcmeOrder.objects.exists() and not Certificate.objects.exists()


def test_new_certificate_stores_the_profile_and_the_key_reuse_on_the_order(
    staff_client: Client, account: AcmeAccount
) -> None:
    _post(staff_client, account, profile="tlsserver", reuse_key="on")
    order = AcmeOrder.objects.get()
    assert order.profile == "tlsserver" and order.reuse_key
    assert "profile tlsserver" in staff_client.get(f"/certificates/orders/{order.pk}/").content.decode()
    AcmeOrder.objects.all().delete()
    _post(staff_client, account, hostnames="other.example.com")
    order = AcmeOrder.objects.get()
    assert order.profile == "" and not order.reuse_key, "off and the CA's default unless chosen"


# ---------------------------------------------------------------- certs issue


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--profile", "tlsserver", *[a for n in NAMES_26[1:] for a in ("--domain", n)]],
            "allows at most 25 hostnames",
        ),
        (["--profile", "nope"], "This CA does not advertise the profile 'nope' (offered: classic, shortlived"),
    ],
)
def test_cli_issue_refuses_what_the_profile_does_not_allow(cli: Any, extra: list[str], message: str) -> None:
    AcmeAccount.objects.create(
        name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()), profiles=OFFERED
    )
    result = cli("certs", "issue", "--domain", NAMES_26[0], *extra)
    assert result.code == 1 and message in result.error_line, result.err
    assert not AcmeOrder.objects.exists()


def test_cli_issue_reuse_key_and_profile_go_on_the_order(cli: Any, broker_down: None) -> None:
    AcmeAccount.objects.create(
        name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()), profiles=OFFERED
    )
    result = cli("certs", "issue", "--domain", "mail.example.com", "--profile", "shortlived", "--reuse-key", "--json")
    assert result.code == 0, result.err
    order = AcmeOrder.objects.get()
    assert order.profile == "shortlived" and order.reuse_key


# ---------------------------------------------------------------- the certificate page's switch


def test_operators_switch_key_reuse_and_read_only_users_only_see_it(
    staff_client: Client, viewer_client: Client, account: AcmeAccount
) -> None:
    entry = stored_certificate("mail.example.com", acme_account=account, acme_profile="tlsserver")
    response = staff_client.post(f"/certificates/{entry.pk}/reuse-key/", {"reuse_key": "on"})
    assert response.status_code == 302 and response["Location"] == f"/certificates/{entry.pk}/"
    entry.refresh_from_db()
    assert entry.reuse_key
    audit = AuditEvent.objects.filter(target_id=str(entry.pk)).latest("at")
    assert audit.detail == "keep the same private key on renewal: on"

    page = viewer_client.get(f"/certificates/{entry.pk}/").content.decode()
    assert "kept: renewals keep this key" in page and 'id="reuse-key-form"' not in page
    assert '<td id="acme-profile">tlsserver</td>' in page
    assert viewer_client.post(f"/certificates/{entry.pk}/reuse-key/", {}).status_code == 403
    entry.refresh_from_db()
    assert entry.reuse_key, "a read-only user changes nothing"

    staff_client.post(f"/certificates/{entry.pk}/reuse-key/", {})
    entry.refresh_from_db()
    assert not entry.reuse_key


def test_the_page_says_a_renewal_kept_its_predecessors_key(staff_client: Client, account: AcmeAccount) -> None:
    key = key_store(ec_key())
    old = stored_certificate("mail.example.com", acme_account=account, key=key, reuse_key=True)
    new = stored_certificate("mail.example.com", acme_account=account, key=key, renewed_from=old, reuse_key=True)
    page = staff_client.get(f"/certificates/{new.pk}/").content.decode()
    assert f'same key as <a href="/certificates/{old.pk}/">#{old.pk}</a>' in page
    other = stored_certificate("other.example.com", acme_account=account, key=key_store(ec_key()), renewed_from=new)
    assert "same key as" not in staff_client.get(f"/certificates/{other.pk}/").content.decode()


def test_the_switch_is_for_acme_certificates_only(staff_client: Client) -> None:
    entry = stored_certificate("ca.example.com", source="csr")
    response = staff_client.post(f"/certificates/{entry.pk}/reuse-key/", {"reuse_key": "on"}, follow=True)
    assert "is not an ACME certificate" in html.unescape(response.content.decode())
    entry.refresh_from_db()
    assert not entry.reuse_key
    assert staff_client.post("/certificates/99999/reuse-key/", {"reuse_key": "on"}).status_code == 404
