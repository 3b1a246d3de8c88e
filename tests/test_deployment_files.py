"""No Docker engine here: check what can be checked of the production files without one."""

import importlib
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_defines_the_production_services_and_data_volume() -> None:
    compose = _compose()
    assert set(compose["services"]) == {"postgres", "redis", "web", "worker", "beat"}
    assert {"certpanel-data", "postgres-data", "redis-data"} <= set(compose["volumes"])
    for name in ("web", "worker", "beat"):
        service = compose["services"][name]
        assert "certpanel-data:/data" in service["volumes"]
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["CELERY_BROKER_URL"].startswith("redis://")


def test_compose_commands_name_modules_and_commands_that_exist() -> None:
    compose = _compose()
    web = " ".join(compose["services"]["web"]["command"])
    assert "manage.py migrate" in web and "manage.py bootstrap" in web
    module, _, attr = re.search(r"gunicorn (\S+)", web).group(1).partition(":")  # type: ignore[union-attr]
    assert hasattr(importlib.import_module(module), attr)
    for name in ("worker", "beat"):
        command = compose["services"][name]["command"]
        assert command[:3] == ["celery", "-A", "certpanel"] and command[3] == name
    assert (ROOT / "certpanel" / "management" / "commands" / "bootstrap.py").exists()


def test_every_compose_environment_variable_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    env = _compose()["services"]["web"]["environment"]
    missing = [name for name in env if f"`{name}`" not in readme]
    assert not missing, f"README.md does not document {missing}"


def test_every_setting_read_from_the_environment_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    source = (ROOT / "certpanel" / "settings.py").read_text()
    names = set(re.findall(r'env\w*\("([A-Z_]+)"', source))
    assert names, "settings.py reads no variables?"
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"README.md does not document {missing}"


def test_dockerfile_installs_the_pinned_requirements() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements/base.txt" in dockerfile and "collectstatic" in dockerfile


def _dockerfile_commands() -> list[str]:
    """Dockerfile instructions with their continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_image_installs_the_runtime_requirements_and_nothing_else() -> None:
    # What `make install` and CI's runtime venv install (the production smoke runs the panel from that venv).
    installs = [cmd for line in _dockerfile_commands() for cmd in line.split("&&") if "pip install" in cmd]
    assert [cmd.strip() for cmd in installs] == ["RUN pip install --no-cache-dir -r requirements/base.txt"]
    assert "COPY requirements/ requirements/" in _dockerfile_commands()


def test_compose_runs_web_worker_and_beat_from_the_one_image_the_dockerfile_builds() -> None:
    compose = _compose()
    for name in ("web", "worker", "beat"):
        service = compose["services"][name]
        assert (service["build"], service["image"]) == (".", "certpanel:latest"), name
        assert "pip" not in " ".join(service["command"]), f"{name} must not install anything at start"


def test_gunicorn_control_socket_is_in_the_data_dir_not_the_home_dir() -> None:
    from certpanel.launcher import children

    commands = _dockerfile_commands()
    [cmd] = [line for line in commands if line.startswith("CMD ")]
    assert '"--control-socket", "/data/gunicorn.ctl"' in cmd
    assert any(line.startswith("ENV ") and "CERTPANEL_DATA_DIR=/data " in line for line in commands)
    web = _compose()["services"]["web"]
    assert "--control-socket /data/gunicorn.ctl" in " ".join(web["command"])
    assert web["environment"]["CERTPANEL_DATA_DIR"] == "/data"
    group = children(listen="127.0.0.1:1", web_workers=1, beat_schedule="b", control_socket="/d/g.ctl")
    [gunicorn] = [child for child in group if child.name == "web"]
    assert gunicorn.argv[gunicorn.argv.index("--control-socket") + 1] == "/d/g.ctl"
