"""acme/cli.py (`manage.py certs issue|renew`) and `manage.py acme`: one-line errors, nothing queued for what
HTTP-01 cannot validate, a broker that does not answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeOrder
from tests.support.acme_stack import acme_stack
from tests.support.factories import ec_key


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["certs", "issue", "--domain", "mail.example.com"], "error: no ACME account: register one"),
        (["acme", "register", "--directory", "https://127.0.0.1:9/dir", "--agree-tos"], "cannot reach"),
        (["acme", "register", "--directory", "not a url"], "is not a directory URL"),
        (["acme", "register", "--directory", "letsencrypt", "--eab-kid", "k"], "--eab-kid needs --eab-hmac-file"),
        (["certs", "renew", "--id", "777"], "There is no certificate #777"),
    ],
)
def test_acme_cli_errors_are_one_line(cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.code == 1 and message in result.error_line, result.err
    assert result.err.count("\n") == 1


@pytest.mark.integration
def test_wildcards_are_refused_before_anything_is_queued(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path, worker=False) as stack:
        stack.account()
        result = cli("certs", "issue", "--domain", "*.example.com")
        assert result.code == 1 and "HTTP-01 cannot validate wildcards" in result.error_line
        assert not AcmeOrder.objects.exists()


def test_cli_issue_with_the_broker_down_warns_and_keeps_the_order(broker_down: None, cli: Any) -> None:
    AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    result = cli("certs", "issue", "--domain", "mail.example.com")
    assert result.code == 0, result.err
    assert "work queue" in result.err and "no need to repeat" in result.err and "Traceback" not in result.err
    assert "Queued order #" in result.out
    assert AcmeOrder.objects.get().dispatched_at is None
