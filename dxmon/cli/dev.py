"""``dxmon dev``: the whole pipeline on this machine, no Docker, state kept in ``.dx/``.

    nats-server (wheel) ─┐
    PostgreSQL (system) ─┼─▶ migrate + catalog + demo key ─▶ ingest ─▶ aggregator ─▶ alerts
                         │                                     ▲  entry (templates, imports,
                         └──────────────── simulate ───────────┘   page; reads the database)

Sinks start before sources and stop after them: servers, then aggregator and alerts, then
ingest and entry, then the simulator. Ctrl-C stops everything in reverse order.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import asyncpg
import httpx
import typer
from rich.table import Table
from rich.text import Text

from dxmon import devstack
from dxmon.bus import aggregator_backlog, connect
from dxmon.catalog import Catalog
from dxmon.cli import error_text, plain_console
from dxmon.cli.setup import setup_database, setup_nats
from dxmon.cli.simulate import last_month_end, run_simulation
from dxmon.contracts import LOCAL_TZ
from dxmon.keys import KeyStore
from dxmon.settings import NatsSettings
from dxmon.store.progress_repository import unit_distribution
from services.aggregator.settings import AggregatorSettings

console = plain_console()


@dataclass
class Service:
    """Service is one dx-monitor service run as a child process with its log in ``.dx/logs``."""

    name: str
    argv: list[str]
    health_url: str
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}); see {self.log_path}")
            try:
                r = httpx.get(self.health_url, timeout=2)
                if r.status_code == 200:
                    return
                last = r.text[:200]
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s ({last}); see {self.log_path}")

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


async def ensure_demo_key(settings: NatsSettings, catalog: Catalog, key_file: Path) -> str:
    """ensure_demo_key reuses the key saved in ``key_file`` if it still works, else creates one."""
    nc = await connect(settings, "dxmon-dev")
    try:
        store = await KeyStore.open(nc.jetstream(), catalog)
        if key_file.exists():
            token = key_file.read_text().strip()
            if any(token.startswith(f"dxk_{k.key_id}_") for k in await store.list()):
                return token
        _, token = await store.create("demo (dxmon dev)", ["QN"], with_descendants=True, label="dxmon dev")
        key_file.write_text(token + "\n")
        key_file.chmod(0o600)
        return token
    finally:
        await nc.close()


DEMO_MAILBOX = "lanhdao@quangninh.example.vn"


async def ensure_demo_subscription(database_url: str, catalog: Catalog, smtp_port: int) -> str:
    """ensure_demo_subscription subscribes the local mail sink to every unit's alerts (once)."""
    from services.alerts import admin
    from services.alerts import repository as repo

    url = f"mailto://127.0.0.1:{smtp_port}?from=dx-monitor@quangninh.example.vn&to={DEMO_MAILBOX}&mode=insecure"
    conn = await asyncpg.connect(database_url)
    try:
        if not any(s.channel.url == url for s in await repo.subscriptions(conn)):
            await admin.add_subscription(
                conn, catalog, unit="QN", with_descendants=True, pillars=[], min_severity="warning", channel=url
            )
    finally:
        await conn.close()
    return url


def mail_subjects(maildir: Path) -> list[str]:
    """mail_subjects lists the decoded subjects of the messages in the local mail sink."""
    import mailbox
    from email.header import decode_header, make_header

    if not (maildir / "new").exists():
        return []
    box = mailbox.Maildir(maildir, create=False)
    return [str(make_header(decode_header(m["subject"] or ""))) for m in box]


