"""``kind: latency``: a duration per event (``value`` minus ``minus`` when set: ``ts - quote_ts``
is freshness), times the unit, non-negative, into DDSketch-compatible stores; judged by quantiles.

With ``minus``, both fields are times (epoch ms or RFC 3339, as an event's time) and the value is
their difference in ms; ``absolute: true`` takes its size (a cycle started 8 s early is as far off
schedule as one 8 s late)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from processor.config.fields import FieldPath
from processor.config.model import SliConfig
from processor.config.parse import LATENCY_UNITS_MS
from processor.kinds.base import EVERY_KIND_STATS, Kind, RecordContext, add_latencies, add_latency
from processor.kinds.columnar import ColumnResult, number_column, or_odd
from processor.kinds.event_time import read_time_ms
from processor.kinds.payload import Reject, field_path, read_number
from processor.kinds.sketch import MAX_TRACKABLE_MS, LatencyStore

__all__ = ["KIND", "VALUE_YAML_FIELDS", "LatencyKind", "LatencySli", "value_fields", "value_reader"]

TimeUnit = Literal["ms", "s", "us", "ns"]
# YAML keys of the kinds that read a number (latency, gauge): value minus minus, in unit.
VALUE_YAML_FIELDS: dict[str, tuple[Any, Any]] = {
    "value": (FieldPath | None, None),
    "minus": (FieldPath | None, None),
    "unit": (TimeUnit | None, None),
    "absolute": (bool, False),
}


class LatencySli(SliConfig):
    kind: Literal["latency"] = "latency"
    value_field: str
    value_minus_field: str | None = None  # ``value: ts, minus: quote_ts`` is a quote's age
    value_absolute: bool = False  # the size of value minus minus, whatever its sign
    unit_to_ms: float = 1.0  # multiply a payload value by this to get milliseconds


def value_fields(raw: Any, loc: Any, problems: Any) -> dict[str, Any]:
    """The model fields of ``value``, ``minus``, ``absolute`` and ``unit``."""
    if raw.minus is not None and raw.unit not in (None, "ms"):
        problems.add(loc + ("unit",), "with minus: both fields are times (epoch ms or RFC 3339) and their "
                     "difference is in ms; write unit: ms or leave unit out")
    if raw.absolute and raw.minus is None:
        problems.add(loc + ("absolute",), "absolute: takes the size of value minus minus; it needs minus:")
    return {
        "value_field": raw.value,
        "value_minus_field": raw.minus,
        "value_absolute": raw.absolute,
        "unit_to_ms": float(LATENCY_UNITS_MS[raw.unit or "ms"]),
    }


def value_reader(sli: Any):
    """A function of a payload: ``value``, in the payload's own unit; or, with ``minus``, the
    difference of two times in ms (its size with ``absolute``)."""
    field, minus_field = sli.value_field, sli.value_minus_field or ""
    path, minus_path = field_path(field), field_path(sli.value_minus_field)
    if not minus_path:
        return lambda payload: read_number(payload, path, field)
    absolute = sli.value_absolute

    def read(payload: dict) -> float:
        v = float(read_time_ms(payload, path, field) - read_time_ms(payload, minus_path, minus_field))
        return abs(v) if absolute else v

    return read


class LatencyKind(Kind):
    name = "latency"
    stats = EVERY_KIND_STATS | {"quantile"}
    reported_stats = ("count", "p50", "p95", "p99")
    config_model = LatencySli
    description = "a latency SLI"
    noun = "latency"
    stat_hint = "use a quantile such as p95"
    nature = "a latency SLI reads value: and is judged by quantiles"
    yaml_fields = VALUE_YAML_FIELDS
    required_keys = {"value": "a latency SLI needs value: the payload field with the latency"}
    field_keys = ("value", "minus")
    reads = "a duration (`value`, optionally `minus` another field) into a DDSketch"
    example = "request latency, quote freshness `ts - quote_ts`"

    def config_fields(self, raw: Any, given: dict[str, Any], loc: Any, problems: Any) -> dict[str, Any]:
        return value_fields(raw, loc, problems)

    def observer(self, sli: Any):
        field = sli.value_field
        unit_to_ms = sli.unit_to_ms
        if "." not in field and not sli.value_minus_field:
            return _top_level_observer(field, unit_to_ms)
        read = value_reader(sli)

        def observe(payload: dict) -> float:
            v = read(payload)
            if v < 0:
                raise Reject("negative_value", f"{field}: {v}")
            v_ms = v * unit_to_ms
            if v_ms > MAX_TRACKABLE_MS:
                raise _out_of_range(v_ms, field)
            return v_ms

        return observe

    def recorder(self, sli: Any, ctx: RecordContext, state: Any):
        def record(series: Any, sub: int, t: int, value_ms: float) -> None:
            add_latency(ctx, state, series, sub, value_ms)

        return record

    def many_observer(self, sli: Any):
        if "." in sli.value_field or sli.value_minus_field:
            return None
        return _top_level_many(sli.value_field, sli.unit_to_ms)

    def run_recorder(self, sli: Any, ctx: RecordContext, state: Any):
        def record(series: Any, sub: int, values_ms: Any) -> None:
            add_latencies(ctx, state, series, sub, values_ms)

        return record

    def restore_bucket(self, sli: Any, data: Any) -> LatencyStore | None:
        return LatencyStore.restore(data) if type(data) is dict else None


def _top_level_observer(field: str, unit_to_ms: float):
    # The hot case: one top-level numeric field, read without a path walk.
    def observe(payload: dict) -> float:
        try:
            v = payload[field]
        except KeyError:
            raise Reject("missing_field", field) from None
        t = type(v)
        if t is not float and t is not int:
            raise Reject("bad_value", f"{field}: expected a number, got {t.__name__}")
        if v < 0:
            raise Reject("negative_value", f"{field}: {v}")
        v_ms = v * unit_to_ms
        if v_ms > MAX_TRACKABLE_MS:
            raise _out_of_range(v_ms, field)
        return v_ms

    return observe


def _top_level_many(field: str, unit_to_ms: float):
    # ``_top_level_observer`` over many payloads; a value it would refuse leaves its row to it.
    def observe_many(payloads: list) -> ColumnResult:
        v, odd = number_column(payloads, field)  # odd: rows without a plain number, for the observer
        if not len(v):
            return v
        v_ms = v * unit_to_ms if unit_to_ms != 1 else v
        if np.minimum.reduce(v) < 0 or np.maximum.reduce(v_ms) > MAX_TRACKABLE_MS:  # (not .min(): no wrapper)
            refused = (v < 0) | (v_ms > MAX_TRACKABLE_MS)
            odd = refused if odd is None else odd | refused
        return v_ms if odd is None else or_odd(v_ms, odd)

    return observe_many



def _out_of_range(value_ms: float, field: str) -> Reject:
    # Clipped into the top bucket, one garbage value (1e308) could move a quantile: refused instead.
    return Reject("out_of_range", f"{field}: {value_ms:g} ms is beyond the {MAX_TRACKABLE_MS:g} ms a sketch tracks")


KIND = LatencyKind()
