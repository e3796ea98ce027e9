"""What the lanes counted: the stop report's counters, and the cardinality overflow as it grows."""

from __future__ import annotations

__all__ = ["OverflowReport", "counters"]

from collections.abc import Mapping
from typing import Any

from processor.bus.publisher import Publisher
from processor.runtime.lane import Lane


def counters(lanes: Mapping[str, Lane], publisher: Publisher) -> dict[str, dict[str, Any]]:
    """Per stream: the lane's counts (this process's, since it started), the engine's
    rejections by reason (dead-lettered messages) and by SLI and reason (what each SLI could not
    use; in the checkpoint, so since the state began), its health; and the publisher's
    deduplicated publishes."""
    out = {}
    for name, lane in lanes.items():
        engine = lane.engine
        out[name] = {**lane.stats.__dict__, "rejected_by_reason": dict(engine.rejected),
                     "rejected_by_sli": {sli: dict(reasons) for sli, reasons in engine.rejected_by_sli.items()},
                     **engine.health()}
        if lane.puller is not None:
            out[name]["redeliveries_dropped"] = lane.puller.redeliveries_dropped
    out["publisher"] = {"duplicates": publisher.duplicates}
    return out


class OverflowReport:
    """Logs once each time an SLI sends more label sets to its overflow series."""

    def __init__(self, lanes: Mapping[str, Lane], log: Any) -> None:
        self._lanes = lanes
        self._log = log
        self._seen: dict[str, int] = {}

    def __call__(self) -> None:
        for name, lane in self._lanes.items():
            for sli, n in lane.engine.overflow_counts().items():
                if n > self._seen.get(sli, 0):
                    self._seen[sli] = n
                    self._log.warning("sli.cardinality_overflow", stream=name, sli=sli, events=n,
                                      hint="label sets past max_series share the __overflow__ series")
