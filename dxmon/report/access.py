"""access: whose report a caller may have.

    operator token (DX_ALERTS_API_TOKENS)  → any unit; no unit named: the province
    agency key  (Authorization: Bearer dxk_…, dxmon.keys) → the units of the key's scope only;
        no unit named: the key's own unit; another unit: 403; the ranking and the reporting rates
        then count only units of the scope (a commune's key never shows its neighbours)

The HTTP route calls ``agency_caller`` and then ``scope``; every refusal is a ``Problem`` in Vietnamese
(English on request). The rows themselves are always the unit's own indicators: those whose target the
set gives the unit's level (``repository.unit_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass

from dxmon import intake
from dxmon.catalog import Catalog
from dxmon.keys import TOKEN_PREFIX, Authenticated, KeyRing
from dxmon.problems import Problem, say

PROVINCE = "QN"
KEYS_RETRY_AFTER_SECONDS = 5
_LISTED = 20  # the key's own units named in a refusal, at most


class UnknownUnit(ValueError):
    """UnknownUnit: the unit code is not in the catalog (a 422, whoever asks)."""


@dataclass(frozen=True)
class ReportScope:
    """ReportScope: the unit the report is about, and the units it may show (None: every unit)."""

    unit: str
    within: frozenset[str] | None = None


def is_agency_key(authorization: str | None) -> bool:
    """is_agency_key: True when the header presents a bearer token of the agency-key form (dxk_…)."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and token.strip().startswith(f"{TOKEN_PREFIX}_")


def agency_caller(keyring: KeyRing, authorization: str | None) -> Authenticated | None:
    """agency_caller verifies an agency key; None when the header holds none (an operator token, or nothing).

    Raises 401 for an unknown or revoked key and 503 (retry) while the key bucket is not loaded yet:
    no key can be judged then.
    """
    if not is_agency_key(authorization):
        return None
    if not keyring.loaded.is_set():
        raise Problem(
            503,
            "bus-unavailable",
            "API keys are not loaded yet",
            say("bus-unavailable/keys-not-loaded", status="dx_keys"),
            headers={"Retry-After": str(KEYS_RETRY_AFTER_SECONDS)},
        )
    return intake.authenticate(keyring, authorization)


def scope(catalog: Catalog, caller: Authenticated | None, unit: str | None) -> ReportScope:
    """scope: the report ``caller`` gets for ``unit`` (None: not named); ``caller`` None is an operator.

    Raises UnknownUnit for a code the catalog lacks, and a 403 / 422 ``Problem`` for an agency key asking
    for a unit outside its scope / naming no unit while it has several of its own.
    """
    if caller is None:
        return ReportScope(_known(catalog, unit or PROVINCE))
    key = caller.key
    if unit is None:
        if len(key.units) != 1:
            raise Problem(
                422,
                "report-unit-required",
                "Choose the unit of the report",
                say("report-unit-required", key_id=key.key_id, agency=key.agency, units=", ".join(key.units[:_LISTED])),
            )
        unit = key.units[0]
    if _known(catalog, unit) not in caller.scope:
        raise Problem(
            403,
            "outside-key-scope",
            "Unit outside this key's scope",
            say(
                "outside-key-scope/report",
                key_id=key.key_id,
                agency=key.agency,
                unit=unit,
                units=", ".join(key.units[:_LISTED]),
            ),
        )
    return ReportScope(unit, caller.scope)


def _known(catalog: Catalog, unit: str) -> str:
    if unit not in catalog.units:
        raise UnknownUnit(say("unknown-unit", unit=unit[:64]).vi)
    return unit
