"""New Certificate with no ACME account: register inline, agree to the terms shown, come back to the form."""

from __future__ import annotations

from django.test import Client

from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeRegistration, RegistrationStatus
from tests.support.factories import ec_key

NEW = "/certificates/letsencrypt/new/"


def _needing_agreement(**fields: object) -> AcmeRegistration:
    return AcmeRegistration.objects.create(
        directory_url="https://acme.example/dir",
        email="ops@example.com",
        status=RegistrationStatus.FAILED,
        error="The CA asks you to agree to its Terms of Service.",
        terms_of_service="https://acme.example/terms.pdf",
        **fields,
    )


def test_new_certificate_without_an_account_offers_registration_in_place(staff_client: Client) -> None:
    response = staff_client.get(NEW)
    page = response.content.decode()
    assert response.status_code == 200 and "First, an ACME account" in page
    assert f'name="next" value="{NEW}"' in page and 'action="/settings/acme-account/"' in page


def test_registering_from_new_certificate_comes_back_to_it_following_the_registration(staff_client: Client) -> None:
    form = {"preset": "custom", "directory_url": "https://acme.example/dir", "email": "ops@example.com", "next": NEW}
    response = staff_client.post("/settings/acme-account/", form)
    row = AcmeRegistration.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{NEW}?registration={row.pk}"
    page = staff_client.get(response["Location"]).content.decode()
    assert "registering" in page and f'hx-get="/certificates/acme-registrations/{row.pk}/?next=' in page


def test_a_bad_registration_from_new_certificate_stays_on_new_certificate(staff_client: Client) -> None:
    response = staff_client.post("/settings/acme-account/", {"preset": "custom", "directory_url": "", "next": NEW})
    page = response.content.decode()
    assert response.status_code == 200 and "First, an ACME account" in page and "Give the directory URL" in page
    assert not AcmeRegistration.objects.exists()


def test_once_registered_htmx_is_sent_back_to_new_certificate(staff_client: Client) -> None:
    account = AcmeAccount.objects.create(name="CA", directory_url="https://acme.example/dir", key=key_store(ec_key()))
    row = AcmeRegistration.objects.create(
        directory_url=account.directory_url, status=RegistrationStatus.REGISTERED, account=account, agree_tos=True
    )
    url = f"/certificates/acme-registrations/{row.pk}/?next={NEW}"
    response = staff_client.get(url, headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == NEW and "Continue to New Certificate" in response.content.decode()
    assert "HX-Redirect" not in staff_client.get(url)  # a plain request gets the link, not a header
    assert "hx-get" not in response.content.decode(), "a final registration stops the polling"


def test_a_registration_is_never_sent_elsewhere(staff_client: Client) -> None:
    form = {"preset": "custom", "directory_url": "https://acme.example/dir", "next": "//evil.example/x"}
    response = staff_client.post("/settings/acme-account/", form)
    assert response.status_code == 302 and response["Location"] == "/settings/#acme-accounts"


def test_the_terms_are_shown_with_i_agree_and_register(staff_client: Client) -> None:
    row = _needing_agreement()
    page = staff_client.get(f"{NEW}?registration={row.pk}").content.decode()
    assert "waiting for your agreement" in page and 'href="https://acme.example/terms.pdf"' in page
    assert "I agree and register" in page
    assert "I agree and register" in staff_client.get("/settings/").content.decode()


def test_i_agree_registers_again_with_agreement_once(staff_client: Client) -> None:
    row = _needing_agreement(name="Example CA")
    url = f"/certificates/acme-registrations/{row.pk}/agree/"
    response = staff_client.post(url, {"next": NEW})
    again = AcmeRegistration.objects.exclude(pk=row.pk).get()
    assert response["Location"] == f"{NEW}?registration={again.pk}"
    assert again.agree_tos and again.status == "queued" and again.name == "Example CA"
    assert again.directory_url == row.directory_url and again.email == row.email
    staff_client.post(url, {"next": NEW})  # a second click
    assert AcmeRegistration.objects.count() == 2


def test_i_agree_asks_for_the_eab_key_again(staff_client: Client) -> None:
    row = _needing_agreement(eab_kid="kid-1")
    assert 'name="eab_hmac_key"' in staff_client.get("/settings/").content.decode()
    response = staff_client.post(f"/certificates/acme-registrations/{row.pk}/agree/", follow=True)
    assert "Type the EAB HMAC key again" in response.content.decode()
    assert AcmeRegistration.objects.count() == 1


def test_agreeing_to_a_registration_that_did_not_ask_is_refused(staff_client: Client) -> None:
    row = AcmeRegistration.objects.create(
        directory_url="https://acme.example/dir", status=RegistrationStatus.FAILED, error="TLS failed"
    )
    response = staff_client.post(f"/certificates/acme-registrations/{row.pk}/agree/", follow=True)
    assert "not waiting for your agreement" in response.content.decode()
    assert AcmeRegistration.objects.count() == 1


def test_refreshing_i_agree_goes_back_instead_of_405(staff_client: Client) -> None:
    row = _needing_agreement()
    response = staff_client.get(f"/certificates/acme-registrations/{row.pk}/agree/?next={NEW}")
    assert response.status_code == 302 and response["Location"] == NEW


def test_read_only_users_see_the_terms_but_cannot_agree(viewer_client: Client) -> None:
    row = _needing_agreement()
    page = viewer_client.get("/settings/").content.decode()
    assert "waiting for your agreement" in page and "I agree and register" not in page
    assert viewer_client.post(f"/certificates/acme-registrations/{row.pk}/agree/").status_code == 403
