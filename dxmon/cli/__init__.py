"""CLI: the ``dxmon`` command.

Each module in this package adds its commands through ``register(cli)``; ``main`` discovers them,
so a new area of the CLI is a new file, not an edit to a shared one.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass

import typer


@dataclass(frozen=True)
class Cli:
    """Cli holds the root command and the groups modules may add to."""

    app: typer.Typer
    serve: typer.Typer


def build() -> typer.Typer:
    """build assembles the ``dxmon`` command from every module's ``register``."""
    app = typer.Typer(
        name="dxmon",
        help="dx-monitor: monitoring of Quảng Ninh's digital-transformation targets (NQ 09-NQ/TU).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    serve = typer.Typer(help="Run one service in the foreground.", no_args_is_help=True)
    app.add_typer(serve, name="serve")
    cli = Cli(app=app, serve=serve)
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(cli)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build()()
