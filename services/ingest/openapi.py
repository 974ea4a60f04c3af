"""OpenAPI: ingest's document — each refusal of POST /v1/reports as it is sent, in both languages.

What depends on the settings (the batch limit, the rate) is filled in here when the document is first
asked for, so the routes stay module-level; the refusal examples come from the same constructors the
handlers raise.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from dxmon.contracts import ReportIn
from dxmon.intake import bus_unavailable, invalid_reports, missing_credentials
from dxmon.problems import Issue, Problem, say
from dxmon.service_kit import ProblemDetails, problem_doc
from services.ingest.auth import rate_limited
from services.ingest.body import JSON, NDJSON, too_many, unsupported_media_type
from services.ingest.schemas import IngestResult
from services.ingest.settings import IngestSettings

ACCEPT_LANGUAGE = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Language of a refusal's detail and messages: Vietnamese unless English is preferred "
    "(e.g. `en`, `en-US`); type, title and reason codes never change",
    "examples": {"vi": {"value": "vi"}, "en": {"value": "en"}},
}


def refusals(settings: IngestSettings) -> dict[str, Any]:
    """refusals documents every refusal of POST /v1/reports, with an example where one helps."""
    examples: dict[int, Problem] = {
        400: Problem(400, "empty-body", "Empty body", say("empty-body")),
        401: missing_credentials(),
        413: too_many(settings.max_batch_reports + 1, settings.max_batch_reports),
        415: unsupported_media_type("text/csv"),
        422: invalid_reports(
            [
                Issue("unknown-unit", say("unknown-unit", unit="QN-X-KHONGCO"), "unit", 0),
                Issue("ratio-needs-parts", say("ratio-needs-parts"), "numerator", 1),
            ]
        ),
        429: rate_limited(settings.rate_limit_per_second or 100, 3),
        503: bus_unavailable(say("bus-unavailable/timeout")),
    }
    docs = {
        400: problem_doc("Malformed JSON or empty body", example=examples[400]),
        401: problem_doc("Missing or invalid API key", "WWW-Authenticate", example=examples[401]),
        403: problem_doc("A unit is outside the key's scope"),
        408: problem_doc("The body did not arrive in time"),
        413: problem_doc("Body or batch too large", example=examples[413]),
        415: problem_doc("Not JSON or NDJSON", example=examples[415]),
        422: problem_doc("Reports break the contract or the catalog rules", example=examples[422]),
        429: problem_doc("Rate limit of the key exceeded", "Retry-After", example=examples[429]),
        503: problem_doc(
            "JetStream unavailable or full; resend the same request later", "Retry-After", example=examples[503]
        ),
    }
    return {str(status): doc for status, doc in docs.items()}


def request_body(settings: IngestSettings) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/ReportIn"},
                        {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/ReportIn"},
                            "minItems": 1,
                            "maxItems": settings.max_batch_reports,
                        },
                    ]
                }
            },
            NDJSON: {"schema": {"type": "string", "description": "One ReportIn JSON object per line"}},
        },
    }


def openapi_schema(app: FastAPI, settings: IngestSettings) -> dict[str, Any]:
    """openapi_schema is ``app.openapi``: FastAPI's document plus the report contract, refusals and security."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        _, defs = models_json_schema(
            [(ReportIn, "validation"), (IngestResult, "serialization"), (ProblemDetails, "serialization")],
            ref_template="#/components/schemas/{model}",
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        post = schema["paths"]["/v1/reports"]["post"]
        post["responses"].update(refusals(settings))
        post["parameters"] = [ACCEPT_LANGUAGE]
        post["requestBody"] = request_body(settings)
        post["security"] = [{"bearer": []}]
        app.openapi_schema = schema
    return app.openapi_schema
