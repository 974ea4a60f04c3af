"""Interpolate: what Grafana does to a panel's SQL before PostgreSQL sees it, re-implemented to test it.

No Grafana server runs here, so the tests and the benchmark run every panel query through this
module and then through PostgreSQL. It follows Grafana's own code, stage by stage:

    rawSql ─▶ template variables (frontend: templateSrv.replace with the SQL datasource's
              │   interpolateVariable; $__interval and $__interval_ms from rangeutil.calculateInterval)
              ▼
           global macros (backend: sqleng.Interpolate — $__interval_ms, $__interval,
              │   $__unixEpochFrom(), $__unixEpochTo())
              ▼
           PostgreSQL macros (backend: grafana-postgresql-datasource/macros.go — $__timeFilter,
                  $__timeGroup[Alias], $__time, $__timeEpoch, $__timeFrom/To, $__unixEpoch*)

Quoting rules (Grafana's SqlDatasource.interpolateVariable): a multi-value or include-All variable
is a comma-separated list of single-quoted literals; a single-value variable is inserted raw with
quotes doubled, so SQL writes it as ``'$unit'``; "All" expands to every option's value unless the
variable has a custom all value, which is inserted unformatted. A panel repeated by a variable is
cloned once per value, and on Grafana 11.6 (the compose pin) the clone sees that value without the
multi/All flags, so ``IN ($var)`` gets it unquoted (``repeat_clones``); ``${var:sqlstring}`` quotes
on every version. Grafana leaves an unknown
``$name`` alone; ``render(strict=True)`` raises instead, so a typo cannot hide inside a literal.
One file over 400 lines: the whole of Grafana's interpolation that the tests rely on, in one place.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

ALL = "$__all"


class InterpolationError(ValueError):
    """InterpolationError: Grafana would fail this query (bad macro) or strict mode found an unknown variable."""


@dataclass(frozen=True)
class TimeRange:
    """TimeRange: the dashboard's time picker, as absolute instants (timezone-aware)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("TimeRange needs timezone-aware datetimes")
        if self.end < self.start:
            raise ValueError("TimeRange ends before it starts")

    @property
    def ms(self) -> int:
        return round((self.end - self.start).total_seconds() * 1000)


@dataclass(frozen=True)
class Variable:
    """Variable: a template variable's definition and current value, as Grafana's template service sees it.

    ``value`` is a string, a list of strings (multi-value) or ``ALL``; ``options`` are the values the
    variable query returned (what "All" expands to). Dashboards are scenes since Grafana 11, so the
    rules followed are those of @grafana/scenes' interpolator, which agree with the older templateSrv.
    """

    name: str
    value: str | Sequence[str]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    options: Sequence[str] = ()
    text: str | Sequence[str] | None = None


# ───────────────────────────── intervals (rangeutil.ts, gtime.go) ─────────────────────────────

# rangeutil.roundInterval: (upper bound exclusive, rounded value), milliseconds.
_ROUND_STEPS: tuple[tuple[int, int], ...] = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1000),
    (3500, 2000),
    (7500, 5000),
    (12500, 10000),
    (17500, 15000),
    (25000, 20000),
    (45000, 30000),
    (90000, 60000),
    (210000, 120000),
    (450000, 300000),
    (750000, 600000),
    (1050000, 900000),
    (1500000, 1200000),
    (2700000, 1800000),
    (5400000, 3600000),
    (9000000, 7200000),
    (16200000, 10800000),
    (32400000, 21600000),
    (86400000, 43200000),
    (604800000, 86400000),
    (1814400000, 604800000),
    (3628800000, 2592000000),
)
_ONE_YEAR_MS = 31536000000

