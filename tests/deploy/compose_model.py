"""ComposeModel: the compose files as Docker Compose would see them, without a Docker engine.

Implements the parts of the Compose specification the deploy files use, so tests can check them
and run the services with exactly the environment the containers would get:

- YAML with anchors and merge keys, and Compose's ``!override`` / ``!reset`` tags;
- interpolation (``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
  ``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+alt}``, ``${VAR+alt}``) from a .env file;
- merging an override file (mappings merged, ``command``/``entrypoint``/healthcheck ``test``
  replaced, other lists appended, ``!override`` replaces, ``!reset`` removes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Override:
    """Override marks a value tagged ``!override``: it replaces, rather than merges with, the base."""

    value: Any


@dataclass(frozen=True)
class Reset:
    """Reset marks a value tagged ``!reset``: the key is removed from the merged result."""


class _Loader(yaml.SafeLoader):
    pass


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    assert isinstance(node, yaml.ScalarNode)  # the only other kind of YAML node
    return Override(loader.construct_scalar(node))


_Loader.add_constructor("!override", _override)
_Loader.add_constructor("!reset", lambda loader, node: Reset())


def load_yaml(path: Path) -> dict[str, Any]:
    """load_yaml reads one compose file (anchors resolved, merge keys applied, Compose tags kept)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def read_env_file(path: Path) -> dict[str, str]:
    """read_env_file parses KEY=value lines as Compose reads .env (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


class InterpolationError(ValueError):
    """InterpolationError: a required variable (``${VAR:?…}``) is unset or empty."""


_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """interpolate substitutes variables in every string of ``value`` as Compose does."""
    if isinstance(value, str):
        return _REFERENCE.sub(lambda m: _substitute(m, env), value)
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, Override):
        return Override(interpolate(value.value, env))
    return value


def _substitute(m: re.Match, env: dict[str, str]) -> str:
    if m.group(0) == "$$":
        return "$"
    name = m["braced"] or m["bare"]
    op, arg = m["op"], m["arg"] or ""
    value = env.get(name)
    unset_or_empty = not value
    if op in (":-", "-"):
        missing = unset_or_empty if op == ":-" else value is None
        return arg if missing else value  # type: ignore[return-value]  # value is a str whenever it is not missing
    if op in (":?", "?"):
        missing = unset_or_empty if op == ":?" else value is None
        if missing:
            raise InterpolationError(f"{name}: {arg or 'required'}")
        return value  # type: ignore[return-value]  # missing raised above, so value is a str
    if op in (":+", "+"):
        present = not unset_or_empty if op == ":+" else value is not None
        return arg if present else ""
    return value or ""


_REPLACED_LISTS = {"command", "entrypoint", "test"}


def merge(base: Any, override: Any, key: str = "") -> Any:
    """merge applies an override file's value onto the base file's, following Compose's merge rules."""
    if isinstance(override, Override):
        return override.value
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            if isinstance(v, Reset):
                out.pop(k, None)
            else:
                out[k] = merge(base[k], v, k) if k in base else _plain(v)
        return out
    if isinstance(base, list) and isinstance(override, list) and key not in _REPLACED_LISTS:
        return base + [v for v in override if v not in base]
    return _plain(override)


def _plain(value: Any) -> Any:
    if isinstance(value, Override):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class ComposeModel:
    """ComposeModel is a project after interpolation and merging: what ``docker compose config`` prints."""

    data: dict[str, Any]

    @classmethod
    def load(cls, *files: Path, env: dict[str, str]) -> ComposeModel:
        merged: Any = {}
        for path in files:
            merged = merge(merged, interpolate(load_yaml(path), env))
        return cls(merged)

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.data["services"]

    def environment(self, service: str) -> dict[str, str]:
        """environment is the service's container environment (list or mapping form), as strings."""
        env = self.services[service].get("environment", {})
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {k: "" if v is None else str(v) for k, v in env.items()}

    def argv(self, service: str) -> list[str]:
        """argv is entrypoint + command of a service built from deploy/Dockerfile (entrypoint dxmon)."""
        svc = self.services[service]
        return list(svc.get("entrypoint", ["dxmon"])) + list(svc.get("command", []))
