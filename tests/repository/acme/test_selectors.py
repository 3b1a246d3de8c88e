"""acme/selectors.py: what the renewal sweep picks up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from repository.acme.orders import certificate_renew
from repository.acme.selectors import due_for_renewal
from repository.models import AcmeAccount, AcmeOrder
from tests.repository.acme.builders import stall_order, stored_certificate


def test_due_selection_is_one_query_and_skips_running_renewals(account: AcmeAccount) -> None:
    now = timezone.now()
    due = stored_certificate("due.example", auto_renew=True, renew_at=now - timedelta(minutes=1), acme_account=account)
    stored_certificate("later.example", auto_renew=True, renew_at=now + timedelta(days=1), acme_account=account)
    stored_certificate("manual.example", auto_renew=False, renew_at=now - timedelta(days=1))
    busy = stored_certificate("busy.example", auto_renew=True, renew_at=now - timedelta(hours=1), acme_account=account)
    AcmeOrder.objects.create(
        account=account, hostnames=["busy.example"], key_type="ec256", replaces=busy, status="validating"
    )
    with CaptureQueriesContext(connection) as queries:
        ids = list(due_for_renewal(now).values_list("pk", flat=True))
    assert ids == [due.pk] and len(queries) == 1


def test_the_sweep_renews_a_certificate_whose_renewal_order_stopped_progressing(
    account: AcmeAccount, settings: Any
) -> None:
    settings.CERTPANEL_ACME_ORDER_DEADLINE = 300
    now = timezone.now()
    stuck = stored_certificate(
        "stuck.example", auto_renew=True, acme_account=account, renew_at=now - timedelta(hours=1)
    )
    busy = stored_certificate("busy.example", auto_renew=True, acme_account=account, renew_at=now - timedelta(hours=1))
    stall_order(certificate_renew(stuck.pk), minutes=30, status="validating")
    stall_order(certificate_renew(busy.pk), minutes=1, status="validating")
    assert list(due_for_renewal(now).values_list("pk", flat=True)) == [stuck.pk]
