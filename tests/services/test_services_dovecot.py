"""The services pages against a real Dovecot (Debian's, on high ports): "Replace on all these services" moves its
four ports (IMAP, IMAPS, POP3, POP3S) to a new certificate in one step, and when the configuration is broken the
deployment page says doveconf's own error first, with the raw output folded away."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from repository.actions import certificate_import
from repository.models import Certificate
from services.deployments import deployment_run
from services.models import Deployment, Listener
from services.verification import listeners_verify
from tests.support import daemons
from tests.support.dovecot_listeners import dovecot_listener
from tests.support.factories import CA, ec_key, key_pem, pem

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
NAME = "mail.example.com"


def _pair(ca: CA) -> tuple[bytes, bytes]:
    key = ec_key()
    return pem(ca.issue(key.public_key(), [NAME]), ca.intermediate), key_pem(key)


def _stored(pair: tuple[bytes, bytes]) -> Certificate:
    return certificate_import(certificate_data=pair[0], key_data=pair[1]).certificate


def _run_queued(trigger: str) -> list[Deployment]:
    """What the worker would do with the queued rows (no broker here)."""
    return [deployment_run(d.pk) for d in Deployment.objects.filter(trigger=trigger, status="queued").order_by("pk")]


def test_replace_on_all_dovecot_ports_in_one_step_then_a_broken_config_is_explained_first(
    ca: CA, tmp_path: Path, settings: Any, staff_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    tls = daemons.TlsPaths(tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "key.pem")
    tls.fullchain.parent.mkdir()
    previous = _pair(ca)
    tls.fullchain.write_bytes(previous[0])
    tls.key.write_bytes(previous[1])
    tls.key.chmod(0o600)
    with daemons.dovecot(tmp_path / "dovecot", tls) as daemon:
        old, new = _stored(previous), _stored(_pair(ca))
        for protocol in ("imap", "imaps", "pop3", "pop3s"):
            dovecot_listener(daemon, protocol, tls, server_name=NAME, certificate=old)
        form = staff_client.get(f"/services/replace/?from={old.pk}").content.decode()
        targets = re.findall(r'name="targets" value="([^"]+)" id="[^"]+" checked', form)
        assert len(targets) == 4 and "reloads its daemon (Dovecot)" in form
        with django_capture_on_commit_callbacks():
            response = staff_client.post(
                f"/services/replace/?from={old.pk}", {"certificate": new.pk, "targets": targets}
            )
        assert response.status_code == 302
        assert all(d.status == "succeeded" for d in _run_queued("replaced"))
        listeners_verify(list(Listener.objects.select_related("certificate")))  # the chained verification
        for listener in Listener.objects.all():
            assert listener.certificate_id == new.pk and listener.last_verify_ok, listener.last_report
            chain = daemons.served_chain(daemon.host, listener.port, listener.protocol, NAME)
            assert daemons.sha256_fingerprint(chain[0]).lower() == new.fingerprint_sha256
        progress = staff_client.get(response["Location"]).content.decode()
        assert progress.count(">Succeeded<") == 4 and "All ended." in progress and "every 2s" not in progress

        conf = tmp_path / "dovecot" / "dovecot.conf"
        conf.write_text(conf.read_text() + "ssl_no_such_setting = yes\n")  # an admin's typo, outside the panel
        imaps = Listener.objects.get(protocol="imaps")
        with django_capture_on_commit_callbacks():
            staff_client.post(f"/services/{imaps.pk}/select/", {"certificate": old.pk})
        (deployment,) = _run_queued("assigned")
        assert deployment.status == "rolled_back", deployment.log
        page = staff_client.get(f"/services/{imaps.pk}/").content.decode()
        outcome = re.search(r'<p class="outcome">([^<]*)</p>', page)
        assert outcome, page
        assert outcome.group(1).startswith("Rolled back: the configuration check failed")
        assert "ssl_no_such_setting" in outcome.group(1), "doveconf's own words, first"
        assert page.index('class="outcome"') < page.index("<details"), "the raw output comes after, folded"
