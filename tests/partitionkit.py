"""Partitions (`slo run --partition I/N --partition-by market.quote.{symbol}`) for the tests and
bench/partitions.py: a config that can be split by symbol, the stream definitions with the MARKET
stream's partition transform, nats-server's partition function worked out independently, and
`slo run` subprocesses of one partition.

The config reads only the MARKET stream: quote SLIs with a ``symbol`` label and per-symbol alert
rules (split across partitions), and request SLIs with SLOs and error budgets (partition 0 alone).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import nats.js.errors

from processor.runtime.partitions import parse_partition_by
from processor.vocabulary import durable_name
from tests.slorun import MSG_ID, ROOT, STREAMS_DIR, Outputs, SloRun, slo_outputs

PARTITION_BY = "market.quote.{symbol}"
KEY = parse_partition_by(PARTITION_BY)

_HEAD = """\
version: 1
defaults:
  allowed_lateness: 5s
  resolution: 10s
  rule_window: 1m
  budget:
    method: occurrences
    window: 30d
    burn_alerts: platform
    disable_tiers: [normal]
    report_every: 1m
burn_rate_catalogues: {catalogues}
"""
_HOT_SLIS = """\
  quote_freshness:
    service: market-data
    kind: latency
    subject: market.quote.>
    value: ts
    minus: quote_ts
    unit: ms
    labels: [symbol]
  quote_age:
    service: market-data
    kind: gauge
    subject: market.quote.>
    value: ts
    minus: quote_ts
    unit: ms
    labels: [symbol]
"""
_REST_SLIS = """\
  quote_request_latency:
    service: market-data
    kind: latency
    subject: market.request
    where: op == "get_quote"
    value: latency_ms
    unit: ms
  request_outcomes:
    service: market-data
    kind: ratio
    subject: market.request
    good: status == "ok"
"""
_REST_SLOS = """\
slos:
  quote_request_latency_p95:
    sli: quote_request_latency
    objective: p95 < 100ms
  request_availability:
    sli: request_outcomes
    objective: good_ratio >= 99.5%
"""
_HOT_ALERTS = """\
  - name: QuoteStale
    sli: quote_age
    expr: since_last > 30s
    severity: critical
  - name: QuoteOld
    sli: quote_age
    expr: min > 30s
    severity: critical
  - name: QuoteFreshnessP99High
    sli: quote_freshness
    expr: p99 > 5s
    for: 1m
    severity: warning
"""
_REST_ALERTS = """\
  - name: QuoteRequestSlow
    slo: quote_request_latency_p95
    expr: p95 > 80ms
    for: 1m
    severity: warning
"""
# The hot subject's SLIs and, unless hot_only, request SLIs with SLOs that partition 0 evaluates.
CONFIG_YAML = _HEAD + "slis:\n" + _HOT_SLIS + _REST_SLIS + _REST_SLOS + "alerts:\n" + _HOT_ALERTS + _REST_ALERTS
# The same config, shipped for the README's Partitions section (its catalogue path relative to it).
EXAMPLE = ROOT / "examples" / "partitioned.yaml"
HOT_ONLY_YAML = _HEAD + "slis:\n" + _HOT_SLIS + "alerts:\n" + _HOT_ALERTS


def write_config(directory: Path, hot_only: bool = False) -> Path:
    """The partitionable config, in ``directory``; ``hot_only``: the quote SLIs alone, so that
    every partition's durable has one filter subject (several cost nats-server far more per
    message: docs/scaling.md)."""
    path = directory / ("hot.yaml" if hot_only else "partitioned.yaml")
    path.write_text((HOT_ONLY_YAML if hot_only else CONFIG_YAML).format(catalogues=ROOT / "config" / "burn-rates.yaml"))
    return path


def write_streams(directory: Path, count: int) -> Path:
    """streams/ with the MARKET stream's subject transform for ``count`` partitions, in
    ``directory``/streams: what the operator applies (docs/scaling.md)."""
    out = directory / "streams"
    out.mkdir(exist_ok=True)
    for source in sorted(STREAMS_DIR.glob("*.json")):
        definition = json.loads(source.read_text())
        if definition["name"] == "MARKET":
            definition["subject_transform"] = {
                "src": "market.quote.*",
                "dest": "market.quote.{{wildcard(1)}}.{{partition(%d,1)}}" % count,
            }
        (out / source.name).write_text(json.dumps(definition, indent=2))
    return out


# The account mapping of docs/scaling.md ("One stream per partition"): the quotes are published
# with the partition token already appended, so that each partition's stream holds its share.
MAPPING_CONF = """\
mappings = {
  "market.quote.*": "market.quote.{{wildcard(1)}}.{{partition(%d,1)}}"
}
"""
# What MARKET holds once the quotes have streams of their own (it may not overlap them).
MARKET_OTHER_SUBJECTS = ["market.request", "market.heartbeat", "market.provider.>", "market.stream.>"]


def write_mapping_conf(directory: Path, count: int) -> Path:
    """A nats-server config file with the quotes' partition mapping, for ``-c``."""
    path = directory / "mapping.conf"
    path.write_text(MAPPING_CONF % count)
    return path


