"""Panels: the defaults every dx-monitor dashboard starts from.

The foundation SDK has no PostgreSQL query type, so ``SqlQuery``/``Sql`` add one (raw SQL, code
editor). Panel helpers are named ``default_<kind>``: each sets the datasource, the query and the
few options our dashboards share, and the dashboard modules change only what differs. Vietnamese
labels live here once (``LEVEL_LABELS``, ``PILLAR_LABELS``, ``STATUS_LABELS``); SQL that needs them
reads them through ``labels_sql`` so a label is never spelled twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

from grafana_foundation_sdk.builders import barchart, stat, table, text, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import text as text_models
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableHide,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from dxmon import progress, words
from dxmon.catalog import PROGRAMME_SET

DATASOURCE_UID = "dx-tsdb"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE = DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)

TAGS = ["dx-monitor", "generated"]
TIMEZONE = "Asia/Ho_Chi_Minh"
# The target sets the evaluation reads (Indicator.target_for): NQ 09 and the set that continues it to 2030.
# Panels that assume one target per indicator and level read these only.
PROGRAMME_SETS_SQL = f"(SELECT code FROM target_sets WHERE code = '{PROGRAMME_SET}' OR continues = '{PROGRAMME_SET}')"
UNIT_DETAIL_UID = "dx-unit-detail"

# Table cells that are unit codes link to the unit's own dashboard (the code column is hidden).
UNIT_DETAIL_URL = f"/d/{UNIT_DETAIL_UID}?var-unit=${{__data.fields.unit}}&${{__url_time_range}}"

# The glossary's level names (dxmon.words), capitalised as a table cell starts.
LEVEL_LABELS: Mapping[str, str] = {code: name[0].upper() + name[1:] for code, name in words.LEVEL.items()}
PILLAR_LABELS: Mapping[str, str] = {
    "digital_government": "Chính quyền số",
    "digital_economy": "Kinh tế số",
    "digital_society": "Xã hội số",
}
# Results, worst first (the words are dxmon.progress's, from the glossary; the order is ours). A unit's
# overall picture is counts per result, never its worst indicator.
STATUS_LABELS: Mapping[str, str] = {
    s: progress.STATUS_LABELS[progress.Status(s)]
    for s in ("missed", "behind", "at_risk", "no_data", "on_track", "met", "exceeded")
}
STATUS_COLORS: Mapping[str, str] = {
    "missed": "red",
    "behind": "orange",
    "at_risk": "yellow",
    "no_data": "gray",
    "on_track": "blue",
    "met": "green",
    "exceeded": "dark-green",
}
# Reporting, a judgement of its own (dxmon.progress.Reporting).
REPORTING_LABELS: Mapping[str, str] = {r.value: label for r, label in progress.REPORTING_LABELS.items()}
REPORTING_COLORS: Mapping[str, str] = {"on_time": "green", "late": "yellow", "missing": "purple"}
CADENCE_LABELS: Mapping[str, str] = {"monthly": "Hằng tháng", "quarterly": "Hằng quý", "yearly": "Hằng năm"}
SEVERITY_LABELS: Mapping[str, str] = words.SEVERITY
SEVERITY_COLORS: Mapping[str, str] = {"critical": "red", "warning": "orange"}
ALERT_STATE_LABELS: Mapping[str, str] = {"firing": "Đang mở", "resolved": "Đã kết thúc"}
ALERT_STATE_COLORS: Mapping[str, str] = {"firing": "red", "resolved": "green"}


class SqlQuery(cogvariants.Dataquery):
    """SqlQuery is one raw-SQL target of the PostgreSQL datasource (``format``: time_series or table)."""

    def __init__(self, raw_sql: str, fmt: str, ref_id: str) -> None:
        self.raw_sql, self.fmt, self.ref_id = raw_sql, fmt, ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": DATASOURCE.to_json(),
            "editorMode": "code",
            "format": self.fmt,
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(data.get("rawSql", ""), data.get("format", "table"), data.get("refId", "A"))


class Sql(cogbuilder.Builder[SqlQuery]):
    """Sql builds a SqlQuery; ``Sql.series`` for time series, ``Sql.table`` for everything else."""

    def __init__(self, raw_sql: str, fmt: str, ref_id: str = "A") -> None:
        self._query = SqlQuery(dedent_sql(raw_sql), fmt, ref_id)

    @classmethod
    def series(cls, raw_sql: str, ref_id: str = "A") -> Sql:
        return cls(raw_sql, "time_series", ref_id)

    @classmethod
    def table(cls, raw_sql: str, ref_id: str = "A") -> Sql:
        return cls(raw_sql, "table", ref_id)

    def build(self) -> SqlQuery:
        return self._query


def dedent_sql(sql: str) -> str:
    """dedent_sql strips the common indentation so the JSON shows the query as it reads in code."""
    lines = sql.strip("\n").splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:].rstrip() for line in lines).strip()


def sql_literal(value: str) -> str:
    """sql_literal quotes a constant of ours for SQL text (never user input: panels take no parameters)."""
    return "'" + value.replace("'", "''") + "'"


def labels_sql(labels: Mapping[str, str], alias: str) -> str:
    """labels_sql is a ``(VALUES …) AS alias (code, label, ord)`` table of codes, Vietnamese labels and order.

    SQL joins it to show a code (``commune``) as its label (``Cấp xã``) and to sort in the catalog's order.
    """
    rows = ", ".join(
        f"({sql_literal(code)}, {sql_literal(label)}, {i})" for i, (code, label) in enumerate(labels.items())
    )
    return f"(VALUES {rows}) AS {alias} (code, label, ord)"


# ───────────────────────────── dashboards ─────────────────────────────


def default_dashboard(title: str, uid: str, description: str) -> dash.Dashboard:
    """default_dashboard: read-only, Vietnam time, tagged, linked to the other dx-monitor dashboards."""
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone(TIMEZONE)
        .week_start("monday")
        .readonly()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .link(
            dash.DashboardLink("Bảng điều khiển")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["dx-monitor"])
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(False)
        )
    )


def alert_annotations(name: str, *tags: str) -> dash.AnnotationQuery:
    """alert_annotations shows the alerts service's Grafana annotations (tagged ``dx-monitor``, ``alert``, the
    state, the kind, the unit code and the indicator code) whose tags include all of ``tags``."""
    return (
        dash.AnnotationQuery()
        .name(name)
        .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .enable(True)
        .icon_color("red")
        .target(dash.AnnotationTarget().type("tags").tags(["dx-monitor", "alert", *tags]).match_any(False).limit(200))
    )


# ───────────────────────────── panels ─────────────────────────────


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    """thresholds: absolute steps; the first step's value is None (from minus infinity)."""
    return dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])


