"""Mail settings as certpanel/settings.py reads them from the environment (a fresh interpreter each)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.processes import ROOT, child_env

MAIL_VARIABLES = ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_USE_SSL", "CERTPANEL_NOTIFY_RETRY_SECONDS")


def _mail_settings(**env: str) -> dict[str, object]:
    base = {k: v for k, v in child_env().items() if k not in MAIL_VARIABLES}
    code = (
        "import json; from certpanel import settings as s; "
        "print(json.dumps([s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, s.CERTPANEL_NOTIFY_RETRY_SECONDS]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    port, tls, ssl, retry = json.loads(done.stdout)
    return {"port": port, "tls": tls, "ssl": ssl, "retry": retry}


@pytest.mark.parametrize(
    ("env", "port", "tls", "ssl"),
    [
        ({}, 587, True, False),
        ({"EMAIL_USE_SSL": "true"}, 465, False, True),
        ({"EMAIL_USE_SSL": "true", "EMAIL_USE_TLS": "true"}, 465, False, True),
        ({"EMAIL_USE_TLS": "false"}, 25, False, False),
        ({"EMAIL_USE_SSL": "true", "EMAIL_PORT": "2465"}, 2465, False, True),
    ],
)
def test_the_default_smtp_port_follows_the_tls_mode(env: dict[str, str], port: int, tls: bool, ssl: bool) -> None:
    assert _mail_settings(**env) == {"port": port, "tls": tls, "ssl": ssl, "retry": [30, 60, 120, 300, 600, 1800]}


def test_the_retry_schedule_comes_from_the_environment_and_bad_values_are_named() -> None:
    assert _mail_settings(CERTPANEL_NOTIFY_RETRY_SECONDS="1, 2,5")["retry"] == [1, 2, 5]
    assert _mail_settings(CERTPANEL_NOTIFY_RETRY_SECONDS="30,soon") == {
        "error": "error: CERTPANEL_NOTIFY_RETRY_SECONDS must be whole numbers separated by commas, not '30,soon'"
    }
    assert _mail_settings(CERTPANEL_NOTIFY_RETRY_SECONDS="0") == {
        "error": "error: CERTPANEL_NOTIFY_RETRY_SECONDS must be positive whole numbers separated by commas"
    }
