"""GrafanaPush: puts dx-monitor's folder, datasource and dashboards into a running Grafana (grafana-client).

An alternative to file provisioning (grafana/provisioning/) for a Grafana that dx-monitor does not
deploy. Every step is idempotent, so a second run changes nothing:

    folder      POST /api/folders (uid dx-monitor); 409 = exists → GET it, PUT the title only if it differs
    datasource  GET /api/datasources/uid/dx-tsdb; 404 → POST /api/datasources; else PUT by uid
                (left alone when Grafana reports it read-only: it is file-provisioned)
    dashboards  POST /api/dashboards/db with overwrite=true into the folder, one per uid
    health      GET /api/datasources/uid/dx-tsdb/health — Grafana connects to the database as the
                read-only user and runs a query; the result decides the exit status

The datasource password is only sent when given; an update without it keeps the stored one.
Contract-tested against a local HTTP server that checks Grafana's documented API
(tests/integration/test_grafana_push.py); no Grafana server ran while this was written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dxmon.store.roles import DatabaseUsersSettings
from grafana import build

log = logging.getLogger(__name__)


class GrafanaSettings(BaseSettings):
    """Where Grafana is and how it reaches the database (``dxmon grafana push``).

    The database user and password are ``DX_GRAFANA_DB_USER``/``DX_GRAFANA_DB_PASSWORD`` of
    ``dxmon.store.roles.DatabaseUsersSettings``: the same read-only login ``dxmon db create-users`` makes.
    """

    model_config = SettingsConfigDict(env_prefix="DX_", env_file=".env", extra="ignore", env_ignore_empty=True)

    grafana_url: str = Field("http://127.0.0.1:3000", description="Grafana base URL used by `dxmon grafana push`")
    grafana_token: SecretStr | None = Field(
        None, description="Grafana service-account token (Editor or Admin) used by `dxmon grafana push`"
    )
    grafana_db_host: str = Field(
        "timescaledb:5432", description="host:port of the database as Grafana reaches it (datasource URL)"
    )
    grafana_db_name: str = Field("dxmon", description="Database Grafana's datasource reads")
    grafana_db_sslmode: str = Field(
        "disable", description="sslmode of Grafana's database connection (disable, require, verify-full, …)"
    )
    grafana_timescaledb: bool = Field(
        True, description="Datasource option timescaledb ($__timeGroup uses time_bucket); false on plain PostgreSQL"
    )


class PushError(RuntimeError):
    """PushError: Grafana refused a step for a reason the operator must fix; the message says which."""


@dataclass
class PushReport:
    """PushReport says what each step did and whether Grafana could query the database."""

    folder: str = ""
    datasource: str = ""
    dashboards: list[str] = field(default_factory=list)
    healthy: bool = False
    health_message: str = ""


def datasource_body(settings: GrafanaSettings, users: DatabaseUsersSettings) -> dict[str, Any]:
    """datasource_body is the provisioned datasource with this deployment's connection details."""
    password = users.grafana_db_password.get_secret_value() if users.grafana_db_password else None
    return build.datasource(
        url=settings.grafana_db_host,
        database=settings.grafana_db_name,
        user=users.grafana_db_user,
        password=password,
        timescaledb=settings.grafana_timescaledb,
        sslmode=settings.grafana_db_sslmode,
    )


def ensure_folder(api: GrafanaApi, uid: str, title: str) -> str:
    try:
        api.folder.create_folder(title, uid=uid)
        return "created"
    except GrafanaClientError as exc:
        if exc.status_code != 409:
            raise
    try:
        existing = api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            # 409 without a folder of our uid: another folder already has the title.
            raise PushError(f"Grafana already has a folder titled {title!r} with another uid; rename it") from None
        raise
    if existing.get("title") == title:
        return "unchanged"
    api.folder.update_folder(uid, title=title, overwrite=True)
    return "renamed"


def upsert_datasource(api: GrafanaApi, body: Mapping[str, Any]) -> str:
    uid = body["uid"]
    try:
        current = api.datasource.get_datasource_by_uid(uid)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        if "secureJsonData" not in body:
            raise PushError("DX_GRAFANA_DB_PASSWORD is required to create the datasource") from None
        api.datasource.create_datasource(dict(body))
        return "created"
    if current.get("readOnly"):
        # Grafana refuses API changes to a file-provisioned datasource; the file is the truth there.
        return "provisioned from file, left as is"
    api.datasource.update_datasource_by_uid(uid, dict(body))
    return "updated"


def check_health(api: GrafanaApi, uid: str) -> tuple[bool, str]:
    try:
        result = api.datasource.health(uid)
    except GrafanaClientError as exc:
        body = exc.response if isinstance(exc.response, dict) else {}
        return False, str(body.get("message") or exc.message)
    return result.get("status") == "OK", str(result.get("message", ""))


def push(
    api: GrafanaApi,
    datasource: Mapping[str, Any],
    dashboards: Mapping[str, Mapping[str, Any]],
    *,
    folder_uid: str = build.FOLDER_UID,
    folder_title: str = build.FOLDER_TITLE,
) -> PushReport:
    """push makes Grafana hold ``datasource`` and ``dashboards`` (by uid) in the dx-monitor folder."""
    report = PushReport()
    report.folder = ensure_folder(api, folder_uid, folder_title)
    report.datasource = upsert_datasource(api, datasource)
    for uid, model in dashboards.items():
        result = api.dashboard.update_dashboard(
            {
                # id null + the fixed uid: Grafana updates the dashboard with that uid, or creates it.
                "dashboard": {**model, "id": None},
                "folderUid": folder_uid,
                "overwrite": True,
                "message": "dxmon grafana push",
            }
        )
        report.dashboards.append(str(result.get("url") or uid))
        log.info("dashboard %s pushed (version %s)", uid, result.get("version"))
    report.healthy, report.health_message = check_health(api, str(datasource["uid"]))
    return report


def connect(url: str, token: str, timeout: float = 10.0) -> GrafanaApi:
    """connect builds a client that authenticates with a service-account token (Bearer)."""
    return GrafanaApi.from_url(url, credential=token, timeout=timeout)
