"""``slo replay`` / ``slo export`` on bad arguments: one clear line on stderr and exit 1 (a config
that does not validate: its problems as ``slo validate`` prints them), checked before anything is
read; and replays from export files with no NATS: truncated files, a replay chained from the
checkpoint another one wrote equals one replay of the whole, the windows a replay only partly
filled."""

from __future__ import annotations

import time

import orjson
import pytest

from processor.bus.history import StreamRange
from processor.cli import main
from processor.config.load import load_config
from processor.replay.cli import ReplayError, _check_held
from processor.simulate import Simulator
from processor.runtime.render import rfc3339_ms
from processor.simulate.incidents import parse_incident
from tests.replaykit import outputs, stored, write_export
from tests.slorun import CONFIG, STREAMS_DIR

T0_MS = 1_767_621_600_000  # 2026-01-05 14:00 UTC
MIN_MS = 60_000
BASE = ["--config", str(CONFIG), "--streams-dir", str(STREAMS_DIR)]
BAD_CONFIG = """\
version: 1
slis:
  - name: lat
    kind: latency
slos:
  - name: fast
"""


@pytest.fixture(scope="module")
def messages():
    incident = parse_incident("outage:gateway=0.5@4m+4m").at(T0_MS)
    return stored(Simulator(T0_MS, seed=5, rate=4.0, incidents=(incident,)).records(T0_MS + 16 * MIN_MS))


@pytest.fixture
def no_nats_env(monkeypatch):
    for name in ("SLO_NATS_URL", "NATS_URL"):
        monkeypatch.delenv(name, raising=False)


def _one_line_error(capsys, argv) -> str:
    assert 1 == main(argv)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert 1 == len(lines), lines
    return lines[0]


def test_a_to_before_the_from_is_one_line(capsys, tmp_path):
    line = _one_line_error(capsys, ["replay", *BASE, "--from", "2026-01-05T15:00:00Z", "--to", "2026-01-05T14:00:00Z",
                                    "--out", str(tmp_path / "o")])
    assert line.startswith("slo replay: --to 2026-01-05T14:00:00Z is not after --from")
    assert not (tmp_path / "o").exists()


def test_an_export_with_a_to_before_the_from_is_one_line(capsys, tmp_path, no_nats_env):
    line = _one_line_error(capsys, ["export", "--from", "now-1h", "--to", "now-2h", "--out", str(tmp_path / "e.ndjson"),
                                    "--store-dir", str(tmp_path / "none")])
    assert line.startswith("slo export: --to now-2h is not after --from now-1h")


def test_out_and_publish_prefix_together_is_one_line(capsys, tmp_path):
    line = _one_line_error(capsys, ["replay", *BASE, "--out", str(tmp_path), "--publish-prefix", "replay"])
    assert "slo replay: --out and --publish-prefix: choose one place for the outputs" == line


@pytest.mark.parametrize("prefix", ["slo", "slo.alerts"])
def test_a_publish_prefix_on_the_live_subjects_is_one_line(capsys, prefix):
    line = _one_line_error(capsys, ["replay", *BASE, "--publish-prefix", prefix])
    assert f"slo replay: --publish-prefix {prefix!r}: replayed outputs must not land on the live slo.> subjects" in line


def test_an_unknown_stream_is_one_line_naming_the_known_ones(capsys, tmp_path, messages):
    path = write_export(tmp_path / "e.ndjson", messages)
    line = _one_line_error(capsys, ["replay", *BASE, "--input", str(path), "--streams", "TRADE,NOPE"])
    assert line.startswith("slo replay: --streams: no stream NOPE in ")
    assert "MARKET" in line and "TRADE" in line


