"""The aggregator's pure steps: which messages are poison, which failures are retried, how long a nak waits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from nats.aio.msg import Msg

from dxmon.catalog import Catalog
from dxmon.contracts import ReportReceived
from services.aggregator.batch import MAX_NAK_DELAY, classify, is_transient, nak_delay

SUBJECT = "dx.reports.v1.QN"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def message(data: bytes) -> Msg:
    return Msg(_client=None, subject=SUBJECT, data=data)  # type: ignore[arg-type]  # never acked here, so no client


def report(**overrides: object) -> ReportReceived:
    fields: dict = dict(
        event_id=uuid.uuid4(),
        unit="QN-P-HONGGAI",
        indicator="DG-04",
        observed_at=datetime(2025, 10, 31, tzinfo=UTC),
        numerator=628,
        denominator=1000,
        received_at=datetime(2025, 11, 1, tzinfo=UTC),
        agency="UBND phường Hồng Gai",
        key_id="k" * 16,
    )
    return ReportReceived(**{**fields, **overrides})


def encoded(**overrides: object) -> Msg:
    return message(report(**overrides).model_dump_json().encode())


def test_a_valid_report_is_decoded_unchanged(catalog: Catalog) -> None:
    sent = report()
    msg = message(sent.model_dump_json().encode())
    good, poison = classify([msg], catalog)
    assert poison == []
    assert good == [(msg, sent)]


def test_a_report_with_its_category_is_good(catalog: Catalog) -> None:
    good, poison = classify([encoded(indicator="DG-01", category="province", unit="QN")], catalog)
    assert len(good) == 1 and poison == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"not json", "undecodable", id="not-json"),
        pytest.param(b'{"unit": "QN"}', "undecodable", id="fields-missing"),
        pytest.param(b"\xff\xfe", "undecodable", id="not-utf8"),
    ],
)
def test_undecodable_messages_are_poison(catalog: Catalog, data: bytes, reason: str) -> None:
    msg = message(data)
    good, poison = classify([msg], catalog)
    assert good == []
    assert [(p.msg, p.reason) for p in poison] == [(msg, reason)]
    assert poison[0].detail  # the dead letter says why


@pytest.mark.parametrize(
    ("overrides", "reason", "named"),
    [
        pytest.param({"unit": "QN-P-NOWHERE"}, "unknown-unit", "QN-P-NOWHERE", id="unit-gone"),
        pytest.param({"indicator": "DG-99"}, "unknown-indicator", "DG-99", id="indicator-gone"),
        pytest.param({"indicator": "DG-01", "unit": "QN"}, "category-required", "DG-01", id="category-now-required"),
        pytest.param({"category": "province"}, "unknown-category", "DG-04", id="category-no-longer-exists"),
    ],
)
def test_reports_the_catalog_no_longer_accepts_are_poison(
    catalog: Catalog,
    overrides: dict,
    reason: str,
    named: str,
) -> None:
    good, poison = classify([encoded(**overrides)], catalog)
    assert good == []
    assert [p.reason for p in poison] == [reason]
    assert named in poison[0].detail


def test_a_batch_is_split_in_order_and_nothing_is_dropped(catalog: Catalog) -> None:
    msgs = [encoded(), message(b"{"), encoded(unit="QN"), encoded(indicator="DG-99"), encoded()]
    good, poison = classify(msgs, catalog)
    assert [m for m, _ in good] == [msgs[0], msgs[2], msgs[4]]
    assert [p.msg for p in poison] == [msgs[1], msgs[3]]


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        # Concurrent aggregators: the same batch succeeds when tried again.
        pytest.param(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), True, id="40P01-deadlock"),
        pytest.param(
            asyncpg.exceptions.SerializationError("could not serialize access"), True, id="40001-serialization"
        ),
        # The database, not the data.
        pytest.param(asyncpg.exceptions.AdminShutdownError("terminating connection"), True, id="57P01-shutdown"),
        pytest.param(asyncpg.exceptions.TooManyConnectionsError("too many"), True, id="53300-connections"),
        pytest.param(asyncpg.exceptions.ConnectionDoesNotExistError("gone"), True, id="08003-connection"),
        pytest.param(asyncpg.exceptions.InterfaceError("pool is closing"), True, id="interface"),
        pytest.param(ConnectionRefusedError(), True, id="refused"),
        pytest.param(TimeoutError(), True, id="timeout"),
        # The data: retried one by one, then dead-lettered.
        pytest.param(asyncpg.exceptions.NumericValueOutOfRangeError("overflow"), False, id="22003-data"),
        pytest.param(asyncpg.exceptions.UniqueViolationError("duplicate key"), False, id="23505-constraint"),
        pytest.param(asyncpg.exceptions.TransactionRollbackError("rollback"), False, id="40000-other-rollback"),
        pytest.param(ValueError("bug"), False, id="not-a-database-error"),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


@pytest.mark.parametrize(
    ("deliveries", "seconds"),
    [
        (0, 0.5),
        (1, 0.5),
        (2, 1.0),
        (3, 2.0),
        (4, 4.0),
        (5, MAX_NAK_DELAY),
        (50, MAX_NAK_DELAY),
        (10_000, MAX_NAK_DELAY),
    ],
)
def test_nak_delay_doubles_up_to_a_few_seconds(deliveries: int, seconds: float) -> None:
    assert nak_delay(deliveries) == seconds
