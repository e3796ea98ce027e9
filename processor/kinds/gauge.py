"""``kind: gauge``: a number read per event (``value`` minus ``minus``), any sign, times the unit;
stats ``last``, ``min``, ``max``, ``avg``, ``sum`` over windows. Its SLOs count time slices."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from processor.config.model import Condition, SliConfig
from processor.config.parse import threshold_unit
from processor.kinds.base import EVERY_KIND_STATS, Kind, RecordContext
from processor.kinds.latency import VALUE_YAML_FIELDS, value_fields, value_reader
from processor.vocabulary import GAUGE_STATS
from processor.kinds.buckets import Gauge
from processor.kinds.columnar import ColumnResult, number_column, or_odd
from processor.kinds.payload import Reject

__all__ = ["GaugeKind", "GaugeSli", "KIND"]


class GaugeSli(SliConfig):
    kind: Literal["gauge"] = "gauge"
    value_field: str
    value_minus_field: str | None = None
    value_absolute: bool = False
    unit_to_ms: float = 1.0
    # The unit written in the config: a gauge of durations (thresholds with units, ``max > 10s``);
    # None: plain numbers in the payload's own unit.
    unit: str | None = None


class GaugeKind(Kind):
    name = "gauge"
    stats = EVERY_KIND_STATS | set(GAUGE_STATS)
    reported_stats = ("count", *GAUGE_STATS)
    slice_only = ("a gauge SLI, a number per event rather than good or bad events", "max < 100")
    config_model = GaugeSli
    description = "a gauge SLI"
    noun = "gauge"
    stat_hint = "use last, min, max, avg or sum"
    nature = "a gauge SLI reads a number from value:"
    yaml_fields = VALUE_YAML_FIELDS
    required_keys = {"value": "a gauge SLI needs value: the payload field with the number"}
    field_keys = ("value", "minus")
    reads = "a number (`value`, optionally `minus`), any sign"
    example = "consumer lag, CPU %, cost in dollars, schedule drift"

    def config_fields(self, raw: Any, given: dict[str, Any], loc: Any, problems: Any) -> dict[str, Any]:
        return {**value_fields(raw, loc, problems), "unit": raw.unit}

    def threshold_problem(self, condition: Condition, sli: Any) -> str | None:
        if condition.stat.kind not in GAUGE_STATS:
            return None
        written = threshold_unit(condition)
        if sli.unit is not None and not written:
            return (
                f"{sli.name!r} is a gauge of durations (unit: {sli.unit}): write the threshold with a unit, "
                f"such as {condition.stat} {condition.op} 10s"
            )
        if sli.unit is None and written:
            return (
                f"{sli.name!r} is a gauge of plain numbers: write the threshold without a unit, or give the SLI "
                "unit: ms (or s, us, ns) if its value is a duration"
            )
        return None

    def observer(self, sli: Any):
        field = sli.value_field
        unit_to_ms = sli.unit_to_ms
        read = value_reader(sli)

        def observe(payload: dict) -> float:
            v = read(payload)
            value = float(v) * unit_to_ms
            if not math.isfinite(value):  # 1e308 s in ms, or an int past what a float holds
                raise Reject("out_of_range", f"{field}: {v!r} is beyond what a number can hold here")
            return value

        return observe

    def many_observer(self, sli: Any):
        if "." in sli.value_field or sli.value_minus_field:
            return None
        return _top_level_many(sli.value_field, sli.unit_to_ms)

    def recorder(self, sli: Any, ctx: RecordContext, state: Any):
        return _record

    def restore_bucket(self, sli: Any, data: Any) -> Gauge | None:
        return Gauge.restore(data)


def _top_level_many(field: str, unit_to_ms: float):
    # ``observer`` over many payloads (a top-level field, no ``minus``): values only, still
    # recorded event by event (a gauge's float sums depend on their order); a value it would
    # refuse leaves its row to it.
    def observe_many(payloads: list) -> ColumnResult:
        v, odd = number_column(payloads, field)  # odd: rows without a plain number, for ``observer``
        with np.errstate(over="ignore"):  # past a float after the unit: left to ``observer``
            value = v * unit_to_ms
        if len(value) and not np.isfinite(value).all():
            infinite = ~np.isfinite(value)
            odd = infinite if odd is None else odd | infinite
        return value if odd is None else or_odd(value, odd)

    return observe_many



def _record(series: Any, sub: int, t: int, value: float) -> None:
    gauge = series.subs.get(sub)
    if gauge is None:
        gauge = series.subs[sub] = Gauge()
    gauge.add(t, value)


KIND = GaugeKind()
