"""Clock skew: an event more than max_future_skew (1 m) ahead of the JetStream timestamp of its own
message is rejected as ``future``, and the watermark does not move. The stamp is read from the
message's ack reply subject, as the runtime reads it; every expected figure is worked out by hand."""

from __future__ import annotations

import orjson
import pytest

from processor.bus.jsreply import js_timestamp_ms
from processor.engine import Engine
from processor.vocabulary import REJECTION_REASONS
from tests.enginekit import T0_MS, Msg, latency_sli, quantile_alert, sli, spec_of

SKEW_MS = 60_000
YEAR_MS = 365 * 86_400_000


def stamped(ts_ms: int, stamp_ms: int, seq: int = 1, **fields) -> Msg:
    """A gateway-like event whose message JetStream stored at ``stamp_ms``."""
    reply = f"$JS.ACK.ANALYTICS.slo_analytics.1.{seq}.{seq}.{stamp_ms * 1_000_000}.0"
    return Msg("svc.req", orjson.dumps({"ts": ts_ms, "latency_ms": 5, **fields}), reply)


class CountingStamps:
    """The runtime's stamp reader, counting how often the engine asks it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, msg) -> int | None:
        self.calls += 1
        return js_timestamp_ms(msg.reply) if msg.reply else None


def engine(stamps=None, slis=None) -> Engine:
    spec = spec_of(slis or [latency_sli()], [quantile_alert(0.95, ">", 150.0)])
    return Engine(spec, fallback_ts_ms=stamps if stamps is not None else CountingStamps())


@pytest.mark.parametrize(
    ("ahead_ms", "reason"),
    [
        pytest.param(0, None, id="an event stamped at its own time is accepted"),
        pytest.param(-3_600_000, None, id="an event an hour older than its stamp is accepted (lateness decides)"),
        pytest.param(SKEW_MS - 1, None, id="just under the skew is accepted"),
        pytest.param(SKEW_MS, None, id="exactly the skew is accepted: only more than it is rejected"),
        pytest.param(SKEW_MS + 1, "future", id="one millisecond over the skew is future"),
        pytest.param(YEAR_MS, "future", id="a year ahead is future"),
    ],
)
def test_an_event_more_than_the_skew_ahead_of_its_stream_timestamp_is_future(ahead_ms, reason):
    eng = engine()
    out = eng.ingest([stamped(T0_MS + ahead_ms, T0_MS)])
    assert ([] if reason is None else [(0, reason)]) == [(r.index, r.reason) for r in out.rejections]
    assert (None if reason else T0_MS + ahead_ms) == eng.max_ts_ms
    assert "future" in REJECTION_REASONS


def test_a_year_ahead_moves_nothing_and_the_events_after_it_are_processed_normally():
    # The opening scenario in the engine: 300 events a second apart, one a year ahead,
    # 300 more. The future one is rejected with its reason and its SLI named; the watermark stays
    # with the real events: the 600 are accepted, the highest event time is 599 s and the watermark
    # 594 s, so every sub-window up to the boundary at 590 s is closed.
    eng = engine()
    before = [stamped(T0_MS + i * 1000, T0_MS + i * 1000 + 2, seq=i + 1) for i in range(300)]
    future = stamped(T0_MS + 300_000 + YEAR_MS, T0_MS + 300_500, seq=301)
    after = [stamped(T0_MS + i * 1000, T0_MS + i * 1000 + 2, seq=i + 2) for i in range(300, 600)]
    out = eng.ingest(before + [future] + after)
    assert [(300, "future", ("lat",), False)] == [(r.index, r.reason, r.slis, r.applied) for r in out.rejections]
    assert f"is {YEAR_MS - 500} ms ahead of its stream timestamp {T0_MS + 300_500}" in out.rejections[0].detail
    assert (600, T0_MS + 599_000, T0_MS + 590_000) == (out.accepted, eng.max_ts_ms, eng.closed_until_ms)
    assert ({"future": 1}, {"lat": {"future": 1}}) == (eng.rejected, eng.rejected_by_sli)


def test_the_stream_timestamp_is_read_only_when_an_event_time_passes_the_last_one_read_plus_the_skew():
    # 600 events a second apart, each stamped at its own time. The stamp is read at 0 s (nothing read
    # yet: the limit becomes 60 s), then at the first event past each limit: 61 s (limit 121 s),
    # 122 s, 183 s, 244 s, 305 s, 366 s, 427 s, 488 s and 549 s (limit 609 s): ten reads in all.
    stamps = CountingStamps()
    eng = engine(stamps)
    out = eng.ingest([stamped(T0_MS + i * 1000, T0_MS + i * 1000, seq=i + 1) for i in range(600)])
    assert (600, 10) == (out.accepted, stamps.calls)


def test_a_message_without_a_stream_timestamp_has_no_reference_and_is_not_checked():
    # Measurements made in the process (the bus monitor's) and plain test objects carry no stamp.
    eng = engine()
    out = eng.ingest([Msg("svc.req", orjson.dumps({"ts": T0_MS + YEAR_MS, "latency_ms": 5}))])
    assert (1, []) == (out.accepted, out.rejections)
    assert 1 == Engine(spec_of([latency_sli()], [])).ingest([stamped(T0_MS + YEAR_MS, T0_MS)]).accepted


def test_the_skew_is_configurable():
    spec = spec_of([latency_sli()], [])
    spec = spec.model_copy(update={"defaults": spec.defaults.model_copy(update={"max_future_skew_ms": 5_000})})
    eng = Engine(spec, fallback_ts_ms=CountingStamps())
    out = eng.ingest([stamped(T0_MS + 5_000, T0_MS, seq=1), stamped(T0_MS + 10_001, T0_MS + 5_000, seq=2)])
    assert [(1, "future")] == [(r.index, r.reason) for r in out.rejections]


def test_slis_reading_another_time_field_reject_a_future_time_of_their_own():
    # One SLI reads ts, the other sent_ts, which is two minutes ahead of the stamp: the second
    # rejects the event, the first uses it, and the dead letter names only the second.
    slis = [latency_sli(), sli("sent", "events", "svc.req").model_copy(update={"event_time_field": "sent_ts"})]
    eng = engine(slis=slis)
    out = eng.ingest([stamped(T0_MS, T0_MS, sent_ts=T0_MS + 120_000)])
    assert [(0, "future", ("sent",), True)] == [(r.index, r.reason, r.slis, r.applied) for r in out.rejections]
    assert (0, T0_MS, {"sent": {"future": 1}}) == (out.accepted, eng.max_ts_ms, eng.rejected_by_sli)
    assert [()] == list(eng.slis[0].series)
    assert {} == eng.slis[1].series
