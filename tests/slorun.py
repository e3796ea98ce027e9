"""`slo run` as a subprocess on a test's own nats-server, for the crash and stop tests: a scenario
of platform traffic with incidents, the processor started with the test-only hooks of
processor/runtime/testhooks.py, its JSON log, signals, and what it left in the SLO stream and in
its checkpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
import orjson
from nats.js.api import AckPolicy, ConsumerConfig

from processor.bus.checkpoint import CheckpointStore, decode_checkpoint
from processor.bus.jsadmin import stream_last_seq
from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config
from processor.runtime.render import rfc3339_ms
from processor.runtime.topology import BUS_LANE, partition_config
from processor.simulate import Incident, Simulator
from processor.simulate.publish import publish
from processor.vocabulary import durable_name

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "slo.yaml"
STREAMS_DIR = ROOT / "streams"
MSG_ID = "Nats-Msg-Id"

# 15 minutes of the whole platform (~30k events), in the past so that no event is ahead of the
# time JetStream stamps on it. The incidents end by minute 10, so that their alerts resolve well
# before the end.
START_MS = int(datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp() * 1000)
MIN_MS = 60_000
END_MS = START_MS + 15 * MIN_MS
INCIDENTS = (
    Incident("latency_spike", START_MS + 2 * MIN_MS, 6 * MIN_MS, "gateway"),
    Incident("outage", START_MS + 4 * MIN_MS, 4 * MIN_MS, "gateway", magnitude=0.05),
    Incident("provider_down", START_MS + 3 * MIN_MS, 2 * MIN_MS, "all_models"),
    Incident("stale_quotes", START_MS + 5 * MIN_MS, 3 * MIN_MS, "AAPL"),
)
# Once the streams are consumed the idle clock moves event time on with the wall clock, so what is
# evaluated after the last events depends on how long a run idles. Compare what comes before.
COMPARED_UNTIL = rfc3339_ms(END_MS - MIN_MS)


async def publish_scenario(nc) -> dict[str, int]:
    """The scenario's events into their streams (created when missing); each stream's last
    sequence after them."""
    simulator = Simulator(START_MS, seed=8, rate=15.0, incidents=INCIDENTS)
    result = await publish(nc, simulator, END_MS, streams_dir=STREAMS_DIR)
    return {stream: await stream_last_seq(nc, stream) for stream in result.per_stream}


class SloRun:
    """One ``slo run`` process; its log (JSON lines) goes to ``log_path``."""

    def __init__(self, url: str, log_path: Path, *, batch_size: int = 1000, hooks: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_", "NATS_"))}
        env.update(hooks or {})
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "processor.cli", "run", "--config", str(CONFIG), "--nats-url", url,
                 "--streams-dir", str(STREAMS_DIR), "--batch-size", str(batch_size), *args],
                stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=log_path.parent,
            )

    def records(self) -> list[dict]:
        out = []
        for line in self.log_path.read_bytes().splitlines():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                out.append({"event": "(not JSON)", "line": line.decode(errors="replace")})
        return out

    def logged(self, event: str) -> list[dict]:
        return [r for r in self.records() if r.get("event") == event]

    async def wait_for_log(self, event: str, timeout_s: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.logged(event)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                raise AssertionError(f"slo run exited with {self.proc.returncode} before {event}: {self.tail()}")
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {event} in the log within {timeout_s:g} s: {self.tail()}")

    def tail(self) -> str:
        return "\n".join(str(r) for r in self.records()[-15:])

    async def signal_and_wait(self, sig: int, timeout_s: float = 30.0) -> tuple[int, float]:
        """Send ``sig``; (exit code, seconds until the process was gone)."""
        sent_s = time.monotonic()
        self.proc.send_signal(sig)
        while self.proc.poll() is None:
            if time.monotonic() - sent_s > timeout_s:
                self.proc.kill()
                raise AssertionError(f"slo run still running {timeout_s:g} s after {sig!r}: {self.tail()}")
            await asyncio.sleep(0.01)
        return self.proc.returncode, time.monotonic() - sent_s

    async def kill(self) -> None:
        await self.signal_and_wait(signal.SIGKILL)

    def ensure_gone(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Runs:
    """The ``slo run`` processes of one test, one log file each (``run0.log``, ...), all ended by
    :meth:`end_all` whatever the test did to them."""

    def __init__(self, url: str, log_dir: Path) -> None:
        self.url = url
        self._log_dir = log_dir
        self._runs: list[SloRun] = []

    def start(self, hooks: dict[str, str] | None = None, batch_size: int = 1000, args: tuple[str, ...] = ()) -> SloRun:
        run = SloRun(self.url, self._log_dir / f"run{len(self._runs)}.log", batch_size=batch_size, hooks=hooks,
                     args=args)
        self._runs.append(run)
        return run

    async def finish(self, js, last_seqs: dict[str, int], hooks: dict[str, str] | None = None) -> Outputs:
        """A run that consumes whatever is left and stops on SIGTERM: exit 0, within 10 s; what
        the SLO stream then holds."""
        run = self.start(hooks)
        await wait_until_acked(js, last_seqs, run)
        code, took_s = await run.signal_and_wait(signal.SIGTERM)
        assert (0, True) == (code, took_s < 10), run.tail()
        return await slo_outputs(js)

    def end_all(self) -> None:
        for run in self._runs:
            run.ensure_gone()


# What a JetStream request gets while its stream's or consumer's leader is being elected.
_UNANSWERED = (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError)


async def acked_seq(js, stream: str, timeout_s: float = 30.0) -> int:
    """The ack floor of the processor's durable on ``stream`` (0 before it exists). Asked again
    while nobody answers: in a cluster that lost a node, the consumer's leader is being elected
    or our own client is reconnecting."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            info = await js.consumer_info(stream, durable_name("slo", stream), timeout=2)
        except nats.js.errors.NotFoundError:
            return 0
        except (nats.errors.TimeoutError, *_UNANSWERED):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        return info.ack_floor.stream_seq


