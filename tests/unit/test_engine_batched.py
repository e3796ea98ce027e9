"""The batched path (engine/batch.py) against the per-event reference (``Engine.ingest_per_event``).

For any stream (late, ahead of its stream timestamp, malformed, out of order within the lateness,
several SLIs of every kind on one subject with filters, label series past their cap, two time
fields, correlations, the input SLIs), cut into batches at random for each path independently, and
with SLIs picked at random to go per event: the same alerts, reports, budgets, rejections (by
message, with their reasons and details), counts and snapshots; and a snapshot of one path restores
into the other.
"""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.bus.leanread import Deliveries
from processor.engine import Engine
from tests.enginekit import T0_MS, Msg, budget_slo, feed, rule, sli, spec_of, state_of

SUBJECT = "svc.req"
SLIS = [
    sli("lat", "latency", SUBJECT, value_field="latency_ms", labels=("route",), max_series=2),
    sli("req", "ratio", SUBJECT, good="status < 500"),
    sli("okay", "ratio", SUBJECT, good="ok", where="status exists"),
    sli("errors", "events", SUBJECT, where="status >= 500"),
    sli("load", "gauge", SUBJECT, value_field="load", where="load exists"),
    sli("prov", "state", SUBJECT, entity_field="route", state_field="state", bad_states=("down",),
        where="state exists"),
    sli("late_lat", "latency", SUBJECT, value_field="latency_ms", where="ts2 exists").model_copy(
        update={"event_time_field": "ts2"}),
    sli("fresh", "latency", "svc.quote", value_field="ts", value_minus_field="quote_ts", labels=("route",)),
    sli("sagas", "correlation", "c.>", correlation=dict(
        id_field="id", start='_subject == "c.start"', end='_subject == "c.end"', timeout_ms=30_000)),
    sli("input", "ratio", "slo.input.stream", good_count_field="accepted", bad_count_field="rejected",
        labels=("stream",)),
]
RULES = [
    rule("Slow", "lat", "quantile", ">", 150.0, q=0.95, window_ms=30_000, for_ms=20_000),
    rule("Errors", "req", "bad_ratio", ">", 0.2, window_ms=30_000),
    rule("Many", "errors", "count", ">=", 3, window_ms=20_000),
    rule("Quiet", "req", "since_last", ">", 20_000),
    rule("Busy", "load", "max", ">", 80.0, keep_firing_for_ms=10_000),
    rule("Down", "prov", "bad_for", ">", 5_000),
    rule("Sagas", "sagas", "bad_count", ">", 0),
    rule("Stale", "fresh", "quantile", ">", 100.0, q=0.5),
    rule("InputRejected", "input", "bad_ratio", ">", 0.05, window_ms=30_000),
]
SPEC = spec_of(SLIS, RULES, lateness_ms=3_000, slos=[budget_slo(
    sli="req", objective=0.9, report_every_ms=30_000, tiers=(("fast", 2.0, 60_000, 20_000, "page"),))])
SKEW_MS = SPEC.defaults.max_future_skew_ms


def stamp_of(msg: Msg) -> int | None:
    """The message's stream timestamp: kept in ``reply`` here."""
    return int(msg.reply) if msg.reply else None


values = st.one_of(st.floats(0.0, 400.0, allow_nan=False), st.integers(0, 300), st.none(), st.just("slow"),
                   st.just(-1.0), st.just(True), st.just(2**64 - 1))
statuses = st.sampled_from([200, 200, 200, 503, 404, None, "200", 2**60, 1.5])
times = st.sampled_from(["same", "same", "same", "same", "missing", "text", "rfc3339", "negative", "huge", "float",
                         "ahead"])
step = st.tuples(
    st.integers(-6_000, 12_000),  # event time moves, backwards too: out of order, late
    st.sampled_from(["req", "req", "req", "req", "quote", "start", "end", "other", "not_json", "list"]),
    times, values, statuses,
    st.sampled_from([None, True, False, 1]),  # ok
    st.sampled_from([None, None, 50.0, 95, "x"]),  # load
    st.sampled_from([None, None, "up", "down"]),  # state
    st.sampled_from(["/a", "/b", "/c", "/d"]),  # route
    st.sampled_from([None, None, None, 0, -4_000, 9_000, "x"]),  # ts2 offset
    st.sampled_from([True, True, False]),  # the stream timestamp follows (else it stays: events run ahead)
    st.sampled_from([True, True, True, False]),  # valid for every SLI (most are: the batched path's runs)
)


