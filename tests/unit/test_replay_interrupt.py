"""Ctrl-C stops ``slo replay`` cleanly: a real SIGINT to the process, after its first progress log
line (stderr is not a terminal, so progress is plain JSON lines), exits 130 with every output
line written so far whole, and summary.json saying ``"interrupted": true`` and where each stream
stopped, short of the end of the file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson

from processor.replay.stored import read_export
from processor.simulate import Simulator
from tests.replaykit import stored, write_export
from tests.slorun import CONFIG, ROOT, STREAMS_DIR

T0_MS = 1_767_621_600_000
MIN_MS = 60_000


def test_a_sigint_stops_a_replay_with_what_was_written_kept(tmp_path):
    # Long enough that the replay is still running at its first progress line (the engine drains
    # 30 minutes of this in about a second).
    path = write_export(tmp_path / "big.ndjson.gz", stored(Simulator(T0_MS, seed=1, rate=40.0).records(T0_MS + 120 * MIN_MS)))
    _, messages = read_export(path)
    last_seq: dict[str, int] = {}
    for m in messages:
        last_seq[m.stream] = m.seq
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_", "NATS_"))}
    proc = subprocess.Popen([sys.executable, "-m", "processor.cli", "replay", "--config", str(CONFIG), "--streams-dir",
                             str(STREAMS_DIR), "--input", str(path), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    progress = orjson.loads(first)
    assert "replay.progress" == progress["event"]
    assert progress["events"] > 0 and progress["events_per_s"] > 0 and 0 < progress["done_pct"] < 100
    assert progress["at"].startswith(("2026-01-05T14:", "2026-01-05T15:"))
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    err = proc.stderr.read().decode()
    assert 130 == proc.wait(timeout=30), err
    assert time.monotonic() - started < 10
    assert "slo replay: interrupted" in err
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["interrupted"] is True
    stopped = {name: s["stopped_at"] for name, s in summary["streams"].items() if s["stopped_at"]}
    assert stopped
    assert any(stopped[name]["last_seq"] < last_seq[name] for name in stopped)
    for name, at in stopped.items():
        assert summary["streams"][name]["last_seq"] == at["last_seq"]
    lines = 0
    for path in out.glob("*.ndjson"):
        body = path.read_bytes()
        assert body == b"" or body.endswith(b"\n")  # a kind with no output yet: its file, empty
        for line in body.splitlines():
            row = orjson.loads(line)
            assert row["subject"].startswith(f"slo.{path.stem}.")
            lines += 1
    assert sum(summary["outputs"].values()) == lines > 0


def test_on_a_terminal_the_bar_shows_the_rate_the_event_time_and_the_share_done(monkeypatch):
    import io

    from processor.replay import progress as progress_module

    monkeypatch.setattr(progress_module, "BAR_EVERY_S", 0.0)
    monkeypatch.setenv("COLUMNS", "160")  # the terminal's width, whatever runs the test (xdist's workers have none)
    out = io.StringIO()
    bar = progress_module.Progress("replay", 4000, "msg", out=out, tty=True)
    for i in range(1, 5):
        bar.update(1000 * i, 1000 * i, T0_MS + i * MIN_MS)
    bar.close()
    last = out.getvalue().split("\r")[-1]
    assert "replay: 100%" in last and "4.00k/4.00k" in last
    assert "events/s, at 2026-01-05T14:04:00.000Z" in last
