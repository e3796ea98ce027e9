"""Per-SLI extraction from decoded payloads: subject matching, value/ratio/label/timestamp reading.

Everything here runs once per event, so it is written for the hot path: compiled closures from the
spec, type checks with ``type(x) is`` rather than isinstance chains, and rejections raised as one
internal exception that the engine turns into a counted ``Rejection``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processor.spec.model import SliSpec
from processor.spec.predicate import FieldTypeError, MissingField

__all__ = ["Extractor", "Reject", "parse_event_time_ms", "subject_matches"]

LATENCY = 0
RATIO = 1
EVENTS = 2  # only counted: each event is stored as good, so the ratio counters count it


class Reject(Exception):
    """Internal: the event cannot be applied. Never escapes the engine."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more tokens."""
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, p in enumerate(p_tokens):
        if p == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (p != "*" and p != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


def parse_event_time_ms(raw: Any, field: str) -> int:
    """Epoch milliseconds from an int/float ms value or an RFC 3339 string with a zone."""
    t = type(raw)
    if t is int:
        ms = raw
    elif t is float:
        ms = int(raw)
    elif t is str:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise Reject("bad_timestamp", f"{field}: {raw[:64]!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            # A zone-less time is ambiguous; guessing UTC would silently shift events by hours.
            raise Reject("bad_timestamp", f"{field}: {raw[:64]!r} has no zone (add Z or an offset)")
        ms = int(parsed.timestamp() * 1000)
    else:
        raise Reject("bad_timestamp", f"{field}: expected epoch ms or RFC 3339, got {t.__name__}")
    if ms < 0:
        raise Reject("bad_timestamp", f"{field}: negative")
    return ms


def _lookup(payload: dict, path: tuple[str, ...]) -> Any:
    value: Any = payload
    for part in path:
        if type(value) is not dict or part not in value:
            raise KeyError(part)
        value = value[part]
    return value


# NaN and Infinity need no check here: they are not JSON, so orjson rejects them as ``not_json``.


class Extractor:
    """One SLI compiled for the hot path; ``series`` maps label values to that series' state."""

    __slots__ = (
        "spec",
        "name",
        "kind",
        "where",
        "good",
        "value_path",
        "value_field",
        "unit_to_ms",
        "label_paths",
        "ts_field",
        "series",
        "horizon_ms",
    )

    def __init__(self, spec: SliSpec):
        self.spec = spec
        self.name = spec.name
        self.kind = {"latency": LATENCY, "ratio": RATIO, "events": EVENTS}[spec.kind]
        self.where = spec.where.fn if spec.where is not None else None
        self.good = spec.good.fn if spec.good is not None else None
        self.value_field = spec.value_field or ""
        self.value_path = tuple(self.value_field.split(".")) if spec.value_field else ()
        self.unit_to_ms = spec.unit_to_ms
        self.label_paths = tuple(tuple(f.split(".")) for f in spec.labels)
        self.ts_field = spec.event_time_field
        self.series: dict[tuple[str, ...], Any] = {}
        self.horizon_ms = 0  # set by the engine: the longest window any consumer of this SLI reads

    def selects(self, payload: dict) -> bool:
        if self.where is None:
            return True
        try:
            return bool(self.where(payload))
        except (MissingField, FieldTypeError):
            # A filter on a field the event lacks simply does not select it.
            return False

    def labels_of(self, payload: dict) -> tuple[str, ...]:
        if not self.label_paths:
            return ()
        out = []
        for path in self.label_paths:
            try:
                v = _lookup(payload, path)
            except KeyError:
                v = ""
            out.append(v if type(v) is str else str(v))
        return tuple(out)

    def observe(self, payload: dict) -> float | bool:
        """The latency in ms, or whether the event is good; raises Reject on bad data."""
        if self.kind == LATENCY:
            path = self.value_path
            if len(path) == 1:
                try:
                    v = payload[path[0]]
                except KeyError:
                    raise Reject("missing_field", self.value_field) from None
            else:
                try:
                    v = _lookup(payload, path)
                except KeyError:
                    raise Reject("missing_field", self.value_field) from None
            t = type(v)
            if t is not float and t is not int:
                raise Reject("bad_value", f"{self.value_field}: expected a number, got {t.__name__}")
            if v < 0:
                raise Reject("negative_value", f"{self.value_field}: {v}")
            return v * self.unit_to_ms
        if self.kind == EVENTS:
            return True
        try:
            return bool(self.good(payload))  # type: ignore[misc]
        except MissingField as exc:
            raise Reject("missing_field", exc.field) from None
        except FieldTypeError as exc:
            raise Reject("bad_field_type", exc.field) from None
