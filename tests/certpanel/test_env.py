import os
import stat
from pathlib import Path

import pytest

from certpanel import env


def test_env_secret_reads_the_file_named_by_name_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("CP_TEST_SECRET", raising=False)
    monkeypatch.setenv("CP_TEST_SECRET_FILE", str(secret))
    assert env.env_secret("CP_TEST_SECRET") == "s3cret"


def test_env_secret_prefers_the_variable_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP_TEST_SECRET", "direct")
    monkeypatch.setenv("CP_TEST_SECRET_FILE", "/nonexistent")
    assert env.env_secret("CP_TEST_SECRET") == "direct"


def test_env_secret_with_unreadable_file_exits_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CP_TEST_SECRET", raising=False)
    monkeypatch.setenv("CP_TEST_SECRET_FILE", "/nonexistent/secret")
    with pytest.raises(SystemExit, match="cannot read CP_TEST_SECRET_FILE"):
        env.env_secret("CP_TEST_SECRET")


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False), ("", True)])
def test_envbool(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("CP_TEST_BOOL", raw)
    assert env.envbool("CP_TEST_BOOL", True) is expected


def test_envint_rejects_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP_TEST_INT", "ten")
    with pytest.raises(SystemExit, match="whole number"):
        env.envint("CP_TEST_INT", 1)


def test_generated_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"
    first = env.generated_secret(path)
    assert env.generated_secret(path) == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first) > 40