async def summary(database_url: str) -> dict:
    """summary reads what the pipeline stored, for the terminal."""
    conn = await asyncpg.connect(database_url)
    try:
        out = {
            "reports": await conn.fetchval("SELECT count(*) FROM reports"),
            "periods": await conn.fetchval("SELECT count(*) FROM period_values WHERE category = ''"),
            "dead_letters": await conn.fetchval("SELECT count(*) FROM dead_letters"),
            "by_level": await conn.fetch(
                "SELECT u.level, count(DISTINCT r.unit) AS units, count(*) AS reports "
                "FROM latest_values r JOIN units u ON u.code = r.unit WHERE r.category = '' GROUP BY u.level ORDER BY "
                "u.level"
            ),
            "lag": await conn.fetchrow(
                "SELECT sum(stored) AS stored, sum(lag_ms_sum) / nullif(sum(stored), 0) AS avg_ms, "
                "max(lag_ms_max) AS max_ms FROM ingest_minutely"
            ),
            "distribution": None,
        }
        if await conn.fetchval("SELECT to_regclass('progress_current') IS NOT NULL"):
            out["distribution"] = await unit_distribution(conn, datetime.now(LOCAL_TZ).date())
        return out
    finally:
        await conn.close()


def print_summary(
    s: dict, ingest_url: str, state: Path, mails: list[str] | None = None, entry_url: str | None = None
) -> None:
    console.rule(Text("dx-monitor is running", style="bold"))
    console.print(f"API docs        {ingest_url}/docs")
    if entry_url:
        console.print(
            f"entry (Excel)   {entry_url}  (dxmon template, dxmon import; docs {entry_url}/docs)", soft_wrap=True
        )
    console.print(f"catalog         {ingest_url}/v1/catalog/units")
    console.print(f"demo API key    {state / 'demo-key'}")
    console.print(f"logs            {state / 'logs'}")
    lag = s["lag"]
    console.print(
        f"stored          {s['reports']} reports ({s['periods']} unit·indicator·periods), "
        f"{s['dead_letters']} dead letters"
    )
    if lag and lag["stored"]:
        console.print(f"ingest→stored   avg {lag['avg_ms']:.0f} ms, max {lag['max_ms']:.0f} ms")
    table = Table("level", "units reporting", "unit·indicator pairs", title="What was stored")
    for row in s["by_level"]:
        table.add_row(row["level"], str(row["units"]), str(row["reports"]))
    console.print(table)
    spread = s["distribution"]
    if spread is not None and spread.total:

        def share(n: int) -> str:
            return f"{n} ({100 * n / spread.total:.0f} %)".replace(".", ",")

        console.print(
            f"Đơn vị hiện có: {spread.total} — đúng tiến độ hoặc đạt: {share(spread.fine)}; "
            f"chậm tiến độ hoặc có nguy cơ ở ít nhất một chỉ tiêu: {share(spread.behind)}; "
            f"chưa báo cáo: {share(spread.silent)}"
        )
        behind = Table(
            "Mã ĐVHC",
            "Đơn vị",
            "Chậm / có nguy cơ",
            "Chưa báo cáo",
            "Số chỉ tiêu",
            title="Các đơn vị cần chú ý (10 đơn vị đứng đầu)",
        )
        for r in spread.worst:
            behind.add_row(r["unit"], r["name_vi"], str(r["behind"]), str(r["missing"]), str(r["tracked"]))
        console.print(behind)
    if mails is not None:
        console.print(f"notifications   {len(mails)} e-mail digest(s) in the local mail sink {state / 'mail'}")
        for subject in mails[:5]:
            console.print(f"  • {subject}")


def entry_port() -> int:
    from services.entry.settings import EntrySettings

    return EntrySettings().entry_port


def local_services(state: Path, env: dict[str, str], ingest_port: int, with_alerts: bool) -> list[Service]:
    """local_services: the services in start order (sinks first), each on 127.0.0.1 at the port its
    settings name (DX_AGGREGATOR_METRICS_PORT, DX_ALERTS_PORT, DX_ENTRY_PORT; ingest: --ingest-port) and
    probed there."""
    py = [sys.executable, "-m", "dxmon", "serve"]
    loopback = ["--host", "127.0.0.1"]
    ports = {"aggregator": AggregatorSettings().aggregator_metrics_port}
    if with_alerts:
        from services.alerts.settings import AlertsSettings

        ports["alerts"] = AlertsSettings(alerts_host="127.0.0.1").alerts_port
    ports["ingest"] = ingest_port
    ports["entry"] = entry_port()
    return [
        Service(
            name,
            [*py, name, *loopback, "--port", str(port)],
            f"http://127.0.0.1:{port}/readyz",
            state / "logs" / f"{name}.log",
            env,
        )
        for name, port in ports.items()
    ]


