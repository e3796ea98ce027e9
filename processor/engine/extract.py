"""Per-SLI extraction from decoded payloads: subject matching, value/ratio/label/timestamp reading.

Everything here runs once per event, so it is written for the hot path: compiled closures from the
spec, type checks with ``type(x) is`` rather than isinstance chains, and rejections raised as one
internal exception that the engine turns into a counted ``Rejection``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processor.config.model import SliConfig
from processor.config.parse import subject_pattern_matches as subject_matches
from processor.config.predicate import FieldTypeError, MissingField

__all__ = ["Extractor", "Reject", "parse_event_time_ms", "subject_matches"]

LATENCY = 0
RATIO = 1
EVENTS = 2  # only counted: each event is stored as good, so the ratio counters count it
GAUGE = 3
STATE = 4
CORRELATION = 5
START, END, FAIL = 0, 1, 2  # correlation roles


class Reject(Exception):
    """Internal: the event cannot be applied. Never escapes the engine."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


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
        "minus_path",
        "minus_field",
        "unit_to_ms",
        "label_paths",
        "ts_field",
        "series",
        "horizon_ms",
        "needs_subject",
        "tracks_last",
        "entity_path",
        "state_path",
        "bad_states",
        "correlation",
        "correlations",
        "overflowed",
        "timeouts_ms",
        "id_path",
        "timeout_by_path",
        "good_count_path",
        "bad_count_path",
        "simple_value",
    )

    def __init__(self, spec: SliConfig):
        self.spec = spec
        self.name = spec.name
        self.kind = {
            "latency": LATENCY,
            "ratio": RATIO,
            "events": EVENTS,
            "gauge": GAUGE,
            "state": STATE,
            "correlation": CORRELATION,
        }[spec.kind]
        self.where = spec.where.fn if spec.where is not None else None
        self.good = spec.good.fn if spec.good is not None else None
        self.value_field = spec.value_field or ""
        self.value_path = tuple(self.value_field.split(".")) if spec.value_field else ()
        self.minus_field = spec.value_minus_field or ""
        self.minus_path = tuple(self.minus_field.split(".")) if spec.value_minus_field else ()
        self.simple_value = len(self.value_path) == 1 and not self.minus_path
        self.unit_to_ms = spec.unit_to_ms
        self.label_paths = tuple(tuple(f.split(".")) for f in spec.labels)
        self.ts_field = spec.event_time_field
        self.series: dict[tuple[str, ...], Any] = {}
        self.horizon_ms = 0  # set by the engine: the longest window any consumer of this SLI reads
        self.tracks_last = False  # set by the engine when a since_last stat reads this SLI
        self.entity_path = tuple(spec.entity_field.split(".")) if spec.entity_field else ()
        self.state_path = tuple(spec.state_field.split(".")) if spec.state_field else ()
        self.bad_states = frozenset(spec.bad_states)
        self.correlation = spec.correlation
        self.correlations = None  # set by the engine for correlation SLIs
        self.timeouts_ms = dict(spec.correlation.timeouts_ms) if spec.correlation is not None else {}
        self.good_count_path = tuple(spec.good_count_field.split(".")) if spec.good_count_field else ()
        self.bad_count_path = tuple(spec.bad_count_field.split(".")) if spec.bad_count_field else ()
        c = spec.correlation
        self.id_path = tuple(c.id_field.split(".")) if c is not None else ()
        self.timeout_by_path = tuple(c.timeout_by_field.split(".")) if c is not None and c.timeout_by_field else ()
        self.overflowed = 0
        predicates = [spec.where, spec.good]
        if spec.correlation is not None:
            c = spec.correlation
            predicates += [c.start, c.end, c.fail]
        # Only SLIs whose predicates read the subject pay for putting it into the payload.
        self.needs_subject = any(p is not None and "_subject" in p.fields for p in predicates)

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

    def _number(self, payload: dict, path: tuple[str, ...], field: str) -> float:
        try:
            v = payload[path[0]] if len(path) == 1 else _lookup(payload, path)
        except KeyError:
            raise Reject("missing_field", field) from None
        t = type(v)
        if t is not float and t is not int:
            raise Reject("bad_value", f"{field}: expected a number, got {t.__name__}")
        return v

    def _text(self, payload: dict, path: tuple[str, ...], field: str) -> str:
        try:
            v = _lookup(payload, path)
        except KeyError:
            raise Reject("missing_field", field) from None
        return v if type(v) is str else str(v)

    def observe(self, payload: dict) -> Any:
        """What the event contributes (a latency in ms, good or not, a gauge value, an entity's
        state, a correlation step); raises Reject on bad data. None: not part of this SLI."""
        kind = self.kind
        if kind == LATENCY and self.simple_value:
            # The hot case, inlined: one top-level numeric field.
            try:
                v = payload[self.value_field]
            except KeyError:
                raise Reject("missing_field", self.value_field) from None
            t = type(v)
            if t is not float and t is not int:
                raise Reject("bad_value", f"{self.value_field}: expected a number, got {t.__name__}")
            if v < 0:
                raise Reject("negative_value", f"{self.value_field}: {v}")
            return v * self.unit_to_ms
        if kind == LATENCY or kind == GAUGE:
            v = self._number(payload, self.value_path, self.value_field)
            if self.minus_path:
                v = v - self._number(payload, self.minus_path, self.minus_field)
            if kind == GAUGE:
                return float(v) * self.unit_to_ms
            if v < 0:
                raise Reject("negative_value", f"{self.value_field}: {v}")
            return v * self.unit_to_ms
        if kind == EVENTS:
            return True
        if kind == RATIO and self.good is None:
            good = self._number(payload, self.good_count_path, self.spec.good_count_field)
            bad = self._number(payload, self.bad_count_path, self.spec.bad_count_field)
            if good < 0 or bad < 0 or good != int(good) or bad != int(bad):
                raise Reject("bad_value", f"{self.spec.good_count_field}/{self.spec.bad_count_field}: "
                             f"expected whole non-negative counts, got {good} and {bad}")
            return int(good), int(good) + int(bad)
        try:
            if kind == RATIO:
                return bool(self.good(payload))  # type: ignore[misc]
            if kind == STATE:
                # Without an entity field the series itself is the one entity.
                entity = self._text(payload, self.entity_path, self.spec.entity_field) if self.entity_path else ""
                state = self._text(payload, self.state_path, self.spec.state_field or "")
                return entity, state in self.bad_states
            c = self.correlation
            if c.start.fn(payload):
                role = START
            elif c.end.fn(payload):
                role = END
            elif c.fail is not None and c.fail.fn(payload):
                role = FAIL
            else:
                return None
            cid = self._text(payload, self.id_path, c.id_field)
            timeout_ms = None
            if role == START:
                timeout_ms = c.timeout_ms
                if c.timeout_by_field is not None:
                    try:
                        key = _lookup(payload, self.timeout_by_path)
                    except KeyError:
                        key = None
                    timeout_ms = self.timeouts_ms.get(key if type(key) is str else str(key), timeout_ms)
            return role, cid, timeout_ms
        except MissingField as exc:
            raise Reject("missing_field", exc.field) from None
        except FieldTypeError as exc:
            raise Reject("bad_field_type", exc.field) from None