def ts_of(how: str, t: int):
    return {"same": t, "missing": None, "text": "soon", "rfc3339": "2026-01-01T00:00:10Z", "negative": -5,
            "huge": 2**63 + 5, "float": t + 0.5, "ahead": t + SKEW_MS + 5_000}[how]


def to_messages(steps, lag_ms: int | None = 0) -> list[Msg]:
    """``lag_ms``: how far stream timestamps trail event times; None: they stay at the start, and
    events a minute later are ahead of their stream."""
    t = T0_MS
    stream_ms = T0_MS  # stream timestamps never decrease
    out = []
    for dt, what, how, value, status, ok, load, state, route, ts2, follows, valid in steps:
        t = max(T0_MS, t + dt)
        if valid:
            how, value, status, ok, ts2 = "same", float(dt % 300), 503 if dt % 7 == 0 else 200, dt % 2 == 0, None
            load = load if type(load) is float else None
        if follows and lag_ms is not None:
            stream_ms = max(stream_ms, t - lag_ms)
        body = {"ts": ts_of(how, t), "latency_ms": value, "status": status, "ok": ok, "load": load, "state": state,
                "route": route, "ts2": ts2 if not isinstance(ts2, int) else t + ts2}
        body = {k: v for k, v in body.items() if v is not None}
        subject = SUBJECT
        if what == "quote":
            subject, body = "svc.quote", {"ts": body.get("ts"), "quote_ts": t - (value if type(value) is int and value < 1_000 else 30),
                                          "route": route}
        elif what in ("start", "end"):
            subject, body = f"c.{what}", {"ts": body.get("ts"), "id": f"i{route}"}
        elif what == "other":
            subject = "nobody.reads.this"
        data = {"not_json": b"{broken", "list": b"[1, 2]"}.get(what) or orjson.dumps(body)
        out.append(Msg(subject, data, reply=str(stream_ms) if how != "missing" or dt % 2 else ""))
    return out


def cut(msgs: list, cuts: set[int]) -> list[list]:
    edges = [0, *sorted(c for c in cuts if 0 < c < len(msgs)), len(msgs)]
    return [msgs[a:b] for a, b in zip(edges, edges[1:])]


def engine(batched: bool, per_event: frozenset = frozenset()) -> Engine:
    e = Engine(SPEC, fallback_ts_ms=stamp_of, stream="S", per_event=per_event)
    e.batched = batched
    e.per_event_when_cheaper = False  # the batched planning on every batch, however it is made up
    return e


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=120), st.sets(st.integers(1, 119)), st.sets(st.integers(1, 119)),
       st.sets(st.sampled_from([s.name for s in SLIS])), st.sampled_from([0, 0, SKEW_MS - 2_000, None]))
def test_the_batched_path_equals_the_per_event_path_for_any_stream_and_any_batches(steps, cuts_a, cuts_b, per_event,
                                                                                   lag_ms):
    msgs = to_messages(steps, lag_ms)
    reference = engine(batched=False)
    batched = engine(batched=True, per_event=frozenset(per_event))
    assert feed(batched, cut(msgs, cuts_a)) == feed(reference, cut(msgs, cuts_b))
    assert state_of(batched) == state_of(reference)
    end_ms = T0_MS + 3_600_000
    assert batched.advance(end_ms) == reference.advance(end_ms)
    assert state_of(batched) == state_of(reference)


def as_columns(batch: list[Msg]) -> Deliveries:
    """The batch as the lean reader hands it over: its messages kept as columns."""
    return Deliveries([m.subject for m in batch], [m.data for m in batch], [m.reply.encode() for m in batch])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=120), st.sets(st.integers(1, 119)),
       st.sampled_from([0, SKEW_MS - 2_000, None]), st.booleans())
def test_batches_kept_as_columns_give_what_their_messages_give(steps, cuts, lag_ms, per_event_when_cheaper):
    # The engine reads a columnar batch's subjects and payloads whole, and a message (for its
    # stream timestamp) by index: the same outputs and state as the reference on the messages.
    msgs = to_messages(steps, lag_ms)
    reference = engine(batched=False)
    columns = engine(batched=True)
    columns.per_event_when_cheaper = per_event_when_cheaper
    assert feed(columns, [as_columns(b) for b in cut(msgs, cuts)]) == feed(reference, cut(msgs, cuts))
    assert state_of(columns) == state_of(reference)


