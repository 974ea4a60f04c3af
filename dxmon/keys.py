"""Keys: agency API keys, stored hashed in the NATS KV bucket ``dx_keys``.

A key is ``dxk_<key_id>_<secret>`` with a 256-bit random secret. Only SHA-256 of the secret is
stored: the secret is random, not a password, so a slow password hash would add latency without
adding safety. Ingest keeps a ``KeyRing`` that follows the bucket (KV watch), so a revoked key stops
working within moments, without a restart, and ingest never needs the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from dxmon.catalog import Catalog
from dxmon.contracts import KEYS_BUCKET

log = logging.getLogger(__name__)
WATCH_STOP_SECONDS = 1.0  # the longest a stopped watch's clean-up may take

TOKEN_PREFIX = "dxk"
# What a key may do. A reporter sends reports; an approver approves or returns its units' periods and
# those of the units below them (catalog ``programme.approval``). An entry without a role is a reporter.
REPORTER, APPROVER = "reporter", "approver"
ROLES = (REPORTER, APPROVER)
_TOKEN = re.compile(r"^dxk_([0-9a-f]{16})_([A-Za-z0-9_-]{20,})$")


@dataclass(frozen=True)
class ApiKey:
    """ApiKey is what the bucket stores for one key: owner, scope and the secret's hash."""

    key_id: str
    agency: str
    units: tuple[str, ...]
    with_descendants: bool
    secret_sha256: str
    created_at: str
    label: str = ""
    role: str = REPORTER

    def to_json(self) -> bytes:
        d = asdict(self)
        if self.role == REPORTER:
            # A reporter's entry stays as it was before roles existed, so an ingest not yet upgraded keeps
            # accepting new reporter keys (it refuses an entry with a field it does not know).
            del d["role"]
        return json.dumps(d, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ApiKey:
        d = json.loads(raw)
        d["units"] = tuple(d["units"])
        key = cls(**d)
        if key.role not in ROLES:
            raise ValueError(f"unknown role {key.role!r}")
        return key


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """parse_token splits a token into (key_id, secret), or None when it is not one of ours."""
    m = _TOKEN.fullmatch(token)  # not match(): "$" also matches before a trailing newline
    return (m.group(1), m.group(2)) if m else None


def expand_scope(key: ApiKey, catalog: Catalog) -> frozenset[str]:
    """expand_scope is the set of unit codes a key may report for."""
    units = set(key.units)
    if key.with_descendants:
        for code in key.units:
            units |= catalog.descendants(code)
    return frozenset(units)


class UnknownUnitsError(ValueError):
    """UnknownUnitsError: a key was requested for units the catalog does not know."""


class KeyStore:
    """KeyStore creates, lists and revokes keys in the ``dx_keys`` bucket (used by the CLI)."""

    def __init__(self, kv: KeyValue, catalog: Catalog) -> None:
        self.kv = kv
        self.catalog = catalog

    @classmethod
    async def open(cls, js: JetStreamContext, catalog: Catalog) -> KeyStore:
        return cls(await js.key_value(KEYS_BUCKET), catalog)

    async def create(
        self,
        agency: str,
        units: Iterable[str],
        *,
        with_descendants: bool = False,
        label: str = "",
        role: str = REPORTER,
    ) -> tuple[ApiKey, str]:
        """create stores a new key and returns it with its token; the token is never stored."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        units = tuple(dict.fromkeys(u.strip() for u in units if u.strip()))
        unknown = [u for u in units if u not in self.catalog.units]
        if not units or unknown:
            raise UnknownUnitsError(f"unknown unit(s): {', '.join(unknown) or '(none given)'}")
        if not agency.strip():
            raise ValueError("agency must not be empty")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id,
            agency=agency.strip(),
            units=units,
            with_descendants=with_descendants,
            secret_sha256=hash_secret(secret),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            label=label,
            role=role,
        )
        await self.kv.create(key_id, key.to_json())
        return key, f"{TOKEN_PREFIX}_{key_id}_{secret}"

    async def list(self) -> list[ApiKey]:
        try:
            ids = await self.kv.keys()
        except NoKeysError:
            return []
        keys = []
        for key_id in ids:
            try:
                raw = (await self.kv.get(key_id)).value
            except KeyNotFoundError:
                continue  # revoked between keys() and get()
            if raw is not None:  # an entry without a value is no key
                keys.append(ApiKey.from_json(raw))
        return sorted(keys, key=lambda k: (k.agency, k.created_at))

    async def revoke(self, key_id: str) -> bool:
        """revoke deletes the key; ingest processes drop it as soon as the watch delivers the delete."""
        if not re.fullmatch(r"[0-9a-f]{16}", key_id):
            return False  # not an id we issue (and not a valid KV key either)
        try:
            await self.kv.get(key_id)
        except KeyNotFoundError:
            return False
        await self.kv.purge(key_id)
        return True


@dataclass(frozen=True)
class Authenticated:
    """Authenticated is a verified caller: its key and the units it may report for."""

    key: ApiKey
    scope: frozenset[str]


def approval_scope(caller: Authenticated, catalog: Catalog) -> frozenset[str]:
    """approval_scope is the set of units whose periods ``caller`` may approve or return: none for a
    reporter; for an approver, its units (with their descendants if the key has them) and their children.
    """
    if caller.key.role != APPROVER:
        return frozenset()
    return caller.scope | {child.code for code in caller.scope for child in catalog.children(code)}


class KeyRing:
    """KeyRing is ingest's in-memory copy of the bucket, kept current by a KV watch.

    ``verify`` does no I/O, so authentication adds no round trip to a request.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._keys: dict[str, Authenticated] = {}
        self.loaded = asyncio.Event()
        # Entries that cannot be used (malformed, or a scope the catalog cannot expand), by bucket key,
        # with the reason; ingest exports their number as a metric.
        self.skipped: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def verify(self, token: str) -> Authenticated | None:
        """verify returns the caller for a valid, unrevoked token, else None (constant-time compare)."""
        parts = parse_token(token)
        if parts is None:
            return None
        key_id, secret = parts
        found = self._keys.get(key_id)
        # Compare even when the id is unknown, so timing does not reveal which ids exist.
        expected = found.key.secret_sha256 if found else "0" * 64
        ok = hmac.compare_digest(hash_secret(secret), expected)
        return found if ok and found else None

    def get(self, key_id: str) -> Authenticated | None:
        """get returns the caller of a key verified earlier, by its id, while it is not revoked (None after).

        The data-entry page keeps only the key's id in a session and asks again on every request.
        """
        return self._keys.get(key_id)

    async def follow(self, kv: KeyValue, resync_seconds: float = 300.0) -> None:
        """follow keeps the ring equal to the bucket until cancelled.

        The watch is restarted every ``resync_seconds`` and after any error (e.g. a NATS restart that
        lost the watch's ephemeral consumer); each restart rebuilds the ring from a fresh snapshot, so
        a missed delete cannot keep a revoked key alive for longer than that.
        """
        while True:
            try:
                await self._watch_once(kv, resync_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: log, wait, watch again
                log.warning("key watch failed (%s); retrying", exc)
                await asyncio.sleep(1)

    async def connect_and_follow(
        self, open_bucket: Callable[[], Awaitable[KeyValue]], report: Callable[[str], None], service: str
    ) -> None:
        """connect_and_follow opens the key bucket (``open_bucket`` connects to NATS first), retrying with
        a back-off of up to 5 s, then follows it until cancelled. ``report`` gets what readiness shows
        meanwhile ("loading keys", or why it is not ready)."""
        delay = 0.5
        while True:
            try:
                kv = await open_bucket()
                report("loading keys")
                log.info("%s connected to NATS; following key bucket %s", service, KEYS_BUCKET)
                await self.follow(kv)
                return
            except asyncio.CancelledError:
                raise
            except nats.js.errors.BucketNotFoundError:
                status = f"KV bucket {KEYS_BUCKET} missing: run `dxmon migrate`"
            except Exception as exc:  # noqa: BLE001 - keep trying; readiness shows why
                status = f"NATS unreachable: {type(exc).__name__}"
            report(status)
            log.warning("%s not ready: %s", service, status)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)

    async def _watch_once(self, kv: KeyValue, duration: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration
        watcher = await kv.watchall()
        snapshot: dict[str, Authenticated] | None = {}
        skipped: dict[str, str] = {}  # this pass's skipped entries, swapped in with the snapshot
        try:
            while (remaining := deadline - loop.time()) > 0:
                try:
                    entry = await watcher.updates(timeout=remaining)
                except nats.errors.TimeoutError:
                    return
                if entry is None:  # end of the initial values: swap in the fresh snapshot
                    if snapshot is not None:
                        self._keys, self.skipped = snapshot, skipped
                        snapshot = None
                    self.loaded.set()
                    continue
                target = snapshot if snapshot is not None else self._keys
                target.pop(entry.key, None)
                (skipped if snapshot is not None else self.skipped).pop(entry.key, None)
                if entry.operation in ("DEL", "PURGE") or not entry.value:
                    continue
                caller, reason = self._entry(entry.key, entry.value)
                if caller is None:
                    if self.skipped.get(entry.key) != reason:  # once per entry, not at every resync
                        log.error("ignoring key entry %s: %s", entry.key, reason)
                    (skipped if snapshot is not None else self.skipped)[entry.key] = reason
                    continue
                target[caller.key.key_id] = caller
        finally:
            # The clean-up may neither hang nor replace a cancellation: on a connection already closed
            # nats-py's stop() raises or waits for an answer that never comes, and either swallowed the
            # cancellation (the watch retried; services shut down by cancelling repeatedly).
            with suppress(Exception):
                await asyncio.wait_for(watcher.stop(), timeout=WATCH_STOP_SECONDS)

    def _entry(self, name: str, raw: bytes) -> tuple[Authenticated | None, str]:
        """_entry turns one bucket entry into a caller, or gives the reason it cannot be used.

        One unusable entry must never stop the watch: a key whose scope names a unit this ingest's
        catalog lacks (renamed, or written by a newer CLI during an upgrade) is refused on its own,
        while every other key, and every revocation, keeps working.
        """
        try:
            key = ApiKey.from_json(raw)
        except (ValueError, TypeError, KeyError) as exc:
            return None, f"malformed entry ({exc})"
        if key.key_id != name:
            return None, f"entry names key id {key.key_id!r}"
        try:
            return Authenticated(key, expand_scope(key, self.catalog)), ""
        except (KeyError, TypeError) as exc:  # an unknown unit, or units that are not codes
            return None, f"scope cannot be expanded ({exc.args[0] if exc.args else exc})"
