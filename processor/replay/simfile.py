"""``slo simulate --out FILE``: the simulator's traffic as an export file (``replay/stored.py``)
instead of NATS, and the incidents it injected as an incidents file beside it
(``<stem>.incidents.yaml``, the format ``slo backtest --incidents`` reads).

Each event goes to the stream whose subjects hold it (``streams/``), with that stream's next
sequence from 1 (as fresh streams would number them) and its event time as the JetStream stamp.
``consumer_lag`` is a fault of the bus, not of any payload: a file cannot hold it, so it is left
out (and said so).
"""

from __future__ import annotations

__all__ = ["INCIDENT_SERVICES", "incident_service", "incidents_path", "labelled", "simulate_to_file", "write_events"]

import gzip
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from processor.bus.streams import load_stream_definitions
from processor.config.parse import subject_pattern_matches
from processor.errors import ProcessorError
from processor.replay.incidents import Incident, incidents_yaml
from processor.replay.stored import EXPORT_FORMAT, StoredMsg, message_line
from processor.runtime.topology import stream_subjects
from processor.simulate.cli import plan_run
from processor.simulate.generator import Simulator
from processor.simulate.incidents import Incident as Injected

# The service (as config/slo.yaml names it) whose SLOs an incident kind hurts; a target listed
# under a kind overrides the kind's service.
INCIDENT_SERVICES: dict[str, tuple[str, dict[str, str]]] = {
    "latency_spike": ("trading-engine", {"gateway": "api-gateway", "quotes": "market-data", "decisions": "ai-decision",
                                         "queries": "analytics", "reports": "analytics"}),
    "outage": ("api-gateway", {"market": "market-data", "trading": "trading-engine", "orchestrator": "orchestrator",
                               "ai": "ai-decision", "analytics": "analytics"}),
    "provider_down": ("market-data", {"openai": "ai-decision", "groq": "ai-decision", "together": "ai-decision",
                                      "all_models": "ai-decision"}),
    "consumer_lag": ("event-bus", {}),
}
_BY_KIND = {
    "market-data": ("stale_quotes", "quotes_stop", "cache_misses", "stream_disconnect"),
    "orchestrator": ("saga_timeouts", "saga_failures", "agent_crash", "agent_stop", "cycle_slow", "schedule_drift"),
    "ai-decision": ("cost_overrun", "fallbacks", "bad_decisions"),
    "analytics": ("snapshot_gap", "position_lag", "pnl_mismatch", "db_down"),
    "trading-engine": ("position_mismatch", "broker_down"),
    "api-gateway": ("rate_limit_errors",),
    "platform": ("cpu_high", "memory_high", "queue_backlog", "db_pool_exhausted"),
}
for _service, _kinds in _BY_KIND.items():
    INCIDENT_SERVICES.update({kind: (_service, {}) for kind in _kinds})


def incident_service(inc: Injected) -> str:
    service, by_target = INCIDENT_SERVICES.get(inc.kind, ("platform", {}))
    return by_target.get(inc.target or "", service)


def incidents_path(out: Path) -> Path:
    """``events.ndjson.gz`` -> ``events.incidents.yaml``, beside it."""
    name = out.name
    for suffix in (".gz", ".ndjson", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return out.with_name(f"{name}.incidents.yaml")


def labelled(incidents: Sequence[Injected]) -> list[Incident]:
    """The injected incidents a file can hold, as labelled incidents."""
    return [Incident(inc.start_ms, inc.end_ms, service=incident_service(inc),
                     description=f"{inc.kind}{'' if inc.target is None else ':' + inc.target}"
                     f"{'' if inc.magnitude is None else f'={inc.magnitude:g}'}")
            for inc in incidents if inc.kind != "consumer_lag"]


def write_events(out: IO[bytes], simulator: Simulator, until_ms: int, definitions: Sequence[dict]) -> dict[str, int]:
    """The export file of the simulator's events; the messages per stream."""
    header = {"slo_export": EXPORT_FORMAT, "from_ms": simulator.start_ms, "to_ms": until_ms, "source": "slo simulate"}
    out.write(orjson.dumps(header) + b"\n")
    seqs = {d["name"]: 0 for d in definitions}
    stream_of: dict[str, str | None] = {}
    dumps = orjson.dumps
    lines: list[bytes] = []
    for event in simulator.records(until_ms):
        subject = event.subject
        stream = stream_of.get(subject, "")
        if stream == "":
            stream = stream_of[subject] = next((d["name"] for d in definitions
                                                if any(subject_pattern_matches(p, subject) for p in stream_subjects(d))), None)
        if stream is None:
            continue  # no stream holds it: JetStream would not have stored it either
        seqs[stream] += 1
        lines.append(message_line(StoredMsg(stream, seqs[stream], event.ts_ms, subject, dumps(event.payload))))
        if len(lines) >= 5000:
            out.write(b"".join(lines))
            lines.clear()
    out.write(b"".join(lines))
    return {name: n for name, n in seqs.items() if n}


def simulate_to_file(args: Any) -> int:
    """``slo simulate --out FILE``: the exit code."""
    out = Path(args.out)
    try:
        simulator, until_ms = plan_run(args, None, time.time_ns() // 1_000_000)
    except ValueError as exc:
        print(f"slo simulate: {exc}", file=sys.stderr)
        return 2
    try:
        definitions = load_stream_definitions(Path(args.streams_dir))
        out.parent.mkdir(parents=True, exist_ok=True)
        opener: Any = gzip.open if out.suffix == ".gz" else open
        with opener(out, "wb") as handle:
            counts = write_events(handle, simulator, until_ms, definitions)
        incidents = labelled(simulator.incidents)
        inc_path = incidents_path(out)
        inc_path.write_text(incidents_yaml(incidents), encoding="utf-8")
    except (ProcessorError, OSError) as exc:
        print(f"slo simulate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # A shorter file would replay as if the run had been shorter: leave none.
        out.unlink(missing_ok=True)
        print(f"slo simulate: interrupted: {out} removed (it held only part of the run)", file=sys.stderr)
        return 130
    if any(inc.kind == "consumer_lag" for inc in simulator.incidents):
        print("slo simulate: consumer_lag left out: it pauses a consumer on the bus, which a file cannot hold", file=sys.stderr)
    streams = ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items()))
    print(f"slo simulate: wrote {sum(counts.values()):,} events ({streams}) to {out}, "
          f"{len(incidents)} incident(s) to {inc_path}", file=sys.stderr)
    return 0
