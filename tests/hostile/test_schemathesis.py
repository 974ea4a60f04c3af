"""Fuzzing ingest through its own OpenAPI document, and the report contract as a round-trip property.

Ingest and the aggregator run as ``dxmon serve`` processes. Schemathesis generates requests for
every operation of ``/openapi.json`` (valid data and, for POST, invalid data), sent with the
all-QN key, with no key and with an unknown key. Every answer must be < 500 and match the
document (status, content type, body schema, headers); every request refused stores nothing and
every 202 stores exactly the reports it counts as accepted (JetStream's stream sequence is read
around each request). Hypothesis then checks that any accepted report reaches ``reports``
unchanged: text byte for byte (NFC and NFD, control characters, SQL-looking text), numbers bit
for bit.
"""

from __future__ import annotations

import asyncio
import json
import struct
import unicodedata
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from typing import Literal

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi import checks as openapi_checks

from dxmon.catalog import Catalog, Measure
from dxmon.contracts import LOCAL_TZ
from dxmon.validation import MAX_MAGNITUDE
from tests.conftest import _reset_nats, create_database
from tests.hostile.hostile_support import Stack, SyncProbe, assert_no_leak, drop_database, start_stack, wait_drained

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 50
CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]
UNKNOWN_TOKEN = "dxk_0123456789abcdef_" + "Q" * 43
TODAY = datetime.now(LOCAL_TZ).date()


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, nats_server_url, pg_admin_url, catalog):
    await _reset_nats(nats_server_url)
    database_url = await create_database(pg_admin_url, catalog)
    s = await start_stack(
        tmp_path_factory.mktemp("fuzz"), nats_server_url, catalog, database_url=database_url, aggregator=True
    )
    yield s
    s.stop()
    await drop_database(pg_admin_url, database_url)


def applicable_pairs(catalog: Catalog) -> list[tuple[str, str, Measure]]:
    """applicable_pairs: (unit, indicator, measure) a unit valid today may report."""
    return sorted(
        (u.code, i.code, i.measure)
        for u in catalog.units_active_on(TODAY)
        for i in catalog.indicators.values()
        if u.level in i.applies_to
    )


def categories_by_indicator(catalog: Catalog) -> dict[str, list[str]]:
    """categories_by_indicator: the category codes each indicator is reported by (none: no category)."""
    return {code: [c.code for c in i.categories] for code, i in catalog.indicators.items()}


NUMBERS = ("value", "numerator", "denominator")


def plausible(body, pair: tuple[str, str, Measure], aim: str, categories: dict[str, list[str]]):
    """plausible points generated reports at a real unit, indicator and past date (``aim`` "codes"), and
    also gives them valid numbers and category and no explanation ("valid": a generated explanation
    mostly holds control characters, refused there), so fuzzing reaches the catalog rules, the value
    checks and storage; event ids, notes and sources stay as generated. Random codes stop at unknown-unit.
    """
    unit, indicator, measure = pair
    valid: dict[str, int | str] = {"numerator": 1, "denominator": 2} if measure is Measure.RATIO else {"value": 1}
    if categories[indicator]:  # without one: category-required; a generated one: unknown-category
        valid["category"] = categories[indicator][0]

    def fix(item):
        if not isinstance(item, dict):
            return item
        fixed = {**item, "unit": unit, "indicator": indicator, "observed_at": str(TODAY - timedelta(days=40))}
        if aim == "valid":
            fixed = {k: v for k, v in fixed.items() if k not in (*NUMBERS, "category", "explanation")}
            fixed |= valid
        return fixed

    return [fix(i) for i in body] if isinstance(body, list) else fix(body)


class Fuzzer:
    """Fuzzer sends schemathesis cases for one operation and checks answer and storage of each."""

    def __init__(self, stack: Stack, probe: SyncProbe, http: httpx.Client, pairs, categories) -> None:
        self.stack, self.probe, self.http, self.pairs, self.categories = stack, probe, http, pairs, categories
        self.statuses: dict[tuple[str, str, str], Counter] = {}
        self.accepted = 0

    def run(self, op, mode: GenerationMode, auth: str) -> None:
        counts = self.statuses.setdefault((op.label, mode.value, auth), Counter())

        # An operation without inputs gives the same request every time: a few are enough.
        examples = EXAMPLES_PER_OPERATION if op.method.upper() == "POST" else 3

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=op.as_strategy(generation_mode=mode),
            pair=st.sampled_from(self.pairs),
            aim=st.sampled_from(["as generated", "codes", "valid"]),
        )
        def fuzz(case, pair, aim) -> None:
            self.check(case, op, mode, auth, counts, pair, aim)

        fuzz()

    def check(self, case, op, mode: GenerationMode, auth: str, counts: Counter, pair, aim: str) -> None:
        posting = op.method.upper() == "POST"
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if auth != "no-key":
            headers["Authorization"] = f"Bearer {self.stack.setup.token if auth == 'key' else UNKNOWN_TOKEN}"
        case.headers = headers
        if posting and mode is GenerationMode.POSITIVE and auth == "key" and aim != "as generated":
            case.body = plausible(case.body, pair, aim, self.categories)
        request = case.as_transport_kwargs(base_url=self.stack.url)
        before = self.probe.last_seq()
        response = self.http.request(
            request["method"],
            request["url"],
            headers=request.get("headers"),
            params=request.get("params"),
            json=request.get("json"),
            content=request.get("data"),
        )
        stored = self.probe.last_seq() - before
        counts[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)
        assert_no_leak(response.text, self.stack.setup.token, UNKNOWN_TOKEN, where=op.label)
        if posting and auth != "key":
            assert response.status_code == 401, response.text
        if posting and response.status_code == 202:
            assert stored == response.json()["accepted"]
            self.accepted += stored
        else:
            assert stored == 0, f"{response.status_code} answer but {stored} reports stored"


