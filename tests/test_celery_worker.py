"""A real Celery worker process on the configured broker (Redis in CI) runs tasks against the test database."""

import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from certpanel.models import Heartbeat
from certpanel.tasks import heartbeat
from tests.processes import child_env, database_url_for_children, start, stop, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path):  # type: ignore[no-untyped-def]
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the worker tests on Redis: set CELERY_BROKER_URL")
        pytest.skip("set CELERY_BROKER_URL=redis://… to run the worker on Redis")
    log = tmp_path / "worker.log"
    process = start(
        [
            "-m",
            "celery",
            "-A",
            "certpanel",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--pool",
            "solo",
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        child_env(DATABASE_URL=database_url_for_children(), CELERY_BROKER_URL=broker),
        log,
    )
    wait_for(lambda: b"ready." in log.read_bytes(), timeout=60, what="the worker to start", log=log)
    yield log
    assert stop(process) in (0, -15)


def test_task_queued_on_redis_is_run_by_a_real_worker(worker: Path) -> None:
    name = f"probe-{uuid.uuid4().hex[:12]}"
    heartbeat.delay(name=name)
    wait_for(lambda: Heartbeat.objects.filter(name=name).exists(), timeout=30, what="the task to run", log=worker)
    assert Heartbeat.objects.filter(name="worker").exists(), "worker_ready should report at once"
