"""Tests for dxmon.keys (tokens, KeyStore, KeyRing): no servers.

KeyStore and KeyRing run their real code; only the NATS transport is replaced, by ``FakeBucket``: an
in-memory KV bucket with nats-py's shape (``create/get/keys/purge/watchall``; a watcher's
``updates(timeout)`` yields ``KeyValue.Entry`` records, then ``None`` after the initial values, and
raises ``nats.errors.TimeoutError`` when nothing comes).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import nats.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from dxmon.catalog import Catalog
from dxmon.keys import (
    ApiKey,
    KeyRing,
    KeyStore,
    UnknownUnitsError,
    expand_scope,
    hash_secret,
    parse_token,
)

KEY_ID = "0123456789abcdef"
SECRET = "s3cr3t-S3CR3T_s3cr3t-S3CR3T_s3cr3t-S3CR3T"


class FakeWatcher:
    """FakeWatcher is one KV watch: entries the test or the bucket put in, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[KeyValue.Entry | None] = asyncio.Queue()
        self.stopped = False

    async def updates(self, timeout: float = 5.0) -> KeyValue.Entry | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            raise nats.errors.TimeoutError from None

    async def stop(self) -> None:
        self.stopped = True


class FakeBucket:
    """FakeBucket keeps the latest entry per key (delete markers included) and feeds every open watch."""

    def __init__(self, *, replay: bool = True) -> None:
        self.entries: dict[str, KeyValue.Entry] = {}
        self.watchers: list[FakeWatcher] = []
        self.replay = replay  # False: watches get only what the test puts in their queue
        self.revision = 0

    def record(self, key: str, value: bytes, operation: str | None, *, notify: bool = True) -> KeyValue.Entry:
        self.revision += 1
        entry = KeyValue.Entry(
            bucket="dx_keys", key=key, value=value, revision=self.revision, delta=0, created=None, operation=operation
        )
        self.entries[key] = entry
        if notify:
            for w in self.watchers:
                if not w.stopped:
                    w.queue.put_nowait(entry)
        return entry

    async def create(self, key: str, value: bytes) -> int:
        assert key not in self.entries or self.entries[key].operation, "create on an existing key"
        self.record(key, value, None)
        return self.revision

    async def get(self, key: str) -> KeyValue.Entry:
        entry = self.entries.get(key)
        if entry is None or entry.operation in ("DEL", "PURGE"):
            raise KeyNotFoundError
        return entry

    async def keys(self) -> list[str]:
        live = [k for k, e in self.entries.items() if e.operation is None]
        if not live:
            raise NoKeysError
        return live

    async def purge(self, key: str) -> None:
        self.record(key, b"", "PURGE")

    async def watchall(self) -> FakeWatcher:
        watcher = FakeWatcher()
        if self.replay:
            for entry in self.entries.values():
                watcher.queue.put_nowait(entry)
            watcher.queue.put_nowait(None)
        self.watchers.append(watcher)
        return watcher


async def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


@asynccontextmanager
async def following(
    ring: KeyRing, bucket: FakeBucket, resync_seconds: float = 300.0, *, wait_loaded: bool = True
) -> AsyncIterator[None]:
    """following runs ``ring.follow(bucket)`` for the block, after the first snapshot when ``wait_loaded``."""
    task = asyncio.create_task(ring.follow(bucket, resync_seconds))  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
    try:
        if wait_loaded:
            await asyncio.wait_for(ring.loaded.wait(), 2)
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def api_key(key_id: str = KEY_ID, secret: str = SECRET, units: tuple[str, ...] = ("QN-P-HONGGAI",)) -> ApiKey:
    return ApiKey(
        key_id=key_id,
        agency="UBND phường Hồng Gai",
        units=units,
        with_descendants=False,
        secret_sha256=hash_secret(secret),
        created_at="2025-07-01T00:00:00+00:00",
    )


# ───────────────────────────── tokens ─────────────────────────────


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param(f"dxk_{KEY_ID}_{SECRET}", (KEY_ID, SECRET), id="valid"),
        pytest.param(f"dxk_{KEY_ID}_{'a_b-' * 5}", (KEY_ID, "a_b-" * 5), id="secret-with-underscores"),
        pytest.param(f"dxk_{KEY_ID}_{SECRET}\n", None, id="trailing-newline"),
        pytest.param(f" dxk_{KEY_ID}_{SECRET}", None, id="leading-space"),
        pytest.param(f"DXK_{KEY_ID}_{SECRET}", None, id="prefix-case"),
        pytest.param(f"dxs_{KEY_ID}_{SECRET}", None, id="other-prefix"),
        pytest.param(f"dxk_{KEY_ID.upper()}_{SECRET}", None, id="uppercase-key-id"),
        pytest.param(f"dxk_{KEY_ID[:-1]}_{SECRET}", None, id="short-key-id"),
        pytest.param(f"dxk_{KEY_ID}0_{SECRET}", None, id="long-key-id"),
        pytest.param(f"dxk_{KEY_ID}_{'a' * 19}", None, id="short-secret"),
        pytest.param(f"dxk_{KEY_ID}_{SECRET[:-1]}=", None, id="padding-character"),
        pytest.param(f"dxk_{KEY_ID}_{SECRET[:-1]}ệ", None, id="non-ascii-secret"),
        pytest.param(f"Bearer dxk_{KEY_ID}_{SECRET}", None, id="scheme-left-in"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_token(token: str, expected: tuple[str, str] | None) -> None:
    assert parse_token(token) == expected


def test_hash_secret_is_sha256_hex_of_the_utf8_secret() -> None:
    assert hash_secret(SECRET) == hashlib.sha256(SECRET.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_secret(""))


def test_api_key_json_round_trip_keeps_vietnamese() -> None:
    key = replace(api_key(units=("QN-HALONG", "QN-CAMPHA")), label="Văn phòng UBND", with_descendants=True)
    raw = key.to_json()
    assert "Hồng Gai".encode() in raw  # stored readable, not \\u-escaped
    assert ApiKey.from_json(raw) == key


# ───────────────────────────── KeyStore ─────────────────────────────


async def test_create_issues_a_token_whose_secret_is_never_stored(catalog: Catalog) -> None:
    bucket = FakeBucket()
    key, token = await KeyStore(bucket, catalog).create(  # type: ignore[arg-type]  # FakeBucket stands in for NATS KV
        " UBND phường Hồng Gai ", [" QN-P-HONGGAI", "QN-P-HONGGAI"], label="cổng dịch vụ"
    )
    assert re.fullmatch(r"dxk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
    key_id, secret = parse_token(token) or ("", "")
    assert key_id == key.key_id
    assert key.secret_sha256 == hash_secret(secret)
    assert (key.agency, key.units, key.label) == ("UBND phường Hồng Gai", ("QN-P-HONGGAI",), "cổng dịch vụ")
    stored = bucket.entries[key_id].value
    assert stored is not None
    assert ApiKey.from_json(stored) == key
    assert secret.encode() not in stored and token.encode() not in stored


async def test_create_refuses_unknown_units_and_empty_agency(catalog: Catalog) -> None:
    store = KeyStore(FakeBucket(), catalog)  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
    with pytest.raises(UnknownUnitsError, match="QN-NOWHERE"):
        await store.create("agency", ["QN", "QN-NOWHERE"])
    with pytest.raises(UnknownUnitsError, match="none given"):
        await store.create("agency", [" "])
    with pytest.raises(ValueError, match="agency"):
        await store.create("  ", ["QN"])


async def test_list_and_revoke(catalog: Catalog) -> None:
    bucket = FakeBucket()
    store = KeyStore(bucket, catalog)  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
    assert await store.list() == []
    first, _ = await store.create("Sở A", ["QN-SO-TUPHAP"])
    second, _ = await store.create("Sở B", ["QN-SO-YTE"])
    assert {k.key_id for k in await store.list()} == {first.key_id, second.key_id}
    assert await store.revoke(first.key_id) is True
    assert await store.revoke(first.key_id) is False
    assert [k.key_id for k in await store.list()] == [second.key_id]


# ───────────────────────────── KeyRing ─────────────────────────────


async def test_ring_verifies_issued_tokens_only(catalog: Catalog) -> None:
    bucket = FakeBucket()
    store = KeyStore(bucket, catalog)  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
    key, token = await store.create("UBND phường Hồng Gai", ["QN-P-HONGGAI"])
    other, other_token = await store.create("Sở Y tế", ["QN-SO-YTE"])
    ring = KeyRing(catalog)
    assert ring.verify(token) is None  # nothing loaded yet
    async with following(ring, bucket):
        caller = ring.verify(token)
        assert caller is not None and caller.key == key and caller.scope == {"QN-P-HONGGAI"}
        assert ring.verify(other_token).key == other  # type: ignore[union-attr]  # the token is valid: verify returns a key
        _, secret = parse_token(token) or ("", "")
        assert ring.verify(f"dxk_{other.key_id}_{secret}") is None  # right secret, wrong key
        assert ring.verify(f"dxk_{'f' * 16}_{secret}") is None  # unknown key id
        assert ring.verify("not a token") is None
        assert len(ring) == 2


async def test_revocation_removes_access_without_restart(catalog: Catalog) -> None:
    bucket = FakeBucket()
    store = KeyStore(bucket, catalog)  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
    ring = KeyRing(catalog)
    async with following(ring, bucket):
        assert len(ring) == 0
        key, token = await store.create("Sở Tư pháp", ["QN-SO-TUPHAP"])  # issued after the ring loaded
        await eventually(lambda: ring.verify(token) is not None)
        _, kept_token = await store.create("Sở Y tế", ["QN-SO-YTE"])
        assert await store.revoke(key.key_id)
        await eventually(lambda: ring.verify(token) is None)
        assert ring.verify(kept_token) is not None
        assert len(ring) == 1


async def test_resync_swaps_in_a_fresh_snapshot_dropping_missed_deletes(catalog: Catalog) -> None:
    bucket = FakeBucket()
    store = KeyStore(bucket, catalog)  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
    lost, lost_token = await store.create("Sở A", ["QN-SO-TUPHAP"])
    _, kept_token = await store.create("Sở B", ["QN-SO-YTE"])
    ring = KeyRing(catalog)
    async with following(ring, bucket, resync_seconds=0.05):
        assert ring.verify(lost_token) is not None
        # A purge the live watch never delivered (e.g. NATS restarted and lost the watch's consumer).
        bucket.record(lost.key_id, b"", "PURGE", notify=False)
        await eventually(lambda: ring.verify(lost_token) is None)
        assert ring.verify(kept_token) is not None
        await eventually(lambda: len(bucket.watchers) >= 3)
    assert all(w.stopped for w in bucket.watchers)


async def test_old_keys_are_served_until_the_fresh_snapshot_is_complete(catalog: Catalog) -> None:
    bucket = FakeBucket(replay=False)
    old, new = api_key(KEY_ID, SECRET), api_key("fedcba9876543210", SECRET[::-1])
    ring = KeyRing(catalog)
    async with following(ring, bucket, resync_seconds=0.5, wait_loaded=False):
        await eventually(lambda: len(bucket.watchers) == 1)
        first = bucket.watchers[0]
        first.queue.put_nowait(bucket.record(old.key_id, old.to_json(), None, notify=False))
        first.queue.put_nowait(None)
        await asyncio.wait_for(ring.loaded.wait(), 2)
        assert ring.verify(f"dxk_{KEY_ID}_{SECRET}") is not None

        await eventually(lambda: len(bucket.watchers) == 2)  # the resync: a fresh watch, old one stopped
        assert first.stopped
        second = bucket.watchers[1]
        second.queue.put_nowait(bucket.record(new.key_id, new.to_json(), None, notify=False))
        await asyncio.sleep(0.02)
        assert ring.verify(f"dxk_{KEY_ID}_{SECRET}") is not None  # snapshot incomplete: old ring still serves
        assert ring.verify(f"dxk_fedcba9876543210_{SECRET[::-1]}") is None
        second.queue.put_nowait(None)
        await eventually(lambda: ring.verify(f"dxk_{KEY_ID}_{SECRET}") is None)
        assert ring.verify(f"dxk_fedcba9876543210_{SECRET[::-1]}") is not None


async def test_malformed_entries_and_delete_markers_are_skipped(catalog: Catalog) -> None:
    bucket = FakeBucket()
    good = api_key()
    bucket.record("aaaaaaaaaaaaaaaa", b"{not json", None)
    bucket.record("bbbbbbbbbbbbbbbb", b'{"key_id": "bbbbbbbbbbbbbbbb"}', None)  # fields missing
    bucket.record("cccccccccccccccc", b"", "DEL")
    bucket.record(good.key_id, good.to_json(), None)
    ring = KeyRing(catalog)
    async with following(ring, bucket):
        assert len(ring) == 1
        assert ring.verify(f"dxk_{KEY_ID}_{SECRET}") is not None


async def test_unusable_entries_are_refused_alone_and_replace_what_they_update(catalog: Catalog) -> None:
    bucket = FakeBucket()
    good = api_key()
    renamed = replace(api_key("1111111111111111", SECRET), units=("QN-DA-DOI-TEN",), with_descendants=True)
    bucket.record(renamed.key_id, renamed.to_json(), None)
    # An entry whose id differs from its bucket key: purging the bucket key would not revoke it.
    bucket.record("2222222222222222", good.to_json(), None)
    odd = replace(api_key("3333333333333333", SECRET), units=(["QN"],))  # type: ignore[arg-type]  # a malformed key on purpose
    bucket.record(odd.key_id, odd.to_json(), None)  # a scope whose "code" is a list
    bucket.record(good.key_id, good.to_json(), None)
    ring = KeyRing(catalog)
    async with following(ring, bucket):
        assert len(ring) == 1 and ring.verify(f"dxk_{KEY_ID}_{SECRET}") is not None
        assert ring.verify(f"dxk_1111111111111111_{SECRET}") is None
        assert set(ring.skipped) == {renamed.key_id, "2222222222222222", odd.key_id}
        assert "QN-DA-DOI-TEN" in ring.skipped[renamed.key_id]
        # The good key updated to a scope that cannot be expanded: its old scope must not linger.
        bucket.record(good.key_id, replace(good, units=("QN-DA-DOI-TEN",), with_descendants=True).to_json(), None)
        await eventually(lambda: ring.verify(f"dxk_{KEY_ID}_{SECRET}") is None)
        assert good.key_id in ring.skipped
        bucket.record(renamed.key_id, b"", "PURGE")  # removing an unusable entry clears it
        await eventually(lambda: renamed.key_id not in ring.skipped)


async def test_ring_scope_includes_descendants_when_asked(catalog: Catalog) -> None:
    bucket = FakeBucket()
    key, token = await KeyStore(bucket, catalog).create(  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
        "UBND thành phố Hạ Long", ["QN-HALONG"], with_descendants=True
    )
    ring = KeyRing(catalog)
    async with following(ring, bucket):
        assert ring.verify(token).scope == {"QN-HALONG"} | catalog.descendants("QN-HALONG")  # type: ignore[union-attr]  # the token is valid: verify returns a key


# ── verify accepts exactly the issued token (hypothesis) ──


@pytest.fixture(scope="module")
async def issued(catalog: Catalog) -> tuple[KeyRing, str]:
    bucket = FakeBucket()
    store = KeyStore(bucket, catalog)  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
    _, token = await store.create("UBND phường Hồng Gai", ["QN-P-HONGGAI"])
    for _ in range(3):  # neighbours whose ids a mutation might hit
        await store.create("Sở Y tế", ["QN-SO-YTE"])
    ring = KeyRing(catalog)
    async with following(ring, bucket):
        return ring, token


@settings(max_examples=400, deadline=None)
@given(
    position=st.integers(0, 80),  # beyond the token's 64 characters means its end, where whitespace hides
    kind=st.sampled_from(["replace", "insert", "delete"]),
    char=st.sampled_from("\n\r\t \x00_-=") | st.characters(),
)
def test_verify_refuses_every_single_character_mutation(
    issued: tuple[KeyRing, str], position: int, kind: str, char: str
) -> None:
    ring, token = issued
    assert ring.verify(token) is not None
    i = min(position, len(token) - (kind != "insert"))
    mutated = {
        "replace": token[:i] + char + token[i + 1 :],
        "insert": token[:i] + char + token[i:],
        "delete": token[:i] + token[i + 1 :],
    }[kind]
    if mutated != token:
        assert ring.verify(mutated) is None


# ───────────────────────────── expand_scope ─────────────────────────────


@pytest.mark.parametrize(
    ("units", "with_descendants", "expected"),
    [
        pytest.param(("QN-HALONG",), False, lambda c: {"QN-HALONG"}, id="unit-only"),
        pytest.param(
            ("QN-HALONG",),
            True,
            lambda c: {"QN-HALONG"} | c.descendants("QN-HALONG"),
            id="district-and-its-communes-over-time",
        ),
        pytest.param(("QN",), True, lambda c: set(c.units), id="province-covers-everything"),
        pytest.param(
            ("QN-P-HONGGAI", "QN-SO-YTE"),
            True,
            lambda c: {"QN-P-HONGGAI", "QN-SO-YTE"},
            id="leaves-have-no-descendants",
        ),
    ],
)
def test_expand_scope(
    catalog: Catalog, units: tuple[str, ...], with_descendants: bool, expected: Callable[[Catalog], set[str]]
) -> None:
    key = replace(api_key(units=units), with_descendants=with_descendants)
    assert expand_scope(key, catalog) == expected(catalog)


def test_district_scope_spans_the_communes_it_ever_had(catalog: Catalog) -> None:
    scope = expand_scope(replace(api_key(units=("QN-HALONG",)), with_descendants=True), catalog)
    assert {"QN-HALONG-P-YETKIEU", "QN-HALONG-P-TRANHUNGDAO"} <= scope  # merged 2024-11-01, kept
    assert "QN-P-HONGGAI" not in scope  # the 2025 commune hangs under the province, not the district


class StuckWatcher(FakeWatcher):
    """StuckWatcher is a watch on a NATS connection already closed: stop() raises, or never answers."""

    def __init__(self, stop: str) -> None:
        super().__init__()
        self.how = stop

    async def stop(self) -> None:
        if self.how == "raises":
            raise nats.errors.ConnectionClosedError
        await asyncio.sleep(3600)


@pytest.mark.parametrize("stop", ["raises", "hangs"])
async def test_one_cancellation_ends_the_watch_even_when_its_clean_up_fails(catalog: Catalog, stop: str) -> None:
    """A service stops by cancelling the watch once; the clean-up on a closed connection must not
    swallow that (and retry the watch) nor hang the shutdown."""
    bucket = FakeBucket()
    watcher = StuckWatcher(stop)
    watcher.queue.put_nowait(None)  # the end of the initial values: the ring is loaded
    bucket.watchall = lambda: _returning(watcher)  # type: ignore[method-assign]  # every watch is this stuck one
    ring = KeyRing(catalog)
    task = asyncio.create_task(ring.follow(bucket))  # type: ignore[arg-type]  # FakeBucket stands in for the KV bucket
    await asyncio.wait_for(ring.loaded.wait(), 2)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=3)
    assert done == {task} and task.cancelled()


async def _returning(watcher: FakeWatcher) -> FakeWatcher:
    return watcher
