"""``kind: ratio``: each event is good or bad by the ``good`` predicate, or reports its own
numbers of good and bad events (``good_count`` / ``bad_count`` fields); stats are ratios."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from processor.config.fields import FieldPath, PredicateText
from processor.config.model import SliConfig
from processor.config.predicate import FieldTypeError, MissingField, Predicate
from processor.config.problems import Issue
from processor.config.tree import Loc
from processor.kinds.base import EVERY_KIND_STATS, Kind, RecordContext, written
from processor.kinds.buckets import Counts
from processor.kinds.columnar import column_predicate
from processor.kinds.payload import Reject, field_path, read_number

__all__ = ["KIND", "OUTCOME_STATS", "RatioKind", "RatioSli", "count_event", "count_events", "record_counts"]

OUTCOME_STATS = EVERY_KIND_STATS | {"good_ratio", "bad_ratio", "bad_count"}


class RatioSli(SliConfig):
    """Good events by a predicate, or the counts each event reports (delivered / dropped)."""

    kind: Literal["ratio"] = "ratio"
    good: Predicate | None = None
    good_count_field: str | None = None
    bad_count_field: str | None = None

    def predicates(self) -> tuple[Predicate, ...]:
        return super().predicates() + (() if self.good is None else (self.good,))


class RatioKind(Kind):
    name = "ratio"
    stats = OUTCOME_STATS
    reported_stats = ("count", "good_ratio", "bad_count")
    config_model = RatioSli
    description = "a ratio SLI"
    noun = "ratio"
    stat_hint = "use good_ratio, bad_ratio or bad_count"
    nature = "a ratio SLI counts good events"
    yaml_fields = {
        "good": (PredicateText | None, None),
        "good_count": (FieldPath | None, None),  # a ratio from counts in the payload: good events ...
        "bad_count": (FieldPath | None, None),  # ... and bad events, e.g. delivered / dropped
    }
    required_keys = {
        "good": "a ratio SLI needs good: a predicate such as status_code < 500 (or good_count: and "
        "bad_count: when each event reports counts)"
    }
    field_keys = ("good_count", "bad_count")
    reads = "good or bad (`good` predicate)"
    example = "5xx error rate, cache hit rate"

    def key_problems(self, raw: Any, given: dict[str, Any], loc: Loc) -> Iterator[Issue]:
        if not written(given, "good_count") and not written(given, "bad_count"):
            yield from super().key_problems(raw, given, loc)
            return
        # A ratio from the counts each event reports: good_count and bad_count, instead of good.
        if written(given, "good"):
            yield loc + ("good",), "give either good: or good_count: with bad_count:, not both"
        for key in ("good_count", "bad_count"):
            if not written(given, key):
                yield (
                    loc + (key,),
                    "good_count: and bad_count: go together: the payload fields with the numbers of good and of bad "
                    "events it reports",
                )

    def config_fields(self, raw: Any, given: dict[str, Any], loc: Any, problems: Any) -> dict[str, Any]:
        return {"good": raw.good, "good_count_field": raw.good_count, "bad_count_field": raw.bad_count}

    def observer(self, sli: Any):
        if sli.good is None:
            return _counts_observer(sli.good_count_field, sli.bad_count_field)
        good = sli.good.fn

        def observe(payload: dict) -> bool:
            try:
                return bool(good(payload))
            except MissingField as exc:
                raise Reject("missing_field", exc.field) from None
            except FieldTypeError as exc:
                raise Reject("bad_field_type", exc.field) from None

        return observe

    def recorder(self, sli: Any, ctx: RecordContext, state: Any):
        return count_event if sli.good is not None else record_counts

    def many_observer(self, sli: Any):
        if sli.good is None:
            return None  # reported counts: per event, with their checks
        good = sli.good.fn
        column = column_predicate(sli.good)
        if column is not None:
            return column

        def observe_many(payloads: list) -> np.ndarray | None:
            try:
                return np.fromiter((bool(good(p)) for p in payloads), dtype=bool, count=len(payloads))
            except (MissingField, FieldTypeError):
                return None

        return observe_many

    def run_recorder(self, sli: Any, ctx: RecordContext, state: Any):
        return count_events if sli.good is not None else None

    def restore_bucket(self, sli: Any, data: Any) -> Counts | None:
        return Counts.restore(data)


# What one event may report: a trillion occurrences is far past any real report, and bounds every
# sum the buckets keep well inside the 64-bit integers a snapshot (orjson) can hold.
MAX_REPORTED_COUNT = 10**12


def _counts_observer(good_field: str, bad_field: str):
    good_path, bad_path = field_path(good_field), field_path(bad_field)

    def observe(payload: dict) -> tuple[int, int]:
        good = read_number(payload, good_path, good_field)
        bad = read_number(payload, bad_path, bad_field)
        if good < 0 or bad < 0 or good != int(good) or bad != int(bad):
            raise Reject("bad_value", f"{good_field}/{bad_field}: "
                         f"expected whole non-negative counts, got {good} and {bad}")
        if good > MAX_REPORTED_COUNT or bad > MAX_REPORTED_COUNT:
            raise Reject("bad_value", f"{good_field}/{bad_field}: counts above {MAX_REPORTED_COUNT:,} in one "
                         f"report, got {good} and {bad}")
        return int(good), int(good) + int(bad)

    return observe


def count_event(series: Any, sub: int, t: int, good: bool) -> None:
    """One event, good or bad, into the sub-window's counts."""
    counts = series.subs.get(sub)
    if counts is None:
        counts = series.subs[sub] = Counts()
    if good:
        counts.good += 1
    counts.total += 1


def count_events(series: Any, sub: int, goods: Any) -> None:
    """Events of one sub-window at once: ``goods`` holds each one's good (True) or bad."""
    counts = series.subs.get(sub)
    if counts is None:
        counts = series.subs[sub] = Counts()
    counts.good += int(np.count_nonzero(goods))
    counts.total += len(goods)


def record_counts(series: Any, sub: int, t: int, observed: tuple[int, int]) -> None:
    """Counts an event reported about itself: (good, total)."""
    counts = series.subs.get(sub)
    if counts is None:
        counts = series.subs[sub] = Counts()
    counts.good += observed[0]
    counts.total += observed[1]


KIND = RatioKind()
