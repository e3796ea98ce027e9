"""``slo simulate``: the argument types that ``processor.cli`` gives argparse, and the command.

The argument types raise ValueError saying what was expected; ``processor.cli`` turns it into
argparse's "argument --x: <message>".
"""

from __future__ import annotations

__all__ = [
    "check_start",
    "lead_over_wall_clock_ms",
    "parse_incident",
    "parse_positive_duration",
    "parse_positive_number",
    "parse_start",
    "plan_run",
    "run_from_args",
    "start_for_now",
]

import argparse
import asyncio
import math
import os
import sys
import time
from dataclasses import replace
from datetime import datetime

import structlog

from processor.bus.connect import ConnectOptions, connect, let_go
from processor.config.parse import parse_duration_ms
from processor.errors import ConfigError, ProcessorError
from processor.simulate.generator import Simulator
from processor.simulate.incidents import format_incident_kinds, parse_incident
from processor.simulate.publish import PublishProgress, publish, rfc3339_ms


# A processor rejects an event more than its max_future_skew (default 1 m) ahead of the JetStream
# timestamp of its message: warn of a run whose event time gets that far ahead of the wall clock.
_DEFAULT_MAX_FUTURE_SKEW_MS = 60_000


def start_for_now(now_ms: int, duration_ms: int, time_scale: float | None) -> int:
    """The first event time of ``--start now``: the run ends at the wall clock, so no event is ever
    published before its own time. Paced at K times real time, event time gains (K - 1) s on the
    wall clock every wall second, D (1 - 1/K) over the run: the run starts that much before now
    (at now for K <= 1). Flat out (``time_scale=None``), the run is a backlog of the last D."""
    if time_scale is None:
        return now_ms - duration_ms
    return now_ms - int(duration_ms * max(0.0, 1.0 - 1.0 / time_scale))


def lead_over_wall_clock_ms(start_ms: int, duration_ms: int, time_scale: float | None, now_ms: int) -> int:
    """How far the run's event time gets ahead of the wall clock at most, publishing from
    ``now_ms`` (<= 0: never). Paced, the lead is largest at the first event or at the last; flat
    out, the run goes out at once, and the last event time is the lead."""
    if time_scale is None:
        return start_ms + duration_ms - now_ms
    return max(start_ms - now_ms, start_ms + duration_ms - (now_ms + int(duration_ms / time_scale)))


def parse_start(text: str, now_ms: int) -> int:
    """An RFC 3339 time with a zone -> epoch ms (``now``: ``now_ms``; ``slo simulate`` places a run
    that starts now with :func:`start_for_now`); ValueError saying what was expected."""
    if text.strip().lower() == "now":
        return now_ms
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"expected now or an RFC 3339 time with a zone, such as 2026-01-05T14:30:00Z, got {text!r}")
    return int(moment.timestamp() * 1000)


def parse_positive_duration(text: str) -> int:
    """``--duration``: ``10m`` -> 600000; more than zero."""
    duration_ms = parse_duration_ms(text)
    if duration_ms <= 0:
        raise ValueError(f"expected a duration above 0 such as 10m, got {text!r}")
    return duration_ms