def test_a_message_without_its_time_takes_its_own_stream_timestamp_among_other_subjects():
    # The requests come after the quotes of the batch: a request's row is not its place in the
    # batch, and each without a "ts" must be read at its own message's stream timestamp.
    quotes = [Msg("svc.quote", orjson.dumps({"ts": T0_MS + i, "quote_ts": T0_MS, "route": "/a"}), reply=str(T0_MS))
              for i in range(70)]
    requests = [Msg(SUBJECT, orjson.dumps({"latency_ms": 300.0 + i, "status": 200, "ok": True, "route": "/a"}),
                    reply=str(T0_MS + 15_000 + 100 * i)) for i in range(70)]
    end = [Msg(SUBJECT, orjson.dumps({"ts": T0_MS + 60_000, "latency_ms": 1.0, "status": 200}), reply=str(T0_MS + 60_000))]
    for batch in (quotes + requests + end, as_columns(quotes + requests + end)):
        batched, reference = engine(batched=True), engine(batched=False)
        got = feed(batched, [batch])
        assert got == feed(reference, [quotes + requests + end])
        assert state_of(batched) == state_of(reference)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=100), st.sets(st.integers(1, 99)), st.data())
def test_a_snapshot_of_either_path_restores_into_the_other(steps, cuts, data):
    msgs = to_messages(steps)
    at = data.draw(st.integers(0, len(msgs)))
    whole = engine(batched=False)
    feed(whole, cut(msgs, cuts))
    expected = whole.snapshot_bytes()
    for first_batched in (True, False):
        first = engine(batched=first_batched)
        feed(first, cut(msgs[:at], cuts))
        second = engine(batched=not first_batched)
        assert [] == second.restore_bytes(first.snapshot_bytes())
        feed(second, cut(msgs[at:], cuts))
        assert second.snapshot_bytes() == expected


def test_an_event_ahead_of_its_stream_inside_a_run_is_rejected_as_the_reference_does():
    # One event a second, their stream timestamps stuck at the first: past T0 + 60 s (the skew),
    # each is ahead of its stream, though below the time that would close the next boundary.
    msgs = [Msg(SUBJECT, orjson.dumps({"ts": T0_MS + i * 1_000, "latency_ms": 5.0, "status": 200, "ok": True}),
                reply=str(T0_MS)) for i in range(65)]
    batched, reference = engine(batched=True), engine(batched=False)
    got = feed(batched, [msgs])
    assert got == feed(reference, [msgs])
    assert [(i, "future") for i in range(61, 65)] == [(r[0], r[1]) for r in got[4]]


def test_a_late_event_inside_a_run_is_rejected_as_the_reference_does():
    # Events a second apart up to T0 + 20 s close the sub-windows before T0 + 10 s (lateness 3 s);
    # one at T0 + 5 s then is late, though it would not close any boundary.
    times = [T0_MS + i * 1_000 for i in range(21)] + [T0_MS + 5_000, T0_MS + 19_000]
    msgs = [Msg(SUBJECT, orjson.dumps({"ts": t, "latency_ms": 5.0, "status": 200, "ok": True}), reply=str(T0_MS + 20_000))
            for t in times]
    batched, reference = engine(batched=True), engine(batched=False)
    got = feed(batched, [msgs])
    assert got == feed(reference, [msgs])
    assert [(21, "late")] == [(r[0], r[1]) for r in got[4]]