def print_how_to_reach(state_file: Path, settings: dict[str, str]) -> None:
    """print_how_to_reach says how other dxmon commands find this stack."""
    console.print(
        f"dxmon commands run in {state_file.parent.parent} use this stack ({state_file}), e.g. "
        "`dxmon status QN-P-HONGGAI`, `dxmon keys list`; DX_ variables and .env override it"
    )
    exports = " ".join(f"DX_{name.upper()}={value}" for name, value in settings.items())
    console.print(f"from another directory: export {exports}", soft_wrap=True)


def register(cli) -> None:
    @cli.app.command("dev")
    def dev(
        state_dir: Path = typer.Option(Path(".dx"), "--state", help="Folder for data, logs and the demo key"),
        nats_port: int = typer.Option(14222, help="Port of the local nats-server"),
        pg_port: int = typer.Option(15432, help="Port of the local PostgreSQL"),
        ingest_port: int = typer.Option(8080, help="Port of the ingest API"),
        smtp_port: int = typer.Option(2525, help="Port of the local mail sink that receives alert digests"),
        simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="Post demo reports"),
        since: str = typer.Option("2024-01-01", help="First simulated period"),
        once: bool = typer.Option(False, "--once", help="Stop after the simulation and summary (for smoke tests)"),
    ) -> None:
        """Run the whole pipeline locally with demo data; Ctrl-C stops everything."""
        state = state_dir.resolve()
        state.mkdir(parents=True, exist_ok=True)
        servers: list[devstack.LocalServer] = []
        services: list[Service] = []
        stopping = False

        def on_signal(signum, _frame):
            nonlocal stopping
            if stopping:
                return
            stopping = True
            raise KeyboardInterrupt

        # Both explicitly: a shell that starts us in the background leaves SIGINT ignored.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            console.print(Text.assemble(("dx-monitor dev", "bold"), f" — state in {state}"))
            pg = devstack.postgres_server(state / "postgres", pg_port).start()
            servers.append(pg)
            nats_srv = devstack.nats_server(state / "nats", nats_port).start()
            servers.append(nats_srv)
            mail_sink = devstack.LocalServer(
                "mail sink",
                [
                    sys.executable,
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    f"127.0.0.1:{smtp_port}",
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                    str(state / "mail"),
                ],
                smtp_port,
                f"smtp://127.0.0.1:{smtp_port}",
                state / "logs" / "mail-sink.log",
            ).start()
            servers.append(mail_sink)
            console.print(f"started PostgreSQL :{pg_port}, nats-server :{nats_port}, mail sink :{smtp_port}")
            database_url = asyncio.run(devstack.ensure_database(pg.url, "dxmon"))
            catalog = Catalog.load()
            nats_settings = NatsSettings(nats_url=nats_srv.url)
            applied, mode, _ = asyncio.run(setup_database(database_url, catalog, False))
            asyncio.run(setup_nats(nats_settings))
            console.print(f"database ready ({mode}; {len(applied)} migration(s) applied), streams ready")
            # From here on, dxmon commands run in this directory reach this stack (DX_ variables still win).
            state_file = Path.cwd() / devstack.DEV_STATE_FILE
            entry_url = f"http://127.0.0.1:{entry_port()}"
            dev_settings = {
                "nats_url": nats_srv.url,
                "database_url": database_url,
                "entry_database_url": database_url,
                "entry_url": entry_url,
            }
            devstack.write_dev_state(state_file, dev_settings)
            token = asyncio.run(ensure_demo_key(nats_settings, catalog, state / "demo-key"))
            with_alerts = importlib.util.find_spec("dxmon.cli.alerts") is not None
            if with_alerts:
                asyncio.run(ensure_demo_subscription(database_url, catalog, smtp_port))

            # The entry service connects as the administrator here; its sessions are read-only all the same.
            env = {
                **os.environ,
                "DX_NATS_URL": nats_srv.url,
                "DX_DATABASE_URL": database_url,
                "DX_ENTRY_DATABASE_URL": database_url,
                "PYTHONUNBUFFERED": "1",
                # Demo pace: digests every 10 s instead of 30 s.
                "DX_ALERTS_FLUSH_INTERVAL_SECONDS": os.environ.get("DX_ALERTS_FLUSH_INTERVAL_SECONDS", "10"),
            }
            services.extend(local_services(state, env, ingest_port, with_alerts))
            ingest_url = f"http://127.0.0.1:{ingest_port}"
            for svc in services:  # sinks first: aggregator and alerts before ingest and entry
                svc.start()
                svc.wait_ready()
                console.print(f"started {svc.name}")

            if simulate:
                end = last_month_end(date.today())
                result = run_simulation(ingest_url, token, date.fromisoformat(since), end, seed=1, batch=500)
                console.print(
                    f"simulated {result.posted} reports: {result.accepted} accepted, "
                    f"{result.duplicates} duplicates (resubmissions and reruns)"
                )
                _wait_drained(nats_settings, timeout=120)
            mails = _wait_for_mail(state / "mail", timeout=90) if with_alerts and simulate else None
            print_summary(asyncio.run(summary(database_url)), ingest_url, state, mails, entry_url)
            print_how_to_reach(state_file, dev_settings)
            if once:
                return
            console.print("Ctrl-C to stop", style="bold")
            while all(s.process and s.process.poll() is None for s in services):
                time.sleep(1)
            console.print("a service stopped unexpectedly; see its log", style="red")
            raise typer.Exit(1)
        except KeyboardInterrupt:
            console.print("stopping…")
        except (RuntimeError, devstack.DevstackError) as exc:
            console.print(error_text(str(exc)))
            raise typer.Exit(1) from None
        finally:
            devstack.remove_dev_state(Path.cwd() / devstack.DEV_STATE_FILE)
            for svc in reversed(services):
                svc.stop()
            for srv in reversed(servers):
                srv.stop(sig=signal.SIGINT if srv.name == "postgres" else signal.SIGTERM)
            console.print("stopped")


