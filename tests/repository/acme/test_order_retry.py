"""Retry on a failed order's page: a new order for the same names, followed like the first; never a dead end."""

from __future__ import annotations

from django.test import Client

from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeOrder, OrderStatus
from tests.support.factories import ec_key


def _failed() -> AcmeOrder:
    account = AcmeAccount.objects.create(name="CA", directory_url="https://ca.example/dir", key=key_store(ec_key()))
    return AcmeOrder.objects.create(
        account=account, hostnames=["mail.example.com"], key_type="ec256", status=OrderStatus.FAILED, error="nope"
    )


def test_a_failed_order_offers_retry_and_retry_follows_a_new_order(staff_client: Client) -> None:
    failed = _failed()
    page = staff_client.get(f"/certificates/orders/{failed.pk}/").content.decode()
    assert f'action="/certificates/orders/{failed.pk}/retry/"' in page and ">Retry</button>" in page
    response = staff_client.post(f"/certificates/orders/{failed.pk}/retry/")
    again = AcmeOrder.objects.exclude(pk=failed.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/certificates/orders/{again.pk}/"
    assert again.hostnames == ["mail.example.com"] and again.status == OrderStatus.QUEUED


def test_retry_of_an_order_that_did_not_fail_says_so(staff_client: Client) -> None:
    order = _failed()
    AcmeOrder.objects.filter(pk=order.pk).update(status=OrderStatus.ISSUED)
    response = staff_client.post(f"/certificates/orders/{order.pk}/retry/", follow=True)
    assert "has not failed" in response.content.decode() and AcmeOrder.objects.count() == 1


def test_refreshing_retry_shows_the_order_and_read_only_users_get_no_retry(
    staff_client: Client, viewer_client: Client
) -> None:
    failed = _failed()
    page = f"/certificates/orders/{failed.pk}/"
    assert staff_client.get(f"{page}retry/")["Location"] == page
    assert ">Retry</button>" not in viewer_client.get(f"/certificates/orders/{failed.pk}/").content.decode()
    assert viewer_client.post(f"/certificates/orders/{failed.pk}/retry/").status_code == 403
    assert staff_client.post("/certificates/orders/999999/retry/").status_code == 404