def test_a_batch_of_scattered_subjects_gives_what_the_reference_gives():
    # 200 quotes on 100 routes' subjects and the requests between them: two messages a subject,
    # which the batched path applies event by event (planning a subject costs ~10 events).
    msgs = []
    for i in range(200):
        body = {"ts": T0_MS + i * 100, "latency_ms": float(i % 40), "status": 503 if i % 9 == 0 else 200,
                "ok": True, "route": f"r{i % 100}"}
        subject = f"svc.quote.{i % 100}" if i % 2 else SUBJECT
        msgs.append(Msg(subject, orjson.dumps(body), reply=str(T0_MS + i * 100)))
    spec = spec_of([*SLIS, sli("quotes", "latency", "svc.quote.*", value_field="latency_ms", labels=("route",),
                              max_series=3)], RULES, lateness_ms=3_000)
    for batches in ([msgs], cut(msgs, {70, 150})):
        b, r = Engine(spec, fallback_ts_ms=stamp_of), Engine(spec, fallback_ts_ms=stamp_of)
        r.batched = False
        assert feed(b, batches) == feed(r, batches)
        assert state_of(b) == state_of(r)
        # Not vacuous: the quotes' series pass their cap, in the order of the events.
        assert any(("sli", "quotes") in a.labels for a in feed(Engine(spec, fallback_ts_ms=stamp_of), batches)[0])


def test_garbage_inside_a_run_is_dead_lettered_there_and_does_not_cut_the_run(monkeypatch):
    # Messages that no SLI can use whole (not JSON, not an object) or in part (a refused value,
    # a time that cannot be read) are written as dead letters inside their run, as the reference
    # writes them, instead of each going through the reference loop and cutting the batch.
    garbage = {5: b"{not json", 11: b"[1, 2]", 17: {"latency_ms": "slow"}, 23: {"ts": "text"}, 29: {"status": True}}
    msgs = []
    for i in range(40):
        body = {"ts": T0_MS + i * 200, "latency_ms": float(i), "status": 200 + i, "ok": True, "route": "a"}
        spoilt = garbage.get(i, {})
        data = spoilt if type(spoilt) is bytes else orjson.dumps({**body, **spoilt})
        msgs.append(Msg(SUBJECT, data, reply=str(T0_MS + i * 200)))
    msgs.append(Msg(SUBJECT, orjson.dumps({"ts": T0_MS + 40_000, "latency_ms": 1.0, "status": 200, "ok": True}),
                    reply=str(T0_MS + 40_000)))  # closes the boundaries: the runs' counts are published
    batched, reference = engine(batched=True), engine(batched=False)
    by_reference_loop = []
    per_event = batched._per_event

    def spy(out, batch, payloads, start, stop, *rest):
        by_reference_loop.extend(range(start, stop))
        per_event(out, batch, payloads, start, stop, *rest)

    monkeypatch.setattr(batched, "_per_event", spy)
    got = feed(batched, [msgs])
    assert got == feed(reference, [msgs])
    assert state_of(batched) == state_of(reference)
    rejections = {r[0]: r for r in got[4]}
    assert set(garbage) == set(rejections)
    assert [rejections[i][4] for i in sorted(garbage)] == [False, False, True, False, True]  # partly used: 17, 29
    # The first event (it starts the grid) and those that move time past a boundary, no garbage.
    assert by_reference_loop == [0, 15, 40]


def test_a_few_odd_values_leave_only_their_rows_to_the_reference_and_it_decides_them():
    # A batch whose status and latency columns are not all plain numbers: a string, a bool and a
    # missing field are refused (dead letters); an int past 2**53 beside them is odd too (a float
    # column may not compare it exactly), but the reference takes it: ``status < 500`` is False
    # for it, a bad event. The batched path decides only those rows one by one, the rest as columns.
    odd = {3: {"status": "503"}, 4: {"status": 2**60}, 7: {"latency_ms": True}, 9: {"latency_ms": None},
           12: {"status": 2**60 + 1, "latency_ms": 2**60}, 15: {"load": "high"}, 16: {"load": 2**60}}
    msgs = []
    for i in range(40):
        body = {"ts": T0_MS + i * 200, "latency_ms": float(i), "status": 200 + i, "ok": True, "route": "a",
                "load": float(i), **odd.get(i, {})}
        msgs.append(Msg(SUBJECT, orjson.dumps(body), reply=str(T0_MS + i * 200)))
    msgs.append(Msg(SUBJECT, orjson.dumps({"ts": T0_MS + 40_000, "latency_ms": 1.0, "status": 200, "ok": True}),
                    reply=str(T0_MS + 40_000)))  # closes the boundaries: the rows' counts are published
    batched, reference = engine(batched=True), engine(batched=False)
    got = feed(batched, [msgs])
    assert got == feed(reference, [msgs])
    assert state_of(batched) == state_of(reference)
    assert {3, 7, 9, 12, 15} == {r[0] for r in got[4]}  # rejected; 4 and 16 taken as they are