def percent_thresholds() -> dash.ThresholdsConfig:
    """percent_thresholds colours a 0–100 share: red below 50, orange below 80, green from 80."""
    return thresholds((None, "red"), (50, "orange"), (80, "green"))


def _sql_panel(panel: Any, title: str, queries: Sequence[Sql], description: str, unit: str | None) -> Any:
    """_sql_panel sets what every data panel has: title, description, our datasource, its queries, a unit."""
    panel = panel.title(title).description(description).datasource(DATASOURCE)
    for q in queries:
        panel = panel.with_target(q)
    return panel if unit is None else panel.unit(unit)


def default_stat(title: str, query: Sql, *, description: str, unit: str | None = None) -> stat.Panel:
    return (
        _sql_panel(stat.Panel(), title, [query], description, unit)
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def default_timeseries(title: str, *queries: Sql, description: str, unit: str | None = None) -> timeseries.Panel:
    return (
        _sql_panel(timeseries.Panel(), title, queries, description, unit)
        .line_width(2)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.AUTO)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )


def default_table(title: str, query: Sql, *, description: str) -> table.Panel:
    return _sql_panel(table.Panel(), title, [query], description, None).filterable(True)


def default_barchart(
    title: str, query: Sql, *, x_field: str, description: str, unit: str | None = None
) -> barchart.Panel:
    """default_barchart: horizontal bars, one group per value of the ``x_field`` column (a label)."""
    return (
        _sql_panel(barchart.Panel(), title, [query], description, unit)
        .x_field(x_field)
        .orientation(common.VizOrientation.HORIZONTAL)
    )


def note_text(title: str, markdown: str) -> text.Panel:
    """note_text is a Markdown panel for what a leader must know to read the numbers right."""
    return text.Panel().title(title).mode(text_models.TextMode.MARKDOWN).content(markdown)


# ───────────────────────────── field options ─────────────────────────────


def label_mappings(labels: Mapping[str, str], colors: Mapping[str, str] | None = None) -> list[ValueMap]:
    """label_mappings shows codes (``behind``) as their Vietnamese label, coloured when ``colors`` says so."""
    colors = colors or {}
    return [
        ValueMap(
            options={
                code: ValueMappingResult(text=label, color=colors.get(code), index=i)
                for i, (code, label) in enumerate(labels.items())
            }
        )
    ]


def mapped_column(
    name: str, labels: Mapping[str, str], colors: Mapping[str, str]
) -> tuple[str, list[DynamicConfigValue]]:
    """mapped_column: a code column (``behind``, ``critical``) shown as its coloured Vietnamese label."""
    return name, [
        DynamicConfigValue(id_val="mappings", value=label_mappings(labels, colors)),
        DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
    ]


