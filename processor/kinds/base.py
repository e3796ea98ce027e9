"""What every SLI kind declares, in one place per kind (one module each in this package).

For the config language: its config model (a ``SliConfig`` subclass with ``kind:
Literal["<kind>"]``), its YAML keys and which are required, how they become the model's fields,
and the words its messages use. For the engine: which stats a condition may read from it, which it
reports on ``slo.sli.*``, whether its SLOs must count time slices, how it observes a payload (a
function built once per SLI, so the hot path never dispatches on the kind), how it records what it
observed into a series' bucket of a sub-window, and how that bucket comes back from a snapshot.
Neither the loader nor the engine branches on a kind's name: see docs/architecture.md, "How to add
an SLI kind".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from processor.config.model import Condition, SliConfig
from processor.config.problems import Issue, Problems
from processor.config.tree import Loc

__all__ = ["EVERY_KIND_STATS", "Kind", "PendingLatencies", "RecordContext", "add_latencies", "add_latency", "written"]

# Stats every kind offers: events in the window, and time since the series' last event.
EVERY_KIND_STATS = frozenset({"count", "since_last"})

Observer = Callable[[dict], Any]
Recorder = Callable[[Any, int, int, Any], None]  # (series, sub-window start ms, event ms, observed)
Apply = Callable[[dict, int, Any], None]  # (payload, event ms, observed)
# The batched engine's (engine/batch.py): observed values of many payloads at once (an array;
# (values, odd) when the rows of ``odd`` need the per-event observer's checks; None when all
# may), and a run of them into one
# sub-window's bucket of a series (series, sub-window start ms, observed values in event order).
ManyObserver = Callable[[list], Any]
RunRecorder = Callable[[Any, int, Any], None]


class RecordContext:
    """What recording needs from the engine: the sub-window width, and the set of (SLI state,
    series) pairs holding latency values that wait for one vectorised insert at the next boundary."""

    __slots__ = ("resolution_ms", "pending")

    def __init__(self, resolution_ms: int) -> None:
        self.resolution_ms = resolution_ms
        self.pending: set = set()


class Kind:
    """Base of the kinds. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    stats: ClassVar[frozenset[str]]  # what a condition may read (Stat kinds)
    reported_stats: ClassVar[tuple[str, ...]]  # what slo.sli.<service>.<sli> carries, in order
    # When the kind's events are neither good nor bad, its SLOs count time slices instead:
    # (what the SLI is, an example slice condition), for the config's message.
    slice_only: ClassVar[tuple[str, str] | None] = None
    # The SLI as a whole (a budget's slice) is as good as its worst series, not the merge of all:
    # a state SLI's series are separate things (providers), each up or down.
    worst_series: ClassVar[bool] = False

    # ---- the config language (processor/config/ reads these through the registry)
    config_model: ClassVar[type[SliConfig]]
    description: ClassVar[str]  # what an SLI of this kind is, in messages: "a latency SLI"
    noun: ClassVar[str]  # in "p95 needs a latency or duration correlation SLI"
    stat_hint: ClassVar[str]  # what to write instead of a stat it does not offer
    nature: ClassVar[str]  # what it reads, said when an SLI of this kind has another kind's key
    yaml_fields: ClassVar[dict[str, tuple[Any, Any]]] = {}  # its own YAML keys: (type, default)
    required_keys: ClassVar[dict[str, str]] = {}  # YAML key -> the message when it is missing
    field_keys: ClassVar[tuple[str, ...]] = ()  # YAML keys naming payload fields
    calendar_problem: ClassVar[str | None] = None  # why a calendar rule cannot sum its stats
    # Docs: the kind table of docs/config.md (a test keeps the two equal).
    reads: ClassVar[str]
    example: ClassVar[str]

    def behaviours(self) -> tuple[Kind, ...]:
        """The kinds whose stats an SLI of this kind can have (a correlation: outcome or duration)."""
        return (self,)

    def key_problems(self, raw: Any, given: dict[str, Any], loc: Loc) -> Iterator[Issue]:
        """The keys an SLI of this kind needs (``given``: the keys as written)."""
        for key, message in self.required_keys.items():
            if not written(given, key):
                yield loc + (key,), message

    def config_fields(self, raw: Any, given: dict[str, Any], loc: Loc, problems: Problems) -> dict[str, Any] | None:
        """The model's own fields from the YAML entry (``raw``: its valid part); None if they have
        problems, which are added to ``problems``."""
        return {}

    def threshold_problem(self, condition: Condition, sli: Any) -> str | None:
        """Whether a condition's threshold is written in the unit of this SLI's values."""
        return None

    def behaves_as(self, sli: Any) -> Kind:
        """The kind whose stats and buckets this SLI has (a correlation feeds another kind)."""
        return self

    def observer(self, sli: Any) -> Observer:
        """A function of a payload: what the event contributes, None when it is not part of this
        SLI; raises ``Reject`` on data it cannot use."""
        raise NotImplementedError

    def recorder(self, sli: Any, ctx: RecordContext, state: Any) -> Recorder:
        """A function that adds one observation to a series' bucket of a sub-window."""
        raise NotImplementedError

    def many_observer(self, sli: Any) -> ManyObserver | None:
        """``observer`` for a list of payloads, vectorised; None: the engine calls ``observer``
        per payload. For payloads the per-event observer would reject or skip it gives no answer
        of its own, so that rejections have one home: it returns None (every payload to the
        observer), or ``(values, odd)``, the rows of ``odd`` to the observer (kinds/columnar.py)."""
        return None

    def run_recorder(self, sli: Any, ctx: RecordContext, state: Any) -> RunRecorder | None:
        """``recorder`` for the events of one series in one sub-window at once, in event order;
        None: the engine records event by event (kinds whose buckets depend on the order of
        floating-point adds, or on state across events)."""
        return None

    def restore_bucket(self, sli: Any, data: Any) -> Any:
        """The bucket a snapshot holds, or None when it is not this kind's (the SLI changed kind)."""
        raise NotImplementedError

    def new_entity_track(self, sli: Any) -> Any:
        """Per-series state beyond buckets (state SLIs' entities); None for most kinds."""
        return None

    def new_table(self, sli: Any) -> Any:
        """Per-SLI state across series (correlation SLIs' open correlations); None for most kinds."""
        return None

    def applier(self, state: Any, ctx: RecordContext) -> Apply | None:
        """For a kind that does not record each event into a series of its own labels (a
        correlation records when the end arrives): the whole per-event step. None: the engine finds
        the series and the sub-window and calls the recorder."""
        return None

    def close_boundary(self, state: Any, t_ms: int, ctx: RecordContext) -> None:
        """What changes at a boundary without events (correlation timeouts); most kinds: nothing."""


