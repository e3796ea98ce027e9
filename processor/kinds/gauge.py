"""``kind: gauge``: a number read per event (``value`` minus ``minus``), any sign, times the unit;
stats ``last``, ``min``, ``max``, ``avg``, ``sum`` over windows. Its SLOs count time slices."""

from __future__ import annotations

from typing import Any

from processor.vocabulary import GAUGE_STATS
from processor.kinds.base import EVERY_KIND_STATS, Kind, RecordContext
from processor.kinds.buckets import Gauge
from processor.kinds.payload import field_path, read_number

__all__ = ["GaugeKind", "KIND"]


class GaugeKind(Kind):
    name = "gauge"
    stats = EVERY_KIND_STATS | set(GAUGE_STATS)
    reported_stats = ("count", *GAUGE_STATS)
    slice_only = ("a gauge SLI, a number per event rather than good or bad events", "max < 100")

    def observer(self, sli: Any):
        field = sli.value_field or ""
        path = field_path(sli.value_field)
        minus_field = sli.value_minus_field or ""
        minus_path = field_path(sli.value_minus_field)
        unit_to_ms = sli.unit_to_ms

        def observe(payload: dict) -> float:
            v = read_number(payload, path, field)
            if minus_path:
                v = v - read_number(payload, minus_path, minus_field)
            return float(v) * unit_to_ms

        return observe

    def recorder(self, sli: Any, ctx: RecordContext, state: Any):
        return _record

    def restore_bucket(self, sli: Any, data: Any) -> Gauge | None:
        return Gauge.restore(data)


def _record(series: Any, sub: int, t: int, value: float) -> None:
    gauge = series.subs.get(sub)
    if gauge is None:
        gauge = series.subs[sub] = Gauge()
    gauge.add(t, value)


KIND = GaugeKind()
