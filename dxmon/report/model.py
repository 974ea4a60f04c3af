"""model: the official report as plain data (no I/O): its period, annex rows, summary and unit ranking.

The builders (``docx``, ``xlsx``) only lay this out; every number they print is a field here, so the
golden test compares these fields with the evaluation and the documents with these fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dxmon import words
from dxmon.catalog import Pillar
from dxmon.progress import STATUS_LABELS, Status

# Results that count as "đạt" in "x/y chỉ tiêu đạt" (an exceeded target is met, as on the dashboards).
MET_RESULTS = frozenset({Status.EXCEEDED, Status.MET})
PILLAR_LABELS = {
    Pillar.DIGITAL_GOVERNMENT: "Chính quyền số",
    Pillar.DIGITAL_ECONOMY: "Kinh tế số",
    Pillar.DIGITAL_SOCIETY: "Xã hội số",
}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
_PERIOD = re.compile(r"^(\d{4})(?:-(Q[1-4]|H[12]|0[1-9]|1[0-2]))?$")


class PeriodError(ValueError):
    """PeriodError: the text names no reporting period; the message says what is accepted."""


@dataclass(frozen=True)
class ReportPeriod:
    """ReportPeriod: a reporting period (Kỳ báo cáo) — a month, a quarter, six months or a year.

    ``code`` is what the caller wrote (2025, 2025-Q3, 2025-H1, 2025-11); ``label`` is how a document
    names it ("quý III/2025").
    """

    code: str
    start: date
    end: date
    label: str

    @classmethod
    def parse(cls, text: str) -> ReportPeriod:
        """parse reads YYYY, YYYY-Qn, YYYY-H1|H2 or YYYY-MM; anything else raises PeriodError."""
        match = _PERIOD.match(text.strip().upper()) if isinstance(text, str) else None
        if match is None or not 2000 <= int(match[1]) <= 2100:
            raise PeriodError(
                f"kỳ báo cáo không hợp lệ {str(text)[:20]!r}: dùng YYYY (năm), YYYY-Q1…Q4 (quý), "
                "YYYY-H1|H2 (6 tháng) hoặc YYYY-MM (tháng), ví dụ 2025, 2025-Q3, 2025-H1, 2025-11"
            )
        year, part = int(match[1]), match[2]
        if part is None:
            return cls(str(year), date(year, 1, 1), date(year, 12, 31), f"năm {year}")
        if part[0] == "Q":
            q = int(part[1])
            return cls(f"{year}-{part}", date(year, 3 * q - 2, 1), _month_end(year, 3 * q), f"quý {ROMAN[q]}/{year}")
        if part[0] == "H":
            first = part == "H1"
            return cls(
                f"{year}-{part}",
                date(year, 1 if first else 7, 1),
                _month_end(year, 6 if first else 12),
                f"6 tháng {'đầu' if first else 'cuối'} năm {year}",
            )
        month = int(part)
        return cls(f"{year}-{part}", date(year, month, 1), _month_end(year, month), f"tháng {month}/{year}")


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


def milestone_for(deadlines: Sequence[date], period: ReportPeriod) -> date | None:
    """milestone_for: the milestone a report on ``period`` judges a target against.

    The first of the set's deadlines that falls on or after the period's start (the target the period
    works towards, or the one that fell due within it); when every deadline came earlier, the last one
    (its outcome stands). None when the set gives the target no milestone.
    """
    ordered = sorted(deadlines)
    if not ordered:
        return None
    return next((d for d in ordered if d >= period.start), ordered[-1])


@dataclass(frozen=True)
class Row:
    """Row: one line of the annex (a unit's indicator against the set's milestone), as the evaluation judged it.

    ``result`` None means the evaluation holds nothing for this milestone yet (shown "Chưa có số liệu").
    ``value`` is the deciding value once the milestone has passed, the latest value in force before.
    ``sources`` are the catalog's source keys of the milestone (the footnotes). ``observed_at`` is when the
    value shown was observed (it picks the period whose ``explanation``, Nguyên nhân, giải pháp, the row shows).
    """

    unit: str
    indicator: str
    name: str
    pillar: Pillar
    measure: str
    comparator: str
    target: float
    deadline: date
    result: Status | None
    value: float | None
    provisional: bool
    final: bool
    sources: tuple[str, ...]
    observed_at: datetime | None = None
    explanation: str = ""

    @property
    def met(self) -> bool:
        return self.result in MET_RESULTS

    @property
    def result_label(self) -> str:
        """result_label: the glossary's word for the result, qualified Tạm tính / Chính thức when decided."""
        status = self.result or Status.NO_DATA
        qualifier = f" ({words.FINAL})" if self.final else f" ({words.PROVISIONAL})" if self.provisional else ""
        return STATUS_LABELS[status] + qualifier


@dataclass(frozen=True)
class PillarCount:
    """PillarCount: ``met`` of ``total`` targets of one pillar are met (exceeded included)."""

    pillar: Pillar
    met: int
    total: int

    @property
    def label(self) -> str:
        return PILLAR_LABELS[self.pillar]


@dataclass(frozen=True)
class UnitShare:
    """UnitShare: one unit's share of its targets met, for the ranking table."""

    unit: str
    name: str
    met: int
    total: int

    @property
    def share(self) -> float:
        return 100.0 * self.met / self.total if self.total else 0.0


@dataclass(frozen=True)
class Rates:
    """Rates: reports received and on time over reports due, for the periods ending within the report's."""

    expected: int
    actual: int
    on_time: int

    @property
    def reporting_rate(self) -> float | None:
        return 100.0 * self.actual / self.expected if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return 100.0 * self.on_time / self.expected if self.expected else None


@dataclass(frozen=True)
class Report:
    """Report: everything the official report says, in the order it says it."""

    target_set: str
    set_title: str
    period: ReportPeriod
    unit: str
    unit_name: str
    issuer: str
    evaluated_at: datetime | None
    rows: tuple[Row, ...]
    ranking: tuple[UnitShare, ...]
    rates: Rates
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def met(self) -> int:
        return sum(r.met for r in self.rows)

    @property
    def by_pillar(self) -> list[PillarCount]:
        """by_pillar: met/total per pillar, in pillar order, for the pillars the annex has rows for."""
        return [
            PillarCount(p, sum(r.met for r in self.rows if r.pillar is p), n)
            for p in Pillar
            if (n := sum(1 for r in self.rows if r.pillar is p))
        ]

    @property
    def by_result(self) -> list[tuple[Status, int]]:
        """by_result: how many rows have each result (no result counted as Chưa có số liệu)."""
        counts = {s: sum(1 for r in self.rows if (r.result or Status.NO_DATA) is s) for s in Status}
        return [(s, n) for s, n in counts.items() if n]

    def footnotes(self) -> list[tuple[str, str]]:
        """footnotes: (key, description) of every source named by a row, numbered in order of first use."""
        keys = list(dict.fromkeys(k for r in self.rows for k in r.sources))
        return [(k, self.sources.get(k, k)) for k in keys]

    def footnote_numbers(self, row: Row) -> list[int]:
        numbers = {k: n for n, (k, _) in enumerate(self.footnotes(), start=1)}
        return [numbers[k] for k in row.sources]


def rank(shares: Iterable[UnitShare]) -> tuple[UnitShare, ...]:
    """rank orders units by share of targets met (highest first), then by more targets met, then by name."""
    return tuple(sorted(shares, key=lambda s: (-s.share, -s.met, s.name)))
