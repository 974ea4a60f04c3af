"""Grafana's query pipeline as re-implemented in grafana.interpolate, checked against Grafana's own rules.

Expected strings come from Grafana's sources: rangeutil.ts (roundInterval, secondsToHms,
calculateInterval), gtime.go (ParseInterval, FormatInterval), macros.go (the PostgreSQL macros),
SqlDatasource.interpolateVariable and the scenes interpolator (quoting, All, formats).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from grafana.interpolate import (
    ALL,
    InterpolationError,
    QueryContext,
    TimeRange,
    Variable,
    calculate_interval,
    expand_macros,
    format_interval,
    go_float,
    parse_interval,
    render,
    repeat_clones,
    replace_variables,
    rfc3339nano,
    round_interval,
    seconds_to_hms,
)

UTC = UTC
ICT = timezone(timedelta(hours=7))
RANGE = TimeRange(datetime(2025, 7, 1, 0, 0, tzinfo=ICT), datetime(2025, 7, 1, 6, 0, 0, 250000, tzinfo=ICT))
NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ms", "rounded"),
    [
        pytest.param(5, 1, id="below-10ms"),
        pytest.param(14, 10, id="10ms"),
        pytest.param(21600, 20000, id="6h-over-1000px-is-20s"),
        pytest.param(89999, 60000, id="just-below-1.5m-is-1m"),
        pytest.param(31536000, 21600000, id="1y-over-1000px-is-6h"),
        pytest.param(3_000_000_000, 2592000000, id="30d"),
        pytest.param(4_000_000_000, 31536000000, id="1y"),
    ],
)
def test_round_interval(ms: float, rounded: int) -> None:
    assert round_interval(ms) == rounded


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(60, "1m", id="minute"),
        pytest.param(2592000, "30d", id="thirty-days"),
        pytest.param(31536000, "1y", id="year"),
        pytest.param(90, "1m", id="largest-whole-unit-only"),
        pytest.param(0.02, "20ms", id="milliseconds"),
    ],
)
def test_seconds_to_hms(seconds: float, text: str) -> None:
    assert seconds_to_hms(seconds) == text


@pytest.mark.parametrize(
    ("points", "min_interval", "expected"),
    [
        pytest.param(1000, None, ("20s", 20000), id="no-floor"),
        pytest.param(1000, "1m", ("1m", 60000), id="datasource-floor-1m"),
        pytest.param(10, "1m", ("30m", 1800000), id="narrow-panel"),
        pytest.param(1000, "30", ("30s", 30000), id="bare-number-is-seconds"),
    ],
)
def test_calculate_interval(points: int, min_interval: str | None, expected: tuple[str, int]) -> None:
    assert calculate_interval(RANGE, points, min_interval) == expected


@pytest.mark.parametrize(
    ("text", "now", "seconds"),
    [
        pytest.param("1m", NOW, 60, id="minute"),
        pytest.param("1h30m", NOW, 5400, id="compound"),
        pytest.param("1.5h", NOW, 5400, id="fraction"),
        pytest.param("500ms", NOW, 0.5, id="milliseconds"),
        pytest.param("30d", NOW, 30 * 86400, id="days"),
        pytest.param("2w", NOW, 14 * 86400, id="weeks"),
        # Go's AddDate normalises 31 Jan + 1 month to 3 Mar.
        pytest.param("1M", NOW, 31 * 86400, id="month-from-31-jan"),
        pytest.param("1y", datetime(2024, 1, 1, tzinfo=UTC), 366 * 86400, id="leap-year"),
    ],
)
def test_parse_interval(text: str, now: datetime, seconds: float) -> None:
    assert parse_interval(text, now).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "5", "1x", "m5", "1m ", "1M2"])
def test_parse_interval_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(InterpolationError):
        parse_interval(text, NOW)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        pytest.param(timedelta(minutes=1), "1m", id="minute"),
        pytest.param(timedelta(hours=36), "1d", id="whole-days-only"),
        pytest.param(timedelta(milliseconds=0.5), "1ms", id="floor-1ms"),
    ],
)
def test_format_interval(delta: timedelta, text: str) -> None:
    assert format_interval(delta) == text


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (60.0, "60"),
        (0.5, "0.5"),
        (86400.0, "86400"),
        (604800.0, "604800"),
        (2592000.0, "2.592e+06"),
        (1e6, "1e+06"),
        (31536000.0, "3.1536e+07"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.25, "1.25"),
    ],
)
def test_go_float_matches_go_percent_v(x: float, text: str) -> None:
    assert go_float(x) == text


def test_rfc3339nano_is_utc_without_trailing_zeros() -> None:
    assert rfc3339nano(RANGE.start) == "2025-06-30T17:00:00Z"
    assert rfc3339nano(RANGE.end) == "2025-06-30T23:00:00.25Z"


@pytest.mark.parametrize(
    ("sql", "timescaledb", "expected"),
    [
        pytest.param(
            "WHERE $__timeFilter(bucket)",
            False,
            "WHERE bucket BETWEEN '2025-06-30T17:00:00Z' AND '2025-06-30T23:00:00.25Z'",
            id="timeFilter",
        ),
        pytest.param(
            "SELECT $__timeGroupAlias(bucket, 1m)",
            False,
            'SELECT floor(extract(epoch from bucket)/60)*60 AS "time"',
            id="timeGroupAlias-plain",
        ),
        pytest.param(
            "SELECT $__timeGroupAlias(bucket, 1m)",
            True,
            "SELECT time_bucket('60.000s',bucket) AS \"time\"",
            id="timeGroupAlias-timescaledb",
        ),
        pytest.param(
            "SELECT $__timeGroup(ts,'30d'), x",
            False,
            'SELECT floor(extract(epoch from ts)/2.592e+06)*2.592e+06 AS "time", x',
            id="comma-after-means-alias",
        ),
        pytest.param(
            "lag() OVER (ORDER BY $__timeGroup(ts,5m))",
            False,
            "lag() OVER (ORDER BY floor(extract(epoch from ts)/300)*300)",
            id="no-alias-before-paren",
        ),
        pytest.param(
            "$__timeGroup(ts, 5m, NULL)",
            True,
            "time_bucket('300.000s',ts)",
            id="fill-mode-accepted",
        ),
        pytest.param("$__time(ts)", False, 'ts AS "time"', id="time"),
        pytest.param("$__timeEpoch(ts)", False, 'extract(epoch from ts) as "time"', id="timeEpoch"),
        pytest.param(
            "$__timeFrom() $__timeTo()", False, "'2025-06-30T17:00:00Z' '2025-06-30T23:00:00.25Z'", id="from-to"
        ),
        pytest.param(
            "$__unixEpochFilter(t)",
            False,
            "t >= 1751302800 AND t <= 1751324400",
            id="unixEpochFilter",
        ),
        pytest.param(
            "$__unixEpochGroupAlias(t, 1h)",
            False,
            'floor((t)/3600)*3600 AS "time"',
            id="unixEpochGroupAlias",
        ),
        pytest.param(
            # Grafana's macro regex stops at the first ')': nested calls break, so our SQL never nests.
            "$__timeFilter(date_trunc('day', ts))",
            False,
            "date_trunc('day' BETWEEN '2025-06-30T17:00:00Z' AND '2025-06-30T23:00:00.25Z')",
            id="nested-parentheses-break-as-in-grafana",
        ),
    ],
)
def test_expand_macros(sql: str, timescaledb: bool, expected: str) -> None:
    assert expand_macros(sql, RANGE, timescaledb=timescaledb, now=NOW) == expected


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("$__nope(x)", id="unknown-macro"),
        pytest.param("$__timeFilter()", id="missing-column"),
        pytest.param("$__timeGroup(ts)", id="missing-interval"),
        pytest.param("$__timeGroup(ts, 5m, sometimes)", id="bad-fill"),
        pytest.param("$__timeGroup(ts, 5 minutes)", id="bad-interval"),
    ],
)
def test_expand_macros_fails_like_grafana(sql: str) -> None:
    with pytest.raises(InterpolationError):
        expand_macros(sql, RANGE, timescaledb=False, now=NOW)


LEVEL = Variable("level", ALL, multi=True, include_all=True, options=("district", "commune"))
PILLARS = Variable("pillar", ["digital_economy", "digital_society"], multi=True, include_all=True)
UNIT = Variable("unit", "QN-P-O'NEIL")
ONE_OF_MULTI = Variable("indicator", "DG-01", multi=True, include_all=True)
CUSTOM_ALL = Variable("kind", ALL, multi=True, include_all=True, all_value="kind", options=("a", "b"))
VARIABLES = {v.name: v for v in (LEVEL, PILLARS, UNIT, ONE_OF_MULTI, CUSTOM_ALL)}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param("level IN ($level)", "level IN ('district','commune')", id="all-is-every-option-quoted"),
        pytest.param("pillar IN ($pillar)", "pillar IN ('digital_economy','digital_society')", id="multi-quoted"),
        pytest.param("unit = '$unit'", "unit = 'QN-P-O''NEIL'", id="single-raw-quotes-doubled"),
        pytest.param("indicator IN ($indicator)", "indicator IN ('DG-01')", id="single-value-of-multi-is-quoted"),
        pytest.param("kind IN ($kind)", "kind IN (kind)", id="custom-all-value-raw"),
        pytest.param("${pillar:csv}", "digital_economy,digital_society", id="csv"),
        pytest.param("${pillar:sqlstring}", "'digital_economy','digital_society'", id="sqlstring"),
        pytest.param("${unit:singlequote}", "'QN-P-O\\'NEIL'", id="singlequote"),
        pytest.param("${level:pipe}", "district|commune", id="pipe"),
        pytest.param("${level:text}", "All", id="text-of-all"),
        pytest.param("[[unit]]", "QN-P-O''NEIL", id="legacy-brackets"),
        pytest.param("${unit}", "QN-P-O''NEIL", id="braces"),
        pytest.param("$__interval / $__interval_ms", "1m / 60000", id="interval"),
        pytest.param("${__from} ${__to:date:iso}", "1751302800000 2025-06-30T23:00:00.250Z", id="from-to"),
        pytest.param("$__timeFilter(ts)", "$__timeFilter(ts)", id="macros-left-for-the-backend"),
    ],
)
def test_replace_variables(sql: str, expected: str) -> None:
    assert replace_variables(sql, VARIABLES, RANGE, interval=("1m", 60000), strict=True) == expected


def test_unknown_variable_is_left_alone_or_refused_in_strict_mode() -> None:
    # \w+ is greedy: "$unit_code" names a variable "unit_code", not "unit" followed by "_code".
    assert replace_variables("'$unit_code'", VARIABLES, RANGE, interval=("1m", 60000)) == "'$unit_code'"
    with pytest.raises(InterpolationError, match="unit_code"):
        replace_variables("'$unit_code'", VARIABLES, RANGE, interval=("1m", 60000), strict=True)


def test_render_runs_both_stages_in_grafanas_order() -> None:
    ctx = QueryContext(RANGE, VARIABLES, timescaledb=False, max_data_points=1000, now=NOW)
    rendered = render(
        "SELECT $__timeGroupAlias(observed_at, $__interval), count(*) * 60000.0 / $__interval_ms "
        "FROM period_values WHERE $__timeFilter(observed_at) AND unit = '$unit' GROUP BY 1 ORDER BY 1",
        ctx,
        panel_interval="5m",
    )
    assert (rendered.interval, rendered.interval_ms) == ("5m", 300000)
    assert rendered.sql == (
        'SELECT floor(extract(epoch from observed_at)/300)*300 AS "time", count(*) * 60000.0 / 300000 '
        "FROM period_values WHERE observed_at BETWEEN '2025-06-30T17:00:00Z' AND '2025-06-30T23:00:00.25Z' "
        "AND unit = 'QN-P-O''NEIL' GROUP BY 1 ORDER BY 1"
    )


# ───────────────────────────── repeated panels (Grafana 11.6) ─────────────────────────────

INDICATOR = Variable("indicator", ALL, multi=True, include_all=False, options=["DG-01", "DG-14"])


@pytest.mark.parametrize(
    ("value", "clones"),
    [
        pytest.param(ALL, ["DG-01", "DG-14"], id="all-is-every-option"),
        pytest.param(["DG-14"], ["DG-14"], id="one-chosen"),
        pytest.param("DG-01", ["DG-01"], id="single-string"),
    ],
)
def test_a_repeated_panel_is_cloned_once_per_value(value, clones) -> None:
    ctx = QueryContext(RANGE, {"indicator": Variable("indicator", value, multi=True, options=INDICATOR.options)})
    assert [v for v, _ in repeat_clones(ctx, "indicator")] == clones


def test_a_clone_loses_the_multi_flag_so_only_sqlstring_quotes() -> None:
    """grafana/grafana#112164: on 11.6 a repeat clone's IN ($indicator) becomes IN (DG-01)."""
    ctx = QueryContext(RANGE, {"indicator": INDICATOR}, now=NOW)
    [(_, first), _] = repeat_clones(ctx, "indicator")
    assert render("SELECT 1 WHERE i IN ($indicator)", first).sql == "SELECT 1 WHERE i IN (DG-01)"
    assert render("SELECT 1 WHERE i IN (${indicator:sqlstring})", first).sql == "SELECT 1 WHERE i IN ('DG-01')"
    # The same format outside a repeat: every value quoted, as plain $indicator would be.
    assert render("SELECT 1 WHERE i IN (${indicator:sqlstring})", ctx).sql == "SELECT 1 WHERE i IN ('DG-01','DG-14')"


def test_dashboards_quote_their_repeat_variables_on_every_grafana_version() -> None:
    """Every query of a repeated panel writes its repeat variable as ${var:sqlstring}."""
    import re

    from grafana.build import dashboards, flat_panels

    repeated = 0
    for model in dashboards().values():
        for panel in flat_panels(model):
            name = panel.get("repeat")
            for target in panel.get("targets", []) if name else []:
                repeated += 1
                bare = re.findall(rf"\$({name})\b|\$\{{({name})\}}|\[\[({name})\]\]", target["rawSql"])
                assert not bare, f"{panel['title']} / {target['refId']}: write ${{{name}:sqlstring}}"
    assert repeated  # the unit detail's history panel is repeated by indicator
