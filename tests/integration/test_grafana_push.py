"""`dxmon grafana push` against a local server that holds Grafana's documented HTTP API to account.

No Grafana server can run here. ``GrafanaContract`` implements the endpoints push uses as Grafana's
HTTP API documentation describes them (docs/sources/developers/http_api/{folder,data_source,
dashboard}.md): paths, methods, required body fields, status codes (401 without the token, 404,
409 for an existing folder, 403 for a read-only datasource, 412 without overwrite) and response
bodies. A request outside the contract is answered as Grafana would and recorded as a violation;
every test asserts there were none.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dxmon.cli import build as build_cli
from grafana.build import FOLDER_TITLE, FOLDER_UID, PROVISIONING_DIR

pytestmark = pytest.mark.integration

TOKEN = "glsa_test_token_0123456789"
DB_PASSWORD = "grafana-reader-password-123"
UID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")
DASHBOARD_UIDS = {"dx-overview", "dx-unit-detail", "dx-alerts", "dx-pipeline"}


@dataclass
class GrafanaContract:
    """GrafanaContract: the slice of Grafana's HTTP API that push uses, with Grafana's documented answers."""

    token: str = TOKEN
    health: tuple[int, dict[str, str]] = (200, {"status": "OK", "message": "Database Connection OK"})
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Unauthorized"}
        payload: Any = None
        if method in ("POST", "PUT"):
            if not headers.get("content-type", "").startswith("application/json"):
                self.violations.append(f"{method} {path}: body is not application/json")
                return 400, {"message": "bad request data"}
            try:
                payload = json.loads(body)
            except ValueError:
                self.violations.append(f"{method} {path}: malformed JSON")
                return 400, {"message": "bad request data"}
            if not isinstance(payload, dict):
                self.violations.append(f"{method} {path}: body is not a JSON object")
                return 400, {"message": "bad request data"}
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("POST", r"/api/folders", self.create_folder),
            ("GET", r"/api/folders/([^/]+)", self.get_folder),
            ("PUT", r"/api/folders/([^/]+)", self.update_folder),
            ("POST", r"/api/datasources", self.create_datasource),
            ("GET", r"/api/datasources/uid/([^/]+)/health", self.datasource_health),
            ("GET", r"/api/datasources/uid/([^/]+)", self.get_datasource),
            ("PUT", r"/api/datasources/uid/([^/]+)", self.update_datasource),
            ("POST", r"/api/dashboards/db", self.save_dashboard),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(payload, *match.groups())
        self.violations.append(f"{method} {path}: not an endpoint push may use")
        return 404, {"message": "Not found"}

    def _unknown_keys(self, where: str, payload: dict[str, Any], allowed: set[str]) -> None:
        extra = set(payload) - allowed
        if extra:
            self.violations.append(f"{where}: undocumented fields {sorted(extra)}")

    # Folder API: POST /api/folders {uid?, title, parentUid?} → 200 folder | 409 exists.
    def create_folder(self, payload: dict[str, Any]) -> tuple[int, Any]:
        self._unknown_keys("POST /api/folders", payload, {"uid", "title", "parentUid"})
        title, uid = payload.get("title"), payload.get("uid")
        if not isinstance(title, str) or not title.strip() or (uid is not None and not UID_RE.match(uid)):
            self.violations.append("POST /api/folders: title missing or uid invalid")
            return 400, {"message": "bad request data"}
        assert uid is not None, "push names its folder (grafana.build.FOLDER_UID)"
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        folder = {"id": next(self._ids), "uid": uid, "title": title, "url": f"/dashboards/f/{uid}/", "version": 1}
        self.folders[uid] = folder
        return 200, folder

    def get_folder(self, _payload: None, uid: str) -> tuple[int, Any]:
        if uid not in self.folders:
            return 404, {"message": "folder not found"}
        return 200, self.folders[uid]

    # PUT /api/folders/:uid {title, version | overwrite} → 200 | 404 | 412 version-mismatch.
    def update_folder(self, payload: dict[str, Any], uid: str) -> tuple[int, Any]:
        self._unknown_keys(f"PUT /api/folders/{uid}", payload, {"title", "version", "overwrite", "uid"})
        folder = self.folders.get(uid)
        if folder is None:
            return 404, {"message": "folder not found"}
        if not payload.get("overwrite") and payload.get("version") != folder["version"]:
            return 412, {"message": "The folder has been changed by someone else", "status": "version-mismatch"}
        folder.update(title=payload.get("title", folder["title"]), version=folder["version"] + 1)
        return 200, folder

    # Data source API: create, get, update by uid; password only under secureJsonData.
    _DATASOURCE_FIELDS = {
        "uid",
        "name",
        "type",
        "access",
        "url",
        "user",
        "database",
        "basicAuth",
        "basicAuthUser",
        "withCredentials",
        "isDefault",
        "jsonData",
        "secureJsonData",
        "version",
        "id",
        "orgId",
    }

    def _check_datasource(self, where: str, payload: dict[str, Any]) -> bool:
        self._unknown_keys(where, payload, self._DATASOURCE_FIELDS)
        if "password" in payload:
            self.violations.append(f"{where}: password outside secureJsonData (stored in clear)")
        ok = all(isinstance(payload.get(k), str) and payload[k] for k in ("name", "type", "access"))
        if not ok or payload["access"] not in ("proxy", "direct"):
            self.violations.append(f"{where}: name, type and access (proxy|direct) are required")
        return ok

    def _public(self, ds: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in ds.items() if k != "secureJsonData"}
        out["secureJsonFields"] = {k: True for k in ds.get("secureJsonData", {})}
        return out

    def create_datasource(self, payload: dict[str, Any]) -> tuple[int, Any]:
        if not self._check_datasource("POST /api/datasources", payload):
            return 400, {"message": "bad request data"}
        if any(d["name"] == payload["name"] for d in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        uid = payload.get("uid") or f"generated{len(self.datasources)}"
        if uid in self.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        ds = {**payload, "uid": uid, "id": next(self._ids), "orgId": 1, "version": 1, "readOnly": False}
        self.datasources[uid] = ds
        return 200, {"datasource": self._public(ds), "id": ds["id"], "message": "Datasource added", "name": ds["name"]}

    def get_datasource(self, _payload: None, uid: str) -> tuple[int, Any]:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        return 200, self._public(self.datasources[uid])

    def update_datasource(self, payload: dict[str, Any], uid: str) -> tuple[int, Any]:
        if not self._check_datasource(f"PUT /api/datasources/uid/{uid}", payload):
            return 400, {"message": "bad request data"}
        current = self.datasources.get(uid)
        if current is None:
            return 404, {"message": "Data source not found"}
        if current["readOnly"]:
            self.violations.append(f"PUT /api/datasources/uid/{uid}: the datasource is read-only (provisioned)")
            return 403, {"message": "Cannot update read-only data source"}
        # Secure fields not sent are kept, as Grafana does.
        secure = {**current.get("secureJsonData", {}), **payload.get("secureJsonData", {})}
        updated = {
            **payload,
            "uid": uid,
            "id": current["id"],
            "orgId": 1,
            "version": current["version"] + 1,
            "readOnly": False,
            "secureJsonData": secure,
        }
        self.datasources[uid] = updated
        return 200, {
            "datasource": self._public(updated),
            "id": updated["id"],
            "message": "Datasource updated",
            "name": updated["name"],
        }

    # GET /api/datasources/uid/:uid/health → 200 {status: OK} | 400 {status: ERROR} | 404.
    def datasource_health(self, _payload: None, uid: str) -> tuple[int, Any]:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        return self.health

    # POST /api/dashboards/db {dashboard, folderUid, overwrite, message} → 200 | 400 | 412.
    def save_dashboard(self, payload: dict[str, Any]) -> tuple[int, Any]:
        self._unknown_keys(
            "POST /api/dashboards/db", payload, {"dashboard", "folderUid", "folderId", "overwrite", "message"}
        )
        model = payload.get("dashboard")
        if not isinstance(model, dict) or not str(model.get("title", "")).strip():
            self.violations.append("POST /api/dashboards/db: dashboard with a title is required")
            return 400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
        uid = model.get("uid")
        if not isinstance(uid, str) or not UID_RE.match(uid):
            self.violations.append("POST /api/dashboards/db: dashboard uid missing or longer than 40 characters")
            return 400, {"message": "invalid uid"}
        folder_uid = payload.get("folderUid")
        if folder_uid is not None and folder_uid not in self.folders:
            return 400, {"message": "folder not found"}
        existing = self.dashboards.get(uid)
        if model.get("id") is not None and (existing is None or existing["id"] != model["id"]):
            self.violations.append("POST /api/dashboards/db: id must be null to create (or the stored id)")
            return 404, {"message": "Dashboard not found", "status": "not-found"}
        if existing is not None and not payload.get("overwrite"):
            return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
        version = existing["version"] + 1 if existing else 1
        dashboard_id = existing["id"] if existing else next(self._ids)
        self.dashboards[uid] = {
            "id": dashboard_id,
            "version": version,
            "folderUid": folder_uid,
            "dashboard": {**model, "id": dashboard_id, "version": version},
        }
        slug = re.sub(r"[^a-z0-9]+", "-", model["title"].lower()).strip("-")
        return 200, {
            "id": dashboard_id,
            "uid": uid,
            "url": f"/d/{uid}/{slug}",
            "status": "success",
            "version": version,
            "slug": slug,
        }


@pytest.fixture
def grafana() -> Iterator[tuple[GrafanaContract, str]]:
    contract = GrafanaContract()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            status, answer = contract.handle(self.command, path, headers, body)
            contract.requests.append((self.command, path, status))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # quick shutdown()
    thread.start()
    yield contract, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def push_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env file
    for name in (
        "DX_GRAFANA_URL",
        "DX_GRAFANA_TOKEN",
        "DX_GRAFANA_DB_USER",
        "DX_GRAFANA_DB_HOST",
        "DX_GRAFANA_DB_NAME",
        "DX_GRAFANA_TIMESCALEDB",
        "DX_GRAFANA_DB_SSLMODE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DX_GRAFANA_DB_PASSWORD", DB_PASSWORD)
    monkeypatch.setenv("DX_GRAFANA_DB_HOST", "timescaledb:5432")


def contents(contract: GrafanaContract) -> str:
    """contents is the stub's stored state without the version counters Grafana bumps on each save."""

    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k != "version"}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return json.dumps(strip([contract.folders, contract.datasources, contract.dashboards]), sort_keys=True)