# rangeutil.describeInterval units, seconds.
_FRONTEND_UNITS = {"y": 31536000, "M": 2592000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_FRONTEND_INTERVAL = re.compile(r"(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])")


def round_interval(ms: float) -> int:
    """round_interval is rangeutil.roundInterval: the nearest "nice" interval at or below ``ms``'s step."""
    for bound, value in _ROUND_STEPS:
        if ms < bound:
            return value
    return _ONE_YEAR_MS


def interval_to_ms(text: str) -> float:
    """interval_to_ms is rangeutil.intervalToMs (``"1m"`` → 60000; a bare number means seconds)."""
    try:
        if float(text):
            return int(float(text)) * 1000
    except ValueError:
        pass
    match = _FRONTEND_INTERVAL.search(text)
    if not match:
        raise InterpolationError(f"invalid interval string {text!r}")
    return _FRONTEND_UNITS[match.group(2)] * 1000 * int(float(match.group(1)))


def seconds_to_hms(seconds: float) -> str:
    """seconds_to_hms is rangeutil.secondsToHms: the largest whole unit (``"1m"``, ``"30d"``, ``"1y"``)."""
    years = math.floor(seconds / 31536000)
    if years:
        return f"{years}y"
    days = math.floor((seconds % 31536000) / 86400)
    if days:
        return f"{days}d"
    hours = math.floor(((seconds % 31536000) % 86400) / 3600)
    if hours:
        return f"{hours}h"
    minutes = math.floor((((seconds % 31536000) % 86400) % 3600) / 60)
    if minutes:
        return f"{minutes}m"
    secs = math.floor((((seconds % 31536000) % 86400) % 3600) % 60)
    if secs:
        return f"{secs}s"
    millis = math.floor(seconds * 1000.0)
    if millis:
        return f"{millis}ms"
    return "less than a millisecond"


def calculate_interval(time_range: TimeRange, max_data_points: int, min_interval: str | None = None) -> tuple[str, int]:
    """calculate_interval is rangeutil.calculateInterval: (``$__interval``, ``$__interval_ms``).

    ``max_data_points`` is the panel's width in pixels unless the panel sets it; ``min_interval`` is
    the panel's "Min interval", else the datasource's ``timeInterval``.
    """
    low_limit = interval_to_ms(min_interval) if min_interval else 1
    interval = round_interval(time_range.ms / max_data_points)
    if low_limit > interval:
        interval = int(low_limit)
    return seconds_to_hms(interval / 1000), interval


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DATE_UNIT = re.compile(r"^(\d+)([dwMy])$")


def _add_months(t: datetime, months: int) -> datetime:
    # Go's AddDate normalises overflow (Jan 31 + 1 month = Mar 3), unlike a clamp.
    year, month0 = divmod(t.month - 1 + months, 12)
    first = t.replace(year=t.year + year, month=month0 + 1, day=1)
    return first + timedelta(days=t.day - 1)


def parse_interval(text: str, now: datetime) -> timedelta:
    """parse_interval is gtime.ParseInterval: Go durations, plus d/w/M/y counted from ``now`` (UTC)."""
    match = _DATE_UNIT.match(text)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        now = now.astimezone(UTC)
        if unit == "d":
            return timedelta(days=n)
        if unit == "w":
            return timedelta(days=7 * n)
        if unit == "M":
            return _add_months(now, n) - now
        return _add_months(now, 12 * n) - now
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if body == "0":
        return timedelta(0)
    pos, total = 0, 0.0
    for part in _GO_DURATION_PART.finditer(body):
        if part.start() != pos:
            break
        total += float(part.group(1)) * _GO_UNITS[part.group(2)]
        pos = part.end()
    if pos != len(body) or not body:
        raise InterpolationError(f"error parsing interval {text}")
    return timedelta(seconds=sign * total)


def format_interval(delta: timedelta) -> str:
    """format_interval is gtime.FormatInterval (backend ``$__interval``)."""
    ms = delta // timedelta(milliseconds=1)
    for unit_ms, suffix in ((31536000000, "y"), (86400000, "d"), (3600000, "h"), (60000, "m"), (1000, "s"), (1, "ms")):
        if ms >= unit_ms:
            return f"{ms // unit_ms}{suffix}"
    return "1ms"


def go_float(x: float) -> str:
    """go_float formats a float64 like Go's ``%v`` (shortest digits; exponent form from 1e+06 or below 1e-04)."""
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    digits_tuple = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    if not isinstance(digits_tuple.exponent, int):  # "n", "N", "F": NaN or infinity (never an interval)
        raise ValueError(f"go_float: not a finite number: {x}")
    exp = len(digits) + digits_tuple.exponent - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    point = exp + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def rfc3339nano(t: datetime) -> str:
    """rfc3339nano is Go's ``t.UTC().Format(time.RFC3339Nano)`` (trailing fraction zeros dropped)."""
    t = t.astimezone(UTC)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def _unix(t: datetime) -> int:
    return math.floor(t.timestamp())


# ───────────────────────────── template variables (templateSrv) ─────────────────────────────

# templateSrv's variable regex: $var, [[var(:fmt)]], ${var(.field)(:fmt)} — JavaScript \w is ASCII.
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}", re.ASCII)


@dataclass(frozen=True)
class _Scoped:
    value: str | int
    text: str


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _interpolate_sql(value: str | int | Sequence[str], variable: Variable | None) -> str:
    """SqlDatasource.interpolateVariable."""
    if isinstance(value, str):
        if variable is not None and (variable.multi or variable.include_all):
            return _quote_literal(value)
        return value.replace("'", "''")
    if isinstance(value, int):
        return str(value)
    return ",".join(_quote_literal(v) for v in value)