def write_partition_streams(directory: Path, count: int) -> Path:
    """streams/ with one stream per partition of the quotes (``MARKET_P<I>``: ``market.quote.*.I``)
    and MARKET narrowed to the other market subjects, in ``directory``/streams-per-partition."""
    out = directory / "streams-per-partition"
    out.mkdir(exist_ok=True)
    for source in sorted(STREAMS_DIR.glob("*.json")):
        definition = json.loads(source.read_text())
        if definition["name"] == "MARKET":
            for index in range(count):
                own = {**definition, "name": f"MARKET_P{index}", "subjects": [f"market.quote.*.{index}"],
                       "description": f"Market quotes of partition {index} of {count}."}
                (out / f"market_p{index}.json").write_text(json.dumps(own, indent=2))
            definition["subjects"] = MARKET_OTHER_SUBJECTS
        (out / source.name).write_text(json.dumps(definition, indent=2))
    return out


def fnv1a_partition(token: str, count: int) -> int:
    """nats-server's ``{{partition(count, i)}}`` of one token: FNV-1a (32 bit) of its bytes, mod
    ``count`` (server/subject_transform.go), worked out here, not asked of the server."""
    h = 0x811C9DC5
    for byte in token.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % count


class PartitionRun(SloRun):
    """``slo run`` with a config, stream definitions and extra arguments of its own. ``own_session``:
    its own session, hence its own scheduler autogroup (bench/partitions.py: two instances are then
    scheduled as two processes, not as one group's share)."""

    def __init__(self, url: str, log_path: Path, config: Path, streams_dir: Path, args: list[str],
                 hooks: dict[str, str] | None = None, batch_size: int = 1000, own_session: bool = False):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_", "NATS_"))}
        env.update(hooks or {})
        self.log_path = log_path
        self.durable_prefix = "slo"
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "processor.cli", "run", "--config", str(config), "--nats-url", url,
                 "--streams-dir", str(streams_dir), "--batch-size", str(batch_size), *args],
                stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=log_path.parent, start_new_session=own_session,
            )


def partition_args(index: int | None, count: int) -> list[str]:
    return [] if index is None else ["--partition", f"{index}/{count}", "--partition-by", PARTITION_BY]


def durable(index: int | None, count: int, stream: str = "MARKET") -> str:
    return durable_name("slo" if index is None else f"slo_p{index}of{count}", stream)


async def pending(js, index: int | None, count: int) -> int | None:
    """Messages the partition's durable on MARKET has not had acked (None before it exists)."""
    try:
        info = await js.consumer_info("MARKET", durable(index, count))
    except nats.js.errors.NotFoundError:
        return None
    return info.num_pending + info.num_ack_pending


async def wait_consumed(js, runs: dict[int | None, SloRun], count: int, timeout_s: float = 90.0) -> None:
    """Until every run is ready and its durable has nothing pending or unacked."""
    async def left() -> dict:
        return {i: await pending(js, i, count) for i in runs}

    await _until_nothing_left(runs, left, timeout_s)


async def wait_drained(js, runs: dict[int | None, SloRun], durables: set[tuple[str, str]],
                       timeout_s: float = 90.0) -> None:
    """Until every run is ready and each (stream, durable) has nothing pending or unacked."""
    async def left() -> dict:
        out: dict[str, int | None] = {}
        for stream, name in durables:
            try:
                info = await js.consumer_info(stream, name)
                out[name] = info.num_pending + info.num_ack_pending
            except nats.js.errors.NotFoundError:
                out[name] = None
        return out

    await _until_nothing_left(runs, left, timeout_s)


async def _until_nothing_left(runs: dict[int | None, SloRun], left_of, timeout_s: float) -> None:
    for run in runs.values():
        await run.wait_for_log("processor.ready", timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        left = await left_of()
        if all(n == 0 for n in left.values()):
            return
        for run in runs.values():
            assert run.proc.poll() is None, run.tail()
        assert time.monotonic() < deadline, f"not consumed: {left}"
        await asyncio.sleep(0.05)


def output_key(subject: str, msg_id: str, data: bytes | dict) -> tuple[str, str, str]:
    """(subject, id, payload) of an output, its JSON keys sorted (a dead letter's payload as is)."""
    if subject.startswith("slo.deadletter."):
        return subject, msg_id, data.decode() if isinstance(data, bytes) else str(data)
    body = json.loads(data) if isinstance(data, bytes) else data
    return subject, msg_id, json.dumps(body, sort_keys=True)


def live_outputs(stored: list) -> Counter:
    """What the SLO stream holds of the instances' outputs, time moves and probes aside."""
    return Counter(output_key(m.subject, m.headers[MSG_ID], m.data) for m in stored
                   if not m.subject.startswith("slo.clock.") and m.subject != "slo.probe")


def replayed_outputs(out_dir: Path) -> Counter:
    """What a `slo replay --out` wrote, keyed as ``live_outputs``."""
    seen: Counter = Counter()
    for path in sorted(out_dir.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            row = json.loads(line)
            seen[output_key(row["subject"], row["msg_id"], row["data"])] += 1
    return seen


async def outputs_without_clock(js) -> Outputs:
    """The SLO stream's outputs (tests/slorun.slo_outputs) without the time moves on slo.clock.>,
    which each instance records of its own idle clock."""
    out = await slo_outputs(js)
    out.messages = Counter({k: v for k, v in out.messages.items() if not k[0].startswith("slo.clock.")})
    return out
