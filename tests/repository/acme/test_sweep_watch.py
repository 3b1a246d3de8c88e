"""acme/sweep_watch.py: a stalled renewal sweep is shown on every page and mailed once; a fresh install is not
stalled. Emails go through the outbox: the tests deliver it in-process (a worker does it in production)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from certpanel.models import Heartbeat, Notification
from certpanel.notifications import notifications_deliver_pending
from repository.acme.sweep_watch import SWEEP, sweep_ran, sweep_stall_check, sweep_state
from repository.models import PanelSettings
from tests.support.smtp import SmtpSink


@pytest.mark.django_db(transaction=True)
def test_a_stalled_sweep_is_shown_on_every_page_and_mailed_once(smtp: SmtpSink, client: Client) -> None:
    user = get_user_model().objects.create_user("eve", is_staff=True)
    client.force_login(user)
    Heartbeat.objects.create(name=SWEEP, last_seen=timezone.now() - timedelta(hours=25))
    for url in ("/certificates/", "/toolbox/", "/settings/"):
        assert "No certificate renewal sweep has run since" in client.get(url).content.decode()
    assert client.get("/health/").json()["renewal_sweep_ok"] is False
    assert not Notification.objects.exists(), "pages only read: the worker's check queues the email"
    assert not PanelSettings.load().sweep_stall_notified
    for _ in range(3):  # every worker's timer, again and again: one email per incident
        assert sweep_stall_check().stalled
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
    (mail,) = smtp.wait_for(1)
    assert "No certificate renewal sweep for 25 hours" in mail["Subject"]
    sweep_ran()
    assert "No certificate renewal sweep" not in client.get("/certificates/").content.decode()
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
    messages = smtp.wait_for(2)
    assert "running again" in messages[1]["Subject"]
    assert not PanelSettings.load().sweep_stall_notified
    assert not sweep_stall_check().stalled
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_fresh_install_is_not_reported_as_stalled(client: Client) -> None:
    assert sweep_state().stalled is False
