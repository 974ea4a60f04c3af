"""The aggregator's error classifier: what is retried (nak) and what is dead-lettered."""

from __future__ import annotations

import asyncpg
import pytest

from services.aggregator.app import is_transient


@pytest.mark.parametrize(("exc", "transient"), [
    # Concurrent aggregators: the same batch succeeds when tried again.
    pytest.param(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), True, id="40P01-deadlock"),
    pytest.param(asyncpg.exceptions.SerializationError("could not serialize access"), True, id="40001-serialization"),
    # The database, not the data.
    pytest.param(asyncpg.exceptions.AdminShutdownError("terminating connection"), True, id="57P01-shutdown"),
    pytest.param(asyncpg.exceptions.TooManyConnectionsError("too many"), True, id="53300-connections"),
    pytest.param(asyncpg.exceptions.ConnectionDoesNotExistError("gone"), True, id="08003-connection"),
    pytest.param(ConnectionRefusedError(), True, id="refused"),
    pytest.param(TimeoutError(), True, id="timeout"),
    # The data: retried one by one, then dead-lettered.
    pytest.param(asyncpg.exceptions.NumericValueOutOfRangeError("overflow"), False, id="22003-data"),
    pytest.param(asyncpg.exceptions.UniqueViolationError("duplicate key"), False, id="23505-constraint"),
    pytest.param(asyncpg.exceptions.TransactionRollbackError("rollback"), False, id="40000-other-rollback"),
    pytest.param(ValueError("bug"), False, id="not-a-database-error"),
])
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient
