"""The production smoke stage (`make smoke`, part of `make test`): the panel run from the runtime venv.

CERTPANEL_RUNTIME_PYTHON names the python of a venv built from requirements/base.txt alone (the Makefile's
.venv-runtime); the tests here run the panel and its CLI with it, while the harnesses (Pebble, the SMTP sink) run
in this test process. Without the variable these tests are skipped: the main pytest run leaves them to the stage.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

RUNTIME_PYTHON = "CERTPANEL_RUNTIME_PYTHON"
# stack label -> seconds from start to the last process gone; printed in the terminal summary.
DURATIONS: dict[str, float] = {}


@pytest.fixture(scope="session")
def runtime_python() -> Path:
    value = os.environ.get(RUNTIME_PYTHON, "")
    if not value:
        pytest.skip(f"set {RUNTIME_PYTHON} to the python of a venv built from requirements/base.txt (`make smoke`)")
    path = Path(value)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{RUNTIME_PYTHON}={value} is not an executable python")
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not DURATIONS:
        return
    terminalreporter.section("production smoke")
    for label, seconds in DURATIONS.items():
        terminalreporter.write_line(f"{label}: {seconds:.1f} s")
    terminalreporter.write_line(f"both stacks: {sum(DURATIONS.values()):.1f} s")
