"""Error budgets, multi-window burn-rate alerts and the budget policy, per SLO, in event time.

What is counted: at every closed sub-window boundary ``b`` the tracker records the (good, total)
of the sub-window ``[b - r, b)`` (occurrences), or, at slice ends, one slice as (1, 1) good,
(0, 1) bad or nothing (time slices, no data ignored). Everything else is sums of those records.

Tiers, and why the error stays under one bucket of the tier that serves a window:
- tier 0 keeps one bucket per sub-window (``r``, 10 s by default) for ``TIER0_SPAN_MS`` (6 h).
  Windows up to 6 h (5m, 30m, 1h, 2h, 6h: every short window and the fast long ones) are summed
  from it exactly: their edges are sub-window boundaries, so nothing is approximated.
- tier 1 keeps one bucket per minute for the longest window above 6 h (1d, 3d, the 30 d budget).
  Such a window's oldest edge is rounded down to the minute, so it holds at most one extra minute
  of data: under one tier-1 bucket, i.e. < 0.07 % of a 1 d window and < 0.0024 % of 30 d. An exact
  30 d edge would need every 10 s bucket for 30 days (259,200 per SLO); this needs 43,200 counters
  of 16 bytes, and no sketch at all: a latency SLO counts good events (latency < threshold) as the
  values arrive, exactly, and a time slice is judged once, when it closes.
- calendar budgets (month, week, day in an IANA zone) need no window: running totals reset at the
  period's start, computed in its zone, so a month starts at local midnight on the 1st.

Window sums are kept incrementally (add the closed bucket, subtract the one that left), so a
boundary costs O(windows), not O(window length).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from processor.engine.packing import pack_ints, unpack_ints
from processor.engine.outputs import AlertTransition, BudgetReport, Outputs, PolicyAction
from processor.engine.rules import AlertRule, RuleState
from processor.config.model import AlertConfig, BurnTier, Condition, SloConfig, Stat
from processor.config.parse import format_duration

__all__ = [
    "BURN_ALERT", "BudgetTracker", "BurnRatio", "POLICY_RANK", "POLICY_TIERS", "calendar_period_ms", "exact",
    "pack_ring", "unpack_ring",
]

BURN_ALERT = "ErrorBudgetBurn"  # the name of every burn-rate tier's alert (the tier is a label)

TIER0_SPAN_MS = 6 * 3_600_000
TIER1_BUCKET_MS = 60_000

# (tier, lowest remaining fraction that still belongs to it, action) from PLATFORM-SLOS.md
# "Budget Actions": > 50 % normal, 25-50 % prioritize reliability, 10-25 % feature freeze,
# < 10 % emergency. Ordered best first.
POLICY_TIERS: tuple[tuple[str, float, str], ...] = (
    ("normal", 0.5, "normal development velocity"),
    ("prioritize_reliability", 0.25, "prioritize reliability work"),
    ("feature_freeze", 0.10, "feature freeze, focus on stability"),
    ("emergency", -math.inf, "emergency response, all hands on deck"),
)
POLICY_RANK = {name: i for i, (name, _, _) in enumerate(POLICY_TIERS)}


# The floors of the better tiers, exact: 50 % itself is already "25-50 %", 25 % still is, 10 % is
# "10-25 %": only "> 50 %" is normal. (floor, strictly above it)
_POLICY_FLOORS = ((Fraction(1, 2), True), (Fraction(1, 4), False), (Fraction(1, 10), False))
_NO_MARGIN = Fraction(0)
_INT32_MAX = 2**31 - 1


def policy_ranks(bad, allowed_num, allowed_den: int, margin: Fraction) -> np.ndarray:
    """The rank in POLICY_TIERS of ``remaining - margin`` (remaining = 1 - bad / allowed), in
    exact integer arithmetic, for arrays or scalars of bad counts and allowed = num / den:
    remaining - margin > floor is (1 - margin - floor) * allowed > bad. Nothing allowed: a budget
    with no bad event is whole, one with any is spent."""
    bad = np.asarray(bad, dtype=np.int64)
    allowed_num = np.broadcast_to(np.asarray(allowed_num, dtype=np.int64), bad.shape)
    ranks = np.full(bad.shape, len(_POLICY_FLOORS), dtype=np.int64)
    terms = _rank_terms(margin)
    if bad.size and _products_past_int64(bad, allowed_num, allowed_den, terms):
        # Window sums of reported counts (up to 10**12 an event) times the terms: int64 would
        # wrap, so the products are taken in Python integers, as ``policy_rank`` takes them.
        bad, allowed_num = bad.astype(object), allowed_num.astype(object)
    for rank in range(len(_POLICY_FLOORS) - 1, -1, -1):
        c_num, c_den, strict = terms[rank]
        lhs = c_num * allowed_num
        rhs = c_den * bad * allowed_den
        inside = (lhs > rhs) if strict else (lhs >= rhs)
        ranks = np.where(inside, rank, ranks)
    nothing_allowed = allowed_num == 0
    return np.where(nothing_allowed, np.where(bad == 0, 0, len(_POLICY_FLOORS)), ranks)


def policy_rank(bad: int, allowed_num: int, allowed_den: int, margin: Fraction) -> int:
    """``policy_ranks`` of one budget, in Python integers: what a boundary asks of each budget
    with a policy (numpy's arrays cost more than the sums for one value)."""
    if allowed_num == 0:
        return 0 if bad == 0 else len(_POLICY_FLOORS)
    for rank, (c_num, c_den, strict) in enumerate(_rank_terms(margin)):
        lhs, rhs = c_num * allowed_num, c_den * bad * allowed_den
        if (lhs > rhs) if strict else (lhs >= rhs):
            return rank
    return len(_POLICY_FLOORS)


def _products_past_int64(bad: np.ndarray, allowed_num: np.ndarray, allowed_den: int, terms) -> bool:
    """Whether a product ``policy_ranks`` takes may not fit an int64."""
    most_bad = max(abs(int(bad.max())), abs(int(bad.min())))
    most_allowed = max(abs(int(allowed_num.max())), abs(int(allowed_num.min())))
    largest = max(max(abs(c_num) * most_allowed, c_den * most_bad * abs(allowed_den)) for c_num, c_den, _ in terms)
    return largest >= 2**63


@functools.lru_cache(maxsize=64)  # the margins are 0 and each budget's hysteresis: a few
def _rank_terms(margin: Fraction) -> tuple[tuple[int, int, bool], ...]:
    """(numerator, denominator, strict) of 1 - margin - floor, for each floor of _POLICY_FLOORS."""
    terms = []
    for floor, strict in _POLICY_FLOORS:
        c = 1 - margin - floor
        terms.append((c.numerator, c.denominator, strict))
    return tuple(terms)


def calendar_period_ms(t_ms: int, calendar: str, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) of the calendar day, week (from Monday) or month containing t, in ``zone``."""
    local = datetime.fromtimestamp(t_ms / 1000, zone)
    day = local.date()
    if calendar == "day":
        first, nxt = day, day + timedelta(days=1)
    elif calendar == "week":
        first = day - timedelta(days=day.weekday())
        nxt = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
    # Local midnight, built from the date so that DST days are 23 or 25 hours long, as they are.
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


class _Ring:
    """(good, total) counters per bucket, keyed by bucket start, for a bounded span."""

    __slots__ = ("bucket_ms", "size", "good", "total", "ids")

    def __init__(self, bucket_ms: int, span_ms: int):
        self.bucket_ms = bucket_ms
        self.size = span_ms // bucket_ms + 2
        # A 30-day ring of minutes is 43,202 slots per SLO: 4-byte slots halve what a catalogue
        # of 64 such budgets holds (66 MB at 8 bytes). Minute numbers fit until the year 6053;
        # a minute past 2^31 events (reported counts) widens the counts (``_widen``); sums are
        # taken in int64 (bucket_starts, sum_between, budget_stretch). Finer rings keep 8 bytes.
        dtype = np.int32 if bucket_ms >= TIER1_BUCKET_MS else np.int64
        self.good = np.zeros(self.size, dtype=dtype)
        self.total = np.zeros(self.size, dtype=dtype)
        self.ids = np.full(self.size, -1, dtype=dtype)

    def add(self, start_ms: int, good: int, total: int) -> None:
        bucket = start_ms // self.bucket_ms
        i = bucket % self.size
        if self.ids[i] != bucket:
            self.ids[i] = bucket
            self.good[i] = 0
            self.total[i] = 0
        if self.total.dtype != np.int64 and int(self.total[i]) + total > _INT32_MAX:
            self._widen()
        self.good[i] += good
        self.total[i] += total

    def add_many(self, keys_ms: np.ndarray, good: np.ndarray, total: np.ndarray) -> None:
        """``add`` for each key of ``keys_ms`` (in increasing order), at once: a slot ends up
        holding its newest bucket."""
        if keys_ms.size == 0:
            return
        buckets, first = np.unique(keys_ms // self.bucket_ms, return_index=True)
        sums_good = np.add.reduceat(good, first)
        sums_total = np.add.reduceat(total, first)
        slots = buckets % self.size
        # The last (newest) bucket of each slot is the one that survives; it adds to what the slot
        # holds only when the slot already holds that bucket (the minute in progress).
        rev_slots, rev_index = np.unique(slots[::-1], return_index=True)
        latest = buckets.size - 1 - rev_index
        kept = self.ids[rev_slots] == buckets[latest]
        if self.total.dtype != np.int64 and int(self.total.max()) + int(sums_total.max()) > _INT32_MAX:
            self._widen()
        self.good[rev_slots] = np.where(kept, self.good[rev_slots], 0) + sums_good[latest]
        self.total[rev_slots] = np.where(kept, self.total[rev_slots], 0) + sums_total[latest]
        self.ids[rev_slots] = buckets[latest]

    def _widen(self) -> None:
        """8-byte counts from now on: a bucket past 2^31 events, which a ratio SLI's reported
        counts (up to 10**12 an event) reach in a few events. In 4 bytes it would wrap, or raise
        at a boundary, every time the processor restarts from the events that made it."""
        self.good = self.good.astype(np.int64)
        self.total = self.total.astype(np.int64)

    def get(self, start_ms: int) -> tuple[int, int]:
        bucket = start_ms // self.bucket_ms
        i = bucket % self.size
        if self.ids[i] != bucket:
            return 0, 0
        return int(self.good[i]), int(self.total[i])

    def snapshot(self) -> dict:
        live = np.flatnonzero(self.total)
        live = live[np.argsort(self.ids[live], kind="stable")]
        return pack_ring(self.ids[live], self.good[live], self.total[live])

    def sum_between(self, lo_ms: int, hi_ms: int, starts: np.ndarray | None = None) -> tuple[int, int]:
        """(good, total) of the buckets starting in [lo, hi); ``starts``: ``bucket_starts()``,
        when the caller sums several spans."""
        if starts is None:
            starts = self.bucket_starts()
        mask = (starts >= lo_ms) & (starts < hi_ms)
        return int(self.good[mask].sum()), int(self.total[mask].sum())

    def bucket_starts(self) -> np.ndarray:
        """Each slot's bucket start (empty slots far in the past, so no span holds them)."""
        return np.where(self.ids >= 0, self.ids.astype(np.int64) * self.bucket_ms, np.iinfo(np.int64).min)

    def restore(self, saved: dict | list) -> None:
        """From ``snapshot()``'s packed arrays, or a version-2 snapshot's [bucket, good, total] rows."""
        ids, good, total = unpack_ring(saved)
        order = np.argsort(ids, kind="stable")
        self.add_many(ids[order] * self.bucket_ms, good[order], total[order])


# A ring in a snapshot (version 4): its live buckets in bucket order, as runs of consecutive
# buckets [[first, count], ...] and two arrays, good and bad (total - good), each the base64 of
# little-endian integers of the narrowest width that holds them ("i2:...", engine/packing.py). A 30-day ring of one
# bucket a minute is then ~120 KB of text instead of 0.5 MB of JSON rows, and is restored with one
# numpy assignment instead of 43,200 Python lists decoded and added one by one.
def pack_ring(ids: np.ndarray, good: np.ndarray, total: np.ndarray) -> dict:
    """Buckets in increasing order and their counts as a snapshot's ring (above)."""
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    firsts = ids[np.concatenate(([0], breaks))] if ids.size else ids
    counts = np.diff(np.concatenate(([0], breaks, [ids.size])))
    return {"runs": np.stack([firsts, counts], axis=1).tolist() if ids.size else [],
            "good": pack_ints(good), "bad": pack_ints(total - good)}


def unpack_ring(saved: dict | list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bucket ids, good, total) of a snapshot's ring: packed (version 4) or rows (before)."""
    if isinstance(saved, list):
        rows = np.asarray(saved, dtype=np.int64).reshape(-1, 3)
        return rows[:, 0], rows[:, 1], rows[:, 2]
    runs = np.asarray(saved["runs"], dtype=np.int64).reshape(-1, 2)
    count = int(runs[:, 1].sum())
    # Each bucket is its run's first plus its place in the run.
    ids = np.repeat(runs[:, 0] - np.cumsum(runs[:, 1]) + runs[:, 1], runs[:, 1]) + np.arange(count, dtype=np.int64)
    good = unpack_ints(saved["good"], count, "ring good", "buckets")
    return ids, good, good + unpack_ints(saved["bad"], count, "ring bad", "buckets")


class _WindowSum:
    """Running (good, total) over the trailing ``window_ms`` (tier 1: oldest edge to the minute)."""

    __slots__ = ("window_ms", "fine", "good", "total")

    def __init__(self, window_ms: int, fine: bool):
        self.window_ms = window_ms
        self.fine = fine
        self.good = 0
        self.total = 0

    def burn(self, objective: float, min_events: int) -> float | None:
        if self.total == 0 or self.total < min_events:
            return None
        return ((self.total - self.good) / self.total) / (1.0 - objective)

    def burns_at_least(self, ratio: BurnRatio, min_events: int) -> bool:
        if self.total == 0 or self.total < min_events:
            return False
        return (self.total - self.good) * ratio.bad_factor >= self.total * ratio.total_factor


def exact(x: float) -> Fraction:
    """The shortest decimal that reads back as ``x``: the number the config wrote (0.999, 14.4)."""
    return Fraction(repr(x))


@dataclass(frozen=True, slots=True)
class BurnRatio:
    """"burn >= B" of an objective, as integers: bad / total / (1 - objective) >= B is
    bad * bad_factor >= total * total_factor. The objective and B are taken in decimal, so a burn of
    exactly 3x (216 bad of 72,000 at 99.9 %) is >= 3x, as the document's arithmetic says; in binary
    floating point 1 - 0.999 makes it 2.9999999999999973x."""

    bad_factor: int
    total_factor: int

    @classmethod
    def of(cls, objective: float, burn: float) -> BurnRatio:
        budget, rate = 1 - exact(objective), exact(burn)
        return cls(budget.denominator * rate.denominator, rate.numerator * budget.numerator)


class BudgetTracker:
    """One SLO's budget: counts, window sums, burn-rate alert rules and policy state."""

    def __init__(self, slo: SloConfig, resolution_ms: int):
        budget = slo.budget
        assert budget is not None
        self.slo = slo
        self.budget = budget
        self.resolution_ms = resolution_ms
        self.objective = slo.objective_ratio
        self.zone = ZoneInfo(budget.timezone) if budget.calendar else None
        # Latency occurrences: the good/total counts of not yet closed sub-windows, filled as
        # values are flushed (the engine calls count_latencies).
        self.pending: dict[int, list[int]] = {}
        lengths = {budget.exhaustion_window_ms}
        for tier in budget.burn_tiers:
            lengths |= {tier.long_ms, tier.short_ms}
        if budget.calendar is None:
            lengths.add(budget.window_ms)
        self.windows = {w: _WindowSum(w, fine=w <= TIER0_SPAN_MS) for w in sorted(lengths)}
        fine_spans = [w for w in lengths if w <= TIER0_SPAN_MS]
        coarse_spans = [w for w in lengths if w > TIER0_SPAN_MS]
        self.ring0 = _Ring(resolution_ms, max(fine_spans)) if fine_spans else None
        self.ring1 = _Ring(TIER1_BUCKET_MS, max(coarse_spans) + TIER1_BUCKET_MS) if coarse_spans else None
        self.period = (0, 0)
        self.period_good = 0
        self.period_total = 0
        self.policy = "normal"
        self.last_recorded: tuple[int, int, int] | None = None  # (boundary, good, total): catch-up checks it
        self.rules = [(tier, AlertRule(self._alert_config(tier), ())) for tier in budget.burn_tiers]
        self.burn_ratios = {tier.tier: BurnRatio.of(self.objective, tier.burn) for tier in budget.burn_tiers}
        self.error_budget = 1 - exact(self.objective)  # the share allowed bad, in decimal
        self.hysteresis = exact(budget.hysteresis)
        if budget.method == "occurrences" and slo.objective.stat.kind == "quantile":
            op = slo.objective.op
            self.latency_threshold_ms = slo.objective.threshold
            self.latency_inclusive = op == "<="
        else:
            self.latency_threshold_ms = None
            self.latency_inclusive = False

    def _alert_config(self, tier: BurnTier) -> AlertConfig:
        slo = self.slo
        pct = f"{(1 - slo.objective_ratio) * 100:g}%"
        return AlertConfig(
            name=BURN_ALERT,
            sli=slo.sli,
            service=slo.service,
            slo=slo.name,
            condition=Condition(
                stat=Stat(kind="burn_rate"),
                op=">=",
                threshold=tier.burn,
                text=f"burn_rate >= {tier.burn:g} over {format_duration(tier.long_ms)} and {format_duration(tier.short_ms)}",
            ),
            window_ms=tier.long_ms,
            severity=tier.severity,
            summary=f"{slo.service} {slo.name}: error budget burning at {{value:.1f}}x (tier {tier.tier})",
            description=(
                f"Burn rate is at least {tier.burn:g}x over both {format_duration(tier.long_ms)} and "
                f"{format_duration(tier.short_ms)} (budget {pct} of the {slo.name} SLO); at this rate the "
                f"budget lasts {format_duration(int(self.budget.window_ms / tier.burn))}."
            ),
            labels=(("tier", tier.tier),),
        )

    # ------------------------------------------------------------------ counting
    def count_latencies(self, sub_start_ms: int, values_ms: np.ndarray) -> None:
        threshold = self.latency_threshold_ms
        good = int((values_ms <= threshold).sum() if self.latency_inclusive else (values_ms < threshold).sum())
        counts = self.pending.get(sub_start_ms)
        if counts is None:
            self.pending[sub_start_ms] = [good, int(values_ms.size)]
        else:
            counts[0] += good
            counts[1] += int(values_ms.size)

    def take_pending(self, sub_start_ms: int) -> tuple[int, int]:
        counts = self.pending.pop(sub_start_ms, None)
        return (0, 0) if counts is None else (counts[0], counts[1])

    def record(self, boundary_ms: int, good: int, total: int) -> None:
        """Add what closed at ``boundary_ms`` (keyed by its last sub-window) and slide windows."""
        res = self.resolution_ms
        key = boundary_ms - res
        self.last_recorded = (boundary_ms, good, total)
        if total:
            if self.ring0 is not None:
                self.ring0.add(key, good, total)
            if self.ring1 is not None:
                self.ring1.add(key, good, total)
        minute_turned = boundary_ms % TIER1_BUCKET_MS == 0
        for w in self.windows.values():
            w.good += good
            w.total += total
            if w.fine:
                g, t = self.ring0.get(key - w.window_ms)  # type: ignore[union-attr]
            elif minute_turned:
                # The minute [b - W - 1m, b - W) is now wholly older than the window.
                g, t = self.ring1.get(boundary_ms - w.window_ms - TIER1_BUCKET_MS)  # type: ignore[union-attr]
            else:
                continue
            w.good -= g
            w.total -= t
        if self.budget.calendar is not None:
            if key >= self.period[1]:
                self.period = calendar_period_ms(key, self.budget.calendar, self.zone)  # type: ignore[arg-type]
                self.period_good = self.period_total = 0
            self.period_good += good
            self.period_total += total

    def rebuild_windows(self, boundary_ms: int) -> None:
        # The same spans record() maintains: a fine window holds the sub-windows starting in
        # [b - W, b), a coarse one the minutes from the one that held b - W at the last turn.
        minute_start = boundary_ms - boundary_ms % TIER1_BUCKET_MS
        starts0 = self.ring0.bucket_starts() if self.ring0 is not None else None
        starts1 = self.ring1.bucket_starts() if self.ring1 is not None else None
        for w in self.windows.values():
            if w.fine:
                w.good, w.total = self.ring0.sum_between(boundary_ms - w.window_ms, boundary_ms, starts0)  # type: ignore[union-attr]
            else:
                w.good, w.total = self.ring1.sum_between(minute_start - w.window_ms, boundary_ms, starts1)  # type: ignore[union-attr]

    def quiet(self) -> bool:
        """No window counts anything, nothing is pending, no burn-rate rule holds state, no
        calendar period: recording an empty boundary then changes only ``last_recorded`` (every
        count leaving a window is 0), and evaluating it can publish only the periodic report."""
        # (Loops, not any() over generators: every boundary asks this of every budget.)
        if self.budget.calendar is not None or self.pending:
            return False
        for w in self.windows.values():
            if w.total:
                return False
        for _, rule in self.rules:
            if rule.states:
                return False
        return True

    def has_state(self) -> bool:
        return bool(self.pending) or any(w.total for w in self.windows.values()) or any(
            rule.states for _, rule in self.rules
        )

    # ------------------------------------------------------------------ evaluation
    def budget_counts(self, boundary_ms: int) -> tuple[int, int, int, int, float]:
        """(good, total, period_start, period_end, allowed_bad) of the budget window at b; record()
        has run for b, so a calendar period is the current one."""
        budget = self.budget
        if budget.calendar is not None:
            start, end = self.period
            good, total = self.period_good, self.period_total
            span_ms = end - start
        else:
            w = self.windows[budget.window_ms]
            good, total = w.good, w.total
            start, end, span_ms = boundary_ms - budget.window_ms, boundary_ms, budget.window_ms
        if budget.method == "time_slices":
            allowed = (1.0 - self.objective) * (span_ms / budget.slice_ms)
        else:
            allowed = (1.0 - self.objective) * total
        return good, total, start, end, allowed

    def evaluate(self, boundary_ms: int, out: Outputs, reports: bool = True) -> None:
        """``reports``: publish the periodic report when one is due (engine/catchup.py turns it
        off for the long part of a watermark jump)."""
        for tier, rule in self.rules:
            long_burn = self.windows[tier.long_ms].burn(self.objective, tier.min_events_long)
            short_burn = self.windows[tier.short_ms].burn(self.objective, tier.min_events_short)
            value = None if long_burn is None or short_burn is None else min(long_burn, short_burn)
            ratio = self.burn_ratios[tier.tier]
            holds = self.windows[tier.long_ms].burns_at_least(ratio, tier.min_events_long) and self.windows[
                tier.short_ms
            ].burns_at_least(ratio, tier.min_events_short)
            transition: AlertTransition | None = rule.evaluate((), value, boundary_ms, holds=holds)
            if transition is not None:
                out.alerts.append(transition)
        budget = self.budget
        report_due = reports and boundary_ms % budget.report_every_ms == 0
        if not budget.policy and not report_due:
            return
        good, total, start, end, allowed = self.budget_counts(boundary_ms)
        bad = total - good
        consumed = bad / allowed if allowed > 0 else (0.0 if bad == 0 else math.inf)
        remaining = 1.0 - consumed
        previous = self.policy
        if budget.policy and total >= max(1, budget.policy_min_events):
            allowed_exact = self.allowed_exact(total, end - start)
            rank_now = POLICY_RANK[previous]
            target = policy_rank(bad, allowed_exact.numerator, allowed_exact.denominator, _NO_MARGIN)
            if target > rank_now:
                self.policy = POLICY_TIERS[target][0]
            elif target < rank_now:
                # Recover only once the budget clears the border by the hysteresis margin.
                recovered = policy_rank(bad, allowed_exact.numerator, allowed_exact.denominator, self.hysteresis)
                if recovered < rank_now:
                    self.policy = POLICY_TIERS[recovered][0]
        changed = self.policy != previous
        if not (changed or report_due):
            return
        report = self._report(boundary_ms, good, total, start, end, allowed, consumed, remaining)
        if report_due:
            out.budgets.append(report)
        if changed:
            out.budgets.append(replace(report, reason="policy_transition", previous_policy=previous))
            out.actions.append(
                PolicyAction(
                    slo=self.slo.name,
                    service=self.slo.service,
                    evaluated_at_ms=boundary_ms,
                    policy=self.policy,
                    previous_policy=previous,
                    action=next(a for n, _, a in POLICY_TIERS if n == self.policy),
                    remaining=remaining,
                )
            )

    def allowed_exact(self, total: int, span_ms: int) -> Fraction:
        """``budget_counts``' allowed bad, exact: of the events, or of the period's slices."""
        if self.budget.method == "time_slices":
            return self.error_budget * Fraction(span_ms, self.budget.slice_ms)
        return self.error_budget * total

    def _report(self, t_ms, good, total, start, end, allowed, consumed, remaining) -> BudgetReport:
        budget = self.budget
        burns = tuple((w, s.burn(self.objective, 0)) for w, s in self.windows.items())
        burn_now = self.windows[budget.exhaustion_window_ms].burn(self.objective, 0)
        period_ms = end - start
        if remaining <= 0:
            tte = 0
        elif not burn_now:
            tte = None
        else:
            # Burning at b consumes b / period of the budget per unit of time.
            tte = int(remaining * period_ms / burn_now)
        return BudgetReport(
            slo=self.slo.name,
            service=self.slo.service,
            sli=self.slo.sli,
            reason="periodic",
            evaluated_at_ms=t_ms,
            method=budget.method,
            objective=self.objective,
            window=budget.calendar or format_duration(budget.window_ms),
            period_start_ms=start,
            period_end_ms=end,
            good=good,
            total=total,
            allowed_bad=allowed,
            consumed=consumed,
            remaining=remaining,
            remaining_bad=allowed - (total - good),
            burn_rates=burns,
            time_to_exhaustion_ms=tte,
            policy=self.policy if budget.policy else None,
            policy_min_events=max(1, budget.policy_min_events) if budget.policy else None,
        )

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> dict:
        return {
            "pending": [[k, v[0], v[1]] for k, v in sorted(self.pending.items())],
            "ring0": self.ring0.snapshot() if self.ring0 is not None else [],
            "ring1": self.ring1.snapshot() if self.ring1 is not None else [],
            "period": [self.period[0], self.period[1], self.period_good, self.period_total],
            "policy": self.policy,
            "rules": {
                tier.tier: [[list(k), st.snapshot()] for k, st in rule.states.items()] for tier, rule in self.rules
            },
        }

    def restore(self, data: dict, closed_until_ms: int | None) -> list[str]:
        """Load a snapshot. Window sums are not in it: they follow from the rings, so a window
        that is new in the config starts right, from data already counted."""
        notes: list[str] = []
        self.pending = {k: [g, t] for k, g, t in data["pending"]}
        if self.ring0 is not None:
            self.ring0.restore(data["ring0"])
        if self.ring1 is not None:
            self.ring1.restore(data["ring1"])
        p0, p1, self.period_good, self.period_total = data["period"]
        self.period = (p0, p1)
        self.policy = data["policy"]
        if closed_until_ms is not None:
            self.rebuild_windows(closed_until_ms)
        by_tier = {tier.tier: rule for tier, rule in self.rules}
        for name, rows in data["rules"].items():
            if name in by_tier:
                by_tier[name].states = {tuple(k): RuleState.restore(st) for k, st in rows}
        return notes


