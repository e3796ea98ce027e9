"""`slo run` as a user runs it: a subprocess, no NATS URL, the embedded server, signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# Fast clock settings so that wall-clock idle advance resolves the alert within seconds.
FAST_CONFIG = """\
version: 1
defaults:
  allowed_lateness: 0s
  resolution: 1s
  rule_window: 2s
  runbook_base_url: https://runbooks.example.com/slo.md
slis:
  gateway_request_latency:
    service: api-gateway
    kind: latency
    subject: analytics.gateway.request
    value: latency_ms
    unit: ms
alerts:
  - name: GatewayFast
    sli: gateway_request_latency
    expr: p95 > 100ms
    for: 0s
    severity: critical
    summary: "p95 {value:.0f}ms over {window}"
"""


def read_log_until(proc: subprocess.Popen, event: str, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError(f"slo run exited with {proc.returncode} before logging {event}")
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if record.get("event") == event:
            return record
    raise AssertionError(f"no {event} log line within {timeout_s} s")


async def test_slo_run_without_a_url_serves_on_an_embedded_server_and_stops_cleanly(tmp_path):
    config = tmp_path / "fast.yaml"
    config.write_text(FAST_CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "SLO_NATS_URL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "processor.cli", "run", "--config", str(config),
         "--streams-dir", str(ROOT / "streams"), "--store-dir", str(tmp_path / "store")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=tmp_path,
    )
    try:
        url = read_log_until(proc, "embedded.started")["url"]
        assert url.startswith("nats://127.0.0.1:")
        ready = read_log_until(proc, "processor.ready")
        assert 1 == ready["alert_rules"]

        nc = await connect(ConnectOptions(url=url))
        alerts: list = []

        async def collect(msg):
            alerts.append(orjson.loads(msg.data))

        await nc.subscribe("slo.alerts.>", cb=collect)
        now_ms = int(time.time() * 1000)
        js = nc.jetstream()
        for i in range(20):
            await js.publish("analytics.gateway.request", orjson.dumps({"ts": now_ms + i, "latency_ms": 500.0}))
        # No more events: only the idle advance can close the window (firing), then let it empty
        # (resolved). That takes a couple of seconds of wall clock at 1 s resolution.
        deadline = time.monotonic() + 20
        while [a["status"] for a in alerts] != ["firing", "resolved"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert ["firing", "resolved"] == [a["status"] for a in alerts]
        summary = re.fullmatch(r"p95 (\d+)ms over 2s", alerts[0]["annotations"]["summary"])
        assert summary is not None
        assert 500 == pytest.approx(int(summary.group(1)), rel=0.01)  # the sketch's 1 % accuracy
        # The live processor hands defaults.runbook_base_url to the outbox, firing and resolved alike.
        assert ["https://runbooks.example.com/slo.md#gatewayfast"] * 2 == [
            a["annotations"]["runbook_url"] for a in alerts]
        await nc.close()

        proc.send_signal(signal.SIGTERM)
        assert 0 == proc.wait(timeout=20)
        # The embedded server went with it.
        with pytest.raises(Exception):
            await connect(ConnectOptions(url=url, connect_timeout_s=1.0))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_slo_run_with_a_broken_config_exits_1_naming_the_file(tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("version: 1\nslis:\n  x:\n    kind: latency\n")
    result = subprocess.run(
        [sys.executable, "-m", "processor.cli", "run", "--config", str(config)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert 1 == result.returncode
    assert str(config) in result.stderr
