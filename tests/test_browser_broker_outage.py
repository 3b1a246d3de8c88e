"""Broker down while an admin requests a certificate in a real browser: no HTTP 500, no second certificate.

Everything of this test runs on a private redis-server (web server, worker, beat), which the test stops and
starts; the machine's own Redis is never touched.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from repository.models import AcmeOrder, Certificate
from tests.support.acme_stack import acme_stack
from tests.support.processes import free_port, start, wait_for
from tests.support.redis_server import PrivateRedis
from tests.test_browser import _login, browser  # noqa: F401 - the module-scoped Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NAMES = ["mail.example.com", "webmail.example.com"]


def _serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/login/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _request_certificate(page: Any, names: list[str]) -> None:
    page.goto("/certificates/letsencrypt/new/")
    page.fill("#id_hostnames", "\n".join(names))
    page.click("button:has-text('Request certificate')")
    page.wait_for_url("**/certificates/orders/*/")


def test_broker_down_requests_say_so_then_run_once_when_it_is_back(
    browser: Any,  # noqa: F811
    transactional_db: None,
    tmp_path: Path,
) -> None:
    get_user_model().objects.create_user("alice", password="browser-pass-1", is_staff=True, is_superuser=True)
    with PrivateRedis(tmp_path) as redis:
        env = {"CELERY_BROKER_URL": redis.url, "CERTPANEL_ORDER_RESUME_SECONDS": "2"}
        with acme_stack(tmp_path, env=env) as stack:
            stack.account()
            stack.start_beat()
            port = free_port()
            web_log = tmp_path / "web.log"
            stack.processes["web"] = start(
                ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], stack.worker_env, web_log
            )
            base_url = f"http://127.0.0.1:{port}"
            wait_for(lambda: _serves(base_url), timeout=60, what="the web server", log=web_log)
            context = browser.new_context(base_url=base_url)
            page = context.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 500 else None)
            _login(page)
            page.wait_for_url(lambda url: url.endswith("/") and "/login/" not in url)  # the dashboard

            redis.stop()
            _request_certificate(page, NAMES)
            first_url = page.url
            text = page.inner_text("main")
            assert "The work queue (Redis at 127.0.0.1:" in text and "is unavailable" in text, text
            assert "will run as soon as the work queue is back" in text and "no need to request it again" in text
            assert page.locator("#broker-outage").count() == 1 and page.locator("#waiting").count() == 1
            _request_certificate(page, list(reversed(NAMES)))  # the admin tries again anyway
            assert page.url == first_url and "already running" in page.inner_text("main")
            order = AcmeOrder.objects.get()
            assert order.status == "queued" and order.dispatched_at is None

            # A real outage, not a blip: the worker has been retrying with a growing interval, and beat's sweep
            # ticks have failed to publish, before the broker comes back.
            worker_log = tmp_path / "worker.log"
            wait_for(
                lambda: worker_log.read_text(errors="replace").count("Cannot connect to redis") >= 3,
                timeout=60,
                what="the worker to be retrying its broker connection",
                log=worker_log,
            )
            back = time.monotonic()
            redis.start()
            page.wait_for_selector("text=Issued:", timeout=60_000)  # the order page reloads itself
            elapsed = time.monotonic() - back
            print(f"issued {elapsed:.1f} s after the broker came back")
            assert elapsed < 60
            assert errors == [], errors
            order.refresh_from_db()
            assert order.status == "issued"
            assert [e.status for e in order.events.all()].count("order_created") == 1, "one order at the CA"
            assert AcmeOrder.objects.count() == 1 and Certificate.objects.filter(source="acme").count() == 1
            assert page.locator("#broker-outage").count() == 0, "the banner is gone once the queue works"
            context.close()
