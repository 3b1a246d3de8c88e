"""Deployments as a state machine: all-or-nothing files on a real full or read-only disk, plain-word errors,
leases (a second run skips, an expired one resumes), and the transition table."""

from __future__ import annotations

import errno
import logging
import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from django.utils import timezone

from repository.actions import certificate_create_self_signed
from repository.models import Certificate
from services import deployments
from services.actions import listener_deploy, listeners_move_certificate
from services.deployments import TRANSITIONS, deployment_request, deployment_run, deployments_to_resume
from services.models import FINAL_DEPLOYMENT_STATUSES, Deployment, DeploymentStatus, Listener
from services.staging import FileWrite, disk_error, files_stage
from services.tasks import deployment_run_task
from tests.support.processes import free_port

S = DeploymentStatus


# -- the transition table ---------------------------------------------------------------------------------
def test_every_status_is_in_the_table_and_only_final_ones_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(S.values)
    assert {status for status, onward in TRANSITIONS.items() if not onward} == set(FINAL_DEPLOYMENT_STATUSES)
    for onward in TRANSITIONS.values():
        assert onward <= set(S.values)


def test_every_active_status_can_reach_a_final_state_in_one_or_two_steps() -> None:
    for status in deployments.ACTIVE_STATUSES:
        assert S.FAILED in TRANSITIONS[status] or S.FAILED in TRANSITIONS[S.ROLLING_BACK], status


def test_once_files_may_have_been_replaced_every_step_can_roll_back() -> None:
    for status in (S.WRITING, S.CHECKING, S.RELOADING, S.VERIFYING):
        assert S.ROLLING_BACK in TRANSITIONS[status]
    assert S.ROLLING_BACK not in TRANSITIONS[S.QUEUED], "nothing is on disk yet"
    assert TRANSITIONS[S.ROLLING_BACK] == {S.ROLLED_BACK, S.FAILED}


def test_the_happy_path_is_a_chain_of_valid_transitions() -> None:
    path = [S.QUEUED, S.WRITING, S.CHECKING, S.RELOADING, S.VERIFYING, S.SUCCEEDED]
    for before, after in pairwise(path):
        assert after in TRANSITIONS[before]


def test_an_invalid_transition_is_refused() -> None:
    finished = Deployment(pk=1, status=S.SUCCEEDED)
    with pytest.raises(AssertionError, match="succeeded → writing is not a valid transition"):
        deployments._event(finished, "token", S.WRITING)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the disk holding /etc/tls is full"),
        (errno.EROFS, "/etc/tls is read-only"),
        (errno.EACCES, "permission denied writing /etc/tls/key.pem"),
        (errno.EDQUOT, "the disk quota for /etc/tls is used up"),
    ],
)
def test_disk_errors_are_said_in_plain_words(code: int, words: str) -> None:
    assert disk_error(OSError(code, os.strerror(code)), Path("/etc/tls/key.pem")) == words


# -- real disks -------------------------------------------------------------------------------------------
@contextmanager
def tmpfs(path: Path, *, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def _listener_on(directory: Path, certificate: Certificate, markers: Path, **extra: object) -> Listener:
    fields = {
        "check_cmd": f"touch {markers / 'checked'}",
        "reload_cmd": f"touch {markers / 'reloaded'}",
        **extra,
    }
    return Listener.objects.create(
        name="Webmail",
        protocol="https",
        port=free_port(),
        daemon="nginx",
        certificate=certificate,
        fullchain_path=str(directory / "fullchain.pem"),
        key_path=str(directory / "key.pem"),
        **fields,
    )


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_ino, p.stat().st_mode) for p in sorted(directory.iterdir())}


def _daemon_files(directory: Path) -> None:
    """What the daemon serves today: a certificate and its key, one 4 KiB tmpfs page each."""
    (directory / "fullchain.pem").write_bytes(b"-----previous fullchain-----\n" * 20)
    (directory / "key.pem").write_bytes(b"-----previous key-----\n")
    (directory / "key.pem").chmod(0o600)


