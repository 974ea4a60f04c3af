"""Database least privilege: the service logins made by ``dxmon db create-users`` do their job and no more.

Runs against a real PostgreSQL that checks SCRAM passwords (``pg_admin_url`` in this directory's
conftest), on a database migrated and catalog-synced by the root ``database_url`` fixture.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from deploy_support import login_url, run_dxmon

from dxmon.contracts import ReportReceived
from dxmon.store.catalog_repository import sync_catalog
from dxmon.store.reports_repository import store_reports
from dxmon.store.roles import (
    DatabaseUsersSettings,
    RoleSetupError,
    create_login_users,
    login_users,
    scram_sha256_verifier,
)

pytestmark = pytest.mark.integration

DENIED = asyncpg.InsufficientPrivilegeError


async def assert_refused(conn: asyncpg.Connection, statements) -> None:
    """assert_refused: every statement fails for lack of privilege."""
    for statement in statements:
        with pytest.raises(DENIED):
            await conn.execute(statement)


def report(unit: str = "QN", indicator: str = "DG-04", numerator: float = 628, denominator: float = 1000):
    return ReportReceived(
        event_id=uuid.uuid4(),
        unit=unit,
        indicator=indicator,
        observed_at="2025-09-30",
        numerator=numerator,
        denominator=denominator,
        received_at=datetime(2025, 10, 2, tzinfo=UTC),
        agency="test",
        key_id="k-test",
    )


SERVICES = ("aggregator", "alerts", "grafana", "entry")


async def store_one_report(writer_url: str) -> None:
    """store_one_report stores a report the way the aggregator does, as its login."""
    writer = await asyncpg.connect(writer_url)
    try:
        async with writer.transaction():
            await store_reports(writer, [report()], datetime.now(UTC))
    finally:
        await writer.close()


@pytest.fixture
def db_users() -> dict[str, str]:
    # Roles belong to the whole server, not one database: unique names keep tests independent.
    suffix = secrets.token_hex(3)
    return {svc: f"dx_{svc}_{suffix}" for svc in SERVICES}


@pytest.fixture
def db_passwords() -> dict[str, str]:
    return {svc: secrets.token_urlsafe(24) for svc in SERVICES}


def users_env(admin_url: str, users: dict[str, str], passwords: dict[str, str], **overrides: str) -> dict[str, str]:
    env = {"DX_DATABASE_URL": admin_url}
    env.update({f"DX_{svc.upper()}_DB_USER": name for svc, name in users.items()})
    env.update({f"DX_{svc.upper()}_DB_PASSWORD": pw for svc, pw in passwords.items()})
    env.update(overrides)
    return env


@pytest.fixture
async def logins(database_url: str, db_users: dict[str, str], db_passwords: dict[str, str]) -> dict[str, str]:
    """logins: URL per service after `dxmon db create-users` ran as the administrator."""
    done = run_dxmon("db", "create-users", env=users_env(database_url, db_users, db_passwords))
    assert done.returncode == 0, done.stderr
    assert f"{db_users['aggregator']}: created, member of dx_writer" in done.stderr
    return {svc: login_url(database_url, db_users[svc], db_passwords[svc]) for svc in SERVICES}


async def test_logins_authenticate_with_their_password_only(
    logins: dict[str, str], database_url: str, db_users: dict[str, str]
):
    for url in logins.values():
        conn = await asyncpg.connect(url)
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        await conn.close()
    wrong = login_url(database_url, db_users["grafana"], "not-the-password-at-all")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)


async def test_writer_stores_reports_but_cannot_drop_or_create_roles(logins: dict[str, str], catalog):
    conn = await asyncpg.connect(logins["aggregator"])
    try:
        async with conn.transaction():  # the aggregator's real write path
            stored = await store_reports(conn, [report(), report(numerator=700)], datetime.now(UTC))
        assert stored.stored == 2
        counts = await sync_catalog(conn, catalog)  # `dxmon catalog sync` works with the writer's login too
        assert counts["target_sets"] == len(catalog.target_sets) > 1
        await assert_refused(
            conn,
            (
                "DROP TABLE reports",
                "TRUNCATE reports",
                "DELETE FROM reports",
                "ALTER TABLE reports ADD COLUMN x int",
                "CREATE TABLE intruder (x int)",
                "CREATE ROLE intruder LOGIN",
                "UPDATE alerts SET state = state",
            ),
        )
    finally:
        await conn.close()


async def test_reader_only_reads_and_never_sees_channel_secrets(logins: dict[str, str]):
    await store_one_report(logins["aggregator"])
    conn = await asyncpg.connect(logins["grafana"])
    try:
        assert await conn.fetchval("SELECT count(*) FROM reports") == 1
        assert await conn.fetchval("SELECT count(*) FROM latest_values") == 1
        assert await conn.fetchval("SELECT binding FROM target_sets WHERE code = 'NQ09'") is True
        await assert_refused(
            conn,
            (
                "INSERT INTO units (code, name_vi, level) VALUES ('X', 'x', 'province')",
                "DELETE FROM target_sets",
                "UPDATE targets SET target_set = 'NQ09'",
                "UPDATE latest_values SET value = 0",
                "DELETE FROM reports",
                "DROP TABLE reports",
                "SELECT * FROM channels",  # channel URLs carry tokens and passwords
            ),
        )
    finally:
        await conn.close()


async def test_reader_reads_only_what_the_dashboards_show(logins: dict[str, str], database_url: str):
    """Any Grafana Viewer can send SQL as this login: notification bodies, report notes, raw bodies stay out."""
    await store_one_report(logins["aggregator"])
    conn = await asyncpg.connect(logins["grafana"])
    try:
        # What the dashboards read still works (tests/integration/test_dashboard_sql.py runs every panel).
        assert await conn.fetchval("SELECT count(*) FROM reports") == 1
        assert await conn.fetchval("SELECT value IS NULL AND numerator = 628 FROM reports")
        await conn.fetchval("SELECT count(*) FROM reports_monthly")
        await conn.fetch("SELECT recorded_at, reason, subject, detail, stream_seq FROM dead_letters")
        await conn.fetch("SELECT reason, created_by FROM silences")
        await conn.fetch("SELECT reason, created_by FROM acknowledgements")
        await conn.fetch("SELECT final, locked_by, auto_locked_at FROM milestone_outcomes")  # a view (0016)
        await assert_refused(
            conn,
            (
                "SELECT * FROM outbox",
                "SELECT body FROM outbox",
                "SELECT error FROM delivery_attempts",
                "SELECT count(*) FROM notification_log",
                "SELECT * FROM subscriptions",
                "SELECT note FROM reports",
                "SELECT key_id FROM reports",
                "SELECT agency, source FROM reports",
                "SELECT * FROM reports",
                "SELECT payload FROM dead_letters",
            ),
        )
    finally:
        await conn.close()
    # Deny by default: a table a later migration creates is not readable until it is granted.
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute("CREATE TABLE IF NOT EXISTS later_table (secret text)")
        conn = await asyncpg.connect(logins["grafana"])
        try:
            await assert_refused(conn, ("SELECT * FROM later_table",))
        finally:
            await conn.close()
    finally:
        await admin.execute("DROP TABLE later_table")
        await admin.close()


async def test_reader_has_a_statement_timeout_and_a_connection_limit(
    database_url: str, db_users: dict[str, str], db_passwords: dict[str, str]
):
    env = users_env(
        database_url,
        db_users,
        db_passwords,
        DX_GRAFANA_DB_STATEMENT_TIMEOUT_SECONDS="0.5",
        DX_GRAFANA_DB_CONNECTION_LIMIT="2",
    )
    done = run_dxmon("db", "create-users", env=env)
    assert done.returncode == 0, done.stderr
    url = login_url(database_url, db_users["grafana"], db_passwords["grafana"])
    first, second = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        assert await first.fetchval("SHOW statement_timeout") == "500ms"
        with pytest.raises(asyncpg.QueryCanceledError):
            await first.execute("SELECT pg_sleep(3)")
        with pytest.raises(asyncpg.TooManyConnectionsError):
            await asyncpg.connect(url)
    finally:
        await first.close()
        await second.close()
    # The services' own logins are not limited.
    aggregator = await asyncpg.connect(login_url(database_url, db_users["aggregator"], db_passwords["aggregator"]))
    try:
        assert await aggregator.fetchval("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user") == -1
        assert await aggregator.fetchval("SHOW statement_timeout") == "0"
    finally:
        await aggregator.close()


async def test_entry_login_reads_the_context_of_templates_and_imports_and_writes_nothing(logins: dict[str, str]):
    from dxmon.store.entry_repository import values_in_force, values_of_unit

    await store_one_report(logins["aggregator"])
    conn = await asyncpg.connect(logins["entry"])
    try:
        (value,) = await values_of_unit(conn, "QN", ["DG-04"], datetime(2025, 12, 31).date())
        assert (value.numerator, value.denominator, value.explanation) == (628, 1000, None)
        key = ("QN", "DG-04", "", value.period_start)
        assert (await values_in_force(conn, [key]))[key].event_id == value.event_id
        assert await conn.fetchval("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user") == -1
        await assert_refused(
            conn,
            (
                "DELETE FROM period_values",
                "INSERT INTO report_ids VALUES ('x', gen_random_uuid(), now(), 'd')",
                "SELECT note FROM reports",
                "SELECT * FROM channels",
            ),
        )
    finally:
        await conn.close()


async def test_alerts_login_keeps_alert_state_but_cannot_touch_reports(logins: dict[str, str]):
    conn = await asyncpg.connect(logins["alerts"])
    try:
        await conn.fetchval("SELECT count(*) FROM latest_values")
        await conn.fetchval("SELECT count(*) FROM channels")
        assert await conn.fetchval("SELECT count(*) FROM target_sets") > 1  # the evaluation reads the sets
        async with conn.transaction():
            await conn.execute("DELETE FROM silences")  # its own table: allowed (nothing to delete)
        # The evaluation records cut-offs and reads outcomes through the view; the flush marks announcements.
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO outcome_cutoffs VALUES ('2026-02-14', now()) ON CONFLICT DO NOTHING")
        await conn.execute("UPDATE milestone_outcome_rows SET announced_at = now() WHERE false")
        await conn.fetchval("SELECT count(*) FROM milestone_outcomes WHERE final")
        await tx.rollback()
        await assert_refused(
            conn,
            (
                "DELETE FROM reports",
                "INSERT INTO reports (event_id) VALUES (gen_random_uuid())",
                "DELETE FROM target_sets",
                "DROP TABLE alerts",
                "CREATE ROLE intruder",
            ),
        )
    finally:
        await conn.close()


async def test_rerun_rotates_passwords_and_keeps_one_group(
    logins: dict[str, str], database_url: str, db_users: dict[str, str], db_passwords: dict[str, str]
):
    rotated = {**db_passwords, "grafana": secrets.token_urlsafe(24)}
    done = run_dxmon("db", "create-users", env=users_env(database_url, db_users, rotated))
    assert done.returncode == 0, done.stderr
    assert f"{db_users['grafana']}: updated, member of dx_reader" in done.stderr
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(logins["grafana"])
    conn = await asyncpg.connect(login_url(database_url, db_users["grafana"], rotated["grafana"]))
    groups = await conn.fetch(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
        " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = current_user"
    )
    await conn.close()
    assert [r["rolname"] for r in groups] == ["dx_reader"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"DX_ALERTS_DB_USER": "postgres"}, "postgres is a superuser", id="superuser-name"),
        pytest.param(
            {"DX_GRAFANA_DB_USER": "same_login", "DX_AGGREGATOR_DB_USER": "same_login"},
            "its own database user",
            id="shared-login",
        ),
        pytest.param({"DX_GRAFANA_DB_USER": "dx_writer"}, "may not be the group role", id="group-role-name"),
        pytest.param({"DX_ALERTS_DB_PASSWORD": "short"}, "shorter than 16", id="short-password"),
        pytest.param({"DX_AGGREGATOR_DB_PASSWORD": ""}, "DX_AGGREGATOR_DB_PASSWORD is not set", id="missing"),
    ],
)
async def test_unsafe_requests_change_nothing(
    database_url: str, db_users: dict[str, str], db_passwords: dict[str, str], overrides, message
):
    env = users_env(database_url, db_users, db_passwords, **overrides)
    # Any: mypy matches a **dict against every keyword of the settings' __init__, _env_file and the like included.
    fields: dict[str, Any] = {k.removeprefix("DX_").lower(): v for k, v in env.items() if k != "DX_DATABASE_URL" and v}
    settings = DatabaseUsersSettings(**fields)
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(RoleSetupError) as refused:
            await create_login_users(conn, login_users(settings))
        assert message in str(refused.value)
        created = await conn.fetchval(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1::text[])", [*db_users.values(), "same_login"]
        )
        assert created == 0
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'")
    finally:
        await conn.close()


async def test_the_command_refuses_with_exit_code_2(
    database_url: str, db_users: dict[str, str], db_passwords: dict[str, str]
):
    done = run_dxmon(
        "db", "create-users", env=users_env(database_url, db_users, db_passwords, DX_ALERTS_DB_USER="postgres")
    )
    assert done.returncode == 2
    assert "postgres is a superuser" in done.stderr


def test_scram_verifier_has_postgres_format():
    verifier = scram_sha256_verifier("correct horse battery", salt=b"0123456789abcdef")
    method, rest = verifier.split("$", 1)
    params, keys = rest.split("$")
    assert method == "SCRAM-SHA-256"
    assert params == "4096:MDEyMzQ1Njc4OWFiY2RlZg=="
    assert [len(k) for k in keys.split(":")] == [44, 44]  # two base64 SHA-256 digests
    assert scram_sha256_verifier("correct horse battery") != scram_sha256_verifier("correct horse battery")


async def test_entry_login_records_approval_decisions_and_nobody_rewrites_them(logins: dict[str, str]):
    """The entry service writes approval decisions (dx_approver, migration 0010); no login changes one, and
    Grafana's reads them without the key that decided."""
    insert = (
        "INSERT INTO approval_decisions (unit, period, period_start, period_end, decision, by, key_id, at)"
        " VALUES ('QN', '2025', '2025-01-01', '2025-12-31', 'approved', 'Sở KH&CN', '0123456789abcdef', now())"
    )
    conn = await asyncpg.connect(logins["entry"])
    try:
        await conn.execute(insert)
        await assert_refused(
            conn,
            (
                "UPDATE approval_decisions SET decision = 'returned'",
                "DELETE FROM approval_decisions",
                "DELETE FROM period_values",
            ),
        )
    finally:
        await conn.close()
    conn = await asyncpg.connect(logins["grafana"])
    try:
        assert await conn.fetchval("SELECT by FROM approval_decisions") == "Sở KH&CN"
        await assert_refused(conn, (insert, "SELECT key_id FROM approval_decisions"))
    finally:
        await conn.close()
