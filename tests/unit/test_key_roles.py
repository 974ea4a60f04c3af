"""Key roles: reporters (the default, and every key written before roles existed) and approvers.

A reporter's entry keeps the old format, so an ingest not yet upgraded keeps accepting new reporter
keys; an approver's scope for approval is its units and the units directly below them.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from dxmon.catalog import Catalog
from dxmon.keys import APPROVER, REPORTER, ApiKey, Authenticated, KeyRing, KeyStore, approval_scope, expand_scope
from tests.unit.test_keys import FakeBucket, api_key, following


def test_reporter_entry_keeps_the_old_format_and_old_entries_are_reporters() -> None:
    key = api_key()
    raw = json.loads(key.to_json())
    assert "role" not in raw  # what an ingest without roles reads (it refuses unknown fields)
    assert ApiKey.from_json(json.dumps(raw).encode()).role == REPORTER
    approver = ApiKey.from_json(dataclasses.replace(key, role=APPROVER).to_json())
    assert approver.role == APPROVER and json.loads(approver.to_json())["role"] == APPROVER


def test_unknown_role_is_refused() -> None:
    raw = {**json.loads(api_key().to_json()), "role": "admin"}
    with pytest.raises(ValueError, match="unknown role"):
        ApiKey.from_json(json.dumps(raw).encode())


async def test_store_creates_approver_keys_and_refuses_other_roles(catalog: Catalog) -> None:
    bucket = FakeBucket()
    store = KeyStore(bucket, catalog)  # type: ignore[arg-type]  # FakeBucket stands in for the NATS KV bucket
    key, token = await store.create("Sở KH&CN", ["QN"], role=APPROVER)
    assert (await store.list())[0].role == APPROVER
    with pytest.raises(ValueError, match="role must be one of"):
        await store.create("Sở KH&CN", ["QN"], role="owner")
    ring = KeyRing(catalog)
    async with following(ring, bucket):
        caller = ring.verify(token)
        assert caller is not None and caller.key.role == APPROVER


@pytest.mark.parametrize(
    ("units", "with_descendants", "role", "may", "may_not"),
    [
        pytest.param(
            ("QN",),
            False,
            APPROVER,
            {"QN", "QN-P-HONGGAI", "QN-SO-KHDT"},
            set(),
            id="province-approves-itself-and-its-children",
        ),
        pytest.param(
            ("QN-P-HONGGAI",),
            False,
            APPROVER,
            {"QN-P-HONGGAI"},
            {"QN", "QN-P-UONGBI"},
            id="commune-approves-only-itself",
        ),
        pytest.param(
            ("QN-HALONG",),
            False,
            APPROVER,
            {"QN-HALONG", "QN-HALONG-P-TUANCHAU"},
            {"QN", "QN-P-HONGGAI"},
            id="district-approves-its-communes",
        ),
        pytest.param(("QN",), True, REPORTER, set(), {"QN", "QN-P-HONGGAI"}, id="reporter-approves-nothing"),
    ],
)
def test_approval_scope(
    catalog: Catalog, units: tuple[str, ...], with_descendants: bool, role: str, may: set[str], may_not: set[str]
) -> None:
    key = ApiKey(
        key_id="0123456789abcdef",
        agency="a",
        units=units,
        with_descendants=with_descendants,
        secret_sha256="0" * 64,
        created_at="2026-01-01T00:00:00+00:00",
        role=role,
    )
    scope = approval_scope(Authenticated(key, expand_scope(key, catalog)), catalog)
    assert may <= scope and not (may_not & scope)
