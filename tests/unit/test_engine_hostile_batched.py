"""Hostile payloads mixed into realistic traffic: the batched path equals the per-event reference.

The shipped config, one engine per stream as ``slo run`` builds them, fed the simulator's events
of that stream (flat objects, so the batched path decodes them joined and applies them in runs)
with hostile messages put in at random places and good events spoilt one field at a time: not
JSON, not objects, nested beyond the decoder's depth, numbers beyond a float, integers beyond 64
bits, NaN literals, invalid UTF-8 and lone surrogates, duplicate keys, every field the config reads
given the wrong type, times in odd formats, far in the past or ahead of the stream timestamp. The
two paths (each with the stream cut into batches its own way) must say the same: alerts, reports,
budgets, actions, rejections with reasons and details, counts and snapshots; and every message is
accounted for once.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config
from processor.engine import Engine
from processor.runtime.topology import partition_config
from processor.simulate.generator import Simulator
from processor.vocabulary import REJECTION_REASONS
from tests.enginekit import Msg, feed, state_of

ROOT = Path(__file__).parents[2]
PARTS, _ = partition_config(load_config(ROOT / "config" / "slo.yaml"), load_stream_definitions(ROOT / "streams"))
STREAMS = {"ANALYTICS": "analytics.", "TRADE": "trade.", "AI": "ai.", "MARKET": "market."}
T0_MS = 1_767_225_600_000
# Ten minutes of the platform at a low rate: every subject of every stream, a few hundred events each.
POOL = {stream: [(e.subject, e.payload) for e in Simulator(T0_MS, seed=4, rate=1.0).records(T0_MS + 600_000)
                 if e.subject.startswith(prefix)] for stream, prefix in STREAMS.items()}
FIELDS = {stream: sorted({k for _, p in events for k in p}) for stream, events in POOL.items()}

# Whole payloads no SLI can use.
RAW = [
    b"", b" ", b"{", b"}", b"[1, 2]", b'"text"', b"42", b"-0.0", b"null", b"true", b"[]",
    b"[" * 2000 + b"]" * 2000, b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"ts": 1e999}', b'{"ts": NaN}', b'{"ts": Infinity}', b'{"ts": -Infinity}',
    b'{"ts": 1, "s": "\xff\xfe"}', b"\xef\xbb\xbf{}", b'{"s": "\\ud800"}', b'{"s": "\\udc00\\ud800"}',
    b"\x00" * 16, b"{}\n{}", b'{"a":1}{"b":2}', b"{},{}", b"GET / HTTP/1.1\r\n\r\n",
]
# Raw JSON text for one field of a good event.
FIELD_VALUES = [
    b"null", b"true", b"false", b"0", b"-1", b"-0.0", b"0.5", b"1e308", b"-1e308", b"1e999", b"NaN",
    b"18446744073709551615", b"18446744073709551616", b"-9223372036854775809", b"123456789012345678901234567890",
    b'"12"', b'""', b'"\\ud800"', b'"\xff"', b'"2026-01-01T00:00:00+14:00"', b'"2026-01-01T00:00:00-23:59"',
    b'"2026-01-01T00:00:00+24:00"', b'"2026-01-01T00:00:00"', b'"9999-12-31T23:59:59.999Z"', b'"1969-12-31T23:59:59Z"',
    b"[]", b"{}", b'{"a": [1, {"b": null}]}', b"[" * 1100 + b"]" * 1100, b"253402300799999", b"253402300800000",
]


def with_raw(body: dict, field: str, raw: bytes) -> bytes:
    slot = "@@slot@@"
    return orjson.dumps({**body, field: slot}).replace(orjson.dumps(slot), raw)


def stamp_of(msg: Msg) -> int | None:
    """The message's stream timestamp: kept in ``reply`` here (as in test_engine_batched)."""
    return int(msg.reply) if msg.reply else None


# How a good event is spoilt: (what, field index, raw index, time shift of ts in ms).
spoil = st.tuples(st.sampled_from(["field", "ts", "dup_ts", "raw", "subject", "ts_float", "ts_rfc3339"]),
                  st.integers(0, 10_000), st.integers(0, 10_000),
                  st.sampled_from([0, -30_000, -3_600_000, 120_000, 86_400_000 * 365, -T0_MS, 59_000]))


