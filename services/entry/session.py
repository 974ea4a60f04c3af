"""Sessions of the data-entry page: who is signed in, with which key, until when; and CSRF tokens.

    sign in (key) ──▶ KeyRing.verify ──▶ Session(random id, key_id, csrf) in memory ──▶ cookie: the id only
    each request  ──▶ cookie id ──▶ Session (unknown, idle too long or too old: none) ──▶ KeyRing.get(key_id)
    each POST     ──▶ csrf field == the session's token (constant-time), else 403

The key itself is never kept: not in the cookie, not here. The session holds the key's id, and every
request looks the key up in the KeyRing again, so a revoked key ends its sessions at once and a key
whose scope changed is used with its new scope. The cookie is HttpOnly, SameSite=Strict, limited to
the page's path and Secure when the page is reached over HTTPS. Sessions live in this process's memory:
a restart signs everyone out (they sign in again), and the entry service runs one process.

The sign-in form has no session yet: its CSRF token is a double submit (the same random value in a
cookie and in the form), which stops another site from signing a browser in with a key of its choosing.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

PAGE_PATH = "/nhap-lieu"
SESSION_COOKIE = "dx_phien"
SIGN_IN_COOKIE = "dx_dang_nhap"
CSRF_FIELD = "csrf_token"
IDLE_SECONDS = 60 * 60  # a session unused this long ends (the README says 60 minutes)
MAX_AGE_SECONDS = 8 * 3600  # and any session ends after a working day
MAX_SESSIONS = 10_000  # beyond this the oldest sessions end first (memory stays bounded)
MAX_PENDING_UPLOADS = 3  # dry-run uploads kept per session, waiting for their confirmation


@dataclass
class Session:
    """Session is one signed-in browser: the key's id (never the key), its CSRF token and pending uploads."""

    session_id: str
    key_id: str
    csrf: str
    created_at: float
    last_seen: float
    # Uploads that passed a dry run, by a random id, until confirmed or replaced (the file's bytes).
    uploads: dict[str, Any] = field(default_factory=dict)

    def keep_upload(self, upload: Any) -> str:
        """keep_upload stores an upload awaiting confirmation and returns its id (the oldest is dropped)."""
        while len(self.uploads) >= MAX_PENDING_UPLOADS:
            self.uploads.pop(next(iter(self.uploads)))
        upload_id = secrets.token_urlsafe(16)
        self.uploads[upload_id] = upload
        return upload_id


class SessionStore:
    """SessionStore keeps the sessions of one process; ids are 256-bit random, expiry is checked on every read."""

    def __init__(
        self,
        idle_seconds: float = IDLE_SECONDS,
        max_age_seconds: float = MAX_AGE_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_age_seconds = max_age_seconds
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: dict[str, Session] = {}  # insertion order = creation order

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, key_id: str) -> Session:
        """create starts a session for ``key_id`` under a new id (never one the browser sent: no fixation)."""
        now = self.clock()
        self._prune(now)
        while len(self._sessions) >= self.max_sessions:
            self._sessions.pop(next(iter(self._sessions)))
        session = Session(secrets.token_urlsafe(32), key_id, secrets.token_urlsafe(32), now, now)
        self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """get returns the live session of that id and marks it used; an expired one is ended and None returned."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            self._sessions.pop(session_id, None)
            return None
        session.last_seen = now
        return session

    def end(self, session_id: str | None) -> None:
        """end forgets the session (signing out); unknown ids are ignored."""
        if session_id:
            self._sessions.pop(session_id, None)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen > self.idle_seconds or now - session.created_at > self.max_age_seconds

    def _prune(self, now: float) -> None:
        for session_id in [s.session_id for s in self._sessions.values() if self._expired(s, now)]:
            del self._sessions[session_id]


def tokens_match(expected: str, given: str | None) -> bool:
    """tokens_match compares a CSRF token in constant time; a missing or empty token never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


def is_https(request: Request) -> bool:
    """is_https: the browser reached the page over HTTPS, directly or through a TLS proxy.

    A proxy's ``X-Forwarded-Proto`` is believed from anyone (not only from the addresses uvicorn trusts,
    which in compose would not include the host's proxy): a forged "https" can only add ``Secure`` to
    a cookie, which then stays with the browser that forged it; it can never take ``Secure`` away.
    """
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """set_cookie sets one of the page's cookies: HttpOnly, SameSite=Strict, the page's path, Secure over HTTPS.

    No Max-Age: the cookie ends with the browser, and the server ends the session earlier when it expires.
    """
    response.set_cookie(name, value, path=PAGE_PATH, httponly=True, samesite="strict", secure=is_https(request))


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=PAGE_PATH, httponly=True, samesite="strict", secure=is_https(request))


def new_token() -> str:
    return secrets.token_urlsafe(32)
