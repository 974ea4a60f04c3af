"""Roles: the LOGIN users the services connect as, each a member of one group role of migration 0001.

    dx_aggregator ──member of──▶ dx_writer   stores reports, syncs the catalog
    dx_alerter    ──member of──▶ dx_alerts   evaluates progress, keeps alert state and the outbox
    dx_grafana    ──member of──▶ dx_reader   dashboards: SELECT on what they show (migration 0006),
                                             with a statement timeout and a connection limit
    dx_entry      ──member of──▶ dx_reader   the entry service: targets and values in force for
                                             templates and imports (it publishes through NATS)
                  ──and of─────▶ dx_approver approval decisions of approver keys (migration 0010)

Ingest never opens the database, so it has no user. The migrations (run by an administrator)
own every table, so none of these users can drop or alter them, create roles, or read what their
group was not granted. ``create_login_users`` is idempotent: it creates missing users, and resets
the password and the membership of existing ones, so rotating a password is running it again.

Passwords never reach the server in clear: each is sent as a SCRAM-SHA-256 verifier computed here
(RFC 5802 / RFC 7677, the format PostgreSQL stores), so statement logs never show a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

import asyncpg
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

GROUP_ROLES = ("dx_writer", "dx_alerts", "dx_reader")
MIN_PASSWORD_LENGTH = 16
SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations


class DatabaseUsersSettings(BaseSettings):
    """Names and passwords of the services' database users (used by ``dxmon db create-users``)."""

    model_config = SettingsConfigDict(env_prefix="DX_", env_file=".env", extra="ignore", env_ignore_empty=True)

    aggregator_db_user: str = Field(
        "dx_aggregator", description="Database user of the aggregator (member of dx_writer)"
    )
    aggregator_db_password: SecretStr | None = Field(None, description="Password of the aggregator's database user")
    alerts_db_user: str = Field("dx_alerter", description="Database user of the alerts service (member of dx_alerts)")
    alerts_db_password: SecretStr | None = Field(None, description="Password of the alerts service's database user")
    grafana_db_user: str = Field("dx_grafana", description="Grafana's read-only database user (member of dx_reader)")
    grafana_db_password: SecretStr | None = Field(None, description="Password of Grafana's database user")
    entry_db_user: str = Field(
        "dx_entry", description="The entry service's read-only database user (member of dx_reader)"
    )
    entry_db_password: SecretStr | None = Field(None, description="Password of the entry service's database user")
    # Any Grafana Viewer can send its own SQL through the datasource (/api/ds/query): bound what one
    # query and all of them together may take from the database.
    grafana_db_statement_timeout_seconds: float = Field(
        30, gt=0, le=3600, description="Longest a query of Grafana's database user may run before it is cancelled"
    )
    grafana_db_connection_limit: int = Field(
        15, ge=1, le=1000, description="Most connections Grafana's database user may hold (the datasource uses 10)"
    )


class RoleSetupError(ValueError):
    """RoleSetupError: the requested users are unsafe or incomplete; the message says what to fix."""


@dataclass(frozen=True)
class LoginUser:
    """LoginUser is one service's database user and the group role it belongs to."""

    name: str
    group: str
    password: str = field(repr=False)
    connection_limit: int = -1  # -1: no limit
    statement_timeout_ms: int = 0  # 0: none of its own
    also: tuple[str, ...] = ()  # roles it is granted besides its group (never revoked here)


def login_users(settings: DatabaseUsersSettings) -> list[LoginUser]:
    """login_users lists the service users; it refuses missing, short or shared credentials."""
    wanted = [
        ("aggregator", settings.aggregator_db_user, settings.aggregator_db_password, "dx_writer"),
        ("alerts", settings.alerts_db_user, settings.alerts_db_password, "dx_alerts"),
        ("grafana", settings.grafana_db_user, settings.grafana_db_password, "dx_reader"),
        ("entry", settings.entry_db_user, settings.entry_db_password, "dx_reader"),
    ]
    # Grafana's Viewers send their own SQL: its login is bounded. The entry service runs its own queries.
    limits = {
        "grafana": (settings.grafana_db_connection_limit, round(settings.grafana_db_statement_timeout_seconds * 1000))
    }
    problems, users = [], []
    for service, name, password, group in wanted:
        env = f"DX_{service.upper()}_DB_PASSWORD"
        if password is None:
            problems.append(f"{env} is not set")
        elif len(password.get_secret_value()) < MIN_PASSWORD_LENGTH:
            problems.append(f"{env} is shorter than {MIN_PASSWORD_LENGTH} characters")
        elif name in GROUP_ROLES:
            problems.append(f"DX_{service.upper()}_DB_USER may not be the group role {name}")
        else:
            also = ("dx_approver",) if service == "entry" else ()  # the entry service records approval decisions
            users.append(LoginUser(name, group, password.get_secret_value(), *limits.get(service, (-1, 0)), also))
    names = [u.name for u in users]
    if len(set(names)) != len(names):
        # One login for two services would give each the other's privileges.
        problems.append(f"each service needs its own database user (got {', '.join(names)})")
    if problems:
        raise RoleSetupError("; ".join(problems))
    return users


