"""charts: the report's small charts as PNG bytes (matplotlib, headless).

DejaVu Sans ships with matplotlib and has every Vietnamese diacritic, so a chart looks the same on
any server. Only ratio and percent indicators are drawn against their target: they share one axis.
"""

from __future__ import annotations

import io
import textwrap

import matplotlib

matplotlib.use("Agg")  # no display on a server; set before pyplot is imported

import matplotlib.pyplot as plt

from dxmon.report.model import Report

KEY_INDICATORS = 8  # the chart stays readable on half a page
_FONT = {"family": "DejaVu Sans", "size": 8}


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def pillars_chart(report: Report) -> bytes:
    """pillars_chart: targets met and not (yet) met per pillar, as stacked horizontal bars."""
    counts = report.by_pillar
    with plt.rc_context({"font.family": _FONT["family"], "font.size": _FONT["size"]}):
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * max(len(counts), 1)))
        labels = [c.label for c in counts]
        met = [c.met for c in counts]
        rest = [c.total - c.met for c in counts]
        ax.barh(labels, met, color="#2e7d32", label="Đạt, Vượt")
        ax.barh(labels, rest, left=met, color="#c9c9c9", label="Khác")
        for y, c in enumerate(counts):
            ax.text(c.total + 0.1, y, f"{c.met}/{c.total}", va="center")
        ax.set_xlabel("Số chỉ tiêu")
        ax.invert_yaxis()
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig)


def key_indicators_chart(report: Report) -> bytes | None:
    """key_indicators_chart: result against target for the first ratio/percent rows with a value."""
    rows = [r for r in report.rows if r.measure in ("ratio", "percent") and r.value is not None][:KEY_INDICATORS]
    if not rows:
        return None
    with plt.rc_context({"font.family": _FONT["family"], "font.size": _FONT["size"]}):
        fig, ax = plt.subplots(figsize=(6, 0.6 + 0.4 * len(rows)))
        labels = ["\n".join(textwrap.wrap(f"{r.indicator} {r.name}", 48)[:2]) for r in rows]
        colors = ["#2e7d32" if r.met else "#ef6c00" for r in rows]
        values = [r.value for r in rows if r.value is not None]  # every row: rows holds only those with a value
        ax.barh(labels, values, color=colors, label="Kết quả")
        ax.scatter([r.target for r in rows], labels, marker="|", s=300, color="black", label="Mục tiêu", zorder=3)
        ax.set_xlim(0, max(100.0, *values, *(r.target for r in rows)) * 1.05)
        ax.set_xlabel("%")
        ax.invert_yaxis()
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig)
