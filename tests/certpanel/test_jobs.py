"""The Jobs page (/jobs/): every kind of background job in one list, filters, logs, and retries of failed ones."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from certpanel.models import Notification
from repository.acme.sweep_runs import sweep_runs_prune
from repository.models import (
    AcmeAccount,
    AcmeOrder,
    AcmeRegistration,
    Certificate,
    ChainFetch,
    OrderStatus,
    PrivateKey,
    RegistrationStatus,
    SweepRun,
)
from repository.tasks import renewal_sweep_task
from services.models import Deployment, DeploymentStatus, Listener, VerificationRun
from services.tasks import verify_listeners_task
from services.verification import verification_runs_prune
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db


def _account() -> AcmeAccount:
    key = PrivateKey.objects.create(key_type="ec256", sealed_pem=b"x", public_key_sha256="0" * 64)
    return AcmeAccount.objects.create(name="le", directory_url="https://ca.example/dir", key=key)


def _certificate(name: str = "mail.example.com") -> Certificate:
    return Certificate.objects.create(
        name=name, source="imported", common_name=name, certificate_pem="x", not_after=timezone.now()
    )


def _failed_order() -> AcmeOrder:
    return AcmeOrder.objects.create(
        account=_account(), hostnames=["bad.example"], key_type="ec256", status=OrderStatus.FAILED, error="rate limited"
    )


def _failed_email() -> Notification:
    return Notification.objects.create(
        kind="expiry_warning", message_id="<m1@x>", subject="Expiring soon", body_text="b", last_error="SMTP refused"
    )


def _world() -> dict[str, Any]:
    """One job of every kind, the verification and the sweep written by the real tasks."""
    order = _failed_order()
    registration = AcmeRegistration.objects.create(
        directory_url="https://ca.example/dir", status=RegistrationStatus.FAILED, error="no such directory"
    )
    entry = _certificate()
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=free_port(), certificate=entry)
    deployment = Deployment.objects.create(
        listener=listener, status=DeploymentStatus.FAILED, error="check failed", log="writing\nfailed"
    )
    chain = ChainFetch.objects.create(certificate=entry, status="done")
    email = _failed_email()
    verify_listeners_task.apply(args=[[listener.pk]]).get()
    renewal_sweep_task.apply().get()
    return {"order": order, "registration": registration, "deployment": deployment, "chain": chain, "email": email}


def test_every_kind_appears_with_status_and_who_started_it(staff_client: Client) -> None:
    world = _world()
    run = VerificationRun.objects.get()
    assert run.status == "failed" and run.failed == 1 and "connection refused" in run.log
    assert SweepRun.objects.get().status == "done"
    page = staff_client.get("/jobs/").content.decode()
    for label in (
        "ACME order",
        "ACME registration",
        "Deployment",
        "Verification",
        "Renewal sweep",
        "Chain fetch",
        "Email",
    ):
        assert f"<td>{label}</td>" in page, label
    assert re.search(r"renewal sweep: [^<]*0 renew", page) and "Verify button" in page and "schedule" in page
    for kind in ("deployment", "verification", "sweep", "email", "chain", "registration"):
        pk = (
            world[kind].pk
            if kind in world
            else (VerificationRun if kind == "verification" else SweepRun).objects.get().pk
        )
        assert staff_client.get(f"/jobs/{kind}/{pk}/").status_code == 200, kind
    assert "connection refused" in staff_client.get(f"/jobs/verification/{run.pk}/").content.decode()
    assert staff_client.get("/jobs/nope/1/").status_code == 404


def test_filters_by_kind_status_and_text(staff_client: Client) -> None:
    _world()
    kinds = staff_client.get("/jobs/?kind=email").content.decode()
    assert "Expiring soon" in kinds and "<td>Deployment</td>" not in kinds
    failed = staff_client.get("/jobs/?status=failed").content.decode()
    assert "bad.example" in failed and "Renewal sweep" not in failed.split('id="jobs"')[1]
    text = staff_client.get("/jobs/?q=bad.exam").content.decode()
    assert "bad.example" in text and "Expiring soon" not in text
    partial = staff_client.get("/jobs/?kind=order", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="jobs-table">') and "<html" not in partial


def test_retry_of_a_failed_order_orders_the_same_names_again(
    staff_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    failed = _failed_order()
    with django_capture_on_commit_callbacks() as queued:
        response = staff_client.post(f"/jobs/order/{failed.pk}/retry/", follow=True)
    again = AcmeOrder.objects.exclude(pk=failed.pk).get()
    assert again.hostnames == ["bad.example"] and again.account_id == failed.account_id
    assert again.status == OrderStatus.QUEUED and again.created_by is not None
    assert len(queued) == 1 and f"Order #{again.pk} requested again" in response.content.decode()


def test_retry_of_a_failed_deployment_and_email_queues_them(
    staff_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    listener = Listener.objects.create(name="MX", protocol="smtps", port=465, certificate=_certificate())
    failed = Deployment.objects.create(listener=listener, status=DeploymentStatus.ROLLED_BACK)
    email = _failed_email()
    Notification.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks() as queued:
        staff_client.post(f"/jobs/deployment/{failed.pk}/retry/")
        staff_client.post(f"/jobs/email/{email.pk}/retry/")
    redeploy = Deployment.objects.exclude(pk=failed.pk).get()
    assert redeploy.status == DeploymentStatus.QUEUED and redeploy.trigger == f"retry of #{failed.pk}"
    email.refresh_from_db()
    assert email.next_attempt_at <= timezone.now()
    assert len(queued) == 2


def test_read_only_sees_no_retry_and_gets_403_and_get_redirects(viewer_client: Client, staff_client: Client) -> None:
    failed = _failed_order()
    assert "Order again" in staff_client.get("/jobs/").content.decode()
    assert "Order again" not in viewer_client.get("/jobs/").content.decode()
    assert viewer_client.post(f"/jobs/order/{failed.pk}/retry/").status_code == 403
    assert viewer_client.get(f"/jobs/order/{failed.pk}/retry/").status_code == 403, "refused, not sent on"
    response = staff_client.get(f"/jobs/order/{failed.pk}/retry/")
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    assert AcmeOrder.objects.count() == 1


def test_retrying_what_did_not_fail_says_so(staff_client: Client) -> None:
    order = _failed_order()
    AcmeOrder.objects.filter(pk=order.pk).update(status=OrderStatus.ISSUED)
    page = staff_client.post(f"/jobs/order/{order.pk}/retry/", follow=True).content.decode()
    assert "has not failed" in page
    assert "is not waiting to be sent" in staff_client.post("/jobs/email/999/retry/", follow=True).content.decode()
    assert "cannot be retried" in staff_client.post("/jobs/sweep/1/retry/", follow=True).content.decode()


def test_run_records_older_than_30_days_are_pruned_by_the_sweeps() -> None:
    old = timezone.now() - timedelta(days=31)
    for model in (SweepRun, VerificationRun):
        kept = model.objects.create()
        gone = model.objects.create()
        model.objects.filter(pk=gone.pk).update(started_at=old)
        assert model.objects.filter(pk=kept.pk).exists()
    assert sweep_runs_prune() == 1 and verification_runs_prune() == 1
    assert SweepRun.objects.count() == 1 and VerificationRun.objects.count() == 1
