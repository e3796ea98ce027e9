"""Bad input comes back as a counted rejection with a reason; the engine keeps going."""

from __future__ import annotations

import pytest

from processor.engine import REJECTION_REASONS, Engine
from tests.enginekit import T0_MS, Msg, event, latency_sli, quantile_alert, spec_of


def engine(fallback=None):
    return Engine(spec_of([latency_sli()], [quantile_alert(0.95, ">", 150.0)]), fallback_ts_ms=fallback)


BAD = [
    pytest.param(Msg("svc.req", b"{not json"), "not_json", id="a payload that is not JSON"),
    pytest.param(Msg("svc.req", b"[1, 2]"), "not_object", id="a JSON array instead of an object"),
    pytest.param(Msg("svc.req", b'"text"'), "not_object", id="a JSON string instead of an object"),
    pytest.param(event("svc.req", T0_MS), "missing_field", id="no latency field"),
    pytest.param(event("svc.req", T0_MS, latency_ms="12"), "bad_value", id="a latency given as a string"),
    pytest.param(event("svc.req", T0_MS, latency_ms=True), "bad_value", id="a latency given as a bool"),
    pytest.param(event("svc.req", T0_MS, latency_ms=-1), "negative_value", id="a negative latency"),
    pytest.param(event("svc.req", T0_MS, latency_ms=1e308), "out_of_range", id="a latency beyond the sketch's range"),
    pytest.param(event("svc.req", T0_MS, latency_ms=100_000_001), "out_of_range", id="a latency just beyond 1e8 ms"),
    pytest.param(Msg("svc.req", b'{"ts": 1700000000000, "latency_ms": NaN}'), "not_json", id="NaN is not JSON"),
    pytest.param(
        Msg("svc.req", b'{"ts": 1700000000000, "latency_ms": 1e400}'), "not_json", id="an infinite latency is not JSON"
    ),
    pytest.param(event("svc.req", "yesterday", latency_ms=1), "bad_timestamp", id="an unparseable timestamp"),
    pytest.param(
        event("svc.req", "2026-11-27T10:00:00", latency_ms=1), "bad_timestamp", id="an RFC 3339 time without zone"
    ),
    pytest.param(event("svc.req", -5, latency_ms=1), "bad_timestamp", id="a negative epoch"),
    pytest.param(Msg("svc.req", b'{"latency_ms": 3}'), "no_timestamp", id="no timestamp and no fallback"),
]


@pytest.mark.parametrize(("msg", "reason"), BAD)
def test_bad_input_is_rejected_with_its_reason_and_counted(msg, reason):
    eng = engine()
    good = event("svc.req", T0_MS, latency_ms=5)
    out = eng.ingest([good, msg, good])
    assert [(1, reason)] == [(r.index, r.reason) for r in out.rejections]
    assert 2 == out.accepted
    assert {reason: 1} == eng.rejected
    assert reason in REJECTION_REASONS


def test_rfc3339_timestamps_with_zone_are_read_to_the_millisecond():
    eng = engine()
    out = eng.ingest([event("svc.req", "2023-11-14T22:13:20.250+00:00", latency_ms=1)])
    assert 1 == out.accepted
    assert 1_700_000_000_250 == eng.max_ts_ms
    eng.ingest([event("svc.req", "2023-11-15T00:13:21Z", latency_ms=1)])
    assert 1_700_007_201_000 == eng.max_ts_ms


def test_the_fallback_timestamp_is_used_when_the_payload_has_none():
    eng = engine(fallback=lambda msg: 1_700_000_123_000)
    out = eng.ingest([Msg("svc.req", b'{"latency_ms": 3}', reply="$JS.ACK...")])
    assert 1 == out.accepted
    assert 1_700_000_123_000 == eng.max_ts_ms


def test_subjects_no_sli_reads_are_ignored_not_rejected():
    eng = engine()
    out = eng.ingest([Msg("other.thing", b"garbage")])
    assert (0, 1, []) == (out.accepted, out.ignored, out.rejections)


def test_one_garbage_latency_does_not_move_a_quantile():
    # 99 requests at 10 ms and one absurd value: p99 of the accepted ones stays 10 ms (within 1 %).
    eng = Engine(spec_of([latency_sli()], [quantile_alert(0.99, ">", 1_000.0, for_ms=0)]))
    batch = [event("svc.req", T0_MS + i * 100, latency_ms=10) for i in range(99)]
    batch.append(event("svc.req", T0_MS + 9_950, latency_ms=1e308))
    out = eng.ingest(batch)
    out.extend(eng.advance(T0_MS + 20_000))
    assert [] == out.alerts
    assert [(99, "out_of_range")] == [(r.index, r.reason) for r in out.rejections]
    assert 10.0 == pytest.approx(eng.slis[0].series[()].subs[T0_MS - T0_MS % 10_000].quantile(0.99), rel=0.01)
