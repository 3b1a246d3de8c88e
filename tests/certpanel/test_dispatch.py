"""A dispatch to a broker that does not answer is recorded for the banner and never raises to the caller."""

from __future__ import annotations

import time
from typing import Any

import pytest
from celery import Celery
from django.test import Client

from certpanel.dispatch import broker_label, broker_outage, dispatch, dispatch_on_commit
from certpanel.models import BrokerOutage
from tests.support.processes import free_port


@pytest.fixture
def task_on(monkeypatch: pytest.MonkeyPatch) -> object:
    # Celery reads CELERY_BROKER_URL from the environment in preference to the broker an app is given.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)

    def make(broker: str) -> object:
        app = Celery("dispatch-test", broker=broker, set_as_current=False)
        app.conf.broker_connection_timeout = 2

        def noop() -> None:
            return None

        return app.task(name="tests.noop")(noop)

    return make


def _nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_dispatch_to_an_unreachable_broker_returns_false_quickly_and_records_the_outage(
    db: None, task_on: object
) -> None:
    task = task_on(_nowhere())  # type: ignore[operator]
    started = time.monotonic()
    assert dispatch(task) is False
    assert time.monotonic() - started < 5
    outage = broker_outage()
    assert outage is not None and "refused" in outage.last_error.lower()
    first_since = outage.since
    assert dispatch(task) is False
    assert BrokerOutage.objects.count() == 1 and broker_outage().since == first_since  # type: ignore[union-attr]


def test_a_good_dispatch_clears_the_outage(db: None, settings: object, task_on: object) -> None:
    broker = str(settings.CELERY_BROKER_URL)  # type: ignore[attr-defined]
    if not broker.startswith("redis://"):
        pytest.skip("needs the Redis broker")
    dispatch(task_on(_nowhere()))  # type: ignore[operator]
    assert broker_outage() is not None
    assert dispatch(task_on("redis://127.0.0.1:6379/14")) is True  # type: ignore[operator]
    assert broker_outage() is None


def test_pages_name_the_unavailable_work_queue(staff_client: Client, task_on: object) -> None:
    dispatch(task_on(_nowhere()))  # type: ignore[operator]
    page = staff_client.get("/certificates/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "work queue" in text and broker_label() in text and "no need to repeat" in text


def test_broker_label_hides_the_password(settings: object) -> None:
    settings.CELERY_BROKER_URL = "redis://:hunter2@redis.internal:6380/0"  # type: ignore[attr-defined]
    assert broker_label() == "Redis at redis.internal:6380"


def test_dispatch_on_commit_hands_a_refused_task_back_to_its_caller(
    db: None, task_on: object, django_capture_on_commit_callbacks: Any
) -> None:
    """After the commit, a broker that does not answer makes ``on_refused`` run (the caller marks its row for its
    resume sweep); nothing is sent and nothing runs before the commit."""
    refused: list[str] = []
    task = task_on(_nowhere())  # type: ignore[operator]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        dispatch_on_commit(task, on_refused=lambda: refused.append("row marked"))
        assert refused == []
    assert len(callbacks) == 1 and refused == ["row marked"]
    assert broker_outage() is not None