def _js_string(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _format(value: str | int | Sequence[str], fmt: str, text: object) -> str:
    """formatRegistry: the ``${var:format}`` formats dx-monitor can meet (others are refused, not guessed)."""
    values = [value] if isinstance(value, (str, int)) else list(value)
    name, _, args = fmt.partition(":")
    if name == "csv" or name == "raw":
        return _js_string(value)
    if name == "sqlstring":
        return ",".join(_quote_literal(str(v)) for v in values)
    if name == "singlequote":
        return ",".join("'" + str(v).replace("'", "\\'") + "'" for v in values)
    if name == "doublequote":
        return ",".join('"' + str(v).replace('"', '\\"') + '"' for v in values)
    if name == "pipe":
        return value if isinstance(value, str) else "|".join(str(v) for v in values)
    if name == "json":
        return json.dumps(
            value if not isinstance(value, tuple) else list(value), ensure_ascii=False, separators=(",", ":")
        )
    if name == "text":
        return _js_string(text)
    if name == "glob":
        return (
            "{" + ",".join(map(str, values)) + "}"
            if not isinstance(value, (str, int)) and len(values) > 1
            else _js_string(value)
        )
    raise InterpolationError(f"variable format {fmt!r} is not implemented here")


def _time_macro(name: str, fmt: str | None, time_range: TimeRange) -> str:
    """Grafana's ${__from}/${__to} (epoch ms; ``:date:iso``, ``:date:seconds``)."""
    t = time_range.start if name == "__from" else time_range.end
    ms = round(t.timestamp() * 1000)
    if fmt is None:
        return str(ms)
    if fmt in ("date", "date:iso"):
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    if fmt == "date:seconds":
        return str(ms // 1000)
    raise InterpolationError(f"format {fmt!r} of {name} is not implemented here")


def replace_variables(
    sql: str,
    variables: Mapping[str, Variable],
    time_range: TimeRange,
    *,
    interval: tuple[str, int],
    strict: bool = False,
) -> str:
    """replace_variables is the frontend stage: templateSrv.replace(rawSql, scopedVars, interpolateVariable)."""
    interval_text, interval_ms = interval
    scoped = {
        "__interval": _Scoped(interval_text, interval_text),
        "__interval_ms": _Scoped(interval_ms, str(interval_ms)),
        "__range": _Scoped(seconds_to_hms(time_range.ms / 1000), seconds_to_hms(time_range.ms / 1000)),
        "__range_s": _Scoped(time_range.ms // 1000, str(time_range.ms // 1000)),
        "__range_ms": _Scoped(time_range.ms, str(time_range.ms)),
    }
    unknown: list[str] = []

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if match.group(5):
            raise InterpolationError(f"field paths (${{{name}.{match.group(5)}}}) are not implemented here")
        if name in ("__from", "__to"):
            return _time_macro(name, fmt, time_range)
        if name in scoped:
            s = scoped[name]
            return _format(s.value, fmt, s.text) if fmt else _interpolate_sql(s.value, None)
        variable = variables.get(name)
        if variable is None:
            # Macros ($__timeFilter(…)) look like variables here; Grafana leaves every unknown name as is.
            if strict and not name.startswith("__"):
                unknown.append(name)
            return match.group(0)
        value: str | Sequence[str] = variable.value
        text: object = variable.text if variable.text is not None else value
        if value == ALL or (not isinstance(value, str) and list(value)[:1] == [ALL]):
            if variable.all_value is not None:
                # A custom all value is SQL the dashboard author wrote: inserted as is, never quoted.
                return "All" if fmt == "text" else variable.all_value
            else:
                value = list(variable.options)
            text = "All"
        if fmt:
            return _format(value, fmt, text)
        return _interpolate_sql(value, variable)

    out = _VARIABLE.sub(one, sql)
    if unknown:
        raise InterpolationError(f"unknown template variable(s): {', '.join(sorted(set(unknown)))}")
    return out


# ───────────────────────────── backend macros (sqleng + macros.go) ─────────────────────────────

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_FILL_MODES = ("NULL", "previous")


def global_macros(sql: str, time_range: TimeRange, interval: timedelta) -> str:
    """global_macros is sqleng.Interpolate (run before the datasource's own macros)."""
    sql = sql.replace("$__interval_ms", str(interval // timedelta(milliseconds=1)))
    sql = sql.replace("$__interval", format_interval(interval))
    sql = sql.replace("$__unixEpochFrom()", str(_unix(time_range.start)))
    return sql.replace("$__unixEpochTo()", str(_unix(time_range.end)))


def _check_fill(arg: str) -> None:
    if arg in _FILL_MODES:
        return
    try:
        float(arg)
    except ValueError:
        raise InterpolationError(f"error parsing fill value {arg}") from None


def _macro(name: str, args: list[str], time_range: TimeRange, timescaledb: bool, now: datetime) -> str:
    start, end = time_range.start, time_range.end
    if name in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter", "__unixEpochNanoFilter"):
        if not args or args == [""]:
            raise InterpolationError(f"missing time column argument for macro {name}")
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{rfc3339nano(start)}' AND '{rfc3339nano(end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339nano(start)}'"
    if name == "__timeTo":
        return f"'{rfc3339nano(end)}'"
    if name in ("__timeGroup", "__unixEpochGroup"):
        if len(args) < 2:
            raise InterpolationError(f"macro {name} needs time column and interval and optional fill value")
        seconds = parse_interval(args[1].strip("'"), now).total_seconds()
        if len(args) == 3:
            _check_fill(args[2])
        if name == "__unixEpochGroup":
            return f"floor(({args[0]})/{go_float(seconds)})*{go_float(seconds)}"
        if timescaledb:
            return f"time_bucket('{seconds:.3f}s',{args[0]})"
        return f"floor(extract(epoch from {args[0]})/{go_float(seconds)})*{go_float(seconds)}"
    if name == "__timeGroupAlias":
        return _macro("__timeGroup", args, time_range, timescaledb, now) + ' AS "time"'
    if name == "__unixEpochGroupAlias":
        return _macro("__unixEpochGroup", args, time_range, timescaledb, now) + ' AS "time"'
    if name == "__unixEpochFilter":
        return f"{args[0]} >= {_unix(start)} AND {args[0]} <= {_unix(end)}"
    if name == "__unixEpochNanoFilter":
        return f"{args[0]} >= {_unix_nano(start)} AND {args[0]} <= {_unix_nano(end)}"
    if name == "__unixEpochNanoFrom":
        return str(_unix_nano(start))
    if name == "__unixEpochNanoTo":
        return str(_unix_nano(end))
    raise InterpolationError(f'unknown macro "{name}"')


def _unix_nano(t: datetime) -> int:
    delta = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def expand_macros(sql: str, time_range: TimeRange, *, timescaledb: bool, now: datetime) -> str:
    """expand_macros is the PostgreSQL macro engine (macros.go ``Interpolate``).

    As in Grafana, a bare ``$__timeGroup(…)`` directly followed by a comma is treated as
    ``$__timeGroupAlias`` (pre-5.3 compatibility), and arguments cannot contain parentheses.
    """

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__timeGroup":
            index = sql.find(match.group(0))
            if index >= 0:
                after = index + len(match.group(0))
                if len(sql) > after and sql[after] == ",":
                    name = "__timeGroupAlias"
        args = [a.strip(" ") for a in match.group(2).split(",")]
        return _macro(name, args, time_range, timescaledb, now)

    return _MACRO.sub(one, sql)


@dataclass(frozen=True)
class Rendered:
    """Rendered: the SQL PostgreSQL receives, and the interval Grafana chose for it."""

    sql: str
    interval: str
    interval_ms: int


@dataclass(frozen=True)
class QueryContext:
    """QueryContext: what a panel's query is rendered against (time picker, variables, datasource mode)."""

    time_range: TimeRange
    variables: Mapping[str, Variable] = field(default_factory=dict)
    timescaledb: bool = False
    max_data_points: int = 1000
    datasource_interval: str | None = "1m"
    now: datetime | None = None


def render(sql: str, ctx: QueryContext, *, panel_interval: str | None = None, strict: bool = True) -> Rendered:
    """render runs ``sql`` through Grafana's whole pipeline for one panel (or variable) query."""
    min_interval = panel_interval or ctx.datasource_interval
    interval_text, interval_ms = calculate_interval(ctx.time_range, ctx.max_data_points, min_interval)
    now = ctx.now or datetime.now(UTC)
    out = replace_variables(sql, ctx.variables, ctx.time_range, interval=(interval_text, interval_ms), strict=strict)
    out = global_macros(out, ctx.time_range, timedelta(milliseconds=interval_ms))
    out = expand_macros(out, ctx.time_range, timescaledb=ctx.timescaledb, now=now)
    return Rendered(out, interval_text, interval_ms)


def repeat_clones(ctx: QueryContext, name: str) -> list[tuple[str, QueryContext]]:
    """repeat_clones: (value, context) for each clone of a panel repeated by variable ``name``.

    Grafana clones the panel once per selected value (every option for "All") and gives the clone
    that value as a scoped variable. On Grafana 11.6 the scoped variable has lost the multi/All
    flags, so the SQL datasource inserts it like a single-value variable: raw, unquoted
    (grafana/grafana#112164, #106215; later versions quote it again). This models that worst case.
    """
    variable = ctx.variables[name]
    value = variable.value
    if value == ALL or (not isinstance(value, str) and list(value)[:1] == [ALL]):
        values = list(variable.options)
    else:
        values = [value] if isinstance(value, str) else list(value)
    return [(v, dataclasses.replace(ctx, variables={**ctx.variables, name: Variable(name, v, text=v)})) for v in values]
