"""Intake: the path a batch of reports takes from a bearer key to JetStream, shared by every service that
accepts reports (ingest's HTTP API, the entry service's forms and imports).

    authenticate(keyring, "Bearer dxk_…")      → Authenticated           401 / 503 while keys load
    validate_reports(reports, catalog, now, …)  → every rule, whole batch  422 listing each problem
    check_scope(caller, reports)                → units of the key         403
    encode_events(reports, received_at, caller) → [Outgoing]               (ReportReceived JSON)
    await publish_events(js, events, timeout)   → [duplicate?] per event   503 + Retry-After

Each step raises a ``Problem`` (``dxmon.problems``) the caller answers as problem+json; nothing here
counts metrics or reads settings, so each service observes and configures it its own way. A 202 may
be answered only after ``publish_events`` returned: every report then has its PubAck (stored).
Core layer: imports only ``dxmon`` core modules, never a service.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nats.errors
import nats.js.errors

from dxmon.catalog import Catalog
from dxmon.contracts import REPORTS_STREAM, SCHEMA_VERSION, ReportIn, message_id, report_subject
from dxmon.keys import Authenticated, KeyRing
from dxmon.problems import Issue, Problem, Text, say
from dxmon.validation import check_report

RETRY_AFTER_SECONDS = 5

# authenticate's refusals, by the label services count them under (dx_ingest_auth_failures_total).
MISSING, INVALID, KEYS_NOT_LOADED = "missing", "invalid", "keys-not-loaded"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Outgoing is one accepted report ready for JetStream: subject, ReportReceived JSON, event id, Nats-Msg-Id."""

    subject: str
    payload: bytes
    event_id: str
    msg_id: str


# ───────────────────────────── refusals ─────────────────────────────


