"""ConfigDoc: the README's configuration table, generated from the settings classes.

Every ``DX_`` variable any part of dx-monitor reads is a field of a pydantic-settings class in
``dxmon`` or ``services``; this module finds them all, so the table cannot forget one. The unit
test ``tests/unit/test_config_doc.py`` fails when README.md differs from ``markdown_table()``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from pydantic import SecretStr
from pydantic_settings import BaseSettings

PACKAGES = ("dxmon", "services")


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    description: str
    group: str


def settings_classes() -> list[type[BaseSettings]]:
    """settings_classes imports every module of our packages and returns their settings classes."""
    found: dict[str, type[BaseSettings]] = {}
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        for mod in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            if mod.name.endswith("__main__"):
                continue
            module = importlib.import_module(mod.name)
            for obj in vars(module).values():
                if (
                    isinstance(obj, type)
                    and issubclass(obj, BaseSettings)
                    and obj is not BaseSettings
                    and obj.__module__.startswith(PACKAGES)
                ):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


def variables() -> list[Variable]:
    """variables lists each DX_ variable once, with its default, meaning and the class declaring it."""
    by_name: dict[str, Variable] = {}
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, info in cls.model_fields.items():
            name = f"{prefix}{field_name}".upper()
            if name in by_name:
                continue
            owner = next(c for c in cls.__mro__ if field_name in getattr(c, "__annotations__", {}))
            default = info.default
            if info.annotation is SecretStr or isinstance(default, SecretStr) or default is None:
                shown = "—" if default is None else "(secret)"
            else:
                shown = f"`{default}`"
            by_name[name] = Variable(name, shown, (info.description or "").replace("|", "\\|"), owner.__name__)
    return [by_name[k] for k in sorted(by_name)]


def markdown_table() -> str:
    rows = ["| Variable | Default | Group | Meaning |", "| --- | --- | --- | --- |"]
    for v in variables():
        rows.append(f"| `{v.name}` | {v.default} | {v.group} | {v.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