async def wait_until_acked(js, last_seqs: dict[str, int], run: SloRun, timeout_s: float = 60.0) -> None:
    """Until the processor has acked every stream up to ``last_seqs``. (Only once it is ready: until
    it repositions them, its durables still say how far the run before it got.)"""
    await run.wait_for_log("processor.ready", timeout_s)
    deadline = time.monotonic() + timeout_s
    while [await acked_seq(js, s) for s in last_seqs] != list(last_seqs.values()):
        if run.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"streams not consumed (exit code {run.proc.poll()}): {run.tail()}")
        await asyncio.sleep(0.05)


async def checkpoint_seqs(nc) -> dict[str, int] | None:
    """Every stream's sequence in the stored checkpoint; None when there is none."""
    raw = await CheckpointStore(nc).load()
    return None if raw is None else {stream: seq for stream, (seq, _) in decode_checkpoint(raw).items()}


async def stream_messages(js, stream: str, subject: str, timeout_s: float = 30.0) -> list:
    """Every message of ``stream`` on ``subject``. (Unacked, a consumer stops at its
    max_ack_pending, 1,000 by default: hence no acks at all.) Read again from the start while
    nobody answers: in a cluster that just lost a node, the stream's or the new consumer's leader
    is still being elected (a 503 mid-read leaves the consumer's position unknown)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await _read_all(js, stream, subject)
        except (nats.errors.TimeoutError, *_UNANSWERED):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _read_all(js, stream: str, subject: str) -> list:
    sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE))
    out = []
    try:
        while True:
            try:
                out += await sub.fetch(500, timeout=1.0)
            except TimeoutError:
                # nats-py also reports a 408/409 status (a consumer's leader change) as a timeout:
                # done only when the consumer has nothing left to deliver.
                if (await sub.consumer_info()).num_pending == 0:
                    return out
    finally:
        await sub.unsubscribe()


def _bus_lane_names() -> tuple[frozenset[str], frozenset[str]]:
    """The SLIs and SLOs of the bus monitor's lane: wall-clock measurements, never equal twice."""
    parts, _ = partition_config(load_config(CONFIG), load_stream_definitions(STREAMS_DIR))
    bus = parts[BUS_LANE]
    return frozenset(s.name for s in bus.slis), frozenset(s.name for s in bus.slos)


