"""The ``bus_monitor:`` section, and the SLIs that read what the monitor publishes on ``bus.`` subjects."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from typing import Any

from processor.config.fields import (
    DurationMs,
    PublishSubject,
    RawModel,
    StreamName,
    check_stream_name,
    duplicate_problems,
)
from processor.config.model import BusMonitorConfig, SliConfig
from processor.vocabulary import BUS_MONITOR_SUBJECTS
from processor.config.parse import subject_pattern_matches
from processor.config.problems import Issue, Problems, choices_hint
from processor.config.tree import Loc

__all__ = [
    "RawBusMonitor",
    "RawConsumer",
    "bus_subject_problem",
    "probe_subject_problems",
    "read_bus_monitor",
]

_SECTION_SHAPE = "expected a mapping such as {interval: 5s, consumers: [{stream: MARKET, durable: slo_market}]}"
_BUS_DEFAULTS = BusMonitorConfig()


class RawConsumer(RawModel):
    stream: StreamName
    durable: StreamName


class RawBusMonitor(RawModel):
    interval: DurationMs = _BUS_DEFAULTS.interval_ms
    probe_subject: PublishSubject = _BUS_DEFAULTS.probe_subject
    delivery_timeout: DurationMs = _BUS_DEFAULTS.delivery_timeout_ms
    streams: list[Any] = []  # stream names, checked one by one (see consumers)
    consumers: list[Any] = []  # RawConsumer each, validated one by one so that one broken entry hides no other
    discover_consumers: list[Any] = []  # stream names, as streams
    max_consumers: int = _BUS_DEFAULTS.max_consumers
    count_messages: list[Any] = []  # stream names, as streams


def read_bus_monitor(value: Any, problems: Problems) -> BusMonitorConfig | None:
    """The section (``value``, not None); None if it has problems."""
    loc: Loc = ("bus_monitor",)
    if not isinstance(value, dict):
        problems.add(loc, _SECTION_SHAPE)
        return None
    n = len(problems)
    entry, raw = problems.validate(RawBusMonitor, value, loc)
    for key in ("interval", "delivery_timeout", "max_consumers"):
        if getattr(raw, key) is not None and getattr(raw, key) <= 0:
            problems.add(loc + (key,), "must be greater than 0")
    streams = problems.collect(_streams(raw.streams or [], loc + ("streams",)))
    consumers = _consumers(raw.consumers or [], streams, loc, problems)
    discover = _monitored_streams(raw.discover_consumers, streams, loc + ("discover_consumers",), problems)
    counted = _monitored_streams(raw.count_messages, streams, loc + ("count_messages",), problems)
    if entry is None or len(problems) > n:
        return None
    return BusMonitorConfig(
        interval_ms=entry.interval,
        probe_subject=entry.probe_subject,
        delivery_timeout_ms=entry.delivery_timeout,
        streams=tuple(streams),
        consumers=tuple(consumers),
        discover_consumers=tuple(discover),
        max_consumers=entry.max_consumers,
        count_messages=tuple(counted),
    )


def _monitored_streams(names: Any, streams: list[str], loc: Loc, problems: Problems) -> list[str]:
    """A list of stream names of the section (``discover_consumers``, ``count_messages``): each a
    valid name, none twice, and one of ``streams`` when the section lists them."""
    if names is None:
        return []
    valid = problems.collect(_streams(names, loc))
    for i, name in enumerate(names):
        if isinstance(name, str) and name in valid and (why := _not_monitored(name, streams)):
            problems.add(loc + (i,), why)
    return valid


def _not_monitored(stream: str, streams: list[str]) -> str | None:
    """Why ``stream`` may not be named, when the section lists its ``streams`` without it."""
    if not streams or stream in streams:
        return None
    hint = choices_hint(stream, streams, "the monitored streams are")
    return f"stream {stream!r} is not in bus_monitor.streams: {hint}"


def _streams(names: list[Any], loc: Loc) -> Generator[Issue, None, list[str]]:
    """The valid stream names; a name is checked here, one by one, so that each has its line."""
    as_written: list[str | None] = []  # per entry: its valid name, or None; so duplicates keep their index
    for i, name in enumerate(names):
        valid = None
        if not isinstance(name, str):
            yield loc + (i,), f"expected a stream name such as MARKET, got {name!r}"
        else:
            try:
                valid = check_stream_name(name)
            except ValueError as exc:
                yield loc + (i,), str(exc)
        as_written.append(valid)
    yield from duplicate_problems(as_written, loc, "stream")
    return [name for name in as_written if name is not None]


def _consumers(items: list[Any], streams: list[str], loc: Loc, problems: Problems) -> list[tuple[str, str]]:
    """The valid (stream, durable) pairs; each of the listed streams, none twice."""
    seen: set[tuple[str, str]] = set()
    consumers: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        consumer_loc = loc + ("consumers", i)
        consumer, c = problems.validate(RawConsumer, item, consumer_loc)
        if c.stream is not None and (why := _not_monitored(c.stream, streams)):
            problems.add(consumer_loc + ("stream",), why)
        if consumer is None:
            continue
        pair = (consumer.stream, consumer.durable)
        if pair in seen:
            problems.add(consumer_loc, f"duplicate consumer {consumer.durable!r} of stream {consumer.stream!r}")
        seen.add(pair)
        consumers.append(pair)
    return consumers


def probe_subject_problems(slis: Iterable[SliConfig], probe_subject: str) -> Iterator[Issue]:
    """An SLI whose subject matches the probe's would count every probe as one of its events."""
    for sli in slis:
        if subject_pattern_matches(sli.subject, probe_subject):
            yield (
                ("bus_monitor", "probe_subject"),
                f"SLI {sli.name!r} (subject {sli.subject}) would count the probes published to {probe_subject}: "
                "choose a probe subject no SLI reads",
            )


def bus_subject_problem(subject: str, has_bus_monitor: bool) -> str | None:
    """``bus.`` subjects carry the bus monitor's measurements: only those it publishes, and only
    when it runs (``has_bus_monitor``: the file has the section, even a broken one)."""
    if subject.split(".")[0] != "bus":
        return None
    if not any(subject_pattern_matches(subject, s) for s in BUS_MONITOR_SUBJECTS):
        return f"no bus monitor measurement has subject {subject!r}: the bus monitor publishes " + ", ".join(
            BUS_MONITOR_SUBJECTS
        )
    if not has_bus_monitor:
        return (
            f"{subject} carries the bus monitor's measurements, and this file has no bus_monitor: section "
            "to enable it"
        )
    return None