def test_the_slo_stream_in_streams_is_refused_by_replay_and_export_naming_the_event_streams(capsys, tmp_path, messages,
                                                                                            no_nats_env):
    path = write_export(tmp_path / "e.ndjson", messages)
    line = _one_line_error(capsys, ["replay", *BASE, "--input", str(path), "--streams", "slo"])
    assert line.startswith("slo replay: --streams: SLO holds the processor's own outputs, not events")
    assert line.endswith("the event streams are AI, ANALYTICS, MARKET, TRADE")
    line = _one_line_error(capsys, ["export", "--streams", "SLO", "--streams-dir", str(STREAMS_DIR),
                                    "--store-dir", str(tmp_path / "none"), "--out", str(tmp_path / "e2.ndjson")])
    assert line.startswith("slo export: --streams: SLO holds the processor's own outputs, not events")
    assert not (tmp_path / "e2.ndjson").exists()


def test_no_nats_and_no_embedded_store_is_one_line(capsys, tmp_path, no_nats_env):
    store = tmp_path / "fresh"
    line = _one_line_error(capsys, ["replay", *BASE, "--store-dir", str(store)])
    assert f"slo replay: no --nats-url given and no embedded store at {store / 'nats'}" in line
    assert line.endswith("or read an export file with --input")
    line = _one_line_error(capsys, ["export", "--store-dir", str(store), "--out", str(tmp_path / "e.ndjson")])
    assert f"slo export: no --nats-url given and no embedded store at {store / 'nats'}" in line
    # export, status and tail take no --input: the hint must not send the user to an option they lack
    assert "--input" not in line
    for command in ("status", "tail"):
        line = _one_line_error(capsys, [command, "--store-dir", str(store)])
        assert line.startswith(f"slo {command}: no --nats-url given") and "--input" not in line


def test_a_missing_input_file_is_one_line_naming_it(capsys, tmp_path):
    line = _one_line_error(capsys, ["replay", *BASE, "--input", str(tmp_path / "nope.ndjson.gz"), "--out", str(tmp_path / "o")])
    assert f"slo replay: --input {tmp_path / 'nope.ndjson.gz'}: no such file" == line
    assert not (tmp_path / "o").exists()


def test_out_holds_every_kind_s_file_even_empty_and_none_left_from_an_earlier_replay(capsys, tmp_path, messages):
    path = write_export(tmp_path / "e.ndjson", messages)
    out = tmp_path / "o"
    out.mkdir()
    (out / "deadletter.ndjson").write_text('{"subject": "slo.deadletter.late", "from": "an earlier replay"}\n')
    assert 0 == main(["replay", *BASE, "--input", str(path), "--out", str(out)])
    capsys.readouterr()
    summary = orjson.loads((out / "summary.json").read_bytes())
    for kind in ("alerts", "budget", "sli", "actions", "deadletter"):
        lines = (out / f"{kind}.ndjson").read_bytes().splitlines()
        assert summary["outputs"].get(kind, 0) == len(lines), kind
    assert b"" == (out / "deadletter.ndjson").read_bytes()  # the simulator sends no bad input


def test_from_and_from_checkpoint_together_is_one_line(capsys, tmp_path):
    line = _one_line_error(capsys, ["replay", *BASE, "--from", "now-1h", "--from-checkpoint", str(tmp_path / "cp")])
    assert line.startswith("slo replay: --from and --from-checkpoint:")


def test_a_missing_checkpoint_file_is_one_line(capsys, tmp_path, messages):
    path = write_export(tmp_path / "e.ndjson", messages)
    line = _one_line_error(capsys, ["replay", *BASE, "--input", str(path), "--from-checkpoint", str(tmp_path / "cp")])
    assert line.startswith(f"slo replay: --from-checkpoint {tmp_path / 'cp'}: no such file")


def test_a_checkpoint_file_that_is_not_one_is_one_line(capsys, tmp_path, messages):
    path = write_export(tmp_path / "e.ndjson", messages)
    (tmp_path / "cp").write_bytes(b"not a checkpoint")
    line = _one_line_error(capsys, ["replay", *BASE, "--input", str(path), "--from-checkpoint", str(tmp_path / "cp")])
    assert line.startswith("slo replay: checkpoint is not a valid snapshot")


