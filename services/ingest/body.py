"""Body: a request's body read within ingest's limits, then parsed (JSON object, JSON array, NDJSON) into reports.

The body is read by the service kit's ``read_body``: over DX_MAX_BODY_BYTES 413 (from Content-Length
before reading when it is declared), not in time 408 (connection closed), a client gone 499.
``parse_reports`` is pure: bytes in, ``ReportIn`` objects or a ``Problem`` out. A body is validated whole:
one bad item refuses the request, and every bad item is listed with its index so the sender can fix them
all in one go. ``reports`` is the FastAPI dependency doing both for a request.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Request
from pydantic import Field, TypeAdapter, ValidationError

from dxmon.contracts import ReportIn
from dxmon.intake import invalid_reports
from dxmon.problems import Issue, Problem, issues_from_validation_error, json_syntax_message, say
from dxmon.service_kit import read_body

JSON = "application/json"
NDJSON = "application/x-ndjson"
READ_TIMEOUT_SECONDS = 60.0  # a whole body (≤ DX_MAX_BODY_BYTES) must arrive within this; else 408


async def reports(request: Request) -> list[ReportIn]:
    """reports is the FastAPI dependency giving the request's reports (limits from the app's settings)."""
    settings = request.app.state.settings
    body = await read_body(request, settings.max_body_bytes, request.app.state.read_timeout_seconds)
    return parse_reports(body, request.headers.get("content-type", ""), settings.max_batch_reports)


@lru_cache(maxsize=4)
def _batch(max_reports: int) -> TypeAdapter[list[ReportIn]]:
    # max_length makes pydantic answer only "too_long" for an oversize array, so it gets 413 like NDJSON
    # does, not a 422 listing item problems the sender would fix only to be refused again.
    return TypeAdapter(Annotated[list[ReportIn], Field(max_length=max_reports)])


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def unsupported_media_type(got: str) -> Problem:
    key = "unsupported-media-type" if got else "unsupported-media-type/none"
    return Problem(415, "unsupported-media-type", "Unsupported media type", say(key, json=JSON, ndjson=NDJSON, got=got))


def parse_reports(body: bytes, content_type: str, max_reports: int) -> list[ReportIn]:
    """parse_reports validates a body's shape and returns its reports in order."""
    kind = media_type(content_type)
    if kind == NDJSON:
        return _parse_ndjson(body, max_reports)
    if kind != JSON and not kind.endswith("+json"):
        raise unsupported_media_type(kind)
    stripped = body.lstrip()
    if not stripped:
        raise Problem(400, "empty-body", "Empty body", say("empty-body"))
    if stripped[:1] == b"[":
        return _parse_array(body, max_reports)
    try:
        return [ReportIn.model_validate_json(body)]
    except ValidationError as err:
        raise _refusal(err, batch=False, index=0) from None


def _parse_array(body: bytes, max_reports: int) -> list[ReportIn]:
    try:
        reports = _batch(max_reports).validate_json(body)
    except ValidationError as err:
        for e in err.errors(include_url=False):
            if e["type"] == "too_long" and not e["loc"]:
                raise too_many(e["ctx"]["actual_length"], max_reports) from None
        raise _refusal(err, batch=True) from None
    if not reports:
        raise Problem(400, "empty-body", "Empty batch", say("empty-body/batch"))
    return reports


def _parse_ndjson(body: bytes, max_reports: int) -> list[ReportIn]:
    lines = [line for line in body.split(b"\n") if line.strip()]
    if not lines:
        raise Problem(400, "empty-body", "Empty body", say("empty-body"))
    if len(lines) > max_reports:
        raise too_many(len(lines), max_reports)
    reports: list[ReportIn] = []
    issues: list[Issue] = []
    malformed = False
    for index, line in enumerate(lines):
        try:
            reports.append(ReportIn.model_validate_json(line))
        except ValidationError as err:
            syntax = _json_issues(err, index)
            malformed |= bool(syntax)
            issues.extend(syntax or issues_from_validation_error(err, index=index))
    if issues:
        if malformed:
            raise Problem(400, "malformed-json", "Malformed JSON", say("malformed-json/lines"), issues)
        raise invalid_reports(issues)
    return reports


def too_many(count: int, limit: int) -> Problem:
    return Problem(
        413, "batch-too-large", "Too many reports in one request", say("batch-too-large", count=count, limit=limit)
    )


def _json_issues(err: ValidationError, index: int | None) -> list[Issue]:
    return [
        Issue("malformed-json", json_syntax_message((e.get("ctx") or {}).get("error", e["msg"])), index=index)
        for e in err.errors(include_url=False)
        if e["type"] == "json_invalid"
    ]


def _refusal(err: ValidationError, *, batch: bool, index: int | None = None) -> Problem:
    syntax = _json_issues(err, None)
    if syntax:
        return Problem(400, "malformed-json", "Malformed JSON", syntax[0].message)
    issues = issues_from_validation_error(err, batch=batch, index=index)
    if any(i.reason == "not-an-object" and i.index is None for i in issues):
        return Problem(422, "invalid-reports", "Invalid body", say("invalid-reports/not-an-object"), issues)
    return invalid_reports(issues)
