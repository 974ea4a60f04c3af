"""The pipeline: stage order, early stop, per-recipient isolation, and the deliver/record pair."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from alerts_factory import HOUR, T0, FakeLog, FakeOutbox, counter_value, make_alert, make_flush

from services.alerts.alert import Acknowledgement, Alert, Flush, NotifyReason, Silence
from services.alerts.messages import render_digest
from services.alerts.metrics import Metrics
from services.alerts.notify.deliver_stage import DeliverStage
from services.alerts.notify.pipeline import MultiStage, build_pipeline, fanout
from services.alerts.notify.record_stage import RecordStage

RENDER = partial(render_digest, public_url="http://grafana.local")


class Recording:
    """Recording is a stage that remembers its calls and passes everything on (or raises)."""

    def __init__(self, fail_for: int | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.fail_for = fail_for

    async def exec(self, flush: Flush, alerts: Sequence[Alert]) -> Sequence[Alert]:
        self.calls.append((flush.receiver.id, len(alerts)))
        if flush.receiver.id == self.fail_for:
            raise RuntimeError("boom")
        return alerts


class DropAll:
    async def exec(self, flush: Flush, alerts: Sequence[Alert]) -> Sequence[Alert]:
        return []


async def test_multistage_stops_when_nothing_is_left() -> None:
    after = Recording()
    assert await MultiStage(DropAll(), after).exec(make_flush(), [make_alert()]) == []
    assert after.calls == []


async def test_fanout_isolates_a_failing_recipient() -> None:
    stage = Recording(fail_for=2)
    work = [(make_flush(channel_id=i), [make_alert()]) for i in (1, 2, 3)]
    failures = await fanout(stage, work)
    assert [(f.receiver.id, str(e)) for f, e in failures] == [(2, "boom")]
    assert sorted(stage.calls) == [(1, 1), (2, 1), (3, 1)]


async def test_deliver_then_record() -> None:
    log, outbox, metrics = FakeLog(), FakeOutbox(), Metrics()
    alerts = [make_alert(reason=NotifyReason.FIRST_NOTIFICATION)]
    chain = MultiStage(DeliverStage(outbox, RENDER, metrics), RecordStage(log))
    out = await chain.exec(make_flush(), alerts)
    assert out == alerts
    assert len(outbox.queued) == 1 and "Chậm tiến độ" in outbox.queued[0][1].subject
    assert log.recorded == [(make_flush(), alerts)]
    assert counter_value(metrics, "dx_alerts_digests_total", reason="first notification") == 1


async def test_built_pipeline_end_to_end_with_fakes() -> None:
    log, outbox, metrics = FakeLog(), FakeOutbox(), Metrics()
    silenced = make_alert(unit="QN-P-HALONG", unit_name="Phường Hạ Long")
    acked = make_alert(indicator="DG-09")
    open_ = make_alert(indicator="DG-17")
    pipeline = build_pipeline(
        silences=[Silence(1, "QN-P-HALONG", None, T0, T0 + 2 * HOUR, "bảo trì")],
        acks=[Acknowledgement(acked.fingerprint, T0 + 2 * HOUR, "đã nhận")],
        nflog=log,
        outbox=outbox,
        render=RENDER,
        metrics=metrics,
    )
    out = await pipeline.exec(make_flush(T0 + HOUR), [silenced, acked, open_])
    assert [a.indicator for a in out] == ["DG-17"]
    assert len(outbox.queued) == 1
    assert [a.fingerprint for _, recorded in log.recorded for a in recorded] == [open_.fingerprint]


async def test_built_pipeline_sends_nothing_when_all_is_muted() -> None:
    log, outbox = FakeLog(), FakeOutbox()
    pipeline = build_pipeline(
        silences=[Silence(1, "QN-P-HONGGAI", None, T0, T0 + 2 * HOUR, "bảo trì")],
        acks=[],
        nflog=log,
        outbox=outbox,
        render=RENDER,
        metrics=Metrics(),
    )
    assert await pipeline.exec(make_flush(T0 + HOUR), [make_alert()]) == []
    assert outbox.queued == [] and log.recorded == []
