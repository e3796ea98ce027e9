"""Per-SLI acceptance and the input ledger, worked out by hand.

Each SLI that can use an event uses it; an SLI that cannot counts a rejection for its reason, and
the message is dead-lettered once, naming those SLIs. What the engine decided is fed back to the
SLIs on slo.input.stream and slo.input.sli, whose ratio alerts page on a broken producer.
"""

from __future__ import annotations

import orjson

from processor.engine import Engine, run_all
from tests.enginekit import T0_MS, Msg, event, rule, sli, spec_of

S = 1000
GATEWAY = "analytics.gateway.request"


def gateway_slis():
    """The three gateway SLIs of config/slo.yaml, in its order."""
    return [
        sli("latency", "latency", GATEWAY, value_field="latency_ms"),
        sli("availability", "ratio", GATEWAY, good="status_code < 500"),
        sli("rate_limit", "ratio", GATEWAY, good="rate_limit_correct"),
    ]


def request(t_s: int, **fields) -> Msg:
    body = {"latency_ms": 12.0, "status_code": 200, "rate_limit_correct": True, **fields}
    return event(GATEWAY, T0_MS + t_s * S, **{k: v for k, v in body.items() if v is not None})


def counts(eng: Engine, name: str) -> tuple[int, int]:
    """(events, good) the SLI holds over all its sub-windows (latency: values, good = total)."""
    (series,) = eng.slis[[s.name for s in eng.slis].index(name)].series.values()
    eng.flush()
    total = sum(int(b.count) for b in series.subs.values())
    good = sum(getattr(b, "good", int(b.count)) for b in series.subs.values())
    return total, good


def test_a_request_without_rate_limit_correct_still_counts_for_latency_and_availability():
    eng = Engine(spec_of(gateway_slis(), []))
    out = eng.ingest([request(0), request(1, rate_limit_correct=None), request(2, status_code=503)])
    assert [(1, "missing_field", "rate_limit_correct", ("rate_limit",), True)] == [
        (r.index, r.reason, r.detail, r.slis, r.applied) for r in out.rejections
    ]
    assert ((3, 3), (3, 2), (2, 2)) == (counts(eng, "latency"), counts(eng, "availability"), counts(eng, "rate_limit"))
    # The partly used message is a rejection, not an acceptance: every message is counted once.
    assert (2, 0) == (out.accepted, out.ignored)
    assert ({"missing_field": 1}, {"rate_limit": {"missing_field": 1}}) == (eng.rejected, eng.rejected_by_sli)


def test_slis_rejecting_for_different_reasons_are_each_named_in_one_dead_letter():
    eng = Engine(spec_of(gateway_slis(), []))
    out = eng.ingest([request(0, latency_ms=-4, status_code="ok")])
    (rej,) = out.rejections
    assert ("negative_value", ("latency", "availability"), True) == (rej.reason, rej.slis, rej.applied)
    assert "latency: negative_value latency_ms: -4; availability: bad_field_type status_code" == rej.detail
    assert {"latency": {"negative_value": 1}, "availability": {"bad_field_type": 1}} == eng.rejected_by_sli
    assert (1, 1) == counts(eng, "rate_limit")


def test_a_payload_that_is_not_json_is_rejected_by_every_sli_of_its_subject_even_a_filtered_one():
    # A where: cannot be read on bytes that do not decode: the SLI cannot say it would not want it.
    slis = gateway_slis() + [sli("errors", "events", GATEWAY, where="status_code >= 500")]
    eng = Engine(spec_of(slis, []))
    out = eng.ingest([Msg(GATEWAY, b"{oops")])
    assert [("not_json", ("latency", "availability", "rate_limit", "errors"), False)] == [
        (r.reason, r.slis, r.applied) for r in out.rejections
    ]
    assert (None, {"not_json": 1}) == (eng.max_ts_ms, eng.rejected)


def test_a_message_no_sli_can_use_moves_no_time():
    eng = Engine(spec_of(gateway_slis(), []))
    out = eng.ingest([request(0), request(300, latency_ms="x", status_code=None, rate_limit_correct=None)])
    assert [("bad_value", ("latency", "availability", "rate_limit"), False)] == [
        (r.reason, r.slis, r.applied) for r in out.rejections
    ]
    assert T0_MS == eng.max_ts_ms


def input_spec(per_sli: bool = False):
    """The gateway SLIs and the input SLIs of config/slo.yaml with its two input rules."""
    stream_sli = sli("input", "ratio", "slo.input.stream", good_count_field="accepted", bad_count_field="rejected",
                     labels=("stream",))
    by_sli = sli("input_by_sli", "ratio", "slo.input.sli", good_count_field="accepted", bad_count_field="rejected",
                 labels=("stream", "sli", "service"), label_names=("stream", "target_sli", "target_service"))
    rules = [rule("InputRejectedHigh", "input", "bad_ratio", ">", 0.01, window_ms=300_000, for_ms=120_000),
             rule("InputRejectedBySli", "input_by_sli", "bad_ratio", ">", 0.01, window_ms=300_000, for_ms=120_000,
                  severity="warning")]
    return spec_of(gateway_slis() + [stream_sli, by_sli], rules)


