"""``kind: correlation``: pairs a start event with its end by an id field (sagas, reconnections).

``output: outcome`` counts like a ratio SLI: good when ``end`` matched within the timeout, bad when
``fail`` matched or the timeout passed (in event time, as the watermark passes start + timeout).
``output: duration`` feeds a latency series with end time - start time (ms). Open correlations are
capped at ``max_open``; past it the oldest is dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from processor.config.fields import SUBJECT_FIELD_MESSAGE, DurationMs, FieldPath, PositiveInt, PredicateText, RawModel
from processor.config.model import FrozenModel, SliConfig
from processor.config.predicate import FieldTypeError, MissingField, Predicate
from processor.config.problems import Issue, Problems
from processor.config.tree import Loc
from processor.kinds.base import Kind, RecordContext, add_latency, written
from processor.kinds.buckets import Counts
from processor.kinds.correlations import Correlations
from processor.kinds.latency import KIND as LATENCY
from processor.kinds.payload import Reject, bounded_text, field_path, lookup, read_text
from processor.kinds.ratio import KIND as RATIO
from processor.kinds.ratio import count_event
from processor.kinds.sketch import LatencyStore
from processor.vocabulary import SUBJECT_FIELD

__all__ = ["CorrelationConfig", "CorrelationKind", "CorrelationSli", "KIND"]

START, END, FAIL = 0, 1, 2  # what an event is to its correlation


class CorrelationConfig(FrozenModel):
    """Pairs a start event with its end by an id field."""

    id_field: str
    start: Predicate  # predicates may read ``_subject``, the message's subject
    end: Predicate
    fail: Predicate | None = None
    output: Literal["outcome", "duration"] = "outcome"
    timeout_ms: int | None = None  # None: no timeout (duration output)
    timeout_by_field: str | None = None  # payload field of the start event choosing a timeout...
    timeouts_ms: tuple[tuple[str, int], ...] = ()  # ...from this table (e.g. saga_type -> ms)
    max_open: int = 10_000


class CorrelationSli(SliConfig):
    kind: Literal["correlation"] = "correlation"
    correlation: CorrelationConfig

    def predicates(self) -> tuple[Predicate, ...]:
        c = self.correlation
        return super().predicates() + tuple(p for p in (c.start, c.end, c.fail) if p is not None)


class _CorrelationOutput(Kind):
    """What a correlation SLI measures, by its ``output``: the stats and reports it has."""

    def __init__(self, name: str, like: Kind, description: str, stat_hint: str) -> None:
        self.name = name  # type: ignore[misc]
        self.stats = like.stats  # type: ignore[misc]
        self.reported_stats = like.reported_stats  # type: ignore[misc]
        self.description = description  # type: ignore[misc]
        self.noun = f"{name} correlation"  # type: ignore[misc]
        self.stat_hint = stat_hint  # type: ignore[misc]


OUTCOME = _CorrelationOutput(
    "outcome", RATIO, "an outcome correlation SLI",
    "an outcome correlation counts good and bad outcomes: use good_ratio, bad_ratio or bad_count",
)
DURATION = _CorrelationOutput(
    "duration", LATENCY, "a duration correlation SLI",
    "a duration correlation is a distribution of durations: use a quantile such as p95",
)


class CorrelationKind(Kind):
    name = "correlation"
    stats = RATIO.stats | LATENCY.stats  # narrowed per SLI by behaves_as
    reported_stats = RATIO.reported_stats
    config_model = CorrelationSli
    description = "a correlation SLI"
    noun = "correlation"
    stat_hint = ""
    nature = "a correlation SLI reads what correlate: says"
    yaml_fields = {"correlate": (Any, None)}  # a RawCorrelate, validated on its own so that its problems have their lines
    required_keys = {"correlate": "a correlation SLI needs correlate: {id: ..., start: ..., end: ..., timeout: ...}"}
    reads = "a start and its end, paired by an id (`correlate`)"
    example = "saga success within a timeout, reconnection time"

    def behaves_as(self, sli: Any) -> Kind:
        return DURATION if sli.correlation.output == "duration" else OUTCOME

    def behaviours(self) -> tuple[Kind, ...]:
        return (OUTCOME, DURATION)

    def config_fields(self, raw: Any, given: dict[str, Any], loc: Loc, problems: Problems) -> dict[str, Any] | None:
        if not written(given, "correlate"):
            return None  # required_keys says so
        correlation = _read_correlation(given["correlate"], loc + ("correlate",), problems)
        return None if correlation is None else {"correlation": correlation}

    def observer(self, sli: Any):
        return _observer(sli.correlation)

    def restore_bucket(self, sli: Any, data: Any) -> Any:
        if type(data) is dict:
            return LatencyStore.restore(data)
        return Counts.restore(data)

    def new_table(self, sli: Any) -> Correlations:
        return Correlations(sli.correlation.max_open)

    def applier(self, state: Any, ctx: RecordContext):
        close = _closer(state, ctx)
        table: Correlations = state.table

        def apply(payload: dict, t: int, observed: tuple) -> None:
            role, cid, timeout_ms = observed
            if role == START:
                labels = state.labels_of(payload)
                deadline_ms = None if timeout_ms is None else t + timeout_ms
                early = table.start(cid, t, labels, deadline_ms)
                if early is not None:
                    close(t, labels, deadline_ms, early[0], early[1])
                return
            entry = table.finish(cid, t, role)
            if entry is not None:
                close(entry[0], entry[1], entry[2], t, role)

        return apply

    def close_boundary(self, state: Any, t_ms: int, ctx: RecordContext) -> None:
        """Correlations whose deadline passed before boundary t count as failed, in the
        sub-window of their deadline (the one closing now)."""
        res = ctx.resolution_ms
        table: Correlations = state.table
        table.forget_early(t_ms - res)
        if state.config.correlation.output != "outcome":
            return
        for deadline_ms, labels in table.expire(t_ms):
            count_event(state.series_for(labels), deadline_ms - deadline_ms % res, deadline_ms, False)


def _closer(state: Any, ctx: RecordContext):
    res = ctx.resolution_ms
    durations = state.config.correlation.output == "duration"

    def close(start_ms: int, labels: tuple, deadline_ms: int | None, end_ms: int, role: int) -> None:
        series = state.series_for(labels)
        sub = end_ms - end_ms % res
        if durations:
            add_latency(ctx, state, series, sub, float(max(0, end_ms - start_ms)))
        else:
            count_event(series, sub, end_ms, role == END and (deadline_ms is None or end_ms <= deadline_ms))

    return close


def _observer(c: Any):
    id_path = field_path(c.id_field)
    timeout_by_path = field_path(c.timeout_by_field)
    timeouts_ms = dict(c.timeouts_ms)
    start, end = c.start.fn, c.end.fn
    fail = c.fail.fn if c.fail is not None else None

    def role_of(payload: dict) -> int | None:
        if start(payload):
            return START
        if end(payload):
            return END
        if fail is not None and fail(payload):
            return FAIL
        return None

    def timeout_of(payload: dict) -> int | None:
        if not timeout_by_path:
            return c.timeout_ms
        try:
            key = lookup(payload, timeout_by_path)
        except KeyError:
            key = None
        return timeouts_ms.get(bounded_text(key), c.timeout_ms)

    def observe(payload: dict) -> tuple | None:
        try:
            role = role_of(payload)
        except MissingField as exc:
            raise Reject("missing_field", exc.field) from None
        except FieldTypeError as exc:
            raise Reject("bad_field_type", exc.field) from None
        if role is None:
            return None
        cid = read_text(payload, id_path, c.id_field)
        return role, cid, timeout_of(payload) if role == START else None

    return observe


KIND = CorrelationKind()


class RawCorrelate(RawModel):
    id: FieldPath
    start: PredicateText
    end: PredicateText
    fail: PredicateText | None = None
    output: Literal["outcome", "duration"] = "outcome"
    timeout: DurationMs | None = None
    timeout_by: Any = None  # a RawTimeoutBy
    max_open: PositiveInt = CorrelationConfig.model_fields["max_open"].default


class RawTimeoutBy(RawModel):
    field: FieldPath
    timeouts: dict[str, DurationMs]



def _read_correlation(data: Any, loc: Loc, problems: Problems) -> CorrelationConfig | None:
    """A correlation SLI's ``correlate:``; None if it has problems."""
    n = len(problems)
    if not isinstance(data, dict):
        problems.add(
            loc,
            f"expected a mapping such as {{id: saga_id, start: '...', end: '...', timeout: 60s}}, got {data!r}",
        )
        return None
    entry, raw = problems.validate(RawCorrelate, data, loc)
    if raw.id == SUBJECT_FIELD:
        problems.add(loc + ("id",), SUBJECT_FIELD_MESSAGE)
    if raw.timeout is not None and raw.timeout <= 0:
        problems.add(loc + ("timeout",), "must be greater than 0")
    by_field, timeouts = None, ()
    if data.get("timeout_by") is not None:
        by_field, timeouts = _read_timeout_by(data["timeout_by"], loc + ("timeout_by",), problems)
    given = {key for key, value in data.items() if value is not None}  # `timeout_by: null` undoes a merge
    problems.add_all(_output_problems(raw.output or "outcome", given, loc))
    if entry is None or len(problems) > n:
        return None
    return CorrelationConfig(
        id_field=entry.id,
        start=entry.start,
        end=entry.end,
        fail=entry.fail,
        output=entry.output,
        timeout_ms=entry.timeout,
        timeout_by_field=by_field,
        timeouts_ms=timeouts,
        max_open=entry.max_open,
    )