def test_fuzzed_requests_get_no_5xx_match_the_spec_and_store_only_what_was_accepted(stack: Stack, catalog) -> None:
    """Fault: arbitrary (valid-shaped and invalid) requests to every operation, with and without a key.

    Counts checked: for each request, the growth of DX_REPORTS' sequence equals the ``accepted``
    of a 202 and is 0 for anything else; after draining, ``reports`` holds exactly the sum, less the
    reports that reused a stored event id with other content (each an event-id-reused dead letter, the
    only dead letters allowed).
    """
    schema = schemathesis.openapi.from_url(f"{stack.url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # every operation of ingest's own spec loads
        operations.append(result.ok())
    assert {op.label for op in operations} >= {
        "POST /v1/reports",
        "GET /v1/catalog/units",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    }
    probe = SyncProbe(stack.nats_url, stack.database_url)
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as http:
            fuzzer = Fuzzer(stack, probe, http, applicable_pairs(catalog), categories_by_indicator(catalog))
            for op in operations:
                posting = op.method.upper() == "POST"
                for mode in (
                    (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if posting else (GenerationMode.POSITIVE,)
                ):
                    for auth in ("key", "no-key", "unknown-key"):
                        fuzzer.run(op, mode, auth)
        print("\n".join(f"{k}: {dict(v)}" for k, v in fuzzer.statuses.items()))
        probe.run(wait_drained(stack.nats_url, timeout=30))
        stored_rows = probe.fetchval("SELECT count(*) FROM reports")
        # Generated cases repeat event ids, some with other content: ingest accepts such a report (it
        # cannot know), the aggregator keeps the first and dead-letters the other as event-id-reused.
        reused = probe.fetchval(
            "SELECT count(*) FROM dead_letters d WHERE reason = 'event-id-reused'"
            " AND EXISTS (SELECT 1 FROM reports r WHERE r.event_id::text = d.payload::jsonb ->> 'event_id')"
        )
        dead = probe.fetchval("SELECT count(*) FROM dead_letters")
    finally:
        probe.close()
    post_key = fuzzer.statuses[("POST /v1/reports", "positive", "key")]
    assert post_key[202] > 0 and sum(post_key.values()) > post_key[202]  # both paths were exercised
    assert stored_rows + reused == fuzzer.accepted and dead == reused, (stored_rows, reused, dead, fuzzer.accepted)
    assert_no_leak(stack.ingest.log.read_text(), stack.setup.token, UNKNOWN_TOKEN, where="ingest log")


# ───────────────────────────── the round-trip property ─────────────────────────────

SQL_LIKE = [
    "'); DROP TABLE reports; --",
    "Robert'); DELETE FROM period_values WHERE ('1'='1",
    "$1",
    "$$ $body$",
    "\\x00\\n",
    "%s %(name)s {0}",
    "E'\\\\'",
    "/* */ -- ;",
    '" OR ""="',
    "<script>alert(1)</script>",
]
VIETNAMESE = [
    "Số liệu tháng 10 của phường Hồng Gai",
    "Tỷ lệ hồ sơ trực tuyến toàn trình",
    "Ủy ban nhân dân xã Cái Chiên — đã rà soát",
    "Nghị quyết 09-NQ/TU: chỉ tiêu số 4",
]
CONTROL = "".join(chr(c) for c in [*range(1, 32), 0x7F, 0x85, 0x2028, 0x2029, 0x200B, 0x202E, 0xFEFF])
TEXT_ALPHABET = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


def text_variants(max_size: int) -> st.SearchStrategy[str]:
    """text_variants: Vietnamese in NFC or NFD, control characters, SQL-looking text, anything printable."""
    pieces = st.one_of(
        st.sampled_from(VIETNAMESE),
        st.sampled_from(SQL_LIKE),
        st.text(st.sampled_from(CONTROL), max_size=8),
        st.text(TEXT_ALPHABET, max_size=20),
        st.just("😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010ffff"),
    )
    joined = st.lists(pieces, max_size=4).map("".join)
    # Half the texts lead with Vietnamese, whose NFC and NFD forms differ (ắ is one code point or three).
    text = st.one_of(joined, st.tuples(st.sampled_from(VIETNAMESE), joined).map("".join))
    forms: list[Literal["NFC", "NFD"] | None] = ["NFC", "NFD", None]
    return st.tuples(text, st.sampled_from(forms)).map(
        lambda t: (unicodedata.normalize(t[1], t[0]) if t[1] else t[0])[:max_size]
    )


@st.composite
def numbers(draw, measure: Measure) -> dict[str, float]:
    finite = partial(st.floats, allow_nan=False, allow_infinity=False)
    if measure is Measure.RATIO:
        # Up to the contract's bound (dxmon.validation.MAX_MAGNITUDE); larger numbers are refused.
        den = draw(finite(min_value=5e-324, max_value=MAX_MAGNITUDE))
        share = draw(finite(min_value=0, max_value=1))
        return {"numerator": den * share, "denominator": den}
    if measure is Measure.PERCENT:
        return {"value": draw(st.one_of(finite(min_value=0, max_value=100), st.just(-0.0)))}
    if measure is Measure.BOOLEAN:
        return {"value": draw(st.sampled_from([0.0, 1.0]))}
    if measure is Measure.RANK:
        return {"value": float(draw(st.integers(1, 10_000)))}
    return {"value": float(draw(st.integers(0, int(MAX_MAGNITUDE))))}


@st.composite
def valid_reports(draw, pairs: list[tuple[str, str, Measure]], categories: dict[str, list[str]]) -> dict:
    unit, indicator, measure = draw(st.sampled_from(pairs))
    day = TODAY - timedelta(days=draw(st.integers(1, 120)))
    offset = draw(st.sampled_from([None, 0, 7 * 60, -(5 * 60 + 30), 14 * 60]))
    if offset is None:
        observed_at = day.isoformat()  # a bare date: that day's end in Hạ Long
    else:
        local = datetime(day.year, day.month, day.day, 12, 30, 15, 123456, tzinfo=timezone(timedelta(minutes=offset)))
        observed_at = local.isoformat()
    body = {
        "event_id": str(uuid.uuid4()),
        "unit": unit,
        "indicator": indicator,
        "observed_at": observed_at,
        **draw(numbers(measure)),
    }
    if categories[indicator]:  # an indicator with categories takes one of them (else category-required)
        body["category"] = draw(st.sampled_from(categories[indicator]))
    if note := draw(st.one_of(st.none(), text_variants(2000))):
        body["note"] = note
    if source := draw(st.one_of(st.none(), text_variants(200))):
        body["source"] = source
    return body


def same_float(a: float | None, b: float | None) -> bool:
    return a is b is None or (a is not None and b is not None and struct.pack("<d", a) == struct.pack("<d", b))


def test_any_accepted_report_round_trips_unchanged_to_its_row(stack: Stack, catalog) -> None:
    """Property: a valid report sent as UTF-8 or \\u-escaped JSON is accepted and its row equals it exactly.

    Checked per example: 202 with accepted 1; the row's note and source are the same code points
    (so NFC stays NFC and NFD stays NFD), numbers have the same bits (-0.0 included), observed_at
    the same instant, unit, indicator and category the same.
    """
    pairs = applicable_pairs(catalog)
    categories = categories_by_indicator(catalog)
    probe = SyncProbe(stack.nats_url, stack.database_url)
    seen: Counter[str] = Counter()
    try:
        with httpx.Client(base_url=stack.url, headers=stack.headers, timeout=30) as http:

            @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(body=valid_reports(pairs, categories), ascii_only=st.booleans())
            def round_trip(body: dict, ascii_only: bool) -> None:
                raw = json.dumps(body, ensure_ascii=ascii_only).encode()
                answer = http.post("/v1/reports", content=raw, headers={"Content-Type": "application/json"})
                assert answer.status_code == 202, answer.text
                assert answer.json()["accepted"] == 1
                row = None
                for _ in range(200):
                    row = probe.fetchrow("SELECT * FROM reports WHERE event_id = $1", uuid.UUID(body["event_id"]))
                    if row is not None:
                        break
                    probe.run(asyncio.sleep(0.02))
                assert row is not None, "accepted report never stored"
                assert row["note"] == body.get("note") and row["source"] == body.get("source")
                for text in (body.get("note"), body.get("source")):
                    if text:
                        seen["NFD" if not unicodedata.is_normalized("NFC", text) else "NFC"] += 1
                        seen["control"] += any(c in CONTROL for c in text)
                        seen["sql"] += any(s in text for s in SQL_LIKE)
                assert (row["unit"], row["indicator"]) == (body["unit"], body["indicator"])
                assert row["category"] == body.get("category", "")
                for name in ("value", "numerator", "denominator"):
                    assert same_float(row[name], body.get(name)), (name, row[name], body.get(name))
                assert row["observed_at"] == expected_instant(body["observed_at"])

            round_trip()
    finally:
        probe.close()
    print(f"texts seen: {dict(seen)}")
    assert seen["NFD"] and seen["NFC"] and seen["control"] and seen["sql"]


def expected_instant(observed_at: str) -> datetime:
    if len(observed_at) == 10:
        d = date.fromisoformat(observed_at)
        return datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ) + timedelta(days=1, microseconds=-1)
    return datetime.fromisoformat(observed_at).astimezone(UTC)
