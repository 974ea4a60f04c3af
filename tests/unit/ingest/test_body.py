"""Tests for services.ingest.body: parsing a request's body (JSON object, array, NDJSON) to reports or a
Problem (reading it within the limits is the service kit's ``read_body``: tests/unit/test_service_kit.py).

Parsing is pure: bytes in, reports or a Problem out. Each refusal is checked by
HTTP status, problem reason and the per-item (reason, index, field) an agency's system would act on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dxmon.problems import Problem, Text
from services.ingest.body import JSON, NDJSON, media_type, parse_reports

MAX = 3


def item(n: int = 0, **changes: Any) -> dict[str, Any]:
    """item is a valid report (event id ending in ``n``) with ``changes`` applied."""
    base: dict[str, Any] = {
        "event_id": f"0b4c2b1e-5a3a-4f57-9a51-{n:012d}",
        "unit": "QN-P-HONGGAI",
        "indicator": "DG-04",
        "observed_at": "2025-09-30",
        "numerator": 628,
        "denominator": 1000,
    }
    base.update(changes)
    return base


def array(*items: dict[str, Any]) -> bytes:
    return json.dumps(list(items), ensure_ascii=False).encode()


def ndjson(*items: dict[str, Any] | str) -> bytes:
    return "\n".join(i if isinstance(i, str) else json.dumps(i, ensure_ascii=False) for i in items).encode()


def refuse(body: bytes, content_type: str = JSON, max_reports: int = MAX) -> Problem:
    with pytest.raises(Problem) as caught:
        parse_reports(body, content_type, max_reports)
    return caught.value


# ───────────────────────────── accepted bodies ─────────────────────────────


@pytest.mark.parametrize(
    ("body", "content_type", "count"),
    [
        pytest.param(json.dumps(item()).encode(), JSON, 1, id="one-object"),
        pytest.param(array(item(1), item(2), item(3)), JSON, 3, id="array-at-limit"),
        pytest.param(b" \r\n\t" + array(item()), JSON, 1, id="array-after-whitespace"),
        pytest.param(json.dumps(item()).encode(), "Application/JSON; charset=utf-8", 1, id="charset-parameter"),
        pytest.param(json.dumps(item()).encode(), "application/vnd.dx.report+json", 1, id="structured-json-suffix"),
        pytest.param(ndjson(item(1), item(2)), NDJSON, 2, id="ndjson"),
        pytest.param(ndjson(item(1), item(2)) + b"\n", NDJSON, 2, id="ndjson-trailing-newline"),
        pytest.param(ndjson(item(1), item(2)).replace(b"\n", b"\r\n"), NDJSON, 2, id="ndjson-crlf"),
        pytest.param(ndjson(item(1), "", "   ", item(2)), NDJSON, 2, id="ndjson-blank-lines-skipped"),
        pytest.param(ndjson(item(1), item(2), item(3)), "application/x-ndjson; charset=utf-8", 3, id="ndjson-at-limit"),
    ],
)
def test_accepted(body: bytes, content_type: str, count: int) -> None:
    reports = parse_reports(body, content_type, MAX)
    assert len(reports) == count


def test_reports_keep_body_order() -> None:
    reports = parse_reports(array(item(3), item(1), item(2)), JSON, MAX)
    assert [str(r.event_id)[-1] for r in reports] == ["3", "1", "2"]


# ───────────────────────────── refused bodies ─────────────────────────────

NAN_ARRAY = f"[{json.dumps(item(0))}, {json.dumps(item(1)).replace('628', 'NaN')}]".encode()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason", "issues"),
    [
        # Media type (415).
        pytest.param(
            b"unit=QN", "application/x-www-form-urlencoded", 415, "unsupported-media-type", [], id="form-encoded"
        ),
        pytest.param(json.dumps(item()).encode(), "text/plain", 415, "unsupported-media-type", [], id="text-plain"),
        pytest.param(json.dumps(item()).encode(), "", 415, "unsupported-media-type", [], id="no-content-type"),
        pytest.param(b"<report/>", "application/xml", 415, "unsupported-media-type", [], id="xml"),
        pytest.param(
            json.dumps(item()).encode(), "application/jsonl", 415, "unsupported-media-type", [], id="not-quite-ndjson"
        ),
        # Malformed JSON (400).
        pytest.param(b'{"unit": "QN",', JSON, 400, "malformed-json", [], id="truncated-object"),
        pytest.param(b"[" + json.dumps(item()).encode() + b",", JSON, 400, "malformed-json", [], id="truncated-array"),
        pytest.param(b"{'unit': 'QN'}", JSON, 400, "malformed-json", [], id="single-quotes"),
        pytest.param(b'{"note": "\\ud800"}', JSON, 400, "malformed-json", [], id="lone-surrogate"),
        pytest.param(b"\xef\xbb\xbf" + json.dumps(item()).encode(), JSON, 400, "malformed-json", [], id="utf8-bom"),
        pytest.param(
            json.dumps(item(note="Hà"), ensure_ascii=False).encode("latin-1"),
            JSON,
            400,
            "malformed-json",
            [],
            id="not-utf8",
        ),
        pytest.param(
            ndjson(item(0), "{oops", item(2)),
            NDJSON,
            400,
            "malformed-json",
            [("malformed-json", 1, None)],
            id="ndjson-malformed-line",
        ),
        pytest.param(
            ndjson("{", item(1, unit="x")),
            NDJSON,
            400,
            "malformed-json",
            [("malformed-json", 0, None), ("invalid-code", 1, "unit")],
            id="ndjson-malformed-and-invalid",
        ),
        # Empty (400).
        pytest.param(b"", JSON, 400, "empty-body", [], id="empty"),
        pytest.param(b" \n ", JSON, 400, "empty-body", [], id="whitespace"),
        pytest.param(b"[]", JSON, 400, "empty-body", [], id="empty-array"),
        pytest.param(b"\n\r\n \n", NDJSON, 400, "empty-body", [], id="ndjson-blank"),
        # Oversize batch (413) — before any item is looked at.
        pytest.param(array(*(item(i) for i in range(4))), JSON, 413, "batch-too-large", [], id="array-over-limit"),
        pytest.param(
            array(item(0), item(1), item(2), item(3, unit="bad unit")),
            JSON,
            413,
            "batch-too-large",
            [],
            id="array-over-limit-with-bad-item",
        ),
        pytest.param(ndjson(*(item(i) for i in range(4))), NDJSON, 413, "batch-too-large", [], id="ndjson-over-limit"),
        pytest.param(
            ndjson(item(0), item(1), item(2), "{oops"),
            NDJSON,
            413,
            "batch-too-large",
            [],
            id="ndjson-over-limit-with-malformed-line",
        ),
        # Contract violations (422), every one listed with its item index.
        pytest.param(
            json.dumps(item(observed_at="2025-09-30T10:00:00")).encode(),
            JSON,
            422,
            "invalid-reports",
            [("missing-timezone", 0, "observed_at")],
            id="object-missing-timezone",
        ),
        pytest.param(
            array(item(0), item(1, numerator="628"), item(2, unit="QN.P")),
            JSON,
            422,
            "invalid-reports",
            [("invalid-field", 1, "numerator"), ("invalid-code", 2, "unit")],
            id="array-wrong-types",
        ),
        pytest.param(NAN_ARRAY, JSON, 422, "invalid-reports", [("invalid-number", 1, "numerator")], id="array-nan"),
        pytest.param(
            ndjson(item(0), item(1, denominator=1e400)),
            NDJSON,
            422,
            "invalid-reports",
            [("invalid-number", 1, "denominator")],
            id="ndjson-infinity",
        ),
        pytest.param(
            ndjson(item(0), "", item(1, event_id="r-1")),
            NDJSON,
            422,
            "invalid-reports",
            [("invalid-event-id", 1, "event_id")],
            id="ndjson-index-skips-blank-lines",
        ),
        pytest.param(
            array(item(0, extra=1)), JSON, 422, "invalid-reports", [("unknown-field", 0, "extra")], id="extra-field"
        ),
        pytest.param(
            array(item(0, note="nul\u0000")),
            JSON,
            422,
            "invalid-reports",
            [("invalid-character", 0, "note")],
            id="nul-character",
        ),
        pytest.param(b"5", JSON, 422, "invalid-reports", [("not-an-object", 0, None)], id="number-body"),
        pytest.param(
            b"[1, null]",
            JSON,
            422,
            "invalid-reports",
            [("not-an-object", 0, None), ("not-an-object", 1, None)],
            id="array-of-scalars",
        ),
        pytest.param(
            ndjson(array(item()).decode()),
            NDJSON,
            422,
            "invalid-reports",
            [("not-an-object", 0, None)],
            id="ndjson-line-is-array",
        ),
    ],
)
def test_refused(
    body: bytes, content_type: str, status: int, reason: str, issues: list[tuple[str, int | None, str | None]]
) -> None:
    problem = refuse(body, content_type)
    assert (problem.status, problem.reason) == (status, reason)
    assert [(i.reason, i.index, i.field) for i in problem.issues] == issues
    rendered = problem.to_json()
    assert rendered["status"] == status and rendered["reason"] == reason
    assert rendered["type"].endswith("/" + reason)


def test_oversize_answer_says_how_many_and_the_limit() -> None:
    detail = refuse(array(*(item(i) for i in range(7)))).detail
    assert isinstance(detail, Text)
    assert detail.en == "7 reports sent; at most 3 per request — split the batch"
    assert detail.vi == "gửi 7 báo cáo; mỗi yêu cầu tối đa 3 — hãy chia nhỏ lô"


def test_unsupported_media_type_names_what_to_send() -> None:
    csv, missing = refuse(b"x", "text/csv").detail, refuse(b"x", "").detail
    assert isinstance(csv, Text) and isinstance(missing, Text)
    assert "application/json" in csv.en
    assert "application/json" in csv.vi
    assert "no Content-Type" in missing.en
    assert "thiếu Content-Type" in missing.vi


def test_malformed_json_says_where() -> None:
    detail = refuse(b'{"unit": "QN",').detail
    assert isinstance(detail, Text)
    assert "line 1 column" in detail.en
    assert "dòng 1, cột 14" in detail.vi


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("application/json", "application/json", id="plain"),
        pytest.param("Application/JSON ; charset=UTF-8", "application/json", id="case-and-parameters"),
        pytest.param("  application/x-ndjson", "application/x-ndjson", id="leading-space"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="absent"),
    ],
)
def test_media_type(header: str | None, expected: str) -> None:
    assert media_type(header) == expected


# ───────────────────────────── NDJSON ≡ JSON array (hypothesis) ─────────────────────────────

NOTES = st.none() | st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)
ITEMS = st.builds(
    lambda n, note, num, extra: {**item(n, numerator=num, denominator=num + extra), "note": note},
    st.integers(0, 10**6),
    NOTES,
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(ITEMS, min_size=1, max_size=20),
    ascii_only=st.booleans(),
    crlf=st.booleans(),
    blank_lines=st.booleans(),
)
def test_ndjson_and_the_equivalent_array_give_the_same_reports(
    items: list[dict[str, Any]], ascii_only: bool, crlf: bool, blank_lines: bool
) -> None:
    lines = [json.dumps(i, ensure_ascii=ascii_only) for i in items]
    separator = "\r\n" if crlf else "\n"
    if blank_lines:
        separator += separator
    ndjson_body = separator.join(lines).encode()
    array_body = json.dumps(items, ensure_ascii=ascii_only, indent=1 if crlf else None).encode()
    from_ndjson = parse_reports(ndjson_body, NDJSON, 20)
    assert from_ndjson == parse_reports(array_body, JSON, 20)
    assert [r.note for r in from_ndjson] == [i["note"] for i in items]
