"""acme/views.py through Django's test client: the Let's Encrypt tab, a new certificate and its progress, renew
now, the settings page's account form, the HTTP-01 responder; and a broker that does not answer."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from django.test import Client

from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeChallenge, AcmeOrder, AcmeRegistration, Certificate
from repository.tasks import acme_account_register_task
from tests.repository.acme.builders import stored_certificate
from tests.support.acme_stack import acme_stack
from tests.support.factories import ec_key


@pytest.fixture
def account(db: None) -> AcmeAccount:
    return AcmeAccount.objects.create(
        name="Pebble",
        directory_url="https://127.0.0.1:1/dir",
        key=key_store(ec_key()),
        profiles={"shortlived": "6-day certificates"},
    )


def test_new_certificate_without_an_account_asks_for_one_in_place(staff_client: Client) -> None:
    response = staff_client.get("/certificates/letsencrypt/new/")
    assert response.status_code == 200 and "First, an ACME account" in response.content.decode()


@pytest.mark.parametrize(
    ("hostnames", "message"),
    [
        ("*.example.com", "HTTP-01 cannot validate wildcards"),
        ("mail.example.com\nbad name!", "is not a valid hostname"),
        ("192.0.2.1", "is an IP address"),
        ("", "This field is required"),
        ("\n".join(f"h{n}.example.com" for n in range(101)), "At most 100 hostnames"),
    ],
)
def test_new_certificate_rejects_names_http01_cannot_validate(
    staff_client: Client, account: AcmeAccount, hostnames: str, message: str
) -> None:
    response = staff_client.post(
        "/certificates/letsencrypt/new/", {"hostnames": hostnames, "key_type": "ec256", "account": account.pk}
    )
    assert message in response.content.decode()
    assert not AcmeOrder.objects.exists()


def test_new_certificate_refuses_a_profile_the_ca_does_not_offer(staff_client: Client, account: AcmeAccount) -> None:
    response = staff_client.post(
        "/certificates/letsencrypt/new/",
        {"hostnames": "mail.example.com", "key_type": "ec256", "account": account.pk, "profile": "tlsserver"},
    )
    assert "does not advertise the profile 'tlsserver' (offered: shortlived)" in html.unescape(
        response.content.decode()
    )


def test_new_certificate_creates_a_queued_order_and_shows_its_progress(
    staff_client: Client, account: AcmeAccount
) -> None:
    response = staff_client.post(
        "/certificates/letsencrypt/new/",
        {
            "hostnames": "Mail.Example.com\nbücher.example",
            "key_type": "ec256",
            "account": account.pk,
            "profile": "shortlived",
            "auto_renew": "on",
        },
    )
    order = AcmeOrder.objects.get()
    assert response["Location"] == f"/certificates/orders/{order.pk}/"
    assert order.hostnames == ["mail.example.com", "xn--bcher-kva.example"] and order.profile == "shortlived"
    page = staff_client.get(response["Location"]).content.decode()
    assert "Queued" in page and "js/order.js" in page
    status = staff_client.get(f"/certificates/orders/{order.pk}/status/").json()
    assert status["status"] == "queued" and status["active"] and status["events"][0]["label"] == "Queued"
    assert "#" + str(order.pk) in staff_client.get("/certificates/letsencrypt/").content.decode()


def test_renew_now_on_a_self_signed_certificate_explains_why_not(staff_client: Client) -> None:
    staff_client.post("/certificates/new/self-signed/", {"hostname": "a.example", "key_type": "ec256", "days": "5"})
    entry = Certificate.objects.get()
    response = staff_client.post(f"/certificates/{entry.pk}/renew/", follow=True)
    assert "cannot renew itself" in response.content.decode()


@pytest.mark.django_db
def test_responder_answers_known_tokens_without_login(client: Client, account: AcmeAccount) -> None:
    order = AcmeOrder.objects.create(account=account, hostnames=["a.example"], key_type="ec256")
    AcmeChallenge.objects.create(token="tok-123_ABC", key_authorization="tok-123_ABC.thumb", order=order)
    response = client.get("/.well-known/acme-challenge/tok-123_ABC")
    assert response.status_code == 200 and response.content == b"tok-123_ABC.thumb"
    assert client.get("/.well-known/acme-challenge/unknown").status_code == 404


@pytest.mark.integration
def test_register_account_from_the_settings_page_through_the_worker(staff_client: Client, tmp_path: Path) -> None:
    """Pebble's Terms of Service is a `data:` URL: shown as text, never a link; each attempt ends in the worker."""
    with acme_stack(tmp_path, worker=False) as stack:
        form = {
            "preset": "custom",
            "directory_url": stack.pebble.directory_url,
            "ca_bundle": stack.pebble.ca_bundle_path.read_text(),
            "email": "ops@example.com",
        }

        def register(**fields: str) -> tuple[str, str]:
            assert staff_client.post("/settings/acme-account/", {**form, **fields}).status_code == 302
            row = AcmeRegistration.objects.first()
            assert row is not None and row.status == "queued"
            status = acme_account_register_task.apply(args=[row.pk]).get()  # what the worker runs
            return status, html.unescape(staff_client.get("/settings/").content.decode())

        status, page = register()
        assert status == "failed" and "asks you to agree to its Terms of Service" in page
        assert 'read them: <span class="muted">data:text/plain' in page and 'href="data:' not in page
        assert not AcmeAccount.objects.exists()
        status, page = register(ca_bundle="", agree_tos="on")
        assert status == "failed" and f"TLS verification of {stack.pebble.directory_url} failed" in page
        status, page = register(agree_tos="on")
        assert status == "registered" and "registered</span>" in page
        account = AcmeAccount.objects.get()
        assert account.uri.startswith(stack.pebble.directory_url.rsplit("/", 1)[0])
        assert b"PRIVATE KEY" not in bytes(account.key.sealed_pem)
        assert 'agreed: <span class="muted">data:text/plain' in page and 'href="data:' not in page


# ---------------------------------------------------------------- a broker that does not answer


@pytest.mark.django_db(transaction=True)
def test_new_certificate_and_renew_now_with_the_broker_down_say_so_and_a_second_click_finds_the_same_order(
    broker_down: None, staff_client: Client
) -> None:
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    form = {"hostnames": "mail.example.com\nimap.example.com", "key_type": "ec256", "account": account.pk}
    first = staff_client.post("/certificates/letsencrypt/new/", form, follow=True)
    assert first.status_code == 200
    text = first.content.decode()
    assert "work queue" in text and "is saved and will run as soon as the work queue is back" in text
    assert "no need to request it again" in text and 'id="waiting"' in text
    form["hostnames"] = "imap.example.com\nmail.example.com"
    second = staff_client.post("/certificates/letsencrypt/new/", form, follow=True)
    assert second.status_code == 200 and "already running" in second.content.decode()
    assert AcmeOrder.objects.count() == 1
    assert second.redirect_chain[-1][0] == first.redirect_chain[-1][0]
    entry = stored_certificate("renew.example", auto_renew=True, acme_account=account)
    renewed = staff_client.post(f"/certificates/{entry.pk}/renew/", follow=True)
    assert renewed.status_code == 200 and "is saved and will run" in renewed.content.decode()
    assert staff_client.post(f"/certificates/{entry.pk}/renew/").status_code == 302
    assert AcmeOrder.objects.filter(replaces=entry).count() == 1
