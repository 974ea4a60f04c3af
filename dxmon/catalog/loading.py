"""Reading catalog files: a YAML loader that keeps line numbers, and the per-file problem collector.

Every mapping read from YAML remembers its own line and each key's line (``Located``), and duplicate
keys are recorded instead of silently keeping the last, so each problem found later — by the input
schemas (``dxmon.catalog.schemas``) or the rules (``dxmon.catalog.checks``) — names its file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dxmon.catalog.model import Problem

SCHEMA = "dx-catalog/1"


class Located(dict):
    """A YAML mapping that remembers its own start line and the line of each key (1-based)."""

    line: int = 1
    key_lines: dict[Any, int]


class LineLoader(yaml.SafeLoader):
    """SafeLoader that builds Located mappings and records duplicate keys instead of silently keeping the last."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[int, Any]] = []


def _construct_located_mapping(loader: LineLoader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    mapping = Located()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            loader.duplicate_keys.append((key_node.start_mark.line + 1, key))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_timestamp(loader: LineLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        # An impossible date such as 2022-13-01: keep the text so the schema reports it with its line.
        return loader.construct_scalar(node)


LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_located_mapping)
LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def line_of(raw: Any, loc: Iterable[Any], default: int) -> int:
    """Line of the deepest node along ``loc`` (a pydantic error location) inside the raw YAML tree."""
    line = default
    node = raw
    for key in loc:
        if isinstance(node, list) and isinstance(key, int):
            if not 0 <= key < len(node):
                break
            node = node[key]
        elif isinstance(node, Located) and key in node:
            line = node.key_lines.get(key, line)
            node = node[key]
        elif isinstance(key, int):
            continue  # a single mapping that the model wrapped into a one-item list
        else:
            break
        if isinstance(node, Located):
            line = node.line
    return line


@dataclass
class Item:
    """A validated list item together with its raw YAML (for line numbers)."""

    model: Any
    raw: Located

    def line(self, *loc: Any) -> int:
        return line_of(self.raw, loc, self.raw.line)


class Collector:
    """Collects problems for one file."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.file = str(path)
        self.problems = problems

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))


def read_yaml(path: Path, out: Collector) -> Located | None:
    """Parse one YAML file; report unreadable files, syntax errors and duplicate keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.add(1, "file not found")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        out.add(1, f"cannot read file: {exc}")
        return None
    loader = LineLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        out.add(line, f"YAML syntax error: {getattr(exc, 'problem', None) or exc}")
        return None
    finally:
        loader.dispose()
    for line, key in loader.duplicate_keys:
        out.add(line, f"duplicate key {key!r} in the same mapping")
    if not isinstance(data, Located):
        out.add(1, "expected a mapping at the top level (schema, sources, …)")
        return None
    return data


def read_header(doc: Located, out: Collector, list_key: str, allowed: set[str]) -> tuple[dict[str, str], list[Any]]:
    """Check the top-level keys; return the sources map and the raw item list."""
    for key in doc:
        if key not in allowed:
            out.add(doc.key_lines[key], f"unknown top-level field {key!r}")
    for key in sorted(allowed):
        if key not in doc:
            out.add(1, f"missing top-level field {key!r}")
    if "schema" in doc and doc["schema"] != SCHEMA:
        out.add(doc.key_lines["schema"], f"schema must be {SCHEMA!r}, got {doc['schema']!r}")
    sources: dict[str, str] = {}
    raw_sources = doc.get("sources")
    if isinstance(raw_sources, Located):
        for key, value in raw_sources.items():
            if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
                out.add(raw_sources.key_lines[key], f"source {key!r} must map a key to a non-empty description")
            else:
                sources[key] = value
    elif "sources" in doc:
        out.add(doc.key_lines["sources"], "sources must be a mapping of key → URL/description")
    items = doc.get(list_key, [])
    if not isinstance(items, list):
        out.add(doc.key_lines[list_key], f"{list_key} must be a list")
        items = []
    return sources, items


def validate_items(
    raw_items: list[Any], model: type[BaseModel], kind: str, out: Collector, default_line: int
) -> list[Item]:
    """Validate each list item on its own, so one bad item does not hide the problems of the others."""
    items = []
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, Located):
            out.add(default_line, f"{kind} #{index + 1}: expected a mapping, got {raw!r}")
            continue
        label = f"{kind} {raw['code']}" if isinstance(raw.get("code"), str) else f"{kind} #{index + 1}"
        try:
            items.append(Item(model.model_validate(raw), raw))
        except ValidationError as exc:
            for error in exc.errors():
                out.add(line_of(raw, error["loc"], raw.line), f"{label}: {_describe(error)}")
    return items


def _describe(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    where = ".".join(loc)
    if error["type"] == "missing":
        return f"missing field {where!r}"
    if error["type"] == "extra_forbidden":
        return f"unknown field {where!r}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("enum", "literal_error"):
        message += f" (got {error['input']!r})"
    return f"{where}: {message}" if where else message