def written(given: dict[str, Any], key: str) -> bool:
    """Whether the YAML gives ``key`` a value (``key: ~`` gives none)."""
    return given.get(key) is not None


class PendingLatencies(list):
    """One series' latency values of one sub-window waiting for the boundary's vectorised insert:
    single values (the list itself, as the per-event path appends them) and the arrays of the
    batched path's runs, kept as they are rather than turned into Python floats and back. Its
    length counts both (instant rules count queued latencies); the insert is order-free."""

    __slots__ = ("runs", "run_count")

    def __init__(self) -> None:
        super().__init__()
        self.runs: list = []
        self.run_count = 0

    def __len__(self) -> int:
        return list.__len__(self) + self.run_count

    def add_run(self, values_ms: Any) -> None:
        self.runs.append(values_ms)
        self.run_count += len(values_ms)

    def as_array(self) -> np.ndarray:
        """Every value, as float64 (single values first, then the runs in order)."""
        if not self.runs:
            return np.asarray(self, dtype=np.float64)
        parts = [np.asarray(run, dtype=np.float64) for run in self.runs]
        if list.__len__(self):
            parts.insert(0, np.asarray(list(self), dtype=np.float64))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def add_latency(ctx: RecordContext, state: Any, series: Any, sub: int, value_ms: float) -> None:
    """Queue a latency for the vectorised insert at the next boundary (``Engine`` flushes)."""
    buf = series.pending.get(sub)
    if buf is None:
        buf = series.pending[sub] = PendingLatencies()
        ctx.pending.add((state, series))
    buf.append(value_ms)


def add_latencies(ctx: RecordContext, state: Any, series: Any, sub: int, values_ms: Any) -> None:
    """``add_latency`` for many values (an array, in event order) at once."""
    buf = series.pending.get(sub)
    if buf is None:
        buf = series.pending[sub] = PendingLatencies()
        ctx.pending.add((state, series))
    buf.add_run(values_ms)
