"""Imports: what ``POST /v1/imports?dry_run=true|false`` does with a filled template (route in routes.py).

    key (401/503) ─▶ body ≤ DX_ENTRY_MAX_UPLOAD_BYTES (413), multipart (field "file") or raw
                  ─▶ read (reading.py: 413/415/422 for what is not a bounded spreadsheet)
                  ─▶ check every row (importing.py) ─▶ values in force (read-only database; 503)
                  ─▶ dry run: 200 + summary, nothing published
                  ─▶ otherwise: any refused row → 422 + summary, nothing published;
                     else new and corrected rows published through dxmon.intake → 202 after every PubAck

``run_import`` is the whole path without HTTP, so the data-entry page's upload answers the same.
Reading and checking run in a worker thread: a 10,000-row workbook must not stall other requests.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from dxmon.intake import encode_events, publish_events
from dxmon.keys import Authenticated
from dxmon.problems import Problem, say
from dxmon.service_kit import read_body
from dxmon.store.entry_repository import values_in_force
from services.entry.importing import CORRECTED, NEW, check_rows, decide, summary
from services.entry.reading import ReadLimits, read_upload
from services.entry.state import EntryState, database_unavailable

log = logging.getLogger("dx.entry")
READ_TIMEOUT_SECONDS = 120.0  # the whole upload must arrive within this (else 408)
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file


def limits(state: EntryState) -> ReadLimits:
    s = state.settings
    return ReadLimits(s.entry_max_upload_bytes, s.entry_max_unpacked_bytes, s.entry_max_rows)


def file_too_large(limit: int) -> Problem:
    return Problem(413, "body-too-large", "File too large", say("body-too-large/file", limit=limit))


async def parse_multipart(request: Request, body: bytes) -> FormData:
    """parse_multipart parses a multipart body already read within its limit (one file, a few fields):
    starlette's own form reading would spool a file of any size to disk first."""

    async def stream():
        yield body

    try:
        return await MultiPartParser(request.headers, stream(), max_files=1, max_fields=5, max_part_size=1024).parse()
    except MultiPartException as exc:
        raise Problem(
            400, "malformed-multipart", "Malformed multipart body", say("malformed-multipart", error=exc.message)
        ) from None


async def the_file(request: Request, max_bytes: int) -> tuple[bytes, str, str]:
    """the_file returns (content, file name, media type) from a multipart form or a raw body."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        body = await read_body(request, max_bytes, READ_TIMEOUT_SECONDS, file_too_large)
        return body, request.query_params.get("filename", ""), media_type
    body = await read_body(request, max_bytes + MULTIPART_OVERHEAD, READ_TIMEOUT_SECONDS, file_too_large)
    form = await parse_multipart(request, body)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Problem(
            400,
            "malformed-multipart",
            "Malformed multipart body",
            say("malformed-multipart", error="no part named 'file'"),
        )
    data = await upload.read()
    await form.close()
    if len(data) > max_bytes:
        raise file_too_large(max_bytes)
    return data, upload.filename or "", (upload.content_type or "").split(";", 1)[0].strip().lower()


async def run_import(
    state: EntryState,
    caller: Authenticated,
    data: bytes,
    filename: str,
    media_type: str,
    *,
    dry_run: bool,
    language: str = "vi",
) -> tuple[int, dict[str, Any]]:
    """run_import reads, checks and (unless a dry run) publishes an upload; returns (HTTP status, body).

    A 422 body is a problem+json with the summary under ``summary``; other errors raise ``Problem``.
    """
    started = time.perf_counter()
    now = state.clock()
    skew = timedelta(seconds=state.settings.future_skew_seconds)

    def check():  # CPU only, in a worker thread
        upload = read_upload(data, filename, media_type, limits(state))
        return check_rows(upload, state.catalog, caller.scope, now, skew)

    async with state.reading:
        checked = await run_in_threadpool(check)
    read_at = time.perf_counter()
    try:
        async with state.database().acquire() as conn:
            in_force = await values_in_force(conn, [c.key for c in checked.candidates])
    except Exception as exc:
        raise database_unavailable(exc) from exc
    decided = decide(checked.candidates, in_force)
    decided_at = time.perf_counter()
    label = "true" if dry_run else "false"
    if checked.refusals and not dry_run:
        body = summary(checked, decided, dry_run=False, language=language)
        problem = Problem(
            422, "invalid-import", "Rows refused; nothing imported", say("invalid-import", count=checked.refused_rows)
        )
        _observe(state, body, label, started)
        return 422, {**problem.to_json(language), "summary": body}
    published = None
    if not dry_run:
        to_send = [d.report for d in decided if d.status in (NEW, CORRECTED)]
        events = encode_events(to_send, now, caller)
        duplicates = (
            await publish_events(
                state.js if state.nats_connected() else None, events, state.settings.publish_timeout_seconds
            )
            if events
            else []
        )
        published = {"accepted": len(events) - sum(duplicates), "duplicates": sum(duplicates)}
    body = summary(checked, decided, dry_run=dry_run, language=language, published=published)
    _observe(state, body, label, started)
    log.info(
        "import of %d rows (dry run: %s) by key %s: read and checked in %.2f s, compared in %.2f s, "
        "published in %.2f s",
        len(checked.upload.rows),
        dry_run,
        caller.key.key_id,
        read_at - started,
        decided_at - read_at,
        time.perf_counter() - decided_at,
    )
    return (200 if dry_run else 202), body


def _observe(state: EntryState, body: dict[str, Any], dry_run: str, started: float) -> None:
    for outcome in ("new", "corrected", "unchanged", "ignored", "refused"):
        state.metrics.import_rows.labels(outcome, dry_run).inc(body["counts"][outcome])
    state.metrics.import_seconds.labels(dry_run).observe(time.perf_counter() - started)
