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
