"""The import graph of `certpanel`, `repository` and `services` has no cycle, and dependencies point one way.

How the graph is built: every ``.py`` file of the three packages (migrations included) is a node, named by its
dotted module path. Its ``ast`` is walked in full, so an import inside a function or under ``if TYPE_CHECKING:``
is an edge like any top-level one: an import moved into a function does not hide a cycle from this test.
``import a.b`` is an edge to ``a.b``; ``from a import b`` is an edge to ``a.b`` when that is a module, else to
``a``; relative imports are resolved. Only the named module is an edge, not the packages above it (their
``__init__`` runs too, but a package importing its own submodules is not a dependency cycle worth reporting).
Imports of anything outside the three packages are ignored; so are tasks sent by name (``send_task``).

The rule, in layers from the bottom up:
  1. certpanel's base modules (errors, env, dispatch, notifications, models, heartbeat, cli, celery, …):
     every certpanel module not in ``WIRING``. They import neither app, nor a wiring module.
  2. ``repository``: imports certpanel's base modules only, never ``services`` (it tells the world what
     happened through ``repository/events.py``, which ``services/receivers.py`` hears).
  3. ``services``: imports ``repository`` and certpanel's base modules.
  4. certpanel's wiring modules (``WIRING``: URLs, WSGI, views, context processors, first-start bootstrap, backup
     and restore, and their commands) put the apps together and may import anything; no app imports them.
And across all of them: no cycle between modules.

``repository.pki``, ``repository.acme.schedule`` and the DNS protocol modules (PURE below) are pure (no Django, no
database): they import nothing from Django, from ``certpanel`` or from the rest of ``repository`` except
``repository.errors`` for ``CryptoError`` and ``DnsError`` (``PURE_ALLOWED``), and that way out is itself
Django-free (checked down its own imports).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("certpanel", "repository", "services")
APPS = ("repository", "services")
WIRING = frozenset(
    {
        "certpanel.urls",
        "certpanel.wsgi",
        "certpanel.views",
        "certpanel.context_processors",
        "certpanel.bootstrap",
        "certpanel.management.commands.bootstrap",
        "certpanel.backup",
        "certpanel.management.commands.backup",
        "certpanel.management.commands.restore",
        # The dashboard and the Jobs page read (and retry) the work of both apps: certificates and listeners,
        # orders, deployments, probe runs, sweeps, chain fetches and the outbox, on one page each.
        "certpanel.dashboard",
        "certpanel.dashboard.selectors",
        "certpanel.dashboard.jobs",
        "certpanel.dashboard.actions",
        "certpanel.dashboard.views",
        "certpanel.templatetags.matrix",  # the dashboard's services rows, written from its selector's rows
    }
)

# Pure rooms: pki (certificates), the renewal-time arithmetic of ACME, and the DNS protocol side of DNS-01 (names,
# RFC 2136 updates, zone discovery, propagation: dnspython only). They may import each other.
PURE = (
    "repository.pki",
    "repository.acme.schedule",
    "repository.dns.names",
    "repository.dns.rfc2136",
    "repository.dns.zones",
    "repository.dns.propagation",
)
# CryptoError stays a RepositoryError (callers catch RepositoryError around pki calls), so pki reaches the error
# hierarchy and nothing else; repository.errors imports only certpanel.errors, both stdlib-only.
PURE_ALLOWED = frozenset({"repository.errors"})


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path = ROOT) -> dict[str, Path]:
    return {_module_name(path, root): path for package in PACKAGES for path in sorted((root / package).rglob("*.py"))}


def _imported(tree: ast.AST, *, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """Every module of the three packages that `module` imports, wherever the import statement sits."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield submodule if submodule in known else source


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = _modules(root)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = _imported(tree, module=name, is_package=path.name == "__init__.py", known=known)
        graph[name] = {target for target in targets if target in known}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (or a module importing itself), reported as
    the shortest loop through each of its modules, e.g. ``a -> b -> a`` (the same loop only once)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graph has ~150 nodes, recursion depth is no concern
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    loops: list[list[str]] = []
    for component in sorted(components, key=min):
        for start in sorted(component):
            loop = _loop(graph, component, start)
            if not any(set(loop) == set(seen) and len(loop) == len(seen) for seen in loops):
                loops.append(loop)
    return loops


