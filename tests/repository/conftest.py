"""Fixtures the repository's test modules share: an SMTP sink the outbox delivers to, and a broker that is down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kombu.exceptions import OperationalError as BrokerError

from repository.tasks import acme_order_process_task
from tests.support.smtp import SmtpSink


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", sink.port, False
        settings.CERTPANEL_NOTIFY_EMAILS = ["admins@example.com"]
        yield sink


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The publish fails as kombu fails when Redis is stopped (the real thing: tests/test_browser.py)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise BrokerError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(acme_order_process_task, "apply_async", refuse)
