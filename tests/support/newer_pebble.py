"""Pebble ≥ 2.7 (ARI, profiles, Retry-After) from Debian's unstable suite, unpacked into a cache folder.

Debian 12 ships Pebble 2.4.0, which has none of those. Its unstable suite ships 2.10, whose binary runs here (it
needs only libc ≥ 2.34). It is fetched the way Debian fetches anything: a private apt state folder whose sources
list reuses the mirror this machine's apt sources already name, with the suite `sid`; then `apt-get download
pebble` and `dpkg-deb -x` into the cache. No mirror's host name is written anywhere in the repository: it is read
from the machine's sources. The machine's own apt state is never touched.

`make check-system` runs this file (stdlib only, before any venv exists). Tests ask `newer_pebble()`, which only
reads the cache: without it they skip with the reason, and the rest of the suite runs on Debian's stable 2.4.0.

    python3 tests/support/newer_pebble.py     # fetch when missing; prints the version or why not
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MIN_VERSION = (2, 7)
SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
FETCH_TIMEOUT = 300


def cache_dir() -> Path:
    configured = os.environ.get("CERTPANEL_PEBBLE_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "certpanel" / "pebble-sid"


@dataclass(frozen=True)
class NewerPebble:
    pebble: Path
    challtestsrv: Path
    version: str  # the Debian package version, e.g. 2.10.0+ds1-2 (the binary itself says "dev")


def version_tuple(debian_version: str) -> tuple[int, ...]:
    """'2.10.0+ds1-2' → (2, 10, 0); an epoch ('1:2.10.0') is dropped."""
    upstream = debian_version.split(":", 1)[-1]
    match = re.match(r"(\d+(?:\.\d+)*)", upstream)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def newer_pebble(cache: Path | None = None) -> NewerPebble | None:
    """The cached Pebble when it is there and new enough; None otherwise (nothing is fetched here)."""
    root = cache or cache_dir()
    found = NewerPebble(root / "usr/bin/pebble", root / "usr/bin/pebble-challtestsrv", _read(root / "VERSION"))
    if not (found.pebble.is_file() and found.challtestsrv.is_file() and os.access(found.pebble, os.X_OK)):
        return None
    if version_tuple(found.version)[:2] < MIN_VERSION:
        return None
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def machine_mirror(sources: tuple[Path, ...] = SOURCES) -> str:
    """The URI of the machine's main Debian archive, as its apt sources name it (one-line or deb822 format)."""
    for uri, suites in _source_entries(sources):
        if not any(suite.endswith("-security") for suite in suites) and "security" not in uri.rsplit("/", 1)[-1]:
            return uri.rstrip("/")
    raise RuntimeError("no Debian archive in this machine's apt sources (/etc/apt/sources.list*)")


def _source_entries(sources: tuple[Path, ...]) -> list[tuple[str, list[str]]]:
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files.extend(sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources")))
        elif source.is_file():
            files.append(source)
    entries: list[tuple[str, list[str]]] = []
    for path in files:
        text = _read(path)
        entries.extend(_deb822(text) if path.suffix == ".sources" else _one_line(text))
    return entries


def _one_line(text: str) -> list[tuple[str, list[str]]]:
    entries = []
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()  # "[signed-by=...]" options dropped
        if len(words) >= 3 and words[0] == "deb":
            entries.append((words[1], [words[2]]))
    return entries


def _deb822(text: str) -> list[tuple[str, list[str]]]:
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith((" ", "#")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
            entries.extend((uri, fields.get("suites", "").split()) for uri in fields.get("uris", "").split())
    return entries


def fetch(cache: Path | None = None) -> NewerPebble:
    """Download pebble from sid with a private apt state and unpack it into the cache (replaced atomically)."""
    root = cache or cache_dir()
    mirror = machine_mirror()
    with tempfile.TemporaryDirectory(prefix="pebble-sid-") as work:
        state = Path(work)
        for sub in ("lists/partial", "cache/archives/partial", "download"):
            (state / sub).mkdir(parents=True)
        signed = f"[signed-by={KEYRING}] " if KEYRING.exists() else ""
        (state / "sources.list").write_text(f"deb {signed}{mirror} sid main\n")
        apt = [
            "apt-get",
            "-q",
            "-o",
            f"Dir::Etc::SourceList={state / 'sources.list'}",
            "-o",
            "Dir::Etc::SourceParts=/dev/null",
            "-o",
            f"Dir::State::Lists={state / 'lists'}",
            "-o",
            f"Dir::Cache={state / 'cache'}",
            "-o",
            "APT::Sandbox::User=root",
        ]
        _run([*apt, "update"], cwd=state)
        _run([*apt, "download", "pebble"], cwd=state / "download")
        debs = sorted((state / "download").glob("pebble_*.deb"))
        if not debs:
            raise RuntimeError("apt-get download pebble produced no package")
        version = _run(["dpkg-deb", "-f", str(debs[0]), "Version"], cwd=state).strip()
        unpacked = state / "unpacked"
        _run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], cwd=state)
        (unpacked / "VERSION").write_text(version + "\n")
        root.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=".pebble-sid-", dir=root.parent))
        shutil.rmtree(staged)
        shutil.copytree(unpacked, staged, symlinks=True)
        old = root.with_name(root.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if root.exists():
            root.rename(old)
        staged.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    found = newer_pebble(root)
    if found is None:
        raise RuntimeError(f"sid's pebble {version} is older than {'.'.join(map(str, MIN_VERSION))}")
    return found


def _run(args: list[str], *, cwd: Path) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1] + args[-2:])} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def main() -> int:
    found = newer_pebble()
    if found is None:
        try:
            found = fetch()
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
            # Never fatal: the tests that need it skip and say why; everything else runs on Debian's 2.4.0.
            print(f"newer pebble: not available ({error}); ARI/profile tests will skip", file=sys.stderr)
            return 0
    print(f"newer pebble: {found.version} at {found.pebble}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