def run_push(url: str, token: str = TOKEN) -> Any:
    return CliRunner().invoke(build_cli(), ["grafana", "push", "--url", url, "--token", token])


def test_push_creates_folder_datasource_and_dashboards_then_changes_nothing(
    grafana: tuple[GrafanaContract, str], push_env: None
) -> None:
    contract, url = grafana
    first = run_push(url)
    assert first.exit_code == 0, first.output
    assert contract.violations == []
    assert contract.requests == [
        ("POST", "/api/folders", 200),
        ("GET", "/api/datasources/uid/dx-tsdb", 404),
        ("POST", "/api/datasources", 200),
        *[("POST", "/api/dashboards/db", 200)] * 4,
        ("GET", "/api/datasources/uid/dx-tsdb/health", 200),
    ]
    assert contract.folders[FOLDER_UID]["title"] == FOLDER_TITLE
    ds = contract.datasources["dx-tsdb"]
    assert (ds["type"], ds["user"], ds["url"], ds["access"]) == (
        "grafana-postgresql-datasource",
        "dx_grafana",
        "timescaledb:5432",
        "proxy",
    )
    assert ds["jsonData"]["timescaledb"] is True and ds["jsonData"]["database"] == "dxmon"
    assert ds["secureJsonData"] == {"password": DB_PASSWORD}
    assert set(contract.dashboards) == DASHBOARD_UIDS
    for uid, stored in contract.dashboards.items():
        committed = json.loads((PROVISIONING_DIR / "dashboards" / f"{uid}.json").read_text(encoding="utf-8"))
        pushed = {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")}
        assert pushed == committed, f"push must send the committed dashboard {uid}"
        assert stored["folderUid"] == FOLDER_UID
    state = contents(contract)

    contract.requests.clear()
    second = run_push(url)
    assert second.exit_code == 0, second.output
    assert contract.violations == []
    assert contract.requests == [
        ("POST", "/api/folders", 409),
        ("GET", "/api/folders/dx-monitor", 200),
        ("GET", "/api/datasources/uid/dx-tsdb", 200),
        ("PUT", "/api/datasources/uid/dx-tsdb", 200),
        *[("POST", "/api/dashboards/db", 200)] * 4,
        ("GET", "/api/datasources/uid/dx-tsdb/health", 200),
    ]
    # Grafana bumps versions on every save; everything else must be exactly as after the first run.
    assert contents(contract) == state
    assert "datasource health: OK" in second.output


def test_update_keeps_the_stored_password_when_none_is_given(
    grafana: tuple[GrafanaContract, str], push_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract, url = grafana
    assert run_push(url).exit_code == 0
    monkeypatch.delenv("DX_GRAFANA_DB_PASSWORD")
    again = run_push(url)
    assert again.exit_code == 0, again.output
    assert contract.violations == []
    assert contract.datasources["dx-tsdb"]["secureJsonData"] == {"password": DB_PASSWORD}


def test_creating_the_datasource_needs_a_password(
    grafana: tuple[GrafanaContract, str], push_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract, url = grafana
    monkeypatch.delenv("DX_GRAFANA_DB_PASSWORD")
    result = run_push(url)
    assert result.exit_code == 2
    assert "DX_GRAFANA_DB_PASSWORD" in result.output
    assert contract.datasources == {} and contract.dashboards == {}


def test_file_provisioned_datasource_is_left_alone(grafana: tuple[GrafanaContract, str], push_env: None) -> None:
    contract, url = grafana
    contract.datasources["dx-tsdb"] = {
        "uid": "dx-tsdb",
        "id": 7,
        "name": "from file",
        "type": "grafana-postgresql-datasource",
        "access": "proxy",
        "version": 3,
        "readOnly": True,
    }
    result = run_push(url)
    assert result.exit_code == 0, result.output
    assert contract.violations == []
    assert ("PUT", "/api/datasources/uid/dx-tsdb", 403) not in contract.requests
    assert contract.datasources["dx-tsdb"]["name"] == "from file"
    assert "provisioned from file" in result.output


def test_renamed_folder_gets_its_title_back(grafana: tuple[GrafanaContract, str], push_env: None) -> None:
    contract, url = grafana
    contract.folders[FOLDER_UID] = {"id": 1, "uid": FOLDER_UID, "title": "Renamed by hand", "version": 4}
    result = run_push(url)
    assert result.exit_code == 0, result.output
    assert contract.violations == []
    assert ("PUT", f"/api/folders/{FOLDER_UID}", 200) in contract.requests
    assert contract.folders[FOLDER_UID]["title"] == FOLDER_TITLE


def test_unhealthy_datasource_fails_the_command(grafana: tuple[GrafanaContract, str], push_env: None) -> None:
    contract, url = grafana
    contract.health = (400, {"status": "ERROR", "message": 'password authentication failed for user "dx_grafana"'})
    result = run_push(url)
    assert result.exit_code == 1
    assert "password authentication failed" in result.output
    assert set(contract.dashboards) == DASHBOARD_UIDS  # dashboards do not depend on the database being reachable


def test_wrong_token_is_reported_and_nothing_is_written(grafana: tuple[GrafanaContract, str], push_env: None) -> None:
    contract, url = grafana
    result = run_push(url, token="glsa_wrong")
    assert result.exit_code == 2
    assert "Unauthorized" in result.output
    assert contract.folders == {} and contract.datasources == {} and contract.dashboards == {}
