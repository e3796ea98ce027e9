"""slo backtest reads the streams of a real nats-server as it reads an export file of them: the
same diff and the same scores, whichever way the history comes in."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.cli import main
from processor.runtime.render import rfc3339_ms
from processor.simulate import Simulator, parse_incident
from processor.simulate.publish import publish
from tests.slorun import CONFIG, MIN_MS, START_MS, STREAMS_DIR

pytestmark = pytest.mark.integration

ROOT = CONFIG.parents[1]
END_MS = START_MS + 12 * MIN_MS
INCIDENTS = "- service: api-gateway\n  start: {start}\n  end: {end}\n"


async def test_a_backtest_of_the_streams_equals_one_of_their_export(tmp_path, capsys):
    incident = parse_incident("latency_spike:gateway@2m+6m").at(START_MS)
    (tmp_path / "incidents.yaml").write_text(INCIDENTS.format(start=rfc3339_ms(incident.start_ms),
                                                              end=rfc3339_ms(incident.end_ms)))
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        try:
            await publish(nc, Simulator(START_MS, seed=5, incidents=[incident]), END_MS, streams_dir=STREAMS_DIR)
        finally:
            await nc.close()
        # the streams' stamps are the time of publishing, not the events' (2026-11-30): read all
        bus = ["--nats-url", server.url, "--streams-dir", str(STREAMS_DIR)]
        common = ["--baseline", str(CONFIG), "--candidate", str(ROOT / "examples" / "candidate.yaml"),
                  "--incidents", str(tmp_path / "incidents.yaml")]
        capsys.readouterr()
        assert 0 == await asyncio.to_thread(main, ["backtest", *common, *bus, "--out", str(tmp_path / "streams")])
        assert "nats.connected" not in capsys.readouterr().out  # stdout is the report's, logs go to stderr
        export = tmp_path / "events.ndjson.gz"
        assert 0 == await asyncio.to_thread(main, ["export", *bus, "--out", str(export)])
    assert 0 == main(["backtest", *common, "--streams-dir", str(STREAMS_DIR), "--input", str(export),
                      "--out", str(tmp_path / "file")])
    for name in ("diff.json", "scores.json"):
        from_streams = orjson.loads((tmp_path / "streams" / name).read_bytes())
        assert orjson.loads((tmp_path / "file" / name).read_bytes()) == from_streams
    # the candidate's warning waits 2m instead of 5m: it fires 3 minutes earlier
    diff = orjson.loads((tmp_path / "streams" / "diff.json").read_bytes())["diff"]
    warning = [c for d in diff if d["rule"] == "GatewayLatencyP95High[warning]" for c in d["changes"]]
    assert [("moves", -180.0)] == [(c["change"], c["fires_later_s"]) for c in warning]
