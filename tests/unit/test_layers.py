"""Layers that only point down (issue 12): every import of every module, read from its source (ast).

    top         dxmon/cli/, dxmon/__main__.py (``python -m dxmon``), dxmon/devstack.py (the dev stack),
                dxmon/simulate.py (the simulator), dxmon/grafana_push.py (the Grafana push),
                dxmon/config_doc.py (generates the README's configuration table from every settings
                class, services' included) — may import anything
    dashboards  grafana/ — the dashboards as code: the core and themselves
    services    services/<name>/ — the core and their own package, never another service
    core        the rest of dx-monitor: contracts, catalog, progress, validation, store, bus, settings,
                formatting, … and dxmon/report/ (report documents: the CLI and the alerts service's HTTP
                API both serve them, so they sit below both) — only the core

Imports inside functions and under ``TYPE_CHECKING`` count too: an import hidden in a function is
still a dependency. Only ``dxmon``, ``services`` and ``grafana`` are looked at; tests, benchmarks and
deploy scripts are outside the layers.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dxmon", "services", "grafana")
TOP = ("dxmon.cli", "dxmon.__main__", "dxmon.devstack", "dxmon.simulate", "dxmon.grafana_push", "dxmon.config_doc")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer(module: str) -> str:
    """layer: 'top', 'dashboards', 'service:<name>', 'services' (the namespace package) or 'core'."""
    if any(within(module, t) for t in TOP):
        return "top"
    if within(module, "grafana"):
        return "dashboards"
    if module == "services":
        return "services"
    if within(module, "services"):
        return "service:" + module.split(".")[1]
    return "core"


def may_import(importer: str, imported: str) -> bool:
    """may_import: whether a module of layer ``importer`` may import one of layer ``imported``."""
    if importer == "top" or imported == "core":
        return True
    if importer == "dashboards":
        return imported == "dashboards"
    if importer.startswith("service:"):
        return imported in (importer, "services")
    return False  # core imports only core


@dataclass(frozen=True)
class Edge:
    module: str
    line: int
    imported: str

    def __str__(self) -> str:
        path = MODULES[self.module].relative_to(ROOT)
        return (
            f"{path}:{self.line}: {self.module} ({layer(self.module)}) imports {self.imported} ({layer(self.imported)})"
        )


def resolve(module: str, node: ast.ImportFrom) -> str:
    """resolve: the absolute module of a ``from … import`` (relative ones against ``module``'s package)."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> list[Edge]:
    """imports: every import of ``module`` into dxmon/services/grafana, anywhere in its source.

    ``from package import name`` is an import of the submodule ``package.name`` when there is one.
    """
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), str(MODULES[module]))
    edges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, node)
            targets = list(
                dict.fromkeys(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
            )
        else:
            continue
        edges += [Edge(module, node.lineno, t) for t in targets if t.split(".")[0] in PACKAGES]
    return edges


EDGES = [edge for module in MODULES for edge in imports(module)]


def breaches(group: str) -> list[str]:
    """breaches: the imports that point up or sideways from modules of ``group`` (core, service, dashboards)."""
    return [
        str(e)
        for e in EDGES
        if layer(e.module).split(":")[0] == group and not may_import(layer(e.module), layer(e.imported))
    ]


def test_the_walk_sees_every_package_and_hidden_imports() -> None:
    """The walk itself: all three packages, function-level imports, relative imports, submodules."""
    layers = {layer(m) for m in MODULES}
    assert {"top", "dashboards", "core", "service:ingest", "service:aggregator", "service:alerts"} <= layers
    seen = {(e.module, e.imported) for e in EDGES}
    assert ("dxmon.cli.status", "dxmon.progress") in seen
    assert ("dxmon.grafana_push", "grafana.build") in seen  # `from grafana import build`: the submodule
    hidden = [e for e in EDGES if e.module.startswith("dxmon.cli") and layer(e.imported).startswith("service:")]
    assert hidden, "the CLI's imports of services inside functions must be seen"


def test_resolve_relative_imports() -> None:
    node = ast.parse("from ..store import migrate").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert resolve("dxmon.cli.status", node) == "dxmon.store"
    assert layer("dxmon.cli.alerts") == "top" and layer("dxmon.report.pdf") == "core"
    assert not may_import("core", "top") and not may_import("service:ingest", "service:alerts")
    assert not may_import("dashboards", "service:alerts") and may_import("top", "dashboards")


@pytest.mark.parametrize("importer", ["core", "service", "dashboards"])
def test_imports_point_down(importer: str) -> None:
    """The core imports only the core; a service the core and itself; dashboards the core and themselves."""
    found = breaches(importer)
    assert not found, f"{len(found)} import(s) against the layers:\n" + "\n".join(found)