def _loop(graph: dict[str, set[str]], component: set[str], start: str) -> list[str]:
    """The shortest way from `start` back to itself inside its component (breadth-first)."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no loop through {start}")  # unreachable for a strongly connected component


def _app(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in APPS else None


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            source_app, target_app = _app(source), _app(target)
            if source_app == "repository" and target_app == "services":
                found.append(f"{source} -> {target}: repository never imports services (send an event instead)")
            elif source_app is None and source not in WIRING and (target_app or target in WIRING):
                found.append(f"{source} -> {target}: a certpanel base module imports an app or a wiring module")
            elif source_app and target in WIRING:
                found.append(f"{source} -> {target}: an app imports a certpanel wiring module")
    return found


def _third_party(path: Path) -> set[str]:
    """Top-level names of every absolute import in a module (``django``, ``cryptography``, …)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and not node.level
    }
    return {name.split(".")[0] for name in names}


def _in_pure(module: str) -> bool:
    return any(module == room or module.startswith(room + ".") for room in PURE)


def purity_violations(graph: dict[str, set[str]], modules: dict[str, Path]) -> list[str]:
    found = [
        f"{source} -> {target}: a pure module imports only pure modules and {', '.join(sorted(PURE_ALLOWED))}"
        for source, targets in sorted(graph.items())
        if _in_pure(source)
        for target in sorted(targets)
        if not _in_pure(target) and target not in PURE_ALLOWED
    ]
    reached = {source for source in graph if _in_pure(source)}
    frontier = set(reached)
    while frontier:  # everything pki runs when imported, within the three packages
        frontier = {target for source in frontier for target in graph[source]} - reached
        reached |= frontier
    found += [
        f"{module} imports django, and a pure module reaches it"
        for module in sorted(reached)
        if "django" in _third_party(modules[module])
    ]
    return found


def test_import_graph_covers_the_three_packages() -> None:
    graph = import_graph()
    assert {"certpanel.settings", "repository.actions", "services.actions", "repository.models.acme"} <= set(graph)
    assert "repository.models" in graph["services.actions"]
    assert "services.actions" in graph["certpanel.bootstrap"]


def test_no_import_cycle_between_modules() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join("  " + " -> ".join(loop) for loop in found)


def test_dependencies_point_one_way() -> None:
    found = layering_violations(import_graph())
    assert not found, "imports against the layering (see this module's docstring):\n" + "\n".join(
        "  " + line for line in found
    )


def test_pki_imports_nothing_from_django_certpanel_or_the_rest_of_repository() -> None:
    graph = import_graph()
    assert {"repository.pki", "repository.pki.parse", "repository.pki.chain", *PURE} <= set(graph)
    found = purity_violations(graph, _modules())
    assert not found, f"{', '.join(PURE)} must stay pure:\n" + "\n".join("  " + line for line in found)


def test_pki_purity_check_can_fail(tmp_path: Path) -> None:
    """A pki module reaching a model, and one whose allowed way out imports Django, are both reported."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "repository" / "pki").mkdir()
    (tmp_path / "repository" / "pki" / "__init__.py").write_text("")
    (tmp_path / "repository" / "pki" / "parse.py").write_text("from repository.errors import CryptoError\n")
    (tmp_path / "repository" / "pki" / "chain.py").write_text("def f():\n    from repository import models\n")
    (tmp_path / "repository" / "models.py").write_text("")
    (tmp_path / "repository" / "errors.py").write_text("from django.conf import settings\n")
    (tmp_path / "repository" / "acme").mkdir()
    (tmp_path / "repository" / "acme" / "__init__.py").write_text("")
    (tmp_path / "repository" / "acme" / "schedule.py").write_text("from repository.pki import parse\nimport django\n")
    assert purity_violations(import_graph(tmp_path), _modules(tmp_path)) == [
        "repository.pki.chain -> repository.models: a pure module imports only pure modules and repository.errors",
        "repository.acme.schedule imports django, and a pure module reaches it",
        "repository.errors imports django, and a pure module reaches it",
    ]


def test_a_cycle_hidden_in_a_function_is_reported(tmp_path: Path) -> None:
    """The checker itself can fail: a cycle through a function-level relative import, and a repository module
    reaching services, are both found."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "repository" / "a.py").write_text("from repository import b\n")
    (tmp_path / "repository" / "b.py").write_text("def f():\n    from .a import x\n    import services.c\n")
    (tmp_path / "services" / "c.py").write_text("")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["repository.a", "repository.b", "repository.a"]]
    assert layering_violations(graph) == [
        "repository.b -> services.c: repository never imports services (send an event instead)"
    ]
