"""Test databases: fresh, migrated databases cloned from a template migrated once per server.

A module of its own, imported as ``tests.databases`` by the root conftest and by test modules alike:
pytest loads the root conftest under another name than ``tests.conftest``, so state kept there would
exist twice (and the templates made through one copy would never be dropped).
"""

from __future__ import annotations

import uuid

import asyncpg

from dxmon import devstack
from dxmon.catalog import Catalog

# Templates by (admin URL, catalog id, synced): the template database's name (None: databases on that
# server cannot be cloned) and the catalog, kept alive so that its id is not reused for another one.
_templates: dict[tuple[str, int, bool], tuple[str | None, Catalog]] = {}


async def _migrated(admin_url: str, catalog: Catalog, sync: bool) -> tuple[str, str]:
    """_migrated makes a new database, migrates it (and syncs the catalog); returns its name and storage mode."""
    from dxmon.store.catalog_repository import sync_catalog
    from dxmon.store.migrate import migrate

    name = f"dxt_{uuid.uuid4().hex[:12]}"
    url = await devstack.ensure_database(admin_url, name)
    mode = (await migrate(url)).mode
    if sync:
        conn = await asyncpg.connect(url)
        try:
            await sync_catalog(conn, catalog)
        finally:
            await conn.close()
    return name, mode


async def create_database(admin_url: str, catalog: Catalog, *, sync: bool = True) -> str:
    """create_database makes a fresh, migrated database (catalog synced) and returns its URL.

    The first call per server (and catalog) migrates a template database; every call then clones it
    with CREATE DATABASE ... TEMPLATE: the same schema and rows, in a tenth of the time migrating takes.
    Under TimescaleDB, whose background workers connect to every database (a template in use cannot
    be cloned), each database is migrated instead. Templates are dropped when the session ends.
    """
    from dxmon.store.migrate import MODE_TIMESCALE

    key = (admin_url, id(catalog), sync)
    if key not in _templates:
        name, mode = await _migrated(admin_url, catalog, sync)
        if mode == MODE_TIMESCALE:
            _templates[key] = (None, catalog)
            return devstack.database_url_with_name(admin_url, name)
        _templates[key] = (name, catalog)
    template = _templates[key][0]
    if template is None:
        name, _ = await _migrated(admin_url, catalog, sync)
        return devstack.database_url_with_name(admin_url, name)
    name = f"dxt_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    except asyncpg.InvalidCatalogNameError:
        # The server that held the template was stopped, and another one now answers at its address.
        del _templates[key]
        return await create_database(admin_url, catalog, sync=sync)
    finally:
        await conn.close()
    return devstack.database_url_with_name(admin_url, name)


async def drop_templates() -> None:
    """drop_templates drops the session's templates on the servers still running (at the session's end)."""
    for (admin_url, _, _), (name, _) in list(_templates.items()):
        if name is None:
            continue
        try:
            conn = await asyncpg.connect(admin_url, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            continue  # a throwaway server already stopped: its templates went with it
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
    _templates.clear()
