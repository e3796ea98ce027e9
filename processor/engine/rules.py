"""The alert rule state machine: inactive -> pending -> firing -> resolved, in event time.

At every closed sub-window boundary ``t`` the engine hands each rule the value of its stat over the
trailing window ending at ``t`` (None when the window has no data, which never satisfies a
condition). Semantics follow Prometheus' ``for`` / ``keep_firing_for``:

- pending at the first boundary where the condition holds (``activeAt``);
- firing once it has held at every boundary for ``for`` (``startsAt``); ``for: 0`` fires at once;
- resolved at the first boundary where it no longer holds, or, with ``keep_firing_for``, at the
  first boundary where it has not held for that long (``endsAt``);
- a pending rule whose condition stops holding goes back to inactive and publishes nothing.

Rules whose condition can only become true as events arrive (``instant``: see
processor/engine/instant.py) also change state on the event that makes the condition hold; the
state then remembers the boundary whose window that event was checked against (``hold_ms``), and
boundaries before it leave the series alone, so an earlier boundary never undoes what a later
sub-window's event decided. While such a rule fires (without ``for_events``), the first event per
open window that would have fired it is kept (``refire``): if a boundary before that window
resolves the alert, it fires again at once, from that event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from processor.engine.outputs import AlertTransition
from processor.config.model import AlertConfig
from processor.config.parse import format_duration

__all__ = ["AlertRule", "RuleState"]

INACTIVE = "inactive"
PENDING = "pending"
FIRING = "firing"


@dataclass(slots=True)
class RuleState:
    state: str = INACTIVE
    active_at_ms: int = 0
    starts_at_ms: int = 0
    clear_since_ms: int | None = None
    events: int = 0  # events of the series seen while pending (for_events rules)
    # Instant rules: boundaries before this one leave the state alone (an event decided it).
    hold_ms: int | None = None
    # Instant rules while firing: [boundary, event time, value] of the first event per open window
    # whose condition held, in arrival order; what fires again if an earlier boundary resolves.
    refire: list | None = None

    def snapshot(self) -> list:
        row = [self.state, self.active_at_ms, self.starts_at_ms, self.clear_since_ms, self.events]
        if self.hold_ms is not None or self.refire:
            row += [self.hold_ms, self.refire or None]
        return row

    @classmethod
    def restore(cls, data: list) -> RuleState:
        st = cls(*data)
        if st.refire is not None:
            st.refire = [list(entry) for entry in st.refire]
        return st


class AlertRule:
    """One alert alert with the state of each series it watches (keyed by the series' labels)."""

    def __init__(self, alert: AlertConfig, sli_label_names: tuple[str, ...]):
        self.alert = alert
        # Everything the loader keeps unique, so two rules never share a snapshot entry.
        self.key = f"{alert.name}|{alert.service}|{alert.sli}|{alert.slo or ''}|{alert.severity}|" + ",".join(
            f"{k}={v}" for k, v in alert.labels
        )
        self.sli_label_names = sli_label_names
        # Set by processor/engine/instant.py for rules that also fire on the event.
        self.instant = False
        self.states: dict[tuple[str, ...], RuleState] = {}
        self._labels_cache: dict[tuple[str, ...], tuple[tuple[tuple[str, str], ...], str]] = {}
        self.refiring: tuple | None = None  # (series, refire entries) of the last resolution

    def _labels(self, series: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], str]:
        cached = self._labels_cache.get(series)
        if cached is None:
            alert = self.alert
            labels = {
                "alertname": alert.name,
                "service": alert.service,
                "severity": alert.severity,
                "sli": alert.sli,
            }
            if alert.slo:
                labels["slo"] = alert.slo
            labels.update(alert.labels)
            labels.update(zip(self.sli_label_names, series))
            items = tuple(sorted(labels.items()))
            digest = hashlib.sha256("\n".join(f"{k}={v}" for k, v in items).encode()).hexdigest()
            cached = (items, digest[:16])
            self._labels_cache[series] = cached
        return cached

    def evaluate(
        self, series: tuple[str, ...], value: float | None, t_ms: int, new_events: int = 0, holds: bool | None = None
    ) -> AlertTransition | None:
        """``new_events``: events of the series in the sub-window that closed at t (for_events).
        ``holds``: the condition decided by the caller in exact arithmetic (burn-rate tiers),
        instead of comparing the float ``value``."""
        if holds is None:
            holds = value is not None and self.alert.condition.holds(value)
        st = self.states.get(series)
        if st is None:
            if not holds:
                return None
            st = self.states[series] = RuleState()
        elif st.hold_ms is not None:
            if t_ms < st.hold_ms:
                return None  # an event of a later sub-window decided the state: not this boundary's to undo
            st.hold_ms = None
        alert = self.alert
        if st.state == INACTIVE:
            if holds:
                st.state, st.active_at_ms, st.events = PENDING, t_ms, new_events
                if self._held_long_enough(st, t_ms):
                    return self._fire(st, series, value, t_ms)
            return None
        if st.state == PENDING:
            if not holds:
                del self.states[series]
                self._labels_cache.pop(series, None)
                return None
            if not self.instant:  # an instant rule counted each event as it arrived
                st.events += new_events
            if self._held_long_enough(st, t_ms):
                return self._fire(st, series, value, t_ms)
            return None
        # FIRING
        if st.refire:
            st.refire = [entry for entry in st.refire if entry[0] > t_ms] or None
        if holds:
            st.clear_since_ms = None
            return None
        if st.clear_since_ms is None:
            st.clear_since_ms = t_ms
        if t_ms - st.clear_since_ms >= alert.keep_firing_for_ms:
            transition = self._transition("resolved", st, series, value, t_ms, ends_at_ms=t_ms)
            if st.refire:
                self.refiring = (series, st.refire)  # taken by take_refire()
            del self.states[series]
            self._labels_cache.pop(series, None)
            return transition
        return None

    def take_refire(self, t_ms: int) -> AlertTransition | None:
        """After ``evaluate`` resolved an instant rule at boundary ``t_ms``: the alert fires again
        from the first event that held in a window ending after ``t_ms`` (kept while firing)."""
        pending = self.refiring
        if pending is None:
            return None
        self.refiring = None
        series, entries = pending
        (hold_ms, event_ms, value), rest = entries[0], entries[1:]
        st = self.states[series] = RuleState(state=PENDING, active_at_ms=event_ms, hold_ms=hold_ms)
        transition = self._fire(st, series, value, event_ms)
        st.refire = rest or None
        return transition

    def fire_on_event(self, series: tuple[str, ...], st: RuleState | None, value: float, event_ms: int,
                      hold_ms: int) -> AlertTransition | None:
        """An event at ``event_ms`` made the condition hold in the window ending at ``hold_ms``
        (instant rules; ``st`` is the series' state, not firing): pending from it, counted for
        for_events, fired once held long enough."""
        if st is None:
            st = self.states[series] = RuleState()
        if st.state == INACTIVE:
            st.state, st.active_at_ms, st.events = PENDING, event_ms, 0
        st.events += 1
        if st.hold_ms is None or hold_ms > st.hold_ms:
            st.hold_ms = hold_ms
        if self.alert.for_events is None or st.events >= self.alert.for_events:
            return self._fire(st, series, value, event_ms)
        return None

    def firing(self) -> list[AlertTransition]:
        """A ``firing`` transition for every series that fires now, as it was when it fired (its
        value unknown): what a restored engine tells those who missed the transition (the SLO
        page, /metrics, the Alertmanager sender)."""
        return [self._transition("firing", st, series, None, st.starts_at_ms, ends_at_ms=None)
                for series, st in self.states.items() if st.state == FIRING]

    def _held_long_enough(self, st: RuleState, t_ms: int) -> bool:
        if self.alert.for_events is not None:
            # "for 3 cycles": three events of the series arrived while the condition held,
            # counting those of the sub-window that made it hold.
            return st.events >= self.alert.for_events
        return t_ms - st.active_at_ms >= self.alert.for_ms

    def _fire(self, st: RuleState, series, value, t_ms: int) -> AlertTransition:
        st.state, st.starts_at_ms, st.clear_since_ms = FIRING, t_ms, None
        return self._transition("firing", st, series, value, t_ms, ends_at_ms=None)

    def _transition(self, status, st, series, value, t_ms, ends_at_ms) -> AlertTransition:
        alert = self.alert
        labels, fingerprint = self._labels(series)
        return AlertTransition(
            status=status,
            labels=labels,
            templates=tuple((k, t) for k, t in (("summary", alert.summary), ("description", alert.description)) if t),
            fingerprint=fingerprint,
            active_at_ms=st.active_at_ms,
            starts_at_ms=st.starts_at_ms,
            ends_at_ms=ends_at_ms,
            value=value,
            threshold=alert.condition.threshold,
            expr=alert.condition.text,
            window_ms=alert.window_ms,
            for_ms=alert.for_ms,
            evaluated_at_ms=t_ms,
            window=alert.calendar or format_duration(alert.window_ms),
        )