def scram_sha256_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """scram_sha256_verifier returns what PostgreSQL stores for ``password``: SCRAM-SHA-256$i:salt$stored:server.

    PostgreSQL stores a password given in this form as-is, whatever ``password_encryption`` says.
    (SASLprep is the identity for the printable ASCII passwords the README asks for.)
    """
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731 - local shorthand
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


# Role names cannot be bind parameters in DDL: format() quotes them on the server (%I, %L), so the
# names and verifiers still travel as parameters and are never spliced into SQL text here.
_ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT %s"
_CREATE = f"SELECT format('CREATE ROLE %I WITH {_ROLE_OPTIONS} PASSWORD %L', $1::text, $3::int, $2::text)"
_ALTER = f"SELECT format('ALTER ROLE %I WITH {_ROLE_OPTIONS} PASSWORD %L', $1::text, $3::int, $2::text)"
# Applies to every session the user opens (RESET: the database's or server's setting).
_TIMEOUT = "SELECT format('ALTER ROLE %I SET statement_timeout = %s', $1::text, $2::int)"
_NO_TIMEOUT = "SELECT format('ALTER ROLE %I RESET statement_timeout', $1::text)"
_GRANT = "SELECT format('GRANT %I TO %I', $1::text, $2::text)"
_REVOKE = "SELECT format('REVOKE %I FROM %I', $1::text, $2::text)"
_OWNS_OBJECTS = "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = $1)"
_IS_MEMBER = """
SELECT EXISTS (SELECT 1 FROM pg_auth_members m
               JOIN pg_roles u ON u.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
               WHERE u.rolname = $1 AND g.rolname = $2)
"""


async def create_login_users(conn: asyncpg.Connection, users: list[LoginUser]) -> list[str]:
    """create_login_users makes each user exist with its password and exactly its one dx group role.

    Runs in one transaction: either every user is ready or nothing changed. It refuses to touch a
    superuser or a role owning tables (a typo such as DX_ALERTS_DB_USER=postgres must neither reset
    the admin's password nor hand a service the schema).
    Returns one line per user saying what was done.
    """
    missing = [g for g in GROUP_ROLES if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", g)]
    if missing:
        raise RoleSetupError(f"group roles {', '.join(missing)} do not exist: run `dxmon migrate` first")
    done = []
    async with conn.transaction():
        for user in users:
            row = await conn.fetchrow("SELECT rolsuper FROM pg_roles WHERE rolname = $1", user.name)
            if row is not None and row["rolsuper"]:
                raise RoleSetupError(f"{user.name} is a superuser; choose another name for the service user")
            if row is not None and await conn.fetchval(_OWNS_OBJECTS, user.name):
                # The owner of the schema could drop it whatever its group grants.
                raise RoleSetupError(f"{user.name} owns database objects; choose another name for the service user")
            verifier = scram_sha256_verifier(user.password)
            await conn.execute(
                await conn.fetchval(_ALTER if row else _CREATE, user.name, verifier, user.connection_limit)
            )
            if user.statement_timeout_ms:
                await conn.execute(await conn.fetchval(_TIMEOUT, user.name, user.statement_timeout_ms))
            else:
                await conn.execute(await conn.fetchval(_NO_TIMEOUT, user.name))
            for group in GROUP_ROLES:
                member = await conn.fetchval(_IS_MEMBER, user.name, group)
                if group == user.group and not member:
                    await conn.execute(await conn.fetchval(_GRANT, group, user.name))
                elif group != user.group and member:
                    await conn.execute(await conn.fetchval(_REVOKE, group, user.name))
            for role in user.also:
                if not await conn.fetchval(_IS_MEMBER, user.name, role):
                    await conn.execute(await conn.fetchval(_GRANT, role, user.name))
            done.append(f"{user.name}: {'updated' if row else 'created'}, member of {user.group}")
    return done
