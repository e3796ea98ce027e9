"""The catalogue scenario end to end: the simulator publishes through a real nats-server, the
processor consumes it, and the alerts and actions on the SLO stream are exactly the transitions
that tests/unit/test_catalogue.py shows agree with the brute-force reference."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.runtime.processor import Processor
from processor.simulate import Simulator, publish
from tests import catalogue

pytestmark = pytest.mark.integration


async def drain(js, subject: str) -> list:
    sub = await js.pull_subscribe(subject, stream="SLO")
    out = []
    try:
        while True:
            out += await sub.fetch(500, timeout=1.0)
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return out


async def test_the_processor_publishes_every_catalogue_transition_once_with_labels_and_event_times(tmp_path):
    expected_rows, expected_actions = catalogue.engine_rows()
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        # Wall-clock idle advance off: the scenario's event times are not now. Bus lane measured
        # live; its alerts are excluded here (the unit test covers its rules).
        proc = Processor(catalogue.spec(), nc, catalogue.definitions(), idle_after_s=3600, checkpoint_interval_s=1)
        await proc.start()
        runner = asyncio.create_task(proc.run())
        sim = Simulator(catalogue.START_MS, seed=7, rate=2.0, incidents=catalogue.INCIDENTS)
        result = await publish(nc, sim, catalogue.END_MS, streams_dir=catalogue.ROOT / "streams")
        assert len(catalogue.events()) == result.published
        stream_lanes = [lane for name, lane in proc.lanes.items() if name != "BUS"]
        deadline = asyncio.get_running_loop().time() + 120
        while sum(lane.stats.accepted + lane.stats.ignored + lane.stats.rejected for lane in stream_lanes) < result.published:
            assert asyncio.get_running_loop().time() < deadline, "the processor did not take the whole backlog"
            await asyncio.sleep(0.1)
        proc.stop()
        await runner
        js = nc.jetstream()
        alerts = [orjson.loads(m.data) for m in await drain(js, "slo.alerts.>")]
        actions = [orjson.loads(m.data) for m in await drain(js, "slo.actions.>")]
        await nc.close()

    rows = []
    by_rule = {(r.name, r.severity): r for r in catalogue.spec().alerts}
    for body in alerts:
        labels = body["labels"]
        if labels["alertname"] in catalogue.NOT_DRIVEN:
            continue
        rule = by_rule[(labels["alertname"], labels["severity"])]
        series = tuple(labels[n] for n in catalogue.spec().sli(rule.sli).series_label_names())
        rows.append((labels["alertname"], labels["severity"], series, body["status"],
                     _ms(body["activeAt"]), _ms(body["startsAt"]), None if body["endsAt"] is None else _ms(body["endsAt"])))
    assert expected_rows == sorted(rows)
    expected = sorted((a.alertname, a.action, a.evaluated_at_ms) for a in expected_actions if hasattr(a, "alertname"))
    got = sorted((a["alertname"], a["action"], _ms(a["evaluatedAt"])) for a in actions if a.get("source") == "alert")
    assert expected == got


def _ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