@pytest.mark.django_db(transaction=True)
def test_a_disk_with_room_for_one_file_but_not_two_fails_before_any_daemon_file_changes(
    cli, tmp_path: Path, settings
) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    with tmpfs(tmp_path / "tls", size="12k") as tls:  # three pages: the two daemon files, and one more
        _daemon_files(tls)
        free = os.statvfs(tls).f_bavail * os.statvfs(tls).f_frsize
        assert 0 < free < 2 * 4096, "room for one new file, not two"
        before = _snapshot(tls)
        listener = _listener_on(tls, entry, tmp_path)
        result = cli("services", "deploy", "Webmail")
        assert result.code == 1
        assert result.error_line == (
            f"error: deployment of Webmail failed: the disk holding {tls} is full: nothing was changed"
        ), result.err
        assert _snapshot(tls) == before, "no daemon file changed, no temp file left behind"
    deployment = Deployment.objects.get(listener=listener)
    assert deployment.status == S.FAILED and deployment.finished_at is not None
    assert f"the disk holding {tls} is full" in deployment.error and "restored" not in deployment.error
    assert "→ writing files" in deployment.log and "→ failed" in deployment.log
    assert not (tmp_path / "checked").exists() and not (tmp_path / "reloaded").exists(), "no command ran"


@pytest.mark.django_db
def test_a_read_only_target_is_named_plainly_nothing_changes_and_no_traceback_is_logged(
    tmp_path: Path, settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    with tmpfs(tmp_path / "tls", size="1m") as tls:
        _daemon_files(tls)
        subprocess.run(["mount", "-o", "remount,ro", str(tls)], check=True)
        before = _snapshot(tls)
        listener = _listener_on(tls, entry, tmp_path)
        with caplog.at_level(logging.INFO):
            deployment = listener_deploy(listener.pk)
        assert _snapshot(tls) == before
    assert deployment.status == S.FAILED
    assert deployment.error == f"{tls} is read-only: nothing was changed"
    assert not [record for record in caplog.records if record.exc_info], "an OSError we understand: no traceback"
    assert "unexpected" not in deployment.log


@pytest.mark.django_db
def test_a_failure_after_the_files_were_replaced_restores_them_all_by_rename(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    with tmpfs(tmp_path / "tls", size="16k") as tls:  # full once the new files are in: a rollback needs no room
        _daemon_files(tls)
        before = _snapshot(tls)
        listener = _listener_on(
            tls, entry, tmp_path, reload_cmd=shlex.join(["sh", "-c", "echo 'reload refused' >&2; exit 1"])
        )
        deployment = listener_deploy(listener.pk)
        assert deployment.status == S.ROLLED_BACK, deployment.log
        assert deployment.error == "the reload failed; previous files restored"
        assert _snapshot(tls) == before, "the very same files (inodes) are back"


@pytest.mark.django_db
def test_a_deployment_that_changed_nothing_does_not_claim_to_have_restored_anything(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    listener = Listener.objects.create(name="Bare", protocol="imaps", port=free_port(), daemon="files")
    deployment = listener_deploy(listener.pk)
    assert (deployment.status, deployment.error) == (
        S.FAILED,
        "No certificate is assigned to Bare: nothing was changed",
    )


# -- requests, leases and resumes -------------------------------------------------------------------------
@pytest.mark.django_db
def test_deploy_click_and_renewal_hook_store_a_queued_row_at_once(staff_client, tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    old = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    new = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=free_port(), certificate=old)
    staff_client.post(f"/services/{listener.pk}/deploy/")
    listeners_move_certificate(old=old, new=new)
    rows = list(Deployment.objects.filter(listener=listener).order_by("pk"))
    assert [(d.status, d.trigger) for d in rows] == [(S.QUEUED, "manual"), (S.QUEUED, "renewal")]
    assert rows[1].fingerprint_sha256 == new.fingerprint_sha256
    detail = staff_client.get(f"/services/{listener.pk}/").content.decode()
    assert "Queued…" in detail and 'hx-trigger="every 2s"' in detail, "the page follows the deployment"
    # Nobody picked them up (no worker here): the sweep queues them again after one period.
    later = timezone.now() + timedelta(seconds=settings.CERTPANEL_DEPLOY_SWEEP_SECONDS + 1)
    assert deployments_to_resume(timezone.now()) == []
    assert deployments_to_resume(later) == [d.pk for d in rows]


@pytest.mark.django_db
def test_a_redelivered_task_skips_a_deployment_another_worker_holds(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=free_port(), certificate=entry)
    deployment = deployment_request(listener, trigger="manual")
    held = timezone.now() + timedelta(seconds=60)
    Deployment.objects.filter(pk=deployment.pk).update(lease_until=held, lease_owner="another-worker")
    assert deployment_run_task.apply(args=[deployment.pk]).get() == "leased"
    deployment.refresh_from_db()
    assert (deployment.status, deployment.lease_owner, deployment.attempts) == (S.QUEUED, "another-worker", 0)
    assert not (tmp_path / "deploy").exists(), "nothing written"
    assert deployments_to_resume(timezone.now()) == [], "a live lease is not resumed"
    assert deployments_to_resume(held + timedelta(seconds=1)) == [deployment.pk]


@pytest.mark.django_db
def test_a_second_deployment_of_the_same_listener_waits_for_the_first(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=free_port(), certificate=entry)
    first, second = deployment_request(listener, trigger="a"), deployment_request(listener, trigger="b")
    Deployment.objects.filter(pk=first.pk).update(status=S.RELOADING)
    with pytest.raises(deployments.ListenerBusy, match=f"Deployment #{first.pk} of IMAPS is still in progress"):
        deployment_run(second.pk)


@pytest.mark.django_db
def test_a_deployment_whose_worker_died_mid_swap_is_resumed_to_a_final_state(tmp_path: Path, settings) -> None:
    """As a worker killed between two renames leaves it: `writing`, plan stored, one target replaced."""
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    tls = tmp_path / "tls"
    tls.mkdir()
    _daemon_files(tls)
    before = _snapshot(tls)
    listener = _listener_on(tls, entry, tmp_path)  # nothing listens on its port: verification will fail
    deployment = deployment_request(listener, trigger="renewal")
    staged = files_stage(
        [FileWrite(tls / "fullchain.pem", b"new fullchain", False), FileWrite(tls / "key.pem", b"new key", True)],
        uid=-1,
        gid=-1,
        tag=f"certpanel-{deployment.pk}",
        roots=[tls],
    )
    os.replace(staged[0].new, staged[0].path)  # the worker died after the first rename
    expired = timezone.now() - timedelta(seconds=1)
    Deployment.objects.filter(pk=deployment.pk).update(
        status=S.WRITING,
        plan={"files": [s.as_json() for s in staged], "reload_after_rollback": False},
        lease_until=expired,
        lease_owner="dead-worker",
        attempts=1,
    )
    assert deployments_to_resume(timezone.now()) == [deployment.pk]
    assert deployment_run_task.apply(args=[deployment.pk]).get() == S.ROLLED_BACK
    deployment.refresh_from_db()
    assert "resumed at 'writing files'" in deployment.log
    assert "→ checking" in deployment.log and "→ verifying" in deployment.log, "finished forward first"
    assert deployment.error == "the port does not serve the assigned certificate; previous files restored"
    assert _snapshot(tls) == before, "both files back, the very same inodes"
    assert (tmp_path / "reloaded").exists()
    assert deployment.lease_owner == "" and deployments_to_resume(timezone.now()) == []


@pytest.mark.django_db
def test_a_rollback_whose_worker_died_is_finished(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    tls = tmp_path / "tls"
    tls.mkdir()
    _daemon_files(tls)
    before = _snapshot(tls)
    listener = _listener_on(tls, entry, tmp_path)
    deployment = deployment_request(listener, trigger="manual")
    staged = files_stage([FileWrite(tls / "key.pem", b"new key", True)], uid=-1, gid=-1, tag="certpanel-x", roots=[tls])
    os.replace(staged[0].new, staged[0].path)
    Deployment.objects.filter(pk=deployment.pk).update(
        status=S.ROLLING_BACK,
        error="the reload failed",
        plan={"files": [s.as_json() for s in staged], "reload_after_rollback": True},
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    assert deployment_run(deployment.pk).status == S.ROLLED_BACK
    assert _snapshot(tls) == before