def messages(stream: str, start: int, count: int, spoilt: dict[int, tuple]) -> list[Msg]:
    pool = POOL[stream]
    start %= max(1, len(pool) - count)
    events = pool[start : start + count]
    out = []
    for i, (subject, body) in enumerate(events):
        stamp = str(body["ts"])  # the server stored it as it happened
        how = spoilt.get(i)
        data = orjson.dumps(body)
        if how is not None:
            what, f, r, shift_ms = how
            fields = FIELDS[stream]
            if what == "field":
                data = with_raw(body, fields[f % len(fields)], FIELD_VALUES[r % len(FIELD_VALUES)])
            elif what == "ts":
                data = orjson.dumps({**body, "ts": body["ts"] + shift_ms})
            elif what == "dup_ts":  # the last of two keys wins, on both paths
                data = data[:-1] + b',"ts":' + orjson.dumps(body["ts"] + shift_ms) + b"}"
            elif what == "raw":
                data = RAW[r % len(RAW)]
            elif what == "subject":
                subject = subject + "." + "\u202e\x01"[r % 2] if r % 3 else subject.rsplit(".", 1)[0] + ".x"
            elif what == "ts_float":
                data = orjson.dumps({**body, "ts": body["ts"] + shift_ms + 0.75})
            else:
                data = orjson.dumps({**body, "ts": _rfc3339(body["ts"] + shift_ms, r % 5)})
        out.append(Msg(subject, data, reply=stamp))
    return out


def _rfc3339(ms: int, style: int) -> str:
    from datetime import UTC, datetime, timedelta, timezone

    offset = (0, 14 * 60, -(23 * 60 + 59), 5 * 60 + 45, -1)[style]
    when = datetime.fromtimestamp(max(ms, 0) / 1000, tz=UTC).astimezone(timezone(timedelta(minutes=offset)))
    return when.isoformat()


def cut(msgs: list, cuts: set[int]) -> list[list]:
    edges = [0, *sorted(c for c in cuts if 0 < c < len(msgs)), len(msgs)]
    return [msgs[a:b] for a, b in zip(edges, edges[1:])]


def engine(stream: str, batched: bool) -> Engine:
    e = Engine(PARTS[stream], fallback_ts_ms=stamp_of, stream=stream)
    e.batched = batched
    e.per_event_when_cheaper = False  # the batched planning on every batch
    return e


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(sorted(STREAMS)), st.integers(0, 400), st.integers(20, 250),
       st.dictionaries(st.integers(0, 249), spoil, max_size=40), st.sets(st.integers(1, 249)),
       st.sets(st.integers(1, 249)))
def test_hostile_messages_in_real_traffic_give_the_batched_path_the_reference_s_results(stream, start, count, spoilt,
                                                                                        cuts_a, cuts_b):
    msgs = messages(stream, start, count, spoilt)
    batched, reference = engine(stream, True), engine(stream, False)
    got = feed(batched, cut(msgs, cuts_a))
    assert got == feed(reference, cut(msgs, cuts_b))
    *_, rejections, accepted, ignored = got
    assert len(msgs) == accepted + ignored + len(rejections)
    assert len({r[0] for r in rejections}) == len(rejections)  # each message dead-lettered once at most
    assert {r[1] for r in rejections} <= set(REJECTION_REASONS)
    assert state_of(batched) == state_of(reference)
    end_ms = T0_MS + 900_000  # past every event's windows of a few minutes
    assert batched.advance(end_ms) == reference.advance(end_ms)
    assert state_of(batched) == state_of(reference)


def test_a_batch_of_nothing_but_hostile_messages_is_rejected_whole_and_moves_no_time():
    # The reasons, decided here by hand: only these decode, to something other than an object.
    not_object = {b"[1, 2]", b'"text"', b"42", b"-0.0", b"null", b"true", b"[]"}
    for stream in STREAMS:
        good = messages(stream, 0, len(RAW), {})
        bad = [Msg(m.subject, raw, reply=m.reply) for m, raw in zip(good, RAW, strict=True)]
        for batched in (True, False):
            e = engine(stream, batched)
            e.ingest(good[:5])
            clock = (e.max_ts_ms, e.closed_until_ms)
            out = e.ingest(bad)
            assert (0, 0) == (out.accepted, out.ignored)
            expected = [(i, "not_object" if raw in not_object else "not_json") for i, raw in enumerate(RAW)]
            assert expected == [(r.index, r.reason) for r in out.rejections]
            assert clock == (e.max_ts_ms, e.closed_until_ms)


