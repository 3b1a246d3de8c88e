"""Deployments and verification through a real Celery worker on Redis: "Verify all" is queued and probed
concurrently, and a deployment whose worker is SIGKILLed mid-reload is skipped while its lease lives, then resumed
by the sweep to a final state on a real nginx."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from repository.actions import certificate_create_self_signed, certificate_import
from services.deploy import listener_files
from services.models import Deployment, DeploymentStatus, Listener
from services.tasks import deployment_run_task, queue_deployments, verify_sweep_task
from tests.support import daemons
from tests.support.factories import CA, ec_key, key_pem, pem
from tests.support.file_tls_port import FileTlsPort
from tests.support.processes import (
    child_env,
    database_url_for_children,
    require_redis_broker,
    start_celery_worker,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
NAME = "mail.example.com"
PROBE_TIMEOUT = 5.0  # services.probes.run.probe_many's default: a port that accepts and never answers costs this much


def _worker_env(**extra: str) -> dict[str, str]:
    return child_env(DATABASE_URL=database_url_for_children(), CELERY_BROKER_URL=require_redis_broker(), **extra)


@pytest.fixture
def black_holes() -> Iterator[list[int]]:
    """Ports that accept a connection and never say a word: each probe runs into its full timeout."""
    holes = []
    for _ in range(6):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        holes.append(sock)
    yield [sock.getsockname()[1] for sock in holes]
    for sock in holes:
        sock.close()


def _silent_listeners(ports: list[int]) -> list[Listener]:
    entry = certificate_create_self_signed(hostname=NAME, key_type="ec256")
    return [
        Listener.objects.create(name=f"silent-{n}", protocol="imaps", port=port, certificate=entry)
        for n, port in enumerate(ports)
    ]


def test_verify_all_returns_at_once_and_a_real_worker_fills_in_the_results(
    staff_client: Client, black_holes: list[int], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = start_celery_worker(_worker_env(), log)
    try:
        listeners = _silent_listeners(black_holes)
        started = time.monotonic()
        response = staff_client.post("/services/verify/", follow=True)
        answered = time.monotonic() - started
        page = response.content.decode()
        assert answered < 2.0, f"the request probed instead of queueing ({answered:.1f} s)"
        assert "Verification of 6 listeners queued" in page and page.count("verification queued") == 6
        wait_for(
            lambda: not Listener.objects.filter(verify_queued_at__isnull=False).exists(),
            timeout=60,
            what="the worker to store every result",
            log=log,
        )
        took = time.monotonic() - started
        # One after another would take 6 x 5 s; concurrently about one timeout.
        assert took < 3 * PROBE_TIMEOUT, f"not concurrent: {took:.1f} s for 6 silent listeners"
        for listener in Listener.objects.filter(pk__in=[item.pk for item in listeners]):
            assert listener.last_verify_ok is False and listener.last_verified_at is not None
        after = staff_client.get("/services/").content.decode()
        assert "verification queued" not in after and after.count("problem") == 6
    finally:
        assert stop(worker) in (0, -15)


def test_the_verify_sweep_is_acks_late_and_probes_every_listener_at_once(black_holes: list[int]) -> None:
    _silent_listeners(black_holes)
    assert verify_sweep_task.acks_late
    started = time.monotonic()
    assert verify_sweep_task.apply().get() == 6
    assert time.monotonic() - started < 3 * PROBE_TIMEOUT


def _stored(ca: CA) -> tuple[int, str]:
    key = ec_key()
    entry = certificate_import(
        certificate_data=pem(ca.issue(key.public_key(), [NAME]), ca.intermediate), key_data=key_pem(key)
    )
    return entry.certificate.pk, entry.certificate.fingerprint_sha256


def _served(daemon: daemons.Daemon) -> str:
    chain = daemons.served_chain(daemon.host, daemon.ports["https"], "https", NAME)
    return daemons.sha256_fingerprint(chain[0]).lower()


def test_a_deployment_whose_worker_dies_mid_reload_is_skipped_while_leased_then_resumed_by_the_sweep(
    ca: CA, tmp_path: Path, settings
) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    tls = daemons.TlsPaths(tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "key.pem")
    tls.fullchain.parent.mkdir()
    old_key = ec_key()
    tls.fullchain.write_bytes(pem(ca.issue(old_key.public_key(), [NAME]), ca.intermediate))
    tls.key.write_bytes(key_pem(old_key))
    tls.key.chmod(0o600)
    marker = tmp_path / "first-reload"
    with daemons.nginx(tmp_path / "nginx", tls) as daemon:
        certificate_id, fingerprint = _stored(ca)
        # The first reload hangs (its worker is killed there); the resumed one goes straight through.
        script = f"{shlex.join(daemon.reload_cmd)}; [ -e {marker} ] || {{ touch {marker}; sleep 300; }}"
        reload_cmd = shlex.join(["sh", "-c", script])  # deployments run commands without a shell
        listener = Listener.objects.create(
            name="Webmail",
            protocol="https",
            host=daemon.host,
            port=daemon.ports["https"],
            daemon="nginx",
            server_name=NAME,
            fullchain_path=str(tls.fullchain),
            key_path=str(tls.key),
            check_cmd=shlex.join(daemon.check_cmd),
            reload_cmd=reload_cmd,
            certificate_id=certificate_id,
        )
        doomed = start_celery_worker(_worker_env(CERTPANEL_DEPLOY_LEASE_SECONDS="6"), tmp_path / "a.log", name="a")
        try:
            (deployment,) = queue_deployments([listener.pk], trigger="manual")
            wait_for(marker.exists, timeout=60, what="the first reload", log=tmp_path / "a.log")
            deployment.refresh_from_db()
            assert deployment.status == DeploymentStatus.RELOADING and deployment.lease_owner
            # A redelivered task (or any second run) leaves it to the worker holding the lease.
            assert deployment_run_task.apply(args=[deployment.pk]).get() == "leased"
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        finally:
            stop(doomed)
        deployment.refresh_from_db()
        assert deployment.status == DeploymentStatus.RELOADING, "the dead worker left it mid-way"
        wait_for(
            lambda: Deployment.objects.filter(pk=deployment.pk, lease_until__lt=timezone.now()).exists(),
            timeout=30,
            what="the dead worker's lease to expire",
        )
        log = tmp_path / "b.log"
        rescuer = start_celery_worker(_worker_env(), log, name="b")
        try:
            # No beat here: the new worker's own start-up sweep takes the deployment up.
            wait_for(
                lambda: Deployment.objects.get(pk=deployment.pk).is_final,
                timeout=90,
                what="the resumed deployment to end",
                log=log,
            )
        finally:
            assert stop(rescuer) in (0, -15)
        deployment.refresh_from_db()
        assert deployment.status == DeploymentStatus.SUCCEEDED, deployment.log
        assert "resumed at 'reloading'" in deployment.log
        assert _served(daemon) == fingerprint
        assert "Traceback" not in log.read_text()


def test_replace_on_many_listeners_deploys_then_verifies_each_through_a_real_worker(
    staff_client: Client, tmp_path: Path, settings
) -> None:
    """One submit of "Replace on all these services": a real worker runs each listener's deployment, then its
    verification (a Celery chain per listener), against ports that serve whatever files are on disk."""
    deploy_dir = tmp_path / "deploy"
    settings.CERTPANEL_DEPLOY_DIR = str(deploy_dir)
    old = certificate_create_self_signed(hostname=NAME, key_type="ec256")
    new = certificate_create_self_signed(hostname=NAME, sans=["imap.example.com"], key_type="ec256")
    log = tmp_path / "worker.log"
    with ExitStack() as ports:
        for index in range(3):
            listener = Listener.objects.create(
                name=f"Mail {index}", protocol="imaps", port=1, daemon="files", server_name=NAME, certificate=old
            )
            files = listener_files(listener).paths
            port = ports.enter_context(FileTlsPort(files["fullchain"], files["key"]))
            Listener.objects.filter(pk=listener.pk).update(port=port.port)
        worker = start_celery_worker(_worker_env(CERTPANEL_DEPLOY_DIR=str(deploy_dir)), log)
        try:
            targets = [f"listener:{pk}" for pk in Listener.objects.values_list("pk", flat=True)]
            response = staff_client.post(
                f"/services/replace/?from={old.pk}", {"certificate": new.pk, "targets": targets}
            )
            assert response.status_code == 302
            wait_for(
                lambda: all(
                    d.finished_at and d.listener.last_verified_at and d.listener.last_verified_at > d.finished_at
                    for d in Deployment.objects.filter(trigger="replaced").select_related("listener")
                ),
                timeout=60,
                what="every deployment and then its verification",
                log=log,
            )
        finally:
            assert stop(worker) in (0, -15)
    for deployment in Deployment.objects.filter(trigger="replaced").select_related("listener"):
        listener = deployment.listener
        assert deployment.status == DeploymentStatus.SUCCEEDED, deployment.log
        assert listener.last_verify_ok is True and listener.verify_queued_at is None
    assert Deployment.objects.filter(trigger="replaced").count() == 3
