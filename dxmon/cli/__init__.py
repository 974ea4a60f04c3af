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
from rich.console import Console
from rich.text import Text


@dataclass(frozen=True)
class Cli:
    """Cli holds the root command and the groups modules may add to."""

    app: typer.Typer
    serve: typer.Typer


def plain_console(*, stderr: bool = False) -> Console:
    """plain_console is the Console every command prints with: no text is ever read as Rich markup.

    Agency, unit and channel names are user text ("Phòng [/] VH", "Xã Hạ Long [cũ]"): read as markup
    they crash the command or lose their brackets. Colour is given explicitly (``style=``, ``Text``).
    """
    return Console(markup=False, stderr=stderr)


def error_text(message: str) -> Text:
    """error_text is ``error: <message>`` with only the word "error:" in red; the message is plain text."""
    return Text.assemble(("error:", "red"), " ", message)


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


def configure_logging(level: int = logging.INFO) -> None:
    """configure_logging: every logger writes plain lines in one format, to stderr.

    Service logs usually go to files (``.dx/logs``, container logs): FastStream gives its own logger
    a handler that always writes ANSI colour codes, so that logger goes through the root handler
    instead. httpx logs every request at INFO, which buries the simulator's progress bar: only its
    warnings are shown. (Per-message lines of the services are DEBUG: ``dxmon.bus.make_broker``.)
    """
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import faststream  # noqa: F401 - creates the "faststream" logger and its coloured handler

    own = logging.getLogger("faststream")
    own.handlers.clear()
    own.propagate = True
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    configure_logging()
    build()()
