"""Batch: what one fetch holds and how each failure is treated — pure, no I/O.

``classify`` splits a fetch into reports to store and poison to dead-letter; ``is_transient`` tells a
database that failed (nak, retry later) from data it refused (dead-letter); ``nak_delay`` is how long
a nak'ed batch waits before it comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from nats.aio.msg import Msg
from pydantic import ValidationError

from dxmon.catalog import Catalog
from dxmon.contracts import ReportReceived
from dxmon.validation import check_category

MAX_NAK_DELAY = 5.0  # short: an outage should end within seconds of the database returning


@dataclass(frozen=True)
class Poison:
    """Poison is a message that can never be stored, and why."""

    msg: Msg
    reason: str
    detail: str


@dataclass(frozen=True)
class Batch:
    """Batch is one fetch, decoded: what can be stored and what is poison."""

    msgs: list[Msg]
    good: list[tuple[Msg, ReportReceived]]
    poison: list[Poison]


def is_transient(exc: BaseException) -> bool:
    """is_transient: the database (not the data) failed, so the same batch will succeed later."""
    if isinstance(exc, (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)):
        return True
    # 08 connection exception, 53 insufficient resources, 57 operator intervention (e.g. shutdown);
    # 40001 serialization failure and 40P01 deadlock (concurrent aggregators): the same batch succeeds
    # when tried again, so they are nak'ed, never dead-lettered.
    if not isinstance(exc, asyncpg.PostgresError):
        return False
    sqlstate = exc.sqlstate or ""
    return sqlstate[:2] in {"08", "53", "57"} or sqlstate in {"40001", "40P01"}


def nak_delay(deliveries: int) -> float:
    """nak_delay: 0.5 s on the first delivery, doubling with each redelivery, at most MAX_NAK_DELAY."""
    # The exponent is capped: redelivery is unlimited, and 2 ** 1024 no longer converts to a float.
    return min(MAX_NAK_DELAY, 0.5 * 2 ** min(max(0, deliveries - 1), 16))


def classify(msgs: list[Msg], catalog: Catalog) -> tuple[list[tuple[Msg, ReportReceived]], list[Poison]]:
    """classify decodes each message; those that fail decoding or name codes the catalog lacks are poison.

    Ingest already applied every catalog rule (as of ``received_at``), and NATS permissions let only
    ingest publish reports, so the full rule set is not re-run per message here (it costs a third of
    the aggregator's CPU). What can still go wrong — a rogue or garbled message, a catalog that lost
    a code since — is caught here; anything the database refuses is caught by the one-by-one retry.
    """
    good, poison = [], []
    units, indicators = catalog.units, catalog.indicators
    for m in msgs:
        try:
            event = ReportReceived.model_validate_json(m.data)
        except ValidationError as exc:
            poison.append(Poison(m, "undecodable", str(exc)[:1000]))
            continue
        if event.unit not in units:
            poison.append(Poison(m, "unknown-unit", f"unit {event.unit!r} is not in the catalog"))
        elif event.indicator not in indicators:
            poison.append(Poison(m, "unknown-indicator", f"indicator {event.indicator!r} is not in the catalog"))
        elif issues := check_category(event, indicators[event.indicator]):
            # The catalog's categories changed since ingest accepted it: the report has no period row to go to.
            poison.append(Poison(m, issues[0].reason, issues[0].message.en))
        else:
            good.append((m, event))
    return good, poison
