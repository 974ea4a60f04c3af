"""Problems: machine-readable reasons for refusing input, rendered as RFC 9457 problem+json.

Every refusal carries one ``reason`` per offending item so an agency's system can act on it without
parsing prose. The reason strings are part of the public contract: add new ones, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

PROBLEM_TYPE_BASE = "https://dx-monitor.github.io/problems/"

# pydantic error type -> our reason. Anything unlisted becomes "invalid-field".
_PYDANTIC_REASONS = {
    "missing": "missing-field",
    "extra_forbidden": "unknown-field",
    "finite_number": "invalid-number",
    "missing_timezone": "missing-timezone",
    "timestamp_invalid": "invalid-timestamp",
    "timestamp_type": "invalid-timestamp",
    "string_pattern_mismatch": "invalid-code",
    "string_too_long": "too-long",
    "invalid_character": "invalid-character",
    "uuid_parsing": "invalid-event-id",
    "uuid_type": "invalid-event-id",
    "model_type": "not-an-object",
    "model_attributes_type": "not-an-object",
    "dict_type": "not-an-object",
}


@dataclass(frozen=True)
class Issue:
    """Issue is one reason one item was refused."""

    reason: str
    message: str
    field: str | None = None
    index: int | None = None
    event_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.index is not None:
            out["index"] = self.index
        if self.field is not None:
            out["field"] = self.field
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out


@dataclass
class Problem(Exception):
    """Problem is an HTTP refusal: status, a short title, and the issues behind it."""

    status: int
    reason: str
    title: str
    detail: str = ""
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.reason,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.issues:
            body["errors"] = [i.to_json() for i in self.issues]
        return body


def issues_from_validation_error(
    err: ValidationError, index_offset: int = 0, batch: bool = False, index: int | None = None
) -> list[Issue]:
    """issues_from_validation_error turns pydantic errors into issues with an item index and field name.

    With ``batch`` the first element of each error location is the item's index in the array.
    """
    issues = []
    for e in err.errors(include_url=False):
        loc = list(e["loc"])
        item = index
        if batch and loc and isinstance(loc[0], int):
            item = loc.pop(0) + index_offset
        # Union members (e.g. "str" inside "str | None") add noise to the location: keep field names.
        names = [str(p) for p in loc if isinstance(p, str) and not p.startswith(("function-", "constrained-"))]
        known = {"str", "float", "int", "none", "is-instance[datetime]", "uuid"}
        names = [n for n in names if n not in known]
        field_name = names[0] if names else None
        reason = _PYDANTIC_REASONS.get(e["type"], "invalid-field")
        message = e["msg"]
        if field_name:
            message = f"{field_name}: {message}"
        issues.append(Issue(reason=reason, message=message, field=field_name, index=item))
    return _dedupe(issues)


def _dedupe(issues: list[Issue]) -> list[Issue]:
    # "float | None" reports the same bad input once per union member; keep one per (index, field, reason).
    seen: set[tuple[Any, ...]] = set()
    out = []
    for i in issues:
        key = (i.index, i.field, i.reason)
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


PROBLEM_JSON = "application/problem+json"


def problem_response(p: Problem):
    """problem_response renders ``p`` as an RFC 9457 response (starlette is imported only by HTTP services)."""
    from starlette.responses import JSONResponse

    return JSONResponse(p.to_json(), status_code=p.status, media_type=PROBLEM_JSON, headers=p.headers)
