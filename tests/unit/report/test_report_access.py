"""Whose report a caller may have (dxmon.report.access): an operator any unit, an agency key its scope only."""

from __future__ import annotations

import pytest

from dxmon.catalog import Catalog
from dxmon.keys import ApiKey, Authenticated, KeyRing, expand_scope
from dxmon.problems import Problem
from dxmon.report.access import PROVINCE, UnknownUnit, agency_caller, is_agency_key, scope

COMMUNE, OTHER = "QN-P-HONGGAI", "QN-P-HALONG"


def caller(catalog: Catalog, *units: str, with_descendants: bool = False) -> Authenticated:
    key = ApiKey(
        key_id="0123456789abcdef",
        agency="UBND phường",
        units=units,
        with_descendants=with_descendants,
        secret_sha256="0" * 64,
        created_at="2026-01-01T00:00:00+00:00",
    )
    return Authenticated(key, expand_scope(key, catalog))


def test_an_operator_gets_any_unit_and_the_province_by_default(catalog: Catalog) -> None:
    assert scope(catalog, None, None) == scope(catalog, None, PROVINCE)
    assert (scope(catalog, None, None).unit, scope(catalog, None, None).within) == (PROVINCE, None)
    assert scope(catalog, None, OTHER).unit == OTHER
    with pytest.raises(UnknownUnit, match="không có trong danh mục"):
        scope(catalog, None, "QN-NOWHERE")


def test_an_agency_key_gets_its_own_unit_only(catalog: Catalog) -> None:
    commune = caller(catalog, COMMUNE)
    assert scope(catalog, commune, None).unit == COMMUNE  # no unit named: the key's own
    assert scope(catalog, commune, COMMUNE).within == frozenset({COMMUNE})
    for elsewhere in (OTHER, PROVINCE):
        with pytest.raises(Problem) as refused:
            scope(catalog, commune, elsewhere)
        assert (refused.value.status, refused.value.reason) == (403, "outside-key-scope")
        body = refused.value.to_json()
        assert f"không cho {elsewhere}" in body["detail"] and COMMUNE in body["detail"]
        assert "not for" in refused.value.to_json("en")["detail"]
    with pytest.raises(UnknownUnit):  # an unknown code is a bad request whoever asks, not a secret
        scope(catalog, commune, "QN-NOWHERE")


def test_a_key_over_several_units_names_one(catalog: Catalog) -> None:
    both = caller(catalog, COMMUNE, OTHER)
    with pytest.raises(Problem) as refused:
        scope(catalog, both, None)
    assert (refused.value.status, refused.value.reason) == (422, "report-unit-required")
    assert f"{COMMUNE}, {OTHER}" in refused.value.to_json()["detail"]
    assert scope(catalog, both, OTHER).unit == OTHER


def test_a_key_with_descendants_reaches_the_units_below(catalog: Catalog) -> None:
    province = caller(catalog, PROVINCE, with_descendants=True)
    assert scope(catalog, province, COMMUNE).unit == COMMUNE
    own = caller(catalog, PROVINCE)
    assert scope(catalog, own, None).within == frozenset({PROVINCE})  # the ranking then shows no commune
    with pytest.raises(Problem):
        scope(catalog, own, COMMUNE)


def test_agency_keys_are_told_from_operator_tokens(catalog: Catalog) -> None:
    assert is_agency_key("Bearer dxk_0123456789abcdef_" + "s" * 43)
    assert is_agency_key("bearer  dxk_x")  # malformed keys are still agency keys: refused 401, never an operator's
    for header in (None, "", "Bearer operator-token", "Basic dxk_x", "dxk_x"):
        assert not is_agency_key(header)
    ring = KeyRing(catalog)  # not loaded yet: no key can be judged
    assert agency_caller(ring, "Bearer operator-token") is None
    with pytest.raises(Problem) as refused:
        agency_caller(ring, "Bearer dxk_0123456789abcdef_" + "s" * 43)
    assert (refused.value.status, refused.value.headers["Retry-After"]) == (503, "5")
    ring.loaded.set()
    with pytest.raises(Problem) as refused:
        agency_caller(ring, "Bearer dxk_0123456789abcdef_" + "s" * 43)
    assert (refused.value.status, refused.value.reason) == (401, "invalid-credentials")
