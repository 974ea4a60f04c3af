"""Tests for dxmon.intake, the path from a bearer key to JetStream that ingest and the entry service share.

Authentication, scope and catalog rules each raise the refusal an agency's system acts on (status,
reason, headers); the events decode to exactly the ReportReceived the contract defines; publishing maps
every way JetStream can fail to a 503 with Retry-After. NATS is replaced by ``FakeJetStream``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import nats.errors
import nats.js.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dxmon.catalog import Catalog
from dxmon.contracts import ReportIn, ReportReceived, message_id
from dxmon.intake import (
    INVALID,
    KEYS_NOT_LOADED,
    MISSING,
    authenticate,
    check_scope,
    encode_events,
    publish_events,
    validate_reports,
)
from dxmon.keys import ApiKey, Authenticated
from dxmon.problems import Problem
from tests.unit.ingest.fakes import TOKEN, FakeJetStream, FakeKeyRing, authenticated

CALLER = Authenticated(
    ApiKey(
        key_id="0123456789abcdef",
        agency='UBND phường "Hồng Gai" \\ Hạ Long',
        units=("QN",),
        with_descendants=True,
        secret_sha256="0" * 64,
        created_at="2026-01-01T00:00:00+00:00",
    ),
    frozenset({"QN-P-HONGGAI"}),
)


@settings(max_examples=200, deadline=None)
@given(
    note=st.none() | st.text(max_size=50).filter(lambda t: "\x00" not in t),
    numerator=st.integers(0, 10**6),
    extra=st.integers(0, 10**6),
    observed=st.datetimes(datetime(2022, 1, 1), datetime(2026, 1, 1), timezones=st.just(UTC)),
)
def test_encoded_event_equals_the_contract_model(note, numerator, extra, observed):
    report = ReportIn(
        event_id=uuid.uuid4(),
        unit="QN-P-HONGGAI",
        indicator="DG-04",
        observed_at=observed.isoformat(),
        numerator=numerator,
        denominator=numerator + extra,
        note=note,
    )
    received_at = datetime(2026, 11, 26, 4, 55, 1, 123456, tzinfo=UTC)
    [out] = encode_events([report], received_at, CALLER)
    expected = ReportReceived(
        **report.model_dump(), received_at=received_at, agency=CALLER.key.agency, key_id=CALLER.key.key_id
    )
    assert ReportReceived.model_validate_json(out.payload) == expected
    assert out.subject == "dx.reports.v1.QN-P-HONGGAI.DG-04"
    assert out.event_id == str(report.event_id)


def test_message_id_scopes_deduplication_to_agency_event_and_content():
    base = {
        "event_id": str(uuid.uuid4()),
        "unit": "QN-P-HONGGAI",
        "indicator": "DG-04",
        "observed_at": "2026-09-30T23:59:59+07:00",
        "numerator": 40,
        "denominator": 100,
    }
    same = message_id("A", ReportIn(**base))
    assert same.startswith(base["event_id"] + ":")
    # The same instant written with another offset is the same report.
    assert message_id("A", ReportIn(**{**base, "observed_at": "2026-09-30T16:59:59Z"})) == same
    assert message_id("B", ReportIn(**base)) != same  # another agency's event
    assert message_id("A", ReportIn(**{**base, "numerator": 41})) != same  # same id, other content
    assert message_id("A", ReportIn(**{**base, "category": "province"})) != same
    assert message_id("A", ReportIn(**{**base, "note": "sửa số liệu"})) != same
    [out] = encode_events([ReportIn(**base)], datetime(2026, 10, 1, tzinfo=UTC), CALLER)
    assert out.msg_id == message_id(CALLER.key.agency, ReportIn(**base))


def refusal(call, *args, **kwargs) -> Problem:
    with pytest.raises(Problem) as caught:
        call(*args, **kwargs)
    return caught.value


# ───────────────────────────── authenticate ─────────────────────────────


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", TOKEN])
def test_a_request_without_a_bearer_token_is_told_how_to_send_one(header):
    refused: list[str] = []
    p = refusal(authenticate, FakeKeyRing({TOKEN: CALLER}), header, on_refused=refused.append)
    assert (p.status, p.reason, p.headers) == (401, "missing-credentials", {"WWW-Authenticate": "Bearer"})
    assert refused == [MISSING]


def test_an_unknown_or_revoked_token_is_invalid():
    refused: list[str] = []
    p = refusal(
        authenticate, FakeKeyRing({TOKEN: CALLER}), "Bearer dxk_ffffffffffffffff_" + "x" * 43, on_refused=refused.append
    )
    assert (p.status, p.reason) == (401, "invalid-credentials")
    assert p.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert refused == [INVALID]


def test_before_the_keys_are_loaded_the_answer_is_retry_not_invalid():
    refused: list[str] = []
    p = refusal(
        authenticate,
        FakeKeyRing({TOKEN: CALLER}, loaded=False),
        f"Bearer {TOKEN}",
        bus_status="loading keys",
        on_refused=refused.append,
    )
    assert (p.status, p.reason, p.headers["Retry-After"]) == (503, "bus-unavailable", "5")
    assert "loading keys" in p.detail.en
    assert refused == [KEYS_NOT_LOADED]


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"Bearer {TOKEN}  "])
def test_a_valid_token_names_its_caller(header):
    refused: list[str] = []
    assert authenticate(FakeKeyRing({TOKEN: CALLER}), header, on_refused=refused.append) is CALLER
    assert refused == []


# ───────────────────────────── scope and catalog rules ─────────────────────────────


def report_in(unit: str = "QN-P-HONGGAI", **changes) -> ReportIn:
    fields = {
        "event_id": str(uuid.uuid4()),
        "unit": unit,
        "indicator": "DG-04",
        "observed_at": "2025-09-30",
        "numerator": 1,
        "denominator": 2,
    }
    return ReportIn(**{**fields, **changes})


def test_units_outside_the_key_are_all_named_and_nothing_passes():
    caller = authenticated("QN-P-HONGGAI")
    check_scope(caller, [report_in()])  # inside: no refusal
    p = refusal(check_scope, caller, [report_in(), report_in("QN-P-BAICHAY"), report_in("QN-CAMPHA")])
    assert (p.status, p.reason) == (403, "outside-key-scope")
    assert [(i.reason, i.field) for i in p.issues] == [("outside-key-scope", "unit")] * 2
    assert "QN-CAMPHA, QN-P-BAICHAY" in p.detail.vi  # sorted, each once


def test_catalog_rules_refuse_the_whole_batch_naming_each_report(catalog: Catalog):
    now = datetime(2025, 10, 15, tzinfo=UTC)
    good, unknown = report_in(), report_in("QN-X-KHONGCO")
    validate_reports([good], catalog, now, timedelta(minutes=5))
    p = refusal(validate_reports, [good, unknown], catalog, now, timedelta(minutes=5))
    assert (p.status, p.reason) == (422, "invalid-reports")
    assert [(i.reason, i.index, i.event_id) for i in p.issues] == [("unknown-unit", 1, str(unknown.event_id))]


def test_the_future_skew_decides_when_observed_at_is_in_the_future(catalog: Catalog):
    now = datetime(2025, 10, 15, 12, tzinfo=UTC)
    soon = report_in(observed_at=(now + timedelta(minutes=4)).isoformat())
    validate_reports([soon], catalog, now, timedelta(minutes=5))
    p = refusal(validate_reports, [soon], catalog, now, timedelta(minutes=3))
    assert p.status == 422 and p.issues[0].field == "observed_at"


# ───────────────────────────── publish_events ─────────────────────────────


async def test_every_event_is_published_with_its_message_id_and_duplicates_are_flagged():
    js = FakeJetStream()
    reports = [report_in(), report_in()]
    events = encode_events(reports, datetime(2025, 10, 1, tzinfo=UTC), CALLER)
    assert await publish_events(js, events, 1.0) == [False, False]
    assert [(s, h) for s, _, h in js.published] == [(e.subject, {"Nats-Msg-Id": e.msg_id}) for e in events]
    assert await publish_events(js, events[:1], 1.0) == [True]  # JetStream remembered its id


@pytest.mark.parametrize(
    ("js", "cause"),
    [
        (None, "the message bus is not connected"),
        (FakeJetStream(hang=True), "JetStream did not confirm storage in time"),
        (FakeJetStream(error=nats.errors.TimeoutError()), "JetStream did not confirm storage in time"),
        (FakeJetStream(ack_error=nats.js.errors.NoStreamResponseError()), "stream DX_REPORTS is not available"),
        (
            FakeJetStream(ack_error=nats.js.errors.APIError(code=503, description="maximum bytes exceeded")),
            "JetStream refused the reports (maximum bytes exceeded)",
        ),
        (FakeJetStream(error=nats.errors.ConnectionClosedError()), "the message bus failed (ConnectionClosedError)"),
        (
            FakeJetStream(error=nats.errors.OutboundBufferLimitError()),
            "the message bus failed (OutboundBufferLimitError)",
        ),
    ],
    ids=["not-connected", "no-puback", "timeout", "no-stream", "stream-full", "closed", "buffer-full"],
)
async def test_every_failure_to_store_is_a_503_to_resend(js, cause):
    events = encode_events([report_in()], datetime(2025, 10, 1, tzinfo=UTC), CALLER)
    with pytest.raises(Problem) as caught:
        await publish_events(js, events, 0.05)
    p = caught.value
    assert (p.status, p.reason, p.headers) == (503, "bus-unavailable", {"Retry-After": "5"})
    assert p.detail.en.startswith(cause + "; resend the same request later")
