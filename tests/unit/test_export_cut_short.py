"""An export file cut at the end of a line (``head``, a full disk) reads as a whole file of fewer
messages: with no trailer, a stream ending before the last sequence its header lists is named in
a warning, so a replay or a backtest of it is not taken for one of the whole range."""

from __future__ import annotations

from pathlib import Path

import orjson
from structlog.testing import capture_logs

from processor.replay.stored import StoredMsg, message_line, read_export, trailer_line

T_MS = 1_767_225_600_000


def export_file(path: Path, lines: int, trailer: bool) -> Path:
    header = {"slo_export": 1, "from_ms": None, "to_ms": None, "streams": {"AI": {"last_seq": 3}, "TRADE": {"last_seq": 1}}}
    msgs = [StoredMsg("AI", 1, T_MS, "ai.x", b"{}", None), StoredMsg("TRADE", 1, T_MS, "trade.x", b"{}", None),
            StoredMsg("AI", 2, T_MS + 1, "ai.x", b"{}", None), StoredMsg("AI", 3, T_MS + 2, "ai.x", b"{}", None)]
    body = orjson.dumps(header) + b"\n" + b"".join(message_line(m) for m in msgs[:lines])
    if trailer:
        body += trailer_line(False, {"AI": {"messages": 3, "last_seq": 3}, "TRADE": {"messages": 1, "last_seq": 1}})
    path.write_bytes(body)
    return path


def warnings_reading(path: Path) -> list[dict]:
    header, messages = read_export(path)
    with capture_logs() as logs:
        assert all(isinstance(m, StoredMsg) for m in messages)
        messages.warn_if_cut_short(header, "replay")
    return logs


def test_a_file_cut_at_the_end_of_a_line_is_named_with_how_far_each_stream_got(tmp_path):
    (log,) = warnings_reading(export_file(tmp_path / "cut.ndjson", 3, trailer=False))
    assert ("replay.input_cut_short", "warning") == (log["event"], log["log_level"])
    assert {"AI": {"read_to": 2, "header_last_seq": 3}} == log["streams"]


def test_a_whole_file_with_or_without_its_trailer_reads_without_a_warning(tmp_path):
    assert [] == warnings_reading(export_file(tmp_path / "whole.ndjson", 4, trailer=True))
    assert [] == warnings_reading(export_file(tmp_path / "older.ndjson", 4, trailer=False))  # an older export's


def test_a_replay_that_fails_leaves_no_summary_beside_its_partial_files(tmp_path, capsys):
    # An earlier replay's summary.json in the same DIR would pass this one's partial files for whole.
    from processor.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"interrupted": false}')
    path = export_file(tmp_path / "events.ndjson", 4, trailer=True)
    path.write_bytes(path.read_bytes() + b'{"stream": "AI", "seq": 4, "ts_ms": 1, "subj')  # cut mid-line
    assert 1 == main(["replay", "--input", str(path), "--out", str(out)])
    assert "the last line is cut off" in capsys.readouterr().err
    assert (out / "alerts.ndjson").exists() and not (out / "summary.json").exists()


def test_a_backtest_of_a_file_cut_short_warns_on_stderr_and_keeps_stdout_for_its_report(tmp_path, capsys):
    from processor.cli import main

    path = export_file(tmp_path / "cut.ndjson", 3, trailer=False)
    assert 0 == main(["backtest", "--baseline", "config/slo.yaml", "--candidate", "config/slo.yaml", "--input", str(path)])
    captured = capsys.readouterr()
    assert "backtest.input_cut_short" in captured.err and "input_cut_short" not in captured.out