def test_an_sli_of_several_subjects_takes_its_events_in_stream_order_within_a_run():
    # market.quote.> style: one SLI, its label from the payload, events of two subjects in one
    # run. Per event, Y comes before Z: Y gets the last series under the cap, Z overflows, and
    # the rule that fires on the event fires for Y first. A run recorded subject by subject
    # (q.A's events, then q.B's) gave the series to Z and fired Z first.
    from tests.enginekit import T0_MS as T0, rule, sli, spec_of

    def run(batched: bool, kind: str) -> tuple:
        extra = {"max_series": 3} if kind == "latency" else {}
        spec = spec_of([sli("q", kind, "q.>", value_field="v", labels=("sym",), **extra)],
                       [rule("High", "q", "max", ">", 50.0)])
        e = Engine(spec)
        e.batched = batched
        out = e.ingest([Msg("q.A", orjson.dumps({"ts": T0, "sym": "W", "v": 1.0}))])
        out.extend(e.ingest([Msg(s, orjson.dumps({"ts": T0 + 1_000, "sym": sym, "v": v}))
                             for s, sym, v in (("q.A", "X", 10.0), ("q.B", "Y", 60.0), ("q.A", "Z", 70.0))]))
        out.extend(e.advance(T0 + 60_000))
        return [(a.label_map["sym"], a.status) for a in out.alerts], list(e.snapshot()["slis"]["q"]["series"])

    for kind in ("latency", "gauge"):
        assert run(True, kind) == run(False, kind), kind
    alerts, series = run(True, "latency")
    assert [["W"], ["X"], ["Y"], ["__overflow__"]] == [labels for labels, _ in series]
    assert [("Y", "firing"), ("Z", "firing")] == run(True, "gauge")[0][:2]


def test_garbage_on_ever_new_subjects_keeps_the_input_ledger_bounded_and_counted():
    # A flood of garbage moves no event time, so no boundary hands the ledger's counts over; on
    # 12,000 new subjects (q.<i>, and long ones the route cache does not keep) it once held a count
    # per subject, in memory and in every checkpoint. The counts the input SLIs get are the same.
    from processor.engine.input import ROUTED_SUBJECTS_MAX
    from tests.enginekit import T0_MS as T0, sli, spec_of

    slis = [sli("q", "ratio", "q.>", good="ok"), sli("r", "ratio", "q.a.>", good="ok"),
            sli("input", "ratio", "slo.input.stream", good_count_field="accepted", bad_count_field="rejected",
                labels=("stream",)),
            sli("by_sli", "ratio", "slo.input.sli", good_count_field="accepted", bad_count_field="rejected",
                labels=("stream", "sli"), label_names=("stream", "target_sli"))]

    def good(t_s: int) -> Msg:
        return Msg("q.a.b", orjson.dumps({"ts": T0 + t_s * 1000, "ok": True}))

    flood = [Msg(f"q.{'a.' if i % 3 == 0 else ''}{'z' * (300 if i % 5 == 0 else 1)}{i}", b"{") for i in range(12_000)]
    snapshots, counted = [], []
    for batched, size in ((True, 1_000), (False, 1_700)):
        e = Engine(spec_of(slis, []), stream="S")
        e.batched = batched
        e.ingest([good(0), good(1)])
        for at in range(0, len(flood), size):
            e.ingest(flood[at : at + size])
            assert len(e.input.routed) <= ROUTED_SUBJECTS_MAX + size
        snapshots.append(e.snapshot_bytes())
        e.ingest([good(30)])  # closes the boundaries: the counts are handed over
        by_name = {s.name: s for s in e.slis}
        counted.append({(name, labels): (sum(b.total - b.good for b in series.subs.values()),
                                         sum(b.total for b in series.subs.values()))
                        for name in ("input", "by_sli") for labels, series in by_name[name].series.items()})
    assert snapshots[0] == snapshots[1]
    assert len(orjson.loads(snapshots[0])["input"]["routed"]) == 2  # q.a.* and q.* but q.a.*
    # Every message once (the one that closes the boundaries too): 12,000 dead-lettered, the three
    # good ones used; per SLI what it reads.
    assert counted[0] == counted[1] == {
        ("input", ("S",)): (12_000, 12_003), ("by_sli", ("S", "q")): (12_000, 12_003),
        ("by_sli", ("S", "r")): (4_000, 4_003)}
