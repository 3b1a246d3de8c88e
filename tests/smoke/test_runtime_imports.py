"""A runtime import must not need a package that only the test requirements install.

Runs tests/smoke/runtime_imports.py with the runtime venv (requirements/base.txt alone): every module of
certpanel/, repository/ and services/ (management commands and migrations included), the WSGI app, the Celery
app, the documented broker transports and database backends, gunicorn and Celery's worker and beat.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.runtime_panel import ROOT, user_env

SCRIPT = ROOT / "tests" / "smoke" / "runtime_imports.py"


def _run(python: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(SCRIPT), *args], cwd=ROOT, env=user_env(**env), capture_output=True, text=True, timeout=120
    )


def test_every_runtime_module_imports_with_the_base_requirements_alone(runtime_python: Path) -> None:
    done = _run(runtime_python)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "runtime imports ok" in done.stdout


def test_the_runtime_venv_holds_no_test_requirement(runtime_python: Path) -> None:
    # Otherwise the check above proves nothing: these come from requirements/test.txt only.
    for module in ("pytest", "aiosmtpd", "playwright", "yaml"):
        done = subprocess.run([str(runtime_python), "-c", f"import {module}"], capture_output=True, timeout=60)
        assert done.returncode != 0, f"{module} is importable in the runtime venv: it was not built from base.txt"


def test_a_module_needing_a_test_only_package_fails_the_check_by_name(runtime_python: Path, tmp_path: Path) -> None:
    package = tmp_path / "probe_app"
    (package / "management" / "commands").mkdir(parents=True)
    for init in (package, package / "management", package / "management" / "commands"):
        (init / "__init__.py").write_text("")
    (package / "management" / "commands" / "report.py").write_text("import yaml  # only test.txt installs PyYAML\n")
    done = _run(runtime_python, "--package", "probe_app", PYTHONPATH=str(tmp_path))
    assert done.returncode == 1
    assert "probe_app.management.commands.report: ModuleNotFoundError: No module named 'yaml'" in done.stdout