def five_percent_broken(end_s: int = 900) -> list[Msg]:
    """A request every second; from 120 s to 599 s every 20th has no latency (5 %)."""
    return [request(t, latency_ms=None if 120 <= t < 600 and t % 20 == 0 else 12.0) for t in range(end_s)]


def transitions(out, alertname):
    return [
        (a.status, dict(a.labels).get("target_sli", dict(a.labels)["stream"]), (a.active_at_ms - T0_MS) // S,
         (a.starts_at_ms - T0_MS) // S, None if a.ends_at_ms is None else (a.ends_at_ms - T0_MS) // S)
        for a in out.alerts if a.label_map["alertname"] == alertname
    ]


def test_a_producer_sending_five_percent_broken_events_raises_the_input_alerts():
    # The counts since the last boundary are handed over when the next one closes, into the first
    # open sub-window: an event at t closes boundary B = t - 5 when t ends in 5, so sub-window
    # [B-10, B) holds the messages of (B-5, B+5], and the 5 m window ending at B those of
    # (B-295, B+5]: every second from 0 while B < 300, then 300 of them.
    # Boundary 130: 136 messages, 1 dead-lettered (120): 0.74 %. Boundary 140: 146 messages, 2
    # (120, 140): 1.37 % > 1 % -> pending, activeAt 140; it keeps rising, so at 140 + 2m = 260 it
    # fires. Broken ones stop after 580: boundary 810 still holds 520..580 (4 of 300, 1.33 %);
    # 820 holds 540..580, 3 of 300: exactly 1 %, not above it: resolved, endsAt 820.
    eng = Engine(input_spec(), stream="ANALYTICS")
    out = run_all(eng, [five_percent_broken()])
    assert [("firing", "ANALYTICS", 140, 260, None), ("resolved", "ANALYTICS", 140, 260, 820)] == transitions(
        out, "InputRejectedHigh")
    # The same numbers for the one SLI that rejects them; the others lose nothing and stay quiet.
    assert [("firing", "latency", 140, 260, None), ("resolved", "latency", 140, 260, 820)] == transitions(
        out, "InputRejectedBySli")
    assert 24 == len(out.rejections) == eng.rejected_by_sli["latency"]["missing_field"]


def test_the_input_counts_are_what_was_decided_message_by_message():
    # 30 requests, the 11th not JSON and the 21st without rate_limit_correct: after the boundaries
    # up to 30 s every message is in the stream's series (2 dead-lettered) and in each SLI's.
    eng = Engine(input_spec(), stream="ANALYTICS")
    msgs = [request(t) for t in range(40)]
    msgs[10] = Msg(GATEWAY, b"not json")
    msgs[20] = request(20, rate_limit_correct=None)
    eng.ingest(msgs)
    eng.advance(T0_MS + 40 * S)
    by_name = {s.name: s for s in eng.slis}

    def total(name, labels):
        buckets = by_name[name].series[labels].subs.values()
        return sum(b.total - b.good for b in buckets), sum(b.total for b in buckets)

    assert (2, 40) == total("input", ("ANALYTICS",))
    assert (1, 40) == total("input_by_sli", ("ANALYTICS", "latency", "svc"))
    assert (1, 40) == total("input_by_sli", ("ANALYTICS", "availability", "svc"))
    assert (2, 40) == total("input_by_sli", ("ANALYTICS", "rate_limit", "svc"))
    assert orjson.loads(orjson.dumps(eng.snapshot()))["input"] == {"routed": {}, "refused": {}, "dead": 0}


def test_every_sli_reading_an_unreadable_time_field_rejects_the_event_and_the_others_use_it():
    sent = [sli(name, "events", GATEWAY).model_copy(update={"event_time_field": "sent_ts"}) for name in ("s1", "s2")]
    eng = Engine(spec_of([sent[0], gateway_slis()[0], sent[1]], []))
    out = eng.ingest([request(0, sent_ts="noon")])
    assert [("bad_timestamp", ("s1", "s2"), True)] == [(r.reason, r.slis, r.applied) for r in out.rejections]
    assert ((1, 1), T0_MS) == (counts(eng, "latency"), eng.max_ts_ms)


def test_a_message_rejected_for_its_time_is_named_by_its_time_even_when_an_sli_also_missed_a_field():
    # An hour ahead of its stream timestamp and without rate_limit_correct: rate_limit refuses it
    # for the field first, the other two for the time, which rejects it whole. The dead letter and
    # the count by reason say future (what a clock-skew alert reads); each SLI keeps its own reason.
    def stamp(msg: Msg) -> int:
        return T0_MS
    for batched in (True, False):
        eng = Engine(spec_of(gateway_slis(), []), fallback_ts_ms=stamp)
        eng.batched = batched
        out = eng.ingest([request(3600, rate_limit_correct=None)])
        (rej,) = out.rejections
        assert ("future", ("rate_limit", "latency", "availability"), False) == (rej.reason, rej.slis, rej.applied)
        assert rej.detail.startswith("rate_limit: missing_field rate_limit_correct; latency: future event time")
        assert {"future": 1} == eng.rejected
        assert {"rate_limit": {"missing_field": 1}, "latency": {"future": 1}, "availability": {"future": 1}} == \
            eng.rejected_by_sli