def bus_unavailable(cause: Text) -> Problem:
    """bus_unavailable is the 503 for anything that keeps reports from being stored; the client resends."""
    # A batch may be cut short by a full stream: reports published before the refusal are stored.
    # Resending the same request is safe — those are never stored twice (answered 'duplicate' while
    # JetStream remembers their ids, 'accepted' after a nats-server restart).
    return Problem(
        503,
        "bus-unavailable",
        "Reports cannot be stored right now",
        say("bus-unavailable/resend", cause=cause),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def missing_credentials() -> Problem:
    return Problem(
        401,
        "missing-credentials",
        "API key required",
        say("missing-credentials"),
        headers={"WWW-Authenticate": "Bearer"},
    )


def invalid_credentials() -> Problem:
    return Problem(
        401,
        "invalid-credentials",
        "Invalid or revoked API key",
        say("invalid-credentials"),
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def invalid_reports(issues: list[Issue]) -> Problem:
    """invalid_reports is the 422 listing every problem of every report (shape and catalog rules alike)."""
    return Problem(422, "invalid-reports", "Invalid reports", say("invalid-reports", count=len(issues)), issues)


def outside_key_scope(caller: Authenticated, outside: list[str]) -> Problem:
    return Problem(
        403,
        "outside-key-scope",
        "Units outside this key's scope",
        say("outside-key-scope", key_id=caller.key.key_id, agency=caller.key.agency, units=", ".join(outside[:20])),
        [Issue("outside-key-scope", say("outside-key-scope/unit", unit=u), "unit") for u in outside[:100]],
    )


# ───────────────────────────── steps ─────────────────────────────


def _ignore(_: str) -> None:
    return None


def authenticate(
    keyring: KeyRing, authorization: str | None, *, bus_status: str = "", on_refused: Callable[[str], None] = _ignore
) -> Authenticated:
    """authenticate returns the caller of an ``Authorization: Bearer <token>`` header, or raises its refusal.

    No I/O: the keyring is in memory. Before the keyring has loaded, no token can be judged, so the answer
    is 503 (retry; ``bus_status`` says why), not 401, which would make a client stop retrying.
    ``on_refused`` is called with MISSING, KEYS_NOT_LOADED or INVALID before raising (for a metric).
    """
    header = authorization or ""
    scheme, _, token = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        on_refused(MISSING)
        raise missing_credentials()
    if not keyring.loaded.is_set():
        on_refused(KEYS_NOT_LOADED)
        raise bus_unavailable(say("bus-unavailable/keys-not-loaded", status=bus_status))
    caller = keyring.verify(token.strip())
    if caller is None:
        on_refused(INVALID)
        raise invalid_credentials()
    return caller


def validate_reports(reports: list[ReportIn], catalog: Catalog, now: datetime, future_skew: timedelta) -> None:
    """validate_reports checks the whole batch against the catalog rules; any problem refuses all (422)."""
    issues = []
    for index, r in enumerate(reports):
        for issue in check_report(r, catalog, now, future_skew):
            issues.append(Issue(issue.reason, issue.message, issue.field, index, str(r.event_id)))
    if issues:
        raise invalid_reports(issues)


def check_scope(caller: Authenticated, reports: list[ReportIn]) -> None:
    """check_scope refuses (403) a batch naming any unit outside the caller's key."""
    outside = sorted({r.unit for r in reports} - caller.scope)
    if outside:
        raise outside_key_scope(caller, outside)


def encode_events(reports: list[ReportIn], received_at: datetime, caller: Authenticated) -> list[Outgoing]:
    """encode_events serialises each report as the ``ReportReceived`` event ingest publishes.

    The report's own JSON gets the fields ingest adds appended, instead of building and validating
    a second model per report (that tripled the cost of the hottest path of ingest). The result
    decodes to exactly the ``ReportReceived`` a model would have produced; a unit test checks it.
    """
    added = {
        "received_at": received_at.isoformat(),
        "agency": caller.key.agency,
        "key_id": caller.key.key_id,
        "schema_version": SCHEMA_VERSION,
    }
    suffix = ("," + json.dumps(added, ensure_ascii=False, separators=(",", ":"))[1:]).encode()
    return [
        Outgoing(
            report_subject(r.unit, r.indicator),
            r.model_dump_json().encode()[:-1] + suffix,
            str(r.event_id),
            message_id(caller.key.agency, r),
        )
        for r in reports
    ]


async def publish_events(js: Any, events: list[Outgoing], timeout_seconds: float) -> list[bool]:
    """publish_events stores every event in DX_REPORTS and returns, per event, whether it was a duplicate.

    ``js`` is a nats-py JetStream context, or None while not connected (503 at once). Publishes are
    pipelined (``publish_async``); all PubAcks must arrive within ``timeout_seconds``, else 503.
    """
    if js is None:
        raise bus_unavailable(say("bus-unavailable/not-connected"))
    try:
        futures = [await js.publish_async(e.subject, e.payload, headers={"Nats-Msg-Id": e.msg_id}) for e in events]
        acks = await asyncio.wait_for(asyncio.gather(*futures), timeout_seconds)
    except (TimeoutError, nats.errors.TimeoutError):
        raise bus_unavailable(say("bus-unavailable/timeout")) from None
    except nats.js.errors.NoStreamResponseError:
        raise bus_unavailable(say("bus-unavailable/no-stream", stream=REPORTS_STREAM)) from None
    except nats.js.errors.APIError as exc:
        # e.g. "maximum bytes exceeded": the stream is full (discard=new); refuse rather than drop.
        raise bus_unavailable(say("bus-unavailable/refused", description=exc.description)) from None
    except nats.errors.Error as exc:  # ConnectionClosedError, OutboundBufferLimitError, …
        raise bus_unavailable(say("bus-unavailable/failed", error=type(exc).__name__)) from None
    return [bool(a.duplicate) for a in acks]


class RefusedPublishLog(logging.Filter):
    """RefusedPublishLog turns a JetStream refusal of a report (stream or store full) into one plain line.

    nats-py 2.16 raises such a refusal inside its PubAck handler instead of failing the publish
    (nats-io/nats.py#985): the report's future never resolves (``publish_events`` answers 503 when its
    timeout runs out) and FastStream logs "Connection broken" with a stack trace, once per refused
    report. The connection is fine; the line says what happened, without the trace. Add it to the
    logger given to the service's broker.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, nats.js.errors.APIError):
            record.msg, record.args, record.exc_info = "JetStream refused a report: %s", (exc.description,), None
        return True