@dataclass
class Outputs:
    """What the SLO stream holds of the stream lanes' outputs up to ``COMPARED_UNTIL``."""

    alerts: list[tuple] = field(default_factory=list)  # (msg id, fingerprint, status, activeAt, startsAt, endsAt)
    budgets: list[tuple] = field(default_factory=list)  # (slo, evaluatedAt, reason, good, total, bad)
    slis: list[tuple] = field(default_factory=list)  # (msg id, values)
    messages: Counter = field(default_factory=Counter)  # (subject, msg id, payload) -> copies stored

    def sort(self) -> Outputs:
        self.alerts.sort()
        self.budgets.sort()
        self.slis.sort()
        return self


async def slo_outputs(js) -> Outputs:
    bus_slis, bus_slos = _bus_lane_names()
    out = Outputs()
    for msg in await stream_messages(js, "SLO", "slo.>"):
        if msg.subject == "slo.probe":
            continue
        body = orjson.loads(msg.data) if not msg.subject.startswith("slo.deadletter.") else {}
        sli = body.get("sli") or body.get("labels", {}).get("sli")
        # A time move's closedThrough, like an output's evaluatedAt: after the last events it
        # depends on how long the run idled (a cluster's leader election makes runs longer).
        when = body.get("evaluatedAt") or body.get("closedThrough") or ""
        if sli in bus_slis or body.get("slo") in bus_slos or when > COMPARED_UNTIL:
            continue
        msg_id = msg.headers[MSG_ID]
        out.messages[(msg.subject, msg_id, msg.data)] += 1
        if msg.subject.startswith("slo.alerts."):
            out.alerts.append((msg_id, body["fingerprint"], body["status"], body["activeAt"], body["startsAt"],
                               body["endsAt"]))
        elif msg.subject.startswith("slo.budget."):
            out.budgets.append((body["slo"], body["evaluatedAt"], body["reason"], body["good"], body["total"],
                                body["bad"]))
        elif msg.subject.startswith("slo.sli."):
            out.slis.append((msg_id, orjson.dumps(body["values"], option=orjson.OPT_SORT_KEYS)))
    return out.sort()


def assert_same_outputs(expected: Outputs, actual: Outputs) -> None:
    """Equal alert history, budgets and SLI values, and the very same messages, each stored once."""
    assert expected.alerts == actual.alerts
    assert expected.budgets == actual.budgets
    assert expected.slis == actual.slis
    assert {1} == set(actual.messages.values()), "a message stored twice"
    assert len(actual.messages) == len({msg_id for _, msg_id, _ in actual.messages}), "two messages, one id"
    assert expected.messages == actual.messages


async def uninterrupted_run(tmp: Path, hooks: dict[str, str] | None = None, final: Any = None) -> tuple[Outputs, Any]:
    """The scenario consumed by one plain `slo run` that nothing interrupts, on its own single
    server: what the SLO stream then holds, and ``await final(nc)`` (e.g. the engines' states)."""
    from processor.bus.connect import ConnectOptions, connect
    from processor.bus.embedded import EmbeddedServer

    async with EmbeddedServer(tmp / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        runs = Runs(server.url, tmp)
        try:
            outputs = await runs.finish(nc.jetstream(), await publish_scenario(nc), hooks)
            extra = await final(nc) if final is not None else None
        finally:
            runs.end_all()
        await nc.close()
    return outputs, extra
