"""Import everything the panel needs at run time, in the interpreter that runs this script.

`make test` runs it with a venv built from requirements/base.txt alone (what `make install`, the Dockerfile and a
user install), so a module that needs a package only the test requirements bring in fails here, not at a user's
first start. It imports every module of the project's packages (management commands and migrations included),
loads the WSGI application (middleware), the URLconf and template libraries, the Celery app and its tasks, every
broker transport and database backend the README documents, the email backends, gunicorn's sync worker and
Celery's worker, beat and prefork pool.

    python tests/smoke/runtime_imports.py [--package NAME]...

Standard library only: this file must not itself need a test requirement. Exit 1 lists each failure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("certpanel", "repository", "services")
# README "Configuration": the embedded broker and database (the defaults), and PostgreSQL + Redis.
BROKER_URLS = ("filesystem://", "redis://127.0.0.1:6379/0")
DATABASE_URLS = ("sqlite:////tmp/certpanel.sqlite3", "postgres://certpanel:secret@127.0.0.1:5432/certpanel")
EMAIL_BACKENDS = ("django.core.mail.backends.smtp.EmailBackend", "django.core.mail.backends.filebased.EmailBackend")
# What `runpanel`, the Dockerfile and docker-compose start: gunicorn's sync workers, Celery worker/beat/prefork.
PROCESS_MODULES = (
    "gunicorn.app.wsgiapp",
    "gunicorn.workers.sync",
    "gunicorn.ctl.server",
    "celery.bin.celery",
    "celery.apps.worker",
    "celery.apps.beat",
    "celery.concurrency.prefork",
    "celery.beat",
)


def module_names(package: str) -> list[str]:
    """Every module of an importable package, found on disk (a module that fails to import is still listed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"error: {package} is not an importable package")
    names = []
    for location in spec.submodule_search_locations:
        base = Path(location)
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join((package, *parts)))
    return names


def _settle(label: str, check: Callable[[], object], failures: list[str]) -> None:
    try:
        check()
    except BaseException as exc:  # SystemExit too: a settings error must be reported, not end the run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        failures.append(f"{label}: {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})")


def _setup_django() -> None:
    # The embedded defaults; settings create files in the data dir on import (a throwaway one, see main()).
    os.environ.setdefault("CERTPANEL_HOSTNAME", "imports.example")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "certpanel.settings"
    import django

    django.setup()


def _broker(url: str) -> object:
    from kombu import Connection

    return Connection(url).transport  # instantiates the transport class: its module and client library


def _database(url: str) -> object:
    import dj_database_url
    from django.db.utils import load_backend

    return load_backend(dj_database_url.parse(url)["ENGINE"]).DatabaseWrapper


def _web() -> None:
    from django.template import engines
    from django.urls import get_resolver

    importlib.import_module("certpanel.wsgi")  # get_wsgi_application() loads every middleware
    get_resolver().url_patterns  # imports every view
    for engine in engines.all():
        engine.engine.template_libraries  # imports every template tag library


def _celery() -> None:
    from certpanel.celery import app

    app.loader.import_default_modules()  # autodiscovered tasks modules
    app.finalize()


def check(packages: list[str]) -> tuple[int, list[str]]:
    failures: list[str] = []
    _settle("django.setup()", _setup_django, failures)
    if failures:
        return 0, failures
    checked = 0
    for package in packages:
        for name in module_names(package):
            _settle(name, lambda name=name: importlib.import_module(name), failures)
            checked += 1
    for label, step in (("WSGI application, URLconf, templates", _web), ("Celery app and tasks", _celery)):
        _settle(label, step, failures)
    for url in BROKER_URLS:
        _settle(f"broker {url}", lambda url=url: _broker(url), failures)
    for url in DATABASE_URLS:
        _settle(f"database {url.split(':', 1)[0]}", lambda url=url: _database(url), failures)
    for backend in (*EMAIL_BACKENDS, *PROCESS_MODULES):
        _settle(backend, lambda backend=backend: importlib.import_module(backend.rsplit(".", 1)[0]), failures)
    return checked, failures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", action="append", help="Import this package's modules (default: the panel's).")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ["CERTPANEL_DATA_DIR"] = data_dir = tempfile.mkdtemp(prefix="certpanel-imports.")
    try:
        checked, failures = check(args.package or list(PACKAGES))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if failures:
        print(f"runtime imports FAILED in {sys.prefix} ({len(failures)}):", *failures, sep="\n  ")
        return 1
    print(
        f"runtime imports ok: {checked} modules, {len(BROKER_URLS)} brokers, {len(DATABASE_URLS)} databases, "
        f"{len(EMAIL_BACKENDS)} email backends, {len(PROCESS_MODULES)} process modules ({sys.prefix})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
