"""Execute: runs a dashboard's variable and panel queries on PostgreSQL the way Grafana does.

The tests (shapes and numbers) and the benchmark (latency) share it. Variables are resolved in the
dashboard's order, each variable query seeing the values chosen before it (Grafana's chained
variables); a multi-value variable not chosen takes "All", a single-value one its first option.
A repeated panel's queries run once per clone (``panel_queries``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from grafana.build import flat_panels
from grafana.interpolate import ALL, QueryContext, TimeRange, Variable, render, repeat_clones


@dataclass
class Resolved:
    """Resolved: every variable's value and the (text, value) options its query returned."""

    variables: dict[str, Variable] = field(default_factory=dict)
    options: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


async def resolve_variables(
    conn: asyncpg.Connection,
    model: Mapping[str, Any],
    time_range: TimeRange,
    choices: Mapping[str, Any],
    *,
    timescaledb: bool,
) -> Resolved:
    """resolve_variables runs each variable query; a query must return ``__text``/``__value`` or one column."""
    resolved = Resolved()
    for var in model.get("templating", {}).get("list", []):
        ctx = QueryContext(time_range, resolved.variables, timescaledb=timescaledb)
        statement = await conn.prepare(render(var["query"], ctx).sql)
        columns = [a.name for a in statement.get_attributes()]
        rows = await statement.fetch()
        if sorted(columns) == ["__text", "__value"]:
            pairs = [(r["__text"], r["__value"]) for r in rows]
        elif len(columns) == 1:
            pairs = [(str(r[0]), str(r[0])) for r in rows]
        else:
            raise ValueError(f"variable {var['name']}: Grafana reads __text/__value or one column, got {columns}")
        if not pairs:
            raise ValueError(f"variable {var['name']} has no options")
        resolved.options[var["name"]] = pairs
        values = [v for _, v in pairs]
        chosen = choices.get(var["name"], ALL if var["multi"] else values[0])
        resolved.variables[var["name"]] = Variable(
            var["name"], chosen, multi=var["multi"], include_all=var["includeAll"], options=values
        )
    return resolved


def targets(model: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """targets yields (panel, target) for every query of the dashboard, rows included."""
    for panel in flat_panels(dict(model)):
        for target in panel.get("targets", []):
            yield panel, target


def render_target(panel: Mapping[str, Any], target: Mapping[str, Any], ctx: QueryContext) -> str:
    """render_target is the SQL Grafana sends for one target (the panel's min interval applies)."""
    return render(target["rawSql"], ctx, panel_interval=panel.get("interval")).sql


def panel_queries(
    model: Mapping[str, Any], ctx: QueryContext
) -> Iterator[tuple[dict[str, Any], dict[str, Any], str | None, str]]:
    """panel_queries yields (panel, target, repeat value, SQL) for every query Grafana sends for the dashboard.

    A panel with ``repeat`` is sent once per value of its variable, each clone seeing one value as
    Grafana 11.6 gives it (``repeat_clones``); other panels once, with ``None`` as repeat value.
    """
    for panel, target in targets(model):
        repeat = panel.get("repeat")
        clones = repeat_clones(ctx, repeat) if repeat else [(None, ctx)]
        for value, clone in clones:
            yield panel, target, value, render_target(panel, target, clone)
