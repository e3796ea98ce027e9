"""``kind: state``: each event sets its entity's state (``entity`` field; without one the series is
the one entity); the series is bad while any (``bad_when: any``) or all (``all``) of its known
entities are in ``bad_states``. Ratios are of time; ``bad_for`` is how long it has been bad."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from processor.config.fields import FieldPath, StateValue, duplicate_problems
from processor.config.model import SliConfig
from processor.config.problems import Issue
from processor.config.tree import Loc
from processor.kinds.base import EVERY_KIND_STATS, Kind, RecordContext, written
from processor.kinds.buckets import Counts
from processor.kinds.payload import field_path, read_text
from processor.kinds.ratio import count_event
from processor.vocabulary import OVERFLOW_LABEL

__all__ = ["KIND", "StateKind", "StateSli", "StateTrack"]


class StateSli(SliConfig):
    kind: Literal["state"] = "state"
    entity_field: str | None = None  # without one the series is the one entity
    state_field: str
    bad_states: tuple[str, ...]
    bad_when: Literal["any", "all"] = "any"
    # Entities known before any event names them, each good until an event says otherwise, so
    # that ``bad_when: all`` means all of these and not "all of those seen so far" (the first
    # ``down`` after a start would otherwise be "all providers down").
    entities: tuple[str, ...] = ()


class StateTrack:
    """The state of each entity of a state-SLI series, and when the series as a whole was bad.

    ``intervals`` are [start, end or None] of bad spells in event time, so any statistic is
    computed *as of* a boundary even when events past it have already arrived.
    """

    __slots__ = ("entities", "all_bad", "intervals", "seen_ms", "bad", "max_entities")

    def __init__(self, bad_when: str, entities: tuple[str, ...] = (), max_entities: int = 1000) -> None:
        # Entities named in the config are known, and good, before any event says otherwise: "all
        # providers down" must not fire when the only provider heard from so far is down.
        self.entities: dict[str, bool] = dict.fromkeys(entities, False)
        self.all_bad = bad_when == "all"
        self.intervals: list[list] = []
        self.seen_ms: dict[str, int] = {}  # event time of each entity's latest state
        self.bad = 0  # entities in a bad state: an update costs O(1), not a scan of every entity
        # Entities are kept for good (state is persistent), so their number is capped like a
        # series' label sets: past the cap, new entity names share one overflow entity.
        self.max_entities = max(max_entities, len(self.entities))

    def update(self, entity: str, bad: bool, ts_ms: int) -> None:
        entities = self.entities
        if entity not in entities and len(entities) >= self.max_entities:
            entity = OVERFLOW_LABEL
        if ts_ms < self.seen_ms.get(entity, -1):
            return  # an older report arriving late (within the lateness) does not undo a newer one
        self.seen_ms[entity] = ts_ms
        self.bad += bad - entities.get(entity, False)
        entities[entity] = bad
        series_bad = self.bad == len(entities) if self.all_bad else self.bad > 0
        open_spell = bool(self.intervals) and self.intervals[-1][1] is None
        if series_bad and not open_spell:
            self.intervals.append([ts_ms, None])
        elif not series_bad and open_spell:
            self.intervals[-1][1] = max(ts_ms, self.intervals[-1][0])

    def bad_for(self, t_ms: int) -> float:
        for start, end in reversed(self.intervals):
            if start < t_ms:
                return float(t_ms - start) if end is None or end > t_ms else 0.0
        return 0.0

    def bad_ms(self, lo_ms: int, hi_ms: int) -> int:
        total = 0
        for start, end in self.intervals:
            s = max(start, lo_ms)
            e = min(hi_ms if end is None else end, hi_ms)
            if e > s:
                total += e - s
        return total

    def evict(self, oldest_ms: int) -> None:
        while self.intervals and self.intervals[0][1] is not None and self.intervals[0][1] < oldest_ms:
            self.intervals.pop(0)

    def snapshot(self) -> list:
        return [sorted(self.entities.items()), [list(i) for i in self.intervals], sorted(self.seen_ms.items())]

    def restore(self, data: list) -> None:
        self.entities = dict(data[0])
        self.intervals = [list(i) for i in data[1]]
        self.seen_ms = dict(data[2])
        self.bad = sum(self.entities.values())


class StateKind(Kind):
    name = "state"
    stats = EVERY_KIND_STATS | {"good_ratio", "bad_ratio", "bad_for"}
    reported_stats = ("count", "good_ratio", "bad_for")
    slice_only = ("a state SLI, whose state changes are not good or bad events", "good_ratio >= 50%")
    config_model = StateSli
    worst_series = True
    description = "a state SLI"
    noun = "state"
    stat_hint = "use bad_for, or good_ratio and bad_ratio (shares of the window's time)"
    nature = "a state SLI tracks the state: of each entity:"
    yaml_fields = {
        "entity": (FieldPath | None, None),
        "entities": (list[StateValue] | None, None),
        "state": (FieldPath | None, None),
        "bad_states": (list[StateValue] | None, None),
        "bad_when": (Literal["any", "all"] | None, None),
    }
    required_keys = {
        "state": "a state SLI needs state: the payload field with the entity's state",
        "bad_states": "a state SLI needs bad_states: the states that count as bad, e.g. [down]",
    }
    field_keys = ("entity", "state")
    calendar_problem = "is a state SLI, whose ratios are shares of a trailing window's time: use window:"
    reads = "the state of an entity (`entity`, `state`)"
    example = "provider up/down, connection lost"

    def key_problems(self, raw: Any, given: dict[str, Any], loc: Loc) -> Iterator[Issue]:
        yield from super().key_problems(raw, given, loc)
        if raw.bad_states is not None and not raw.bad_states:
            yield loc + ("bad_states",), "a state SLI needs at least one bad state, e.g. [down]"
        yield from duplicate_problems(raw.bad_states, loc + ("bad_states",), "bad state")
        yield from duplicate_problems(raw.entities, loc + ("entities",), "entity")
        if not written(given, "entity"):
            for key in ("entities", "bad_when"):
                if key in given:
                    yield (
                        loc + (key,),
                        f"{key} needs entity: the payload field that names each entity (provider, broker, ...); "
                        "without it the SLI has one state",
                    )

    def config_fields(self, raw: Any, given: dict[str, Any], loc: Any, problems: Any) -> dict[str, Any]:
        return {
            "entity_field": raw.entity,
            "state_field": raw.state,
            "bad_states": tuple(raw.bad_states or ()),
            "bad_when": raw.bad_when or "any",
            "entities": tuple(raw.entities or ()),
        }

    def observer(self, sli: Any):
        entity_field = sli.entity_field
        entity_path = field_path(entity_field)
        state_field = sli.state_field or ""
        state_path = field_path(sli.state_field)
        bad_states = frozenset(sli.bad_states)

        def observe(payload: dict) -> tuple[str, bool]:
            entity = read_text(payload, entity_path, entity_field) if entity_path else ""
            return entity, read_text(payload, state_path, state_field) in bad_states

        return observe

    def recorder(self, sli: Any, ctx: RecordContext, state: Any):
        def record(series: Any, sub: int, t: int, observed: tuple[str, bool]) -> None:
            series.state.update(observed[0], observed[1], t)
            count_event(series, sub, t, True)

        return record

    def restore_bucket(self, sli: Any, data: Any) -> Counts | None:
        return Counts.restore(data)

    def new_entity_track(self, sli: Any) -> StateTrack:
        return StateTrack(sli.bad_when, sli.entities, sli.max_series)


KIND = StateKind()
