"""What a user meets before any command runs, or when it is cut short: an unknown or misspelt
option is reported by the command's own parser with the nearest option it has; Ctrl-C and a reader
that goes away (`| head`) end a command without a Python traceback; the connection options' help
names the environment variables that the README lists and that ConnectOptions reads."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from processor.bus.connect import ConnectOptions
from processor.cli import build_parser, main
from tests.slorun import CONFIG, ROOT, STREAMS_DIR

README = (Path(__file__).parents[2] / "README.md").read_text()


def _subparsers():
    return build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001


def _usage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert 2 == exc.value.code
    return capsys.readouterr().err


def test_a_misspelt_option_is_reported_by_its_command_with_the_nearest_option(capsys):
    err = _usage_error(capsys, ["run", "--confg", "x.yaml"])
    assert err.startswith("usage: slo run ")
    assert "slo run: error: unrecognized arguments: --confg x.yaml" in err
    assert "--confg: did you mean --config?" in err
    err = _usage_error(capsys, ["replay", "--outt=dir"])
    assert "slo replay: error: unrecognized arguments: --outt=dir" in err and "--outt: did you mean --out?" in err


def test_an_option_like_no_other_gets_no_suggestion(capsys):
    err = _usage_error(capsys, ["status", "--zzzzzz"])
    assert "slo status: error: unrecognized arguments: --zzzzzz" in err and "did you mean" not in err
    err = _usage_error(capsys, ["--zzzzzz"])
    assert "slo: error: unrecognized arguments: --zzzzzz" in err


def test_a_misspelt_severity_is_refused_rather_than_followed_forever(capsys):
    err = _usage_error(capsys, ["tail", "alerts", "--severity", "pgae"])
    assert "argument --severity: 'pgae': expected one of info, warning, critical, emergency, page, ticket" in err


@pytest.mark.parametrize("size", ["0", "-5", "ten", "50001", "1000000"])
def test_a_batch_size_below_one_or_past_the_bound_is_a_usage_error_not_a_crash_after_start(capsys, size):
    err = _usage_error(capsys, ["run", "--batch-size", size])
    assert f"argument --batch-size: '{size}': expected a whole number of messages, at least 1 and at most 50000" in err
    assert 1 == build_parser().parse_args(["run", "--batch-size", "1"]).batch_size
    assert 50_000 == build_parser().parse_args(["run", "--batch-size", "50000"]).batch_size


def _slo(*args: str, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_", "NATS_"))}
    # A child inherits an ignored SIGINT (xdist workers, background jobs); a terminal's Ctrl-C is not ignored.
    return subprocess.Popen([sys.executable, "-m", "processor.cli", *args], env=env, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)


def _wait_for(path: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (path.exists() and (path.is_dir() or path.stat().st_size > 0)):
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_ctrl_c_during_simulate_out_exits_130_and_leaves_no_partial_file(tmp_path):
    out = tmp_path / "events.ndjson"
    proc = _slo("simulate", "--out", str(out), "--duration", "24h", "--streams-dir", str(STREAMS_DIR),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert 130 == proc.returncode, err
    assert "Traceback" not in err.decode()
    assert f"slo simulate: interrupted: {out} removed" in err.decode()
    assert not out.exists() and not (tmp_path / "events.incidents.yaml").exists()


def test_ctrl_c_during_backtest_exits_130_without_a_traceback(tmp_path):
    events = tmp_path / "events.ndjson"
    made = _slo("simulate", "--out", str(events), "--duration", "20m", "--start", "2026-01-05T14:00:00Z",
                "--streams-dir", str(STREAMS_DIR), stderr=subprocess.PIPE)
    assert 0 == made.wait(timeout=60)
    out = tmp_path / "bt"
    proc = _slo("backtest", "--baseline", str(CONFIG), "--candidate", str(CONFIG), "--input", str(events),
                "--streams-dir", str(STREAMS_DIR), "--out", str(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(out / "candidate")  # both configs loaded: the pass over the file has begun
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert 130 == proc.returncode, err
    assert "slo backtest: interrupted" == err.decode().strip()


@pytest.mark.parametrize("command", ["simulate", "replay"])
def test_a_reader_that_went_away_ends_the_command_without_a_traceback(tmp_path, command):
    from processor.simulate import Simulator
    from tests.replaykit import stored, write_export

    t0_ms = 1_767_621_600_000
    args = ["simulate", "--list-incidents"]
    if command == "replay":  # every output line on stdout
        path = write_export(tmp_path / "e.ndjson", stored(Simulator(t0_ms, seed=1, rate=4.0).records(t0_ms + 120_000)))
        args = ["replay", "--config", str(CONFIG), "--streams-dir", str(STREAMS_DIR), "--input", str(path)]
    read_end, write_end = os.pipe()
    os.close(read_end)  # `slo ... | head -1`, head long gone
    proc = _slo(*args, stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    _, err = proc.communicate(timeout=30)
    assert b"" == b"\n".join(line for line in err.splitlines() if b"windows only partly filled" not in line)
    assert 141 == proc.returncode  # 128 + SIGPIPE, what a shell reports for `yes | head`


def _connection_help() -> dict[str, str]:
    run = _subparsers()["run"]
    return {o: a.help for a in run._actions for o in a.option_strings if o.startswith("--")}  # noqa: SLF001


def test_each_credential_option_names_the_variable_connect_options_reads_and_the_readme_lists():
    helps = _connection_help()
    for option in ("--user", "--password", "--token", "--creds", "--nkey-seed", "--tls-ca", "--tls-cert", "--tls-key"):
        (variable,) = re.findall(r"SLO_NATS_[A-Z_]+", helps[option])
        assert f"`{variable}`" in README
        value = "/x" if option != "--token" else "t"
        opts = ConnectOptions.resolve(None, {variable: value})
        assert 1 == sum(v == value for v in vars(opts).values()), (option, variable)


def test_every_nats_url_help_names_the_variables_it_falls_back_on():
    for name, sub in _subparsers().items():
        for action in sub._actions:  # noqa: SLF001
            if "--nats-url" in action.option_strings:
                assert "SLO_NATS_URL, then NATS_URL" in action.help, name
    assert "nats://a:4222" == ConnectOptions.resolve(None, {"NATS_URL": "nats://a:4222"}).url
    assert "nats://b:4222" == ConnectOptions.resolve(None, {"NATS_URL": "nats://a:4222", "SLO_NATS_URL": "nats://b:4222"}).url


def test_run_source_help_does_not_say_outputs_always_go_to_nats():
    helps = _connection_help()
    assert "either way" not in helps["--source"] and "--outputs" in helps["--source"]


def test_kafka_brokers_that_cannot_be_reached_fail_the_start_in_one_line(tmp_path):
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = _slo("run", "--source", "kafka", "--kafka-brokers", f"127.0.0.1:{port}", "--topics", "market",
                "--config", str(CONFIG), "--streams-dir", str(STREAMS_DIR), "--store-dir", str(tmp_path / ".slo"),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert 1 == proc.returncode
    text = (out + err).decode()
    assert "Traceback" not in text
    assert f"kafka source: cannot start the consumer on 127.0.0.1:{port}: KafkaConnectionError" in text


def test_the_streams_default_each_history_command_states_is_the_one_it_reads():
    # export and backtest read without a config of their own (backtest has two): every stream of
    # --streams-dir but the processor's own SLO stream; replay, the streams its config reads.
    import json
    from types import SimpleNamespace

    from processor.replay.cli import _wanted_streams

    definitions = [json.loads(p.read_text()) for p in sorted(Path(STREAMS_DIR).glob("*.json"))]
    no_streams = SimpleNamespace(streams=None)
    every_but_slo = sorted(d["name"] for d in definitions if d["name"] != "SLO")
    assert every_but_slo == sorted(_wanted_streams(no_streams, definitions, None))
    for command, default in (("replay", "every stream the config reads"), ("export", "every stream of --streams-dir but SLO"),
                             ("backtest", "every stream of --streams-dir but SLO")):
        (streams,) = [a for a in _subparsers()[command]._actions if "--streams" in a.option_strings]  # noqa: SLF001
        assert f"(default: {default})" in streams.help
