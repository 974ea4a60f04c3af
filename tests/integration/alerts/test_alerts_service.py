"""The alerts service as deployed: FastAPI app + FastStream subscriber, real NATS and PostgreSQL."""

from __future__ import annotations

import httpx
import nats
import pytest
from alerts_fixtures import INDICATOR, UNIT, Clock, T, fall_behind, fast_settings, subscribe, wait_for
from nats.js.errors import KeyNotFoundError

from dxmon.contracts import LEASES_BUCKET, ReportStored, stored_subject
from services.alerts.app import create_app
from services.alerts.lease import LEASE_KEY

pytestmark = pytest.mark.integration

TOKEN = "s3cret-s3cret-s3cret-s3cret"


async def test_service_end_to_end(database_url, bus, catalog, receiver) -> None:
    await subscribe(database_url, catalog, (UNIT, f"{receiver.url}/hook"))
    clock = Clock(T)
    settings = fast_settings(database_url, bus, alerts_instance="alerts-svc", alerts_api_tokens=f"tuan:{TOKEN}")
    app = create_app(settings, catalog=catalog, clock=clock)
    svc = app.state.service
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://alerts") as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        await wait_for(lambda: svc.scheduler.passes >= 1, 10, "the start-up full pass")
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {
            "ready": True,
            "database": True,
            "nats": True,
            "leader": True,
        }
        assert receiver.requests == []  # nothing behind yet

        # The aggregator commits a report and announces it on core NATS: the unit is re-evaluated.
        await fall_behind(database_url)
        nc = await nats.connect(bus)
        notice = ReportStored(unit=UNIT, indicators=[INDICATOR], stored=1, committed_at=clock())
        await nc.publish(stored_subject(UNIT), notice.model_dump_json().encode())
        await nc.flush()
        await wait_for(lambda: len(receiver.requests) == 1, 10, "the digest after dx.stored")
        assert receiver.bodies("/hook")[0]["alerts"][0]["kind"] == "behind"

        assert (await http.get("/v1/alerts")).status_code == 401  # reading needs the token too
        [alert] = (await http.get("/v1/alerts", params={"state": "firing"}, headers=headers)).json()
        assert alert["unit"] == UNIT and alert["unit_name"] == "Phường Hồng Gai"
        metrics = (await http.get("/metrics")).text
        assert 'dx_alerts_notifications_total{outcome="delivered"} 1.0' in metrics
        assert "dx_alerts_firing 1.0" in metrics and "dx_alerts_leader 1.0" in metrics

        # Silences and acknowledgements over HTTP, checked as the CLI checks them.
        body = {"unit": UNIT, "duration": "2h", "reason": "rà soát"}
        assert (await http.post("/v1/silences", json=body)).status_code == 401
        bad = await http.post("/v1/silences", json={**body, "unit": "QN-NOWHERE"}, headers=headers)
        assert bad.status_code == 422 and "unknown unit 'QN-NOWHERE'" in bad.json()["detail"]
        # created_by is the token's name, whatever the body claims.
        made = await http.post("/v1/silences", json={**body, "created_by": "someone-else"}, headers=headers)
        assert made.status_code == 201
        assert (await http.get("/v1/silences")).status_code == 401
        [listed] = (await http.get("/v1/silences", headers=headers)).json()
        assert listed["id"] == made.json()["id"] and listed["reason"] == "rà soát" and listed["created_by"] == "tuan"
        assert (await http.delete(f"/v1/silences/{listed['id']}", headers=headers)).status_code == 204
        assert (await http.get("/v1/silences", headers=headers)).json() == []
        missing = await http.post("/v1/alerts/0000/ack", json={"duration": "1d"}, headers=headers)
        assert missing.status_code == 404
        acked = await http.post(
            f"/v1/alerts/{alert['fingerprint']}/ack", json={"duration": "1d", "reason": "ok"}, headers=headers
        )
        assert acked.status_code == 200
        [alert] = (await http.get("/v1/alerts", headers=headers)).json()
        assert alert["acked_until"] is not None
        await nc.close()

    # Graceful shutdown released the lease, so a successor need not wait for it to expire.
    nc = await nats.connect(bus)
    kv = await nc.jetstream().key_value(LEASES_BUCKET)
    with pytest.raises(KeyNotFoundError):
        await kv.get(LEASE_KEY)
    await nc.close()