def _read_timeout_by(data: Any, loc: Loc, problems: Problems) -> tuple[str | None, tuple[tuple[str, int], ...]]:
    """``timeout_by: {field: ..., timeouts: {...}}`` as (field, timeouts); (None, ()) if invalid."""
    by, by_raw = problems.validate(RawTimeoutBy, data, loc)
    if by_raw.field == SUBJECT_FIELD:
        problems.add(loc + ("field",), SUBJECT_FIELD_MESSAGE)
    if by_raw.timeouts is not None and not by_raw.timeouts:
        problems.add(loc + ("timeouts",), "expected at least one value and its timeout, e.g. {order: 60s}")
    for value, timeout_ms in (by_raw.timeouts or {}).items():
        if timeout_ms <= 0:
            problems.add(loc + ("timeouts", value), "must be greater than 0")
    if by is None:
        return None, ()
    return by.field, tuple(by.timeouts.items())


def _output_problems(output: str, given: set[str], loc: Loc) -> Iterator[Issue]:
    """The keys an outcome correlation needs, and those a duration correlation cannot use."""
    if output == "outcome" and not given & {"timeout", "timeout_by"}:
        yield (
            loc + ("timeout",),
            "an outcome correlation needs timeout: (or timeout_by:): a start without an end counts as "
            "failed once its timeout has passed; without one it would never count",
        )
    if output == "duration":
        for key in ("timeout", "timeout_by", "fail"):
            if key in given:
                yield (
                    loc + (key,),
                    f"{key} applies to output: outcome; a duration correlation measures start to end, and a "
                    "start that never ends is only bounded by max_open",
                )