def _wait_for_mail(maildir: Path, timeout: float, settle: float = 15.0) -> list[str]:
    """_wait_for_mail gives the alerts service time to evaluate what was stored and send its digests.

    Digests go out while the simulation still runs (the province's reports come first), so the first
    mail is not the end: it waits until the mail sink has had a mail and then nothing new for
    ``settle`` seconds (1.5 demo flush intervals), or ``timeout``.
    """
    deadline = time.monotonic() + timeout
    mails = mail_subjects(maildir)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and not (mails and time.monotonic() - quiet_since >= settle):
        time.sleep(1)
        now = mail_subjects(maildir)
        if now != mails:
            mails, quiet_since = now, time.monotonic()
    return mails


def _wait_drained(settings: NatsSettings, timeout: float) -> None:
    """_wait_drained waits until the aggregator has committed and acked everything in DX_REPORTS."""

    async def wait() -> None:
        nc = await connect(settings, "dxmon-dev")
        try:
            js = nc.jetstream()
            deadline = time.monotonic() + timeout
            while await aggregator_backlog(js) > 0:
                if time.monotonic() > deadline:
                    console.print("the aggregator is still catching up; the summary may be partial", style="yellow")
                    return
                await asyncio.sleep(0.5)
        finally:
            await nc.close()

    asyncio.run(wait())
