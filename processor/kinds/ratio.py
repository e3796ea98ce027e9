"""``kind: ratio``: each event is good or bad by the ``good`` predicate, or reports its own
numbers of good and bad events (``good_count`` / ``bad_count`` fields); stats are ratios."""

from __future__ import annotations

from typing import Any

from processor.config.predicate import FieldTypeError, MissingField
from processor.kinds.base import EVERY_KIND_STATS, Kind, RecordContext
from processor.kinds.buckets import Counts
from processor.kinds.payload import Reject, field_path, read_number

__all__ = ["KIND", "OUTCOME_STATS", "RatioKind", "count_event", "record_counts"]

OUTCOME_STATS = EVERY_KIND_STATS | {"good_ratio", "bad_ratio", "bad_count"}


class RatioKind(Kind):
    name = "ratio"
    stats = OUTCOME_STATS
    reported_stats = ("count", "good_ratio", "bad_count")

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

    def restore_bucket(self, sli: Any, data: Any) -> Counts | None:
        return Counts.restore(data)


def _counts_observer(good_field: str, bad_field: str):
    good_path, bad_path = field_path(good_field), field_path(bad_field)

    def observe(payload: dict) -> tuple[int, int]:
        good = read_number(payload, good_path, good_field)
        bad = read_number(payload, bad_path, bad_field)
        if good < 0 or bad < 0 or good != int(good) or bad != int(bad):
            raise Reject("bad_value", f"{good_field}/{bad_field}: "
                         f"expected whole non-negative counts, got {good} and {bad}")
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


def record_counts(series: Any, sub: int, t: int, observed: tuple[int, int]) -> None:
    """Counts an event reported about itself: (good, total)."""
    counts = series.subs.get(sub)
    if counts is None:
        counts = series.subs[sub] = Counts()
    counts.good += observed[0]
    counts.total += observed[1]


KIND = RatioKind()
