"""slo simulate --out: the simulator's events as an export file (stream of each subject, sequences
from 1 per stream, stamps = event time) and its incidents as an incidents file beside it, which
slo replay --input and slo backtest --input read with no NATS."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from processor.cli import main
from processor.replay.incidents import Incident, load_incidents
from processor.replay.stored import read_export
from processor.simulate import Simulator, parse_incident

START = "2026-01-05T14:00:00Z"
START_MS = int(datetime(2026, 1, 5, 14, tzinfo=UTC).timestamp() * 1000)
STREAM_OF_PREFIX = {"market": "MARKET", "trade": "TRADE", "ai": "AI", "analytics": "ANALYTICS"}  # streams/*.json


def _simulate(tmp_path: Path, capsys, name: str = "events.ndjson.gz") -> tuple[Path, str]:
    out = tmp_path / name
    code = main(["simulate", "--out", str(out), "--duration", "2m", "--start", START, "--seed", "3",
                 "--incident", "latency_spike:gateway@30s+1m", "--incident", "consumer_lag:analytics@10s+20s"])
    assert 0 == code
    return out, capsys.readouterr().err


def test_the_file_holds_the_simulators_events_in_their_streams_with_event_time_stamps(tmp_path, capsys):
    out, _ = _simulate(tmp_path, capsys)
    header, messages = read_export(out)
    assert (START_MS, START_MS + 120_000) == (header["from_ms"], header["to_ms"])
    stored = list(messages)
    expected = Simulator(START_MS, seed=3, incidents=[parse_incident("latency_spike:gateway@30s+1m").at(START_MS),
                                                      parse_incident("consumer_lag:analytics@10s+20s").at(START_MS)])
    events = list(expected.records(START_MS + 120_000))
    assert [(e.subject, e.ts_ms, e.payload) for e in events] == [
        (m.subject, m.ts_ms, orjson.loads(m.data)) for m in stored]
    assert [STREAM_OF_PREFIX[m.subject.split(".")[0]] for m in stored] == [m.stream for m in stored]
    for stream in STREAM_OF_PREFIX.values():
        seqs = [m.seq for m in stored if m.stream == stream]
        assert list(range(1, len(seqs) + 1)) == seqs


def test_the_incidents_go_beside_it_and_the_bus_one_is_left_out_with_a_word(tmp_path, capsys):
    out, err = _simulate(tmp_path, capsys)
    assert [Incident(START_MS + 30_000, START_MS + 90_000, service="api-gateway",
                     description="latency_spike:gateway=10")] == load_incidents(tmp_path / "events.incidents.yaml")
    assert "consumer_lag left out" in err


def test_replay_and_backtest_read_the_file_without_nats(tmp_path, capsys):
    out, _ = _simulate(tmp_path, capsys, "events.ndjson")
    assert 0 == main(["replay", "--input", str(out), "--out", str(tmp_path / "replayed")])
    summary = orjson.loads((tmp_path / "replayed" / "summary.json").read_bytes())
    header, messages = read_export(out)
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.stream] = counts.get(m.stream, 0) + 1
    assert counts == {name: s["messages"] for name, s in summary["streams"].items()}
    capsys.readouterr()
    assert 0 == main(["backtest", "--baseline", "config/slo.yaml", "--candidate", "config/slo.yaml", "--input", str(out),
                      "--incidents", str(tmp_path / "events.incidents.yaml")])
    printed = capsys.readouterr().out
    assert "no alert differs between baseline and candidate" in printed
    assert "scores against 1 incident(s)" in printed
