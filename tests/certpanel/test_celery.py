"""A real Celery worker process on the configured broker (Redis in CI) runs tasks against the test database."""

import uuid
from pathlib import Path

import pytest

from certpanel.models import Heartbeat
from certpanel.tasks import heartbeat
from tests.support.processes import (
    child_env,
    database_url_for_children,
    require_redis_broker,
    start_celery_worker,
    stop,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path):  # type: ignore[no-untyped-def]
    broker = require_redis_broker()
    log = tmp_path / "worker.log"
    process = start_celery_worker(child_env(DATABASE_URL=database_url_for_children(), CELERY_BROKER_URL=broker), log)
    yield log
    assert stop(process) in (0, -15)


def test_task_queued_on_redis_is_run_by_a_real_worker(worker: Path) -> None:
    name = f"probe-{uuid.uuid4().hex[:12]}"
    heartbeat.delay(name=name)
    wait_for(lambda: Heartbeat.objects.filter(name=name).exists(), timeout=30, what="the task to run", log=worker)
    assert Heartbeat.objects.filter(name="worker").exists(), "worker_ready should report at once"