def test_an_export_file_cut_mid_line_is_one_line_naming_the_line(capsys, tmp_path, messages):
    whole = write_export(tmp_path / "e.ndjson", messages[:50], trailer=False).read_bytes()
    cut = whole[: len(whole) - 7]
    (tmp_path / "cut.ndjson").write_bytes(cut)
    line = _one_line_error(capsys, ["replay", *BASE, "--input", str(tmp_path / "cut.ndjson"), "--out", str(tmp_path / "o")])
    # the header is line 1, so the 50th message is line 51
    assert f"slo replay: {tmp_path / 'cut.ndjson'}:51: the last line is cut off (a truncated file)" == line


def test_a_truncated_gzip_is_one_line(capsys, tmp_path, messages):
    whole = write_export(tmp_path / "e.ndjson.gz", messages).read_bytes()
    (tmp_path / "cut.ndjson.gz").write_bytes(whole[: len(whole) // 2])
    line = _one_line_error(capsys, ["replay", *BASE, "--input", str(tmp_path / "cut.ndjson.gz"), "--out", str(tmp_path / "o")])
    assert line.startswith(f"slo replay: {tmp_path / 'cut.ndjson.gz'}:")
    assert "the file ends in the middle (truncated?)" in line


def test_a_config_that_does_not_validate_prints_its_problems_as_validate_does(capsys, tmp_path, messages):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_CONFIG)
    assert 1 == main(["validate", str(bad)])
    expected = capsys.readouterr().err
    path = write_export(tmp_path / "e.ndjson", messages)
    assert 1 == main(["replay", "--config", str(bad), "--input", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert expected == err
    assert f"{bad}:2: slis: " in err  # file:line: field: message
    assert err.splitlines()[-1] == f"{bad}: 2 problems"


def test_a_replay_chained_from_the_checkpoint_of_another_equals_one_replay_of_the_whole(tmp_path, messages):
    path = write_export(tmp_path / "e.ndjson.gz", messages)
    assert 0 == main(["replay", *BASE, "--input", str(path), "--out", str(tmp_path / "whole")])
    whole = outputs(tmp_path / "whole")
    assert any(s.startswith("slo.alerts.") for s, _, _ in whole)
    mid = "2026-01-05T14:06:00Z"  # inside the outage: alerts are pending or firing there
    assert 0 == main(["replay", *BASE, "--input", str(path), "--to", mid, "--out", str(tmp_path / "first")])
    assert 0 == main(["replay", *BASE, "--input", str(path), "--from-checkpoint", str(tmp_path / "first" / "checkpoint.bin"),
                      "--out", str(tmp_path / "rest")])
    first, rest = outputs(tmp_path / "first"), outputs(tmp_path / "rest")
    assert first and rest
    assert sorted(whole) == sorted(first + rest)
    summary = orjson.loads((tmp_path / "rest" / "summary.json").read_bytes())
    last_of_first = orjson.loads((tmp_path / "first" / "summary.json").read_bytes())["streams"]
    for name, stream in summary["streams"].items():
        assert last_of_first[name]["last_seq"] == stream["resumed_after"]
        assert stream["first_seq"] is None or stream["first_seq"] == stream["resumed_after"] + 1


def test_a_range_with_no_message_says_that_it_is_stored_time(capsys, tmp_path, messages):
    path = write_export(tmp_path / "e.ndjson", messages)
    assert 0 == main(["replay", *BASE, "--input", str(path), "--from", "2025-01-05T14:00:00Z", "--to", "2025-01-05T15:00:00Z",
                      "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert ("slo replay: no message in --from 2025-01-05T14:00:00.000Z --to 2025-01-05T15:00:00.000Z: the range is the "
            "streams' stored time") in err
    assert 0 == main(["replay", *BASE, "--input", str(path), "--to", "2026-01-05T14:05:00Z", "--out", str(tmp_path / "o")])
    assert "no message in" not in capsys.readouterr().err


def test_a_chain_cut_by_stored_time_equals_the_whole_when_stored_time_is_not_event_time(tmp_path, messages):
    """A fast publish (``slo simulate --fast`` into a live run): 16 minutes of events stored within
    a second, 30 minutes later; the live run's idle clock then moved each stream's time on to the
    wall clock, 10 minutes past the last event, after that stream's last sequence. A ``--to`` in the
    middle of the burst must not make those moves: they came after messages it does not read."""
    fast = stored((_Event(m) for m in messages), stored_at_ms=T0_MS + 30 * MIN_MS)
    last = {}
    for m in fast:
        last[m.stream] = (m.seq, max(orjson.loads(m.data)["ts"], last.get(m.stream, (0, 0))[1]))
    moves = {stream: [(seq, (ts_ms // 10_000 + k) * 10_000) for k in range(1, 61)] for stream, (seq, ts_ms) in last.items()}
    path = write_export(tmp_path / "fast.ndjson", fast, clock_moves=moves)
    assert 0 == main(["replay", *BASE, "--input", str(path), "--out", str(tmp_path / "whole")])
    cut = rfc3339_ms(fast[len(fast) // 2].ts_ms)
    assert 0 == main(["replay", *BASE, "--input", str(path), "--to", cut, "--out", str(tmp_path / "first")])
    assert 0 == main(["replay", *BASE, "--input", str(path), "--from-checkpoint", str(tmp_path / "first" / "checkpoint.bin"),
                      "--out", str(tmp_path / "rest")])
    whole, first, rest = (outputs(tmp_path / d) for d in ("whole", "first", "rest"))
    assert first and rest
    assert [] == [row for row in first + rest if row[0].startswith("slo.deadletter.")]
    assert sorted(whole) == sorted(first + rest)


def test_a_stream_with_nothing_before_the_cut_makes_no_move_recorded_after_its_messages(tmp_path, messages):
    # AI's events published after every other stream's: a --to before them reads nothing of AI,
    # and the moves the live run made after AI's last message are not that range's either.
    ai_last = [m for m in messages if m.stream != "AI"] + [m for m in messages if m.stream == "AI"]
    fast = stored((_Event(m) for m in ai_last), stored_at_ms=T0_MS + 30 * MIN_MS)
    ai = [m for m in fast if m.stream == "AI"]
    last_ai_ts = max(orjson.loads(m.data)["ts"] for m in ai)
    moves = {"AI": [(ai[-1].seq, (last_ai_ts // 10_000 + k) * 10_000) for k in range(1, 61)]}
    path = write_export(tmp_path / "fast.ndjson", fast, clock_moves=moves)
    cut = rfc3339_ms(ai[0].ts_ms - 1)
    assert 0 == main(["replay", *BASE, "--input", str(path), "--out", str(tmp_path / "whole")])
    assert 0 == main(["replay", *BASE, "--input", str(path), "--to", cut, "--out", str(tmp_path / "first")])
    assert 0 == main(["replay", *BASE, "--input", str(path), "--from-checkpoint", str(tmp_path / "first" / "checkpoint.bin"),
                      "--out", str(tmp_path / "rest")])
    summary = orjson.loads((tmp_path / "first" / "summary.json").read_bytes())
    assert (0, 0) == (summary["streams"]["AI"]["messages"], summary["streams"]["AI"]["time_moves"])
    whole, first, rest = (outputs(tmp_path / d) for d in ("whole", "first", "rest"))
    assert sorted(whole) == sorted(first + rest)


def test_a_failed_export_leaves_an_earlier_file_of_that_name_as_it_was(capsys, tmp_path, no_nats_env):
    earlier = tmp_path / "e.ndjson"
    earlier.write_text("an earlier export\n")
    line = _one_line_error(capsys, ["export", "--streams-dir", str(STREAMS_DIR), "--store-dir", str(tmp_path / "none"),
                                    "--out", str(earlier)])
    assert line.startswith("slo export: no --nats-url given")
    assert "an earlier export\n" == earlier.read_text()
    assert [earlier] == list(tmp_path.glob("e.ndjson*"))


class _Event:
    """A stored message as the simulator's event again (subject, payload, event time)."""

    def __init__(self, msg) -> None:
        self.subject, self.payload = msg.subject, orjson.loads(msg.data)
        self.ts_ms = self.payload["ts"]


def test_the_summary_names_the_windows_only_partly_filled_from_the_first_data(tmp_path, messages):
    path = write_export(tmp_path / "e.ndjson", messages)
    assert 0 == main(["replay", *BASE, "--input", str(path), "--streams", "MARKET", "--out", str(tmp_path / "o")])
    summary = orjson.loads((tmp_path / "o" / "summary.json").read_bytes())
    rows = {(w["what"], w["name"]): w for w in summary["partial_windows"]}
    config = load_config(CONFIG)
    market = [m for m in messages if m.stream == "MARKET"]
    # The engine's grid starts at the boundary at or before the first event's watermark.
    first_ts = min(orjson.loads(m.data)["ts"] for m in market[:50])
    origin_ms = (first_ts - config.defaults.allowed_lateness_ms) // 10_000 * 10_000
    slo = next(s for s in config.slos if s.sli == "market_quote_age" or s.service == "market-data")
    row = rows[("budget", slo.name)]
    assert rfc3339_ms(origin_ms + slo.budget.window_ms) == row["complete_from"]
    assert row["partial_at_end"] is True
    assert {"MARKET"} == {w["stream"] for w in summary["partial_windows"]}
    # A calendar budget (the month, UTC) is whole from the first month that starts after the data.
    monthly = rows[("budget", "sla_data_freshness")]
    assert ("month", "2026-02-01T00:00:00.000Z") == (monthly["window"], monthly["complete_from"])
    short = [w for w in summary["partial_windows"] if w["what"] == "alert" and w["window"] == "1m"]
    assert short and all(not w["partial_at_end"] for w in short)


@pytest.mark.parametrize(("from_ago_s", "max_age_s", "refused"), [
    (3600, 1, True),      # messages of the last hour were there and expired
    (3600, 0, True),      # no max_age: they were purged
    (10, 3600, False),    # only messages older than an hour can have expired: none was in the range
])
def test_an_emptied_stream_refuses_a_range_its_lost_messages_may_have_been_in(from_ago_s, max_age_s, refused):
    now_ms = time.time_ns() // 1_000_000
    held = StreamRange(stream="MARKET", first_seq=6, last_seq=5, first_ts_ms=None, max_age_ms=max_age_s * 1000)
    if not refused:
        _check_held(held, now_ms - from_ago_s * 1000)
        return
    with pytest.raises(ReplayError) as caught:
        _check_held(held, now_ms - from_ago_s * 1000)
    assert str(caught.value).startswith("stream MARKET no longer holds --from ")
    assert f"(messages 1 to 5 expired or were purged; max_age {max_age_s}s)" in str(caught.value)


@pytest.mark.parametrize(("flag", "text"), [("--from", "yesterday"), ("--to", "now-1x"), ("--from", "2026-13-01T00:00:00Z")])
def test_an_unreadable_time_is_one_line_naming_the_option_and_every_accepted_form(capsys, tmp_path, messages, flag, text):
    path = write_export(tmp_path / "e.ndjson", messages[:10])
    line = _one_line_error(capsys, ["replay", *BASE, flag, text, "--input", str(path)])
    assert line == (f"slo replay: {flag} {text}: expected an RFC 3339 time with a zone (2026-01-05T14:00:00Z), now, "
                    "or now-<duration> such as now-1h")


def test_a_missing_streams_dir_is_one_line_blaming_it_not_the_config(capsys, tmp_path, messages):
    path = write_export(tmp_path / "e.ndjson", messages[:10])
    line = _one_line_error(capsys, ["replay", "--config", str(CONFIG), "--streams-dir", str(tmp_path / "nope"),
                                    "--input", str(path)])
    assert f"slo replay: --streams-dir: {tmp_path / 'nope'}: stream definition directory not found" == line
    assert str(CONFIG) not in line
