"""``kind: events``: only counted (heartbeats, immediate "detected" events); each event counts as
good, so ``count`` and ``since_last`` are its stats and its SLOs count time slices."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from processor.config.model import SliConfig
from processor.kinds.base import EVERY_KIND_STATS, Kind, RecordContext
from processor.kinds.buckets import Counts
from processor.kinds.ratio import count_event, count_events

__all__ = ["EventsKind", "EventsSli", "KIND"]


class EventsSli(SliConfig):
    kind: Literal["events"] = "events"


def _observe(payload: dict) -> bool:
    return True


def _observe_many(payloads: list) -> np.ndarray:
    taken = np.empty(len(payloads), dtype=bool)
    taken.fill(True)  # (np.ones is the same, through a Python wrapper)
    return taken


class EventsKind(Kind):
    name = "events"
    stats = EVERY_KIND_STATS
    reported_stats = ("count",)
    slice_only = ("an events SLI, which only counts events", "count >= 1")
    config_model = EventsSli
    description = "an events SLI"
    noun = "events"
    stat_hint = "an events SLI only counts events: use count or since_last"
    nature = "an events SLI only counts its events (heartbeats, say)"
    reads = "nothing: the event is counted"
    example = 'heartbeats, "agent stopped unexpectedly"'

    def observer(self, sli: Any):
        return _observe

    def recorder(self, sli: Any, ctx: RecordContext, state: Any):
        return count_event

    def many_observer(self, sli: Any):
        return _observe_many

    def run_recorder(self, sli: Any, ctx: RecordContext, state: Any):
        return count_events

    def restore_bucket(self, sli: Any, data: Any) -> Counts | None:
        return Counts.restore(data)


KIND = EventsKind()