def parse_positive_number(text: str) -> float:
    """``--rate`` and ``--time-scale``: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"expected a number above 0, got {text!r}")
    return value


def check_start(text: str) -> str:
    """``--start``: checked now, resolved when the run starts (``now`` is then)."""
    parse_start(text, 0)
    return text


def run_from_args(args: argparse.Namespace) -> int:
    """``slo simulate``: returns the exit code."""
    if args.list_incidents:
        print(format_incident_kinds())
        return 0
    opts = ConnectOptions.resolve(args.nats_url, os.environ)
    if not opts.url:
        print(
            "slo simulate: needs a running processor or NATS server: give --nats-url URL or set "
            "SLO_NATS_URL / NATS_URL (`slo run` starts one and logs its URL)",
            file=sys.stderr,
        )
        return 1
    opts = replace(opts, name="slo-simulate")
    time_scale = None if args.fast else args.time_scale
    try:
        simulator, until_ms = plan_run(args, time_scale, time.time_ns() // 1_000_000)
    except ValueError as exc:
        print(f"slo simulate: {exc}", file=sys.stderr)
        return 2
    # Only problems belong on stderr next to the progress lines, not connect's info lines. The
    # previous configuration comes back after, for callers (tests) that run more than this.
    previous = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(30),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    try:
        return asyncio.run(_simulate(opts, simulator, until_ms, time_scale, args.streams_dir))
    except KeyboardInterrupt:
        print("slo simulate: interrupted", file=sys.stderr)
        return 130
    finally:
        structlog.configure(**previous)


def plan_run(args: argparse.Namespace, time_scale: float | None, now_ms: int) -> tuple[Simulator, int]:
    """The simulator of the arguments and the event time it stops at (``time_scale`` None: flat
    out); ValueError for an incident that starts after the run ends."""
    if args.start.strip().lower() == "now":
        start_ms = start_for_now(now_ms, args.duration, time_scale)
    else:
        start_ms = parse_start(args.start, now_ms)
        if time_scale is not None or not getattr(args, "out", None):
            _warn_if_ahead(lead_over_wall_clock_ms(start_ms, args.duration, time_scale, now_ms))
    incidents = []
    for request in args.incident:
        if request.offset_ms >= args.duration:
            raise ValueError(f"argument --incident: {request.kind} starts at +{request.offset_ms / 1000:g}s, "
                             f"after the run ends (--duration {args.duration / 1000:g}s)")
        incidents.append(request.at(start_ms))
    simulator = Simulator(start_ms, seed=args.seed, rate=args.rate, incidents=incidents)
    return simulator, start_ms + args.duration


def _warn_if_ahead(lead_ms: int) -> None:
    if lead_ms > _DEFAULT_MAX_FUTURE_SKEW_MS:
        print(
            f"slo simulate: warning: event time will run up to {lead_ms / 1000:,.0f}s ahead of the wall clock; a "
            "processor rejects events more than max_future_skew (default 1m) ahead of their JetStream timestamp "
            "as future (--start now never runs ahead)",
            file=sys.stderr,
        )


def _announce(opts: ConnectOptions, simulator: Simulator, until_ms: int, time_scale: float | None) -> None:
    pace = "as fast as possible" if time_scale is None else f"at {time_scale:g}x real time"
    print(
        f"slo simulate: {rfc3339_ms(simulator.start_ms)} .. {rfc3339_ms(until_ms)}, rate {simulator.rate:g}/s, "
        f"seed {simulator.seed}, {len(simulator.incidents)} incident(s), {pace}, to {opts.redacted_url()}",
        file=sys.stderr,
    )
    for inc in simulator.incidents:
        target = "" if inc.target is None else f":{inc.target}"
        magnitude = "" if inc.magnitude is None else f"={inc.magnitude:g}"
        print(f"  {inc.kind}{target}{magnitude} {rfc3339_ms(inc.start_ms)} .. {rfc3339_ms(inc.end_ms)}",
              file=sys.stderr)


async def _simulate(opts: ConnectOptions, simulator: Simulator, until_ms: int, time_scale: float | None,
                    streams_dir: str) -> int:
    total_ms = until_ms - simulator.start_ms
    _announce(opts, simulator, until_ms, time_scale)

    def report(p: PublishProgress) -> None:
        reached = "" if p.event_ts_ms is None else (
            f", event time {rfc3339_ms(p.event_ts_ms)} (+{(p.event_ts_ms - simulator.start_ms) / 1000:.0f}s "
            f"of {total_ms / 1000:.0f}s)"
        )
        word = "done" if p.final else "progress"
        print(f"slo simulate: {word}: {p.published:,} events published{reached}, {p.wall_s:.1f}s",
              file=sys.stderr)

    try:
        nc = await connect(opts)
    except ProcessorError as exc:
        print(f"slo simulate: {exc}", file=sys.stderr)
        return 1
    try:
        result = await publish(nc, simulator, until_ms, time_scale, streams_dir=streams_dir, progress=report)
    except ConfigError as exc:
        print(f"slo simulate: cannot provision the streams:\n{exc}", file=sys.stderr)
        return 1
    except ProcessorError as exc:
        print(f"slo simulate: {exc}", file=sys.stderr)
        return 1
    finally:
        await let_go(nc)
    for note in result.notes:
        print(f"slo simulate: {note}", file=sys.stderr)
    streams = ", ".join(f"{name} {count:,}" for name, count in sorted(result.per_stream.items()))
    print(f"slo simulate: stored {result.published:,} events ({streams})", file=sys.stderr)
    return 0