def status_column(name: str = "Kết quả") -> tuple[str, list[DynamicConfigValue]]:
    return mapped_column(name, STATUS_LABELS, STATUS_COLORS)


def reporting_column(name: str = "Tình hình báo cáo") -> tuple[str, list[DynamicConfigValue]]:
    return mapped_column(name, REPORTING_LABELS, REPORTING_COLORS)


def fixed_colors(panel: Any, colors: Mapping[str, str]) -> Any:
    """fixed_colors gives each series (by display name) its own colour, e.g. a status label its status colour."""
    for name, color in colors.items():
        panel = panel.override_by_name(
            name,
            [
                DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color}),
            ],
        )
    return panel


def hidden_column(name: str) -> tuple[str, list[DynamicConfigValue]]:
    return name, [DynamicConfigValue(id_val="custom.hidden", value=True)]


def unit_link_columns(name: str = "Đơn vị") -> tuple[tuple[str, list[DynamicConfigValue]], ...]:
    """unit_link_columns: the unit name column opens that unit's dashboard; the ``unit`` code column it needs is
    hidden."""
    link = [DynamicConfigValue(id_val="links", value=[{"title": "Chi tiết đơn vị", "url": UNIT_DETAIL_URL}])]
    return hidden_column("unit"), (name, link)


def with_columns(panel: Any, *columns: tuple[str, list[DynamicConfigValue]]) -> Any:
    """with_columns applies per-column overrides (matched by field name) to any panel builder."""
    for name, properties in columns:
        panel = panel.override_by_name(name, properties)
    return panel


# ───────────────────────────── variables ─────────────────────────────


def query_variable(
    name: str,
    label: str,
    sql: str,
    *,
    multi: bool,
    sort: VariableSort = VariableSort.DISABLED,
    refresh: VariableRefresh = VariableRefresh.ON_DASHBOARD_LOAD,
) -> dash.QueryVariable:
    """query_variable: options from SQL (``__text``/``__value`` columns); multi-value ones default to All."""
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(dedent_sql(sql))
        .refresh(refresh)
        .sort(sort)
        .multi(multi)
        .include_all(multi)
        .allow_custom_value(False)
    )
    if multi:
        variable = variable.current(VariableOption(selected=True, text=["Tất cả"], value=["$__all"]))
    return variable


def period_variable() -> dash.QueryVariable:
    """period_variable: the reporting month (kỳ báo cáo), newest first, from the programme's first unit.

    The list ends with the last complete month, so the default (the first option) is a month whose
    reports are due. Values are the month's first day (``2025-07-01``); SQL reads ``'$period'::date``.
    """
    return query_variable(
        "period",
        "Kỳ báo cáo",
        f"""
        SELECT 'Tháng ' || to_char(m, 'MM/YYYY') AS __text, to_char(m, 'YYYY-MM-DD') AS __value
        FROM generate_series(
            (SELECT date_trunc('month', min(valid_from)::timestamp) FROM units),
            date_trunc('month', now() AT TIME ZONE {sql_literal(TIMEZONE)}) - INTERVAL '1 month',
            INTERVAL '1 month'
        ) AS m
        ORDER BY m DESC
        """,
        multi=False,
    )


def level_variable(*, in_period: bool) -> dash.QueryVariable:
    """level_variable: unit levels, multi-value. ``in_period`` keeps those with units active in ``$period``.

    With ``in_period`` a month after June 2025 offers no district level: there were none.
    """
    active = (
        "\nWHERE EXISTS (\n"
        "    SELECT 1 FROM units u\n"
        "    WHERE u.level = x.code\n"
        "      AND u.valid_from < '$period'::date + INTERVAL '1 month'\n"
        "      AND (u.valid_to IS NULL OR u.valid_to >= '$period'::date)\n"
        ")"
    )
    return labels_variable("level", "Cấp", LEVEL_LABELS, where=active if in_period else "")


def labels_variable(name: str, label: str, labels: Mapping[str, str], *, where: str = "") -> dash.QueryVariable:
    """labels_variable: a multi-value variable over fixed codes (``x.code``), shown by their Vietnamese labels."""
    return query_variable(
        name,
        label,
        f"SELECT x.label AS __text, x.code AS __value FROM {labels_sql(labels, 'x')}{where} ORDER BY x.ord",
        multi=True,
    )


def pillar_variable() -> dash.QueryVariable:
    return labels_variable("pillar", "Trụ cột", PILLAR_LABELS)


def hidden(variable: dash.QueryVariable) -> dash.QueryVariable:
    return variable.hide(VariableHide.HIDE_VARIABLE)
