"""The events ingest publishes decode to exactly the ReportReceived the contract defines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from dxmon.contracts import ReportIn, ReportReceived, message_id
from dxmon.keys import ApiKey, Authenticated
from dxmon.intake import encode_events

CALLER = Authenticated(
    ApiKey(key_id="0123456789abcdef", agency='UBND phường "Hồng Gai" \\ Hạ Long', units=("QN",),
           with_descendants=True, secret_sha256="0" * 64, created_at="2026-01-01T00:00:00+00:00"),
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
    report = ReportIn(event_id=uuid.uuid4(), unit="QN-P-HONGGAI", indicator="DG-04", observed_at=observed.isoformat(),
                      numerator=numerator, denominator=numerator + extra, note=note)
    received_at = datetime(2026, 11, 26, 4, 55, 1, 123456, tzinfo=UTC)
    [out] = encode_events([report], received_at, CALLER)
    expected = ReportReceived(**report.model_dump(), received_at=received_at, agency=CALLER.key.agency,
                              key_id=CALLER.key.key_id)
    assert ReportReceived.model_validate_json(out.payload) == expected
    assert out.subject == "dx.reports.v1.QN-P-HONGGAI.DG-04"
    assert out.event_id == str(report.event_id)


def test_message_id_scopes_deduplication_to_agency_event_and_content():
    base = {"event_id": str(uuid.uuid4()), "unit": "QN-P-HONGGAI", "indicator": "DG-04",
            "observed_at": "2026-09-30T23:59:59+07:00", "numerator": 40, "denominator": 100}
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
