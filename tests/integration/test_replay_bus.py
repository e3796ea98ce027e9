"""``slo replay`` and ``slo export`` against a real nats-server: a range the streams no longer
hold (expired by max_age, or purged) is one clear error; ``--publish-prefix P`` publishes every
output under ``P.slo....`` and nothing on the live ``slo.>``; a replay started from the KV
checkpoint (``--from-checkpoint kv:<instance>``) goes on where the checkpoint's replay stopped, and
``slo export --checkpoint-out`` saves that checkpoint byte for byte; a SIGINT stops an export
with its whole lines and a trailer saying so."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import orjson
import pytest
import structlog

from processor.bus.checkpoint import CheckpointStore, decode_checkpoint, encode_checkpoint
from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.history import stream_range
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.cli import main
from processor.replay import cli as replay_cli
from processor.replay.stored import read_export
from processor.runtime.render import clock_message, rfc3339_ms
from processor.simulate import Simulator
from processor.simulate.publish import publish
from tests.replaykit import outputs
from tests.slorun import CONFIG, INCIDENTS, MIN_MS, ROOT, START_MS, STREAMS_DIR

pytestmark = pytest.mark.integration

MID_MS = START_MS + 7 * MIN_MS
END_MS = START_MS + 12 * MIN_MS


def _error_line(capsys, code: int) -> str:
    assert 1 == code
    # (The command's own log lines, JSON, may be there too, when an earlier test of this worker
    # configured logging to the captured stderr.)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith("{")]
    assert 1 == len(lines), lines
    return lines[0]


async def test_a_range_the_streams_no_longer_hold_is_one_clear_error(tmp_path, capsys, monkeypatch):
    streams = tmp_path / "streams"
    shutil.copytree(STREAMS_DIR, streams)
    market = json.loads((streams / "market.json").read_text())
    market["max_age"] = market["duplicate_window"] = 1_000_000_000  # one second
    (streams / "market.json").write_text(json.dumps(market))
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        await provision_streams(nc, load_stream_definitions(streams), structlog.get_logger("test"))
        for i in range(5):
            await nc.jetstream().publish("market.quotes.X", b'{"n": %d}' % i)
            await nc.jetstream().publish("trade.orders.submitted", b'{"n": %d}' % i)
        await asyncio.sleep(2.5)  # MARKET's first five expire
        await nc.jetstream().publish("market.quotes.X", b'{"n": 5}')
        held = await stream_range(nc, "MARKET")
        assert (6, 6) == (held.first_seq, held.last_seq)
        # TRADE: the first three purged
        await nc.request("$JS.API.STREAM.PURGE.TRADE", orjson.dumps({"seq": 4}))
        assert 4 == (await stream_range(nc, "TRADE")).first_seq
        await nc.close()
        args = ["--streams-dir", str(streams), "--nats-url", server.url]

        def run(*argv: str) -> int:
            capsys.readouterr()  # only what this command prints (our own server's logs may be there)
            return main(list(argv))

        code = await asyncio.to_thread(run, "replay", "--config", str(CONFIG), *args, "--from", "now-1h", "--streams", "MARKET")
        line = _error_line(capsys, code)
        # (Under load the sixth may have expired too: then the stream holds nothing, the same error.)
        assert line.startswith("slo replay: stream MARKET no longer holds --from ")
        assert "max_age 1s)" in line
        code = await asyncio.to_thread(run, "export", *args, "--from", "now-1h", "--streams", "TRADE",
                                       "--out", str(tmp_path / "e.ndjson"))
        assert _error_line(capsys, code).startswith("slo export: stream TRADE no longer holds --from ")
        # From the start of what is held, it works.
        code = await asyncio.to_thread(run, "replay", "--config", str(CONFIG), *args, "--streams", "TRADE",
                                       "--out", str(tmp_path / "o"))
        assert 0 == code
        capsys.readouterr()
        summary = orjson.loads((tmp_path / "o" / "summary.json").read_bytes())
        assert (4, 5) == (summary["streams"]["TRADE"]["first_seq"], summary["streams"]["TRADE"]["last_seq"])
        # A checkpoint of TRADE at sequence 1: the messages after it (2, 3) are purged.
        states = decode_checkpoint((tmp_path / "o" / "checkpoint.bin").read_bytes())
        nc = await connect(ConnectOptions(url=server.url))
        await CheckpointStore(nc, key="old").save(encode_checkpoint({"TRADE": (1, states["TRADE"][1])}))
        await nc.close()
        code = await asyncio.to_thread(run, "replay", "--config", str(CONFIG), *args, "--streams", "TRADE",
                                       "--from-checkpoint", "kv:old")
        assert _error_line(capsys, code) == ("slo replay: stream TRADE no longer holds the messages after the checkpoint "
                                             "(sequence 2 on): its oldest is sequence 4 (max_age 604800s); take a newer checkpoint")


async def _publish_after(nc, events) -> None:
    js = nc.jetstream()
    for start in range(0, len(events), 500):
        await asyncio.gather(*(js.publish(e.subject, orjson.dumps(e.payload)) for e in events[start:start + 500]))


async def test_publish_prefix_and_the_kv_checkpoint(tmp_path, monkeypatch):
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        await publish(nc, Simulator(START_MS, seed=8, rate=10.0, incidents=INCIDENTS), MID_MS, streams_dir=STREAMS_DIR)
        args = ["--config", str(CONFIG), "--streams-dir", str(STREAMS_DIR), "--nats-url", server.url]

        # The first part, to a checkpoint the live run would have kept in KV under instance "snap".
        assert 0 == await asyncio.to_thread(main, ["replay", *args, "--out", str(tmp_path / "first")])
        checkpoint = (tmp_path / "first" / "checkpoint.bin").read_bytes()
        await CheckpointStore(nc, key="snap").save(checkpoint)
        rest = [e for e in Simulator(START_MS, seed=8, rate=10.0, incidents=INCIDENTS).records(END_MS) if e.ts_ms >= MID_MS]
        await _publish_after(nc, rest)

        # --publish-prefix: everything under the prefix, nothing new on slo.>
        prefixed, live = [], []

        async def on_prefixed(msg):
            prefixed.append(msg)

        async def on_live(msg):
            live.append(msg)

        await nc.subscribe("replaytest.>", cb=on_prefixed)
        await nc.subscribe("slo.>", cb=on_live)
        await nc.flush()
        assert 0 == await asyncio.to_thread(main, ["replay", *args, "--publish-prefix", "replaytest"])
        await nc.flush()
        await asyncio.sleep(0.5)

        assert 0 == await asyncio.to_thread(main, ["replay", *args, "--out", str(tmp_path / "whole")])
        whole = outputs(tmp_path / "whole")
        assert [] == live
        assert any(m.subject.startswith("replaytest.slo.alerts.") for m in prefixed)
        assert all(m.subject.startswith("replaytest.slo.") for m in prefixed)
        published = sorted(
            (m.subject.removeprefix("replaytest."), m.headers["Nats-Msg-Id"],
             orjson.dumps(m.data.decode() if m.subject.startswith("replaytest.slo.deadletter.") else orjson.loads(m.data),
                          option=orjson.OPT_SORT_KEYS))
            for m in prefixed)
        assert sorted(whole) == published

        # From the KV checkpoint: the rest only, and first + rest = whole.
        assert 0 == await asyncio.to_thread(main, ["replay", *args, "--from-checkpoint", "kv:snap", "--out", str(tmp_path / "rest")])
        assert sorted(whole) == sorted(outputs(tmp_path / "first") + outputs(tmp_path / "rest"))
        first = orjson.loads((tmp_path / "first" / "summary.json").read_bytes())["streams"]
        summary = orjson.loads((tmp_path / "rest" / "summary.json").read_bytes())
        assert "kv:snap" == summary["from_checkpoint"]
        for name, stream in summary["streams"].items():
            assert first[name]["last_seq"] == stream["resumed_after"]
            assert stream["first_seq"] == first[name]["last_seq"] + 1
        # The budget windows start before the checkpoint's origin: still partial after 12 minutes.
        assert any(w["what"] == "budget" and w["partial_at_end"] for w in summary["partial_windows"])

        # slo export --checkpoint-out saves the KV checkpoint as it is, and --out the events after it.
        saved, events = tmp_path / "saved.bin", tmp_path / "after.ndjson"
        assert 0 == await asyncio.to_thread(main, ["export", *args[2:], "--instance", "snap", "--checkpoint-out", str(saved),
                                                   "--out", str(events)])
        assert checkpoint == saved.read_bytes()
        assert 0 == main(["replay", *args[:4], "--input", str(events), "--from-checkpoint", str(saved),
                          "--out", str(tmp_path / "rest-file")])
        assert sorted(outputs(tmp_path / "rest")) == sorted(outputs(tmp_path / "rest-file"))

        # An export stopped (as Ctrl-C does: the flag, checked between batches) after its first batch
        # ends with whole lines and a trailer saying where each stream stopped.
        batch = replay_cli._Reading.batch

        def stop_after_first(self, *a, **k):
            batch(self, *a, **k)
            self.interrupt.stopped = True

        monkeypatch.setattr(replay_cli._Reading, "batch", stop_after_first)
        cut = tmp_path / "cut.ndjson.gz"
        assert 130 == await asyncio.to_thread(main, ["export", *args[2:], "--out", str(cut)])
        _, messages = read_export(cut)
        read = list(messages)
        assert messages.end is not None and messages.end["interrupted"] is True
        (stream, at), = [(n, s) for n, s in messages.end["streams"].items() if s["messages"]]
        assert at["messages"] == len(read) <= replay_cli.HISTORY_BATCH
        assert at["last_seq"] == read[-1].seq and {stream} == {m.stream for m in read}
        await nc.close()


async def test_a_sigint_stops_an_export_with_whole_lines_and_a_trailer_saying_so(tmp_path):
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        result = await publish(nc, Simulator(START_MS, seed=3, rate=72.0), START_MS + 15 * MIN_MS, streams_dir=STREAMS_DIR)
        await nc.close()
        total = sum(result.per_stream.values())
        out = tmp_path / "events.ndjson"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_", "NATS_"))}
        proc = subprocess.Popen([sys.executable, "-m", "processor.cli", "export", "--nats-url", server.url,
                                 "--streams-dir", str(STREAMS_DIR), "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        partial = tmp_path / "events.ndjson.partial"  # the export's file until it ends
        while proc.poll() is None and (not partial.exists() or partial.stat().st_size < 1_000_000):
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(proc.communicate, timeout=30)
        assert 130 == proc.returncode, err.decode()
    assert "slo export: interrupted" in err.decode()
    assert not partial.exists()  # renamed: an interrupted export is a valid file
    _, messages = read_export(out)
    read = list(messages)
    assert messages.end is not None and messages.end["interrupted"] is True
    assert 0 < len(read) < total
    counted = {n: s["messages"] for n, s in messages.end["streams"].items()}
    assert sum(counted.values()) == len(read)
    for name, stopped in messages.end["streams"].items():
        if stopped["messages"]:
            assert stopped["last_seq"] == max(m.seq for m in read if m.stream == name)


async def test_a_to_by_stored_time_never_makes_a_move_recorded_after_a_later_message(tmp_path, capsys):
    # A burst published long after its event time (`slo simulate --fast` into a live run): the
    # first half, then a moment, then the second half; the live run's idle clock then moved each
    # stream's time on, after its last sequence. Every move's closed-through time is before that
    # moment, so a --to there admits them by time; they came after messages it does not read.
    events = list(Simulator(START_MS, seed=3, rate=2.0, incidents=INCIDENTS).records(END_MS))
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        await provision_streams(nc, load_stream_definitions(STREAMS_DIR), structlog.get_logger("test"))
        await _publish_after(nc, events[: len(events) // 2])
        await asyncio.sleep(0.05)
        cut_ms = time.time_ns() // 1_000_000
        await asyncio.sleep(0.05)
        await _publish_after(nc, events[len(events) // 2:])
        js = nc.jetstream()
        for stream in ("MARKET", "TRADE", "AI", "ANALYTICS"):
            last_seq = (await stream_range(nc, stream)).last_seq
            for k in range(1, 31):
                subject, payload, msg_id = clock_message(stream, END_MS + k * 10_000, last_seq)
                await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
        await nc.close()
        bus = ["--config", str(CONFIG), "--streams-dir", str(STREAMS_DIR), "--nats-url", server.url]
        cut = rfc3339_ms(cut_ms)

        def run(*argv: str) -> int:
            return main(list(argv))

        assert 0 == await asyncio.to_thread(run, "replay", *bus, "--out", str(tmp_path / "whole"))
        assert 0 == await asyncio.to_thread(run, "replay", *bus, "--to", cut, "--out", str(tmp_path / "first"))
        assert 0 == await asyncio.to_thread(run, "replay", *bus, "--from-checkpoint", str(tmp_path / "first" / "checkpoint.bin"),
                                            "--out", str(tmp_path / "rest"))
        assert 0 == await asyncio.to_thread(run, "export", *bus, "--to", cut, "--out", str(tmp_path / "first.ndjson"))
    capsys.readouterr()
    summary = orjson.loads((tmp_path / "first" / "summary.json").read_bytes())
    assert {0} == {s["time_moves"] for s in summary["streams"].values()}
    whole, first, rest = (outputs(tmp_path / d) for d in ("whole", "first", "rest"))
    assert [] == [row for row in first + rest if row[0].startswith("slo.deadletter.")]
    assert sorted(whole) == sorted(first + rest)
    header, _ = read_export(tmp_path / "first.ndjson")
    assert {} == header["clock_moves"]
