"""Properties of per-SLI acceptance and of the input ledger, for any input (hypothesis).

- Each SLI's outputs equal those of an engine that has only that SLI and is fed only the events it
  accepts (which the test decides from what it generated, not by asking the engine).
- With the input SLIs and broken events, the outputs do not depend on how the stream is cut into
  batches, and a snapshot taken anywhere restores into a run equal to an uninterrupted one.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine import Engine, run_all
from tests.enginekit import T0_MS, Msg, budget_slo, event, rule, sli, spec_of
from tests.enginekit import both_paths  # noqa: F401 - the fixture, by name

# Each test runs on the batched path and on the per-event reference.
pytestmark = pytest.mark.usefixtures("both_paths")

SUBJECT = "svc.req"
LATENCY = sli("lat", "latency", SUBJECT, value_field="latency_ms", labels=("route",))
OUTCOME = sli("ok", "ratio", SUBJECT, good="status_code < 500")
LOAD = sli("load", "gauge", SUBJECT, value_field="load")
RULES = {
    "lat": [rule("Slow", "lat", "quantile", ">", 150.0, q=0.95, window_ms=30_000, for_ms=20_000)],
    "ok": [rule("Errors", "ok", "bad_ratio", ">", 0.2, window_ms=30_000)],
    "load": [rule("Busy", "load", "max", ">", 80.0, window_ms=10_000, keep_firing_for_ms=10_000)],
}
SLOS = {"ok": [budget_slo(sli="ok", objective=0.9, report_every_ms=30_000,
                          tiers=(("fast", 2.0, 60_000, 20_000, "page"),))]}

# Each field is valid, missing, or of a type its SLI cannot use; the test knows which it drew.
latency_values = st.one_of(st.floats(0.0, 400.0, allow_nan=False), st.none(), st.just("slow"), st.just(-1.0))
status_values = st.sampled_from([200, 200, 503, None, "200"])
load_values = st.one_of(st.floats(0.0, 100.0, allow_nan=False), st.none(), st.just([1]))
events = st.lists(
    st.tuples(st.integers(0, 4_000), latency_values, status_values, load_values, st.sampled_from(["/a", "/b"])),
    min_size=1, max_size=200,
)


def accepts(name: str, fields: dict) -> bool:
    """Whether SLI ``name`` can use the event, by the rules of its kind as docs/config.md says."""
    if name == "lat":
        v = fields.get("latency_ms")
        return isinstance(v, float) and v >= 0
    if name == "ok":
        return isinstance(fields.get("status_code"), int)  # compared with a number: text cannot be
    return isinstance(fields.get("load"), float)


def messages(drawn) -> list[tuple[Msg, dict]]:
    # The first event is valid for every SLI, so that every engine starts its grid at the same time.
    t = T0_MS
    out = []
    for i, (dt, latency, status, load, route) in enumerate(drawn):
        t += dt
        fields = {"latency_ms": 50.0, "status_code": 200, "load": 10.0} if i == 0 else {
            "latency_ms": latency, "status_code": status, "load": load}
        fields = {k: v for k, v in fields.items() if v is not None}
        out.append((event(SUBJECT, t, route=route, **fields), fields))
    return out


def spec_with(slis):
    names = [s.name for s in slis]
    return spec_of(slis, [r for n in names for r in RULES[n]], slos=[s for n in names for s in SLOS.get(n, [])])


def outputs_of(out, name: str) -> tuple:
    alerts = [(a.label_map["alertname"], a.status, a.labels, a.active_at_ms, a.starts_at_ms, a.ends_at_ms, a.value)
              for a in out.alerts if a.label_map["sli"] == name]
    reports = [r for r in out.slis if r.sli == name]
    budgets = [b for b in out.budgets if b.sli == name]
    return alerts, reports, budgets


@settings(max_examples=60, deadline=None)
@given(events)
def test_each_sli_gives_what_it_gives_alone_on_the_events_it_accepts(drawn):
    msgs = messages(drawn)
    end_ms = orjson.loads(msgs[-1][0].data)["ts"] + 300_000
    together = run_all(Engine(spec_with([LATENCY, OUTCOME, LOAD])), [[m for m, _ in msgs]], end_ms)
    for alone in (LATENCY, OUTCOME, LOAD):
        mine = [m for m, fields in msgs if accepts(alone.name, fields)]
        by_itself = run_all(Engine(spec_with([alone])), [mine], end_ms)
        assert outputs_of(by_itself, alone.name) == outputs_of(together, alone.name)
    dead = sum(1 for _, fields in msgs if not all(accepts(s.name, fields) for s in (LATENCY, OUTCOME, LOAD)))
    assert dead == len(together.rejections)


INPUT = sli("input", "ratio", "slo.input.stream", good_count_field="accepted", bad_count_field="rejected",
            labels=("stream",))
INPUT_BY_SLI = sli("input_by_sli", "ratio", "slo.input.sli", good_count_field="accepted", bad_count_field="rejected",
                   labels=("stream", "sli"), label_names=("stream", "target_sli"))
INPUT_RULES = [rule("InputRejected", "input", "bad_ratio", ">", 0.05, window_ms=30_000, for_ms=10_000),
               rule("InputRejectedBySli", "input_by_sli", "bad_ratio", ">", 0.1, window_ms=20_000)]


def measured_spec():
    return spec_of([LATENCY, OUTCOME, LOAD, INPUT, INPUT_BY_SLI], [r for rs in RULES.values() for r in rs] + INPUT_RULES,
                   slos=SLOS["ok"])


def with_garbage(drawn, garbage_at: set[int]) -> list[Msg]:
    msgs = [m for m, _ in messages(drawn)]
    return [Msg(SUBJECT, b"{broken") if i in garbage_at else m for i, m in enumerate(msgs)]


def run_key(out) -> tuple:
    return ([(a.status, a.labels, a.active_at_ms, a.starts_at_ms, a.ends_at_ms, a.value) for a in out.alerts],
            out.slis, out.budgets)


@settings(max_examples=50, deadline=None)
@given(events, st.sets(st.integers(1, 199), max_size=20), st.integers(1, 40), st.data())
def test_the_input_measures_do_not_depend_on_batches_or_on_where_a_snapshot_falls(drawn, garbage_at, batch, data):
    msgs = with_garbage(drawn, garbage_at)
    end_ms = max(orjson.loads(m.data)["ts"] for m, _ in messages(drawn)) + 300_000
    cut = lambda ms: [ms[i : i + batch] for i in range(0, len(ms), batch)]  # noqa: E731

    uninterrupted = Engine(measured_spec(), stream="S")
    whole = run_all(uninterrupted, [msgs], end_ms)
    assert run_key(whole) == run_key(run_all(Engine(measured_spec(), stream="S"), cut(msgs), end_ms))

    at = data.draw(st.integers(0, len(msgs)))
    first = Engine(measured_spec(), stream="S")
    before = run_all(first, cut(msgs[:at]))
    second = Engine(measured_spec(), stream="S")
    assert [] == second.restore_bytes(first.snapshot_bytes())
    after = run_all(second, cut(msgs[at:]), end_ms)
    assert len(whole.rejections) == len(before.rejections) + len(after.rejections)
    before.extend(after)
    assert run_key(whole) == run_key(before)
    assert (uninterrupted.rejected, uninterrupted.rejected_by_sli) == (second.rejected, second.rejected_by_sli)
