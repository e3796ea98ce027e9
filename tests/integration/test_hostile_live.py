"""A producer that sends anything, on a real nats-server, against a live processor that is stopped
and started again from its checkpoint part way.

Complements test_hostile_payloads.py (garbage on three subjects, a crash without a checkpoint)
with: every stream of the shipped config (AI too); messages with headers (``Nats-Msg-Id``,
arbitrary ones, a duplicate id the stream drops); good events re-encoded in ways that must change
nothing (a float ``ts``, RFC 3339 with odd offsets, duplicate keys, pretty-printed JSON that splits
a batch's joined decode, unread fields nested 1,000 levels or beyond 64 bits); garbage payloads
decided here, not by the engine (invalid UTF-8, lone surrogates, NaN and infinite literals, 2,000
levels of nesting, a megabyte with headers); batches where every message is garbage; and a stop
with its final checkpoint, then a restart that reads on from it.

The reference run gets the good events alone, once, in their plain encoding. The hostile run must
publish exactly the reference's alerts, SLI values, budgets and actions, dead-letter each garbage
message once with the reason it was made for and nothing else, and count every stored message once
(accepted + ignored + rejected, the counters carried across the restart by the checkpoint).

Separately, subjects that nats-py's protocol parser cannot read (a vertical tab or a form feed in
a token, invalid UTF-8): a known bug of the pull path, see ``test_a_subject_nats_py_cannot_read``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.jsadmin import stream_last_seq
from processor.bus.streams import provision_streams
from processor.config.parse import subject_pattern_matches
from processor.runtime.processor import Processor
from processor.simulate.generator import Simulator
from tests import hostile
from tests.integration.test_hostile_payloads import CONFIG, DEFINITIONS, LogRecorder, outputs, wait_for
from tests.integration.test_processor import stream_messages

pytestmark = pytest.mark.integration

T0_MS, END_S = hostile.T0_MS, hostile.END_S
STREAM_OF = {"analytics": "ANALYTICS", "trade": "TRADE", "market": "MARKET", "ai": "AI"}
SUBJECTS = ("analytics.gateway.request", "trade.order.submitted", "market.quote.AAPL", "ai.decision.generated")
AI_EVENTS: dict[int, list[tuple[str, dict]]] = {}
for _e in Simulator(T0_MS, seed=7, rate=1.0).records(T0_MS + END_S * 1000):
    if _e.subject.startswith("ai."):
        AI_EVENTS.setdefault((_e.ts_ms - T0_MS) // 1000, []).append((_e.subject, _e.payload))


@dataclass(frozen=True)
class Item:
    subject: str
    data: bytes
    kind: str  # good and partial (the reference's too), equivalent (a good event re-encoded), garbage, dropped
    reason: str | None = None
    headers: dict[str, str] | None = None
    sli: str | None = None  # partial: one SLI that rejects it (the others of its subject use it)


def body_of(subject: str, t_s: int) -> dict:
    if subject == "ai.decision.generated":
        return {"ts": T0_MS + t_s * 1000, "decision_id": f"d{t_s}", "provider": "openai", "model": "gpt-4o",
                "latency_ms": 800.0, "status": "ok", "primary_failed": False, "fallback": False, "cached": False,
                "tokens": 62, "cost_usd": 0.01}  # as the simulator writes them
    return hostile.BODIES[subject](t_s)


def good_items(t_s: int) -> list[Item]:
    out = [Item(s, orjson.dumps(hostile.BODIES[s](t_s)), "good") for s in SUBJECTS[:2]]
    if t_s % 5 == 0:
        out.append(Item("market.quote.AAPL", orjson.dumps(hostile.quote_body(t_s)), "good"))
    return out + [Item(s, orjson.dumps(p), "good") for s, p in AI_EVENTS.get(t_s, [])]


def _offset(ms: int, minutes: int) -> str:
    zone = timezone(timedelta(minutes=minutes))
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone).isoformat()


def equivalents(item: Item, n: int) -> Item:
    """The good event ``item`` written another way that must read the same (n picks the way)."""
    body = orjson.loads(item.data)
    ts = body["ts"]
    ways = [
        lambda: orjson.dumps({**body, "ts": ts + 0.25}),  # a float: the same millisecond
        lambda: orjson.dumps({**body, "ts": _offset(ts, 14 * 60)}),
        lambda: orjson.dumps({**body, "ts": _offset(ts, -(23 * 60 + 59))}),
        lambda: orjson.dumps({**body, "ts": _offset(ts, 5 * 60 + 45)}),
        lambda: orjson.dumps(dict.fromkeys(body, "garbage"))[:-1] + b"," + orjson.dumps(body)[1:],  # the last key wins
        lambda: orjson.dumps(body, option=orjson.OPT_INDENT_2),  # newlines: no joined decode
        lambda: orjson.dumps({**body, "unread": "@"}).replace(b'"@"', b"[" * 1000 + b"]" * 1000),
        lambda: orjson.dumps({**body, "unread": "@"}).replace(b'"@"', b"-123456789012345678901234567890"),
        lambda: orjson.dumps({"\u202e\x01": "\U0001f642", **body}),
    ]
    headers = {"Nats-Msg-Id": f"equiv-{n}", "X-Odd": "a: b\tc", "Traceparent": "00-" + "f" * 32} if n % 3 == 0 else None
    return Item(item.subject, ways[n % len(ways)](), "equivalent", headers=headers)


def with_raw(subject: str, t_s: int, field: str, raw: bytes) -> bytes:
    return hostile.with_raw(body_of(subject, t_s), field, raw)


def garbage(subject: str, t_s: int, max_payload: int) -> list[Item]:
    """Input no SLI of ``subject`` can use, each with the reason it must be dead-lettered for."""
    now_ms = int(time.time() * 1000)
    not_json = [b"", b"{not json", b"[" * 2000 + b"]" * 2000, b"\xef\xbb\xbf{}",
                with_raw(subject, t_s, "latency_ms", b"1e999"), with_raw(subject, t_s, "latency_ms", b"NaN"),
                with_raw(subject, t_s, "ts", b"Infinity"), with_raw(subject, t_s, "ts", b"-Infinity"),
                with_raw(subject, t_s, "extra", b'"\xff\xfe"'), with_raw(subject, t_s, "extra", b'"\\ud800"'),
                with_raw(subject, t_s, "extra", b"[" * 2000 + b"]" * 2000)]
    out = [Item(subject, raw, "garbage", "not_json") for raw in not_json]
    out += [Item(subject, raw, "garbage", "not_object") for raw in (b"[1, 2]", b'"text"', b"42", b"null")]
    stamps = [(b'"soon"', "bad_timestamp"), (b"true", "bad_timestamp"), (b"{}", "bad_timestamp"),
              (b"[]", "bad_timestamp"), (b"-1", "bad_timestamp"), (b"18446744073709551616", "bad_timestamp"),
              (b'"2023-11-14T22:13:20"', "bad_timestamp"), (b"0", "late"), (b'"1970-01-01T00:00:01Z"', "late"),
              (b"253402300799999", "future"), (orjson.dumps(now_ms + 86_400_000), "future")]
    # (On a quote, its freshness SLI reads ts - quote_ts, which such a ts makes negative or beyond a
    # sketch: negative_value or out_of_range for that SLI, late or future for the others. The dead
    # letter is named by the time, which rejects it whole; the detail names each SLI's reason.)
    out += [Item(subject, with_raw(subject, t_s, "ts", raw), "garbage", reason) for raw, reason in stamps]
    headers = {"Nats-Msg-Id": f"g-{subject}-{t_s}", "X-Producer": "\u00e9vil \x01", "Nats-Expected-Stream-Foo": "x"}
    out.append(Item(subject, b"{broken", "garbage", "not_json", headers))
    return out


def big_garbage(max_payload: int) -> list[Item]:
    """A megabyte each: not JSON with headers, and an object with an unreadable ``ts``."""
    headers = {"Nats-Msg-Id": "big-1", "X-Pad": "p" * 200}
    room = max_payload - len(b"NATS/1.0\r\n\r\n") - sum(len(k) + len(v) + 4 for k, v in headers.items())
    body = orjson.dumps({**body_of("ai.decision.generated", 300), "ts": "never", "pad": ""})
    return [Item("analytics.gateway.request", b"{" + b" " * (room - 1), "garbage", "not_json", headers),
            Item("ai.decision.generated", body[:-3] + b'"' + b"p" * (max_payload - len(body)) + b'"}', "garbage",
                 "bad_timestamp")]


# A field that one SLI reads, of a wrong type or value: that SLI rejects the event, the others use it.
PARTIAL = [
    ("analytics.gateway.request", "latency_ms", b'"12"', "bad_value", "gateway_request_latency"),
    ("analytics.gateway.request", "latency_ms", b"-4", "negative_value", "gateway_request_latency"),
    ("analytics.gateway.request", "latency_ms", b"1e308", "out_of_range", "gateway_request_latency"),
    ("analytics.gateway.request", "latency_ms", b"18446744073709551616", "out_of_range", "gateway_request_latency"),
    ("analytics.gateway.request", "status_code", b"true", "bad_field_type", "gateway_requests"),
    ("analytics.gateway.request", "status_code", b'"500"', "bad_field_type", "gateway_requests"),
    ("ai.decision.generated", "latency_ms", b"false", "bad_value", "ai_decision_latency"),
    ("ai.decision.generated", "cost_usd", b'"0.01"', "bad_value", "ai_decision_cost"),
    ("ai.decision.generated", "tokens", b'"62"', "bad_value", "ai_model_tokens"),
]


def partial(t_s: int, n: int) -> Item:
    subject, field, raw, reason, sli = PARTIAL[n % len(PARTIAL)]
    return Item(subject, with_raw(subject, t_s, field, raw), "partial", reason, sli=sli)


def timeline(max_payload: int, *, hostile_run: bool) -> list[Item]:
    out: list[Item] = []
    n = 0
    for t in range(END_S):
        goods = good_items(t)
        if hostile_run and 30 <= t < END_S - 10:
            if t % 7 == 0:  # one good event a few seconds re-encoded
                at = n % len(goods)
                goods[at] = equivalents(goods[at], n)
                n += 1
            if t % 23 == 0:
                subject = SUBJECTS[(t // 23) % len(SUBJECTS)]
                goods += garbage(subject, t, max_payload)[(t // 23) % 3 :: 3]
            if t in (100, 333):  # many batches in a row of nothing usable, on two streams
                goods += [Item(SUBJECTS[t % 4 if t == 100 else 3], b"\x00" * (i % 5), "garbage", "not_json")
                          for i in range(150)]
            if t == 200:
                goods += big_garbage(max_payload)
                goods += [Item("market.quote.\u00e9\u00e9", b"{", "garbage", "not_json"),
                          Item("market.quote.a\x7f\x01", b"[]", "garbage", "not_object"),
                          Item("ai.decision.generated", b"{", "garbage", "not_json", {"Nats-Msg-Id": "once"}),
                          Item("ai.decision.generated", b"[]", "dropped", None, {"Nats-Msg-Id": "once"})]
        if t % 29 == 0 and 30 <= t < END_S - 10:  # in both runs
            goods.append(partial(t, t // 29))
        out += goods
    return out


async def publish(nc, items: list[Item]) -> dict[str, int]:
    """Core-publish every item in order; returns the stored count per stream (duplicates dropped)."""
    stored: Counter = Counter()
    for i, item in enumerate(items):
        await nc.publish(item.subject, item.data, headers=item.headers)
        if item.kind != "dropped":
            stored[STREAM_OF[item.subject.split(".")[0]]] += 1
        if i % 200 == 199:
            await nc.flush()
    await nc.flush()
    for stream, count in stored.items():
        await wait_for(lambda s=stream: stream_last_seq(nc, s), lambda got, c=count: got >= c)
    return dict(stored)


async def start(url: str, batch_size: int, checkpoint_interval_s: float = 3600):
    nc = await connect(ConnectOptions(url=url, name="hostile-live"))
    log = LogRecorder()
    proc = Processor(CONFIG, nc, DEFINITIONS, batch_size=batch_size, checkpoint_interval_s=checkpoint_interval_s,
                     idle_after_s=3600, log=log)
    await proc.start()
    return nc, proc, asyncio.create_task(proc.run()), log


async def stop(nc, proc: Processor, task: asyncio.Task) -> None:
    proc.stop()
    await asyncio.wait_for(task, 30)  # raises a lane's failure
    await nc.close()


async def run(tmp: Path, items: list[Item], *, restart: bool):
    async with EmbeddedServer(tmp) as server:
        admin = await connect(ConnectOptions(url=server.url, name="hostile-live-admin"))
        await provision_streams(admin, DEFINITIONS, LogRecorder())
        stored = await publish(admin, items)
        first_applied = 0
        if restart:
            nc, proc, task, _ = await start(server.url, batch_size=20, checkpoint_interval_s=0.2)
            await wait_for(lambda: proc.lanes["ANALYTICS"].stats.last_seq, lambda seq: seq >= 400)
            await stop(nc, proc, task)  # its final checkpoint: the next one reads on from there
            first_applied = sum(lane.stats.last_seq for lane in proc.lanes.values())
        nc, proc, task, log = await start(server.url, batch_size=100)
        resumed_at = {name: lane.stats.last_seq for name, lane in proc.lanes.items()}
        await wait_for(lambda: {s: proc.lanes[s].stats.last_seq for s in stored},
                       lambda got: all(got[s] >= n for s, n in stored.items()))
        await stop(nc, proc, task)
        messages = await stream_messages(admin.jetstream(), "SLO", "slo.>")
        await admin.close()
    return proc, log, messages, stored, (first_applied, resumed_at)


def places(items: list[Item]) -> dict[tuple[str, int], Item]:
    """(stream, sequence) -> the item stored there, on fresh streams."""
    seq: Counter = Counter()
    out = {}
    for item in items:
        if item.kind == "dropped":
            continue
        stream = STREAM_OF[item.subject.split(".")[0]]
        seq[stream] += 1
        out[(stream, seq[stream])] = item
    return out


def watched() -> set[str]:
    slis = {s.name for s in CONFIG.slis if any(subject_pattern_matches(s.subject, x) for x in SUBJECTS)}
    return slis | {s.name for s in CONFIG.slos if s.sli in slis}


async def test_anything_a_producer_sends_is_dead_lettered_once_and_changes_no_output(tmp_path):
    max_payload = 1024 * 1024  # nats-server's default, which EmbeddedServer keeps
    reference_items = timeline(max_payload, hostile_run=False)
    items = timeline(max_payload, hostile_run=True)
    _, _, ref_messages, _, _ = await run(tmp_path / "reference", reference_items, restart=False)
    proc, log, messages, stored, (first_applied, resumed_at) = await run(tmp_path / "hostile", items, restart=True)

    # The restart read on from the checkpoint, not from the start.
    assert first_applied > 0 and resumed_at["ANALYTICS"] >= 400

    names = watched()
    expected = outputs(ref_messages, names)
    assert any(s.startswith("slo.alerts.") for s, _ in expected)
    assert any(s.startswith("slo.sli.") and b"ai_decision" in d for s, d in expected)
    assert expected == outputs(messages, names)

    # Each garbage message dead-lettered once, with the reason it was made for; nothing else.
    place = places(items)
    letters: dict[tuple[str, int], list] = {}
    for m in messages:
        if m.subject.startswith("slo.deadletter."):
            letters.setdefault((m.headers["Slo-Stream"], int(m.headers["Slo-Stream-Seq"])), []).append(m)
    assert [] == [key for key, group in letters.items() if len(group) != 1]
    garbage = {key: item for key, item in place.items() if item.kind == "garbage"}
    partly = {key: item for key, item in place.items() if item.kind == "partial"}
    unexpected = [(key, place[key].kind, place[key].data[:90], letters[key][0].headers.get("Slo-Detail"))
                  for key in letters if key not in garbage and key not in partly]
    assert [] == unexpected, "\n".join(map(repr, unexpected))
    assert [] == [(key, item) for key, item in [*garbage.items(), *partly.items()] if key not in letters]
    assert [] == [(item.subject, item.data[:80], letters[key][0].headers) for key, item in partly.items()
                  if (letters[key][0].subject, item.data) != (f"slo.deadletter.{item.reason}", letters[key][0].data)
                  or item.sli not in letters[key][0].headers["Slo-Rejected-Slis"].split(",")]
    wrong = [(item.subject, item.data[:60], item.reason, letters[key][0].subject)
             for key, item in garbage.items() if letters[key][0].subject != f"slo.deadletter.{item.reason}"]
    assert [] == wrong, "\n".join(map(repr, wrong))
    for key, item in garbage.items():
        letter = letters[key][0]
        assert item.subject == letter.headers["Slo-Original-Subject"]
        if "Slo-Original-Size" in letter.headers:
            assert (len(item.data), True) == (int(letter.headers["Slo-Original-Size"]), item.data.startswith(letter.data))
        else:
            assert item.data == letter.data

    # Every stored message counted once across the restart (the engines' counters are in the checkpoint).
    for stream, count in stored.items():
        engine = proc.lanes[stream].engine
        assert count == engine.accepted + engine.ignored + sum(engine.rejected.values()), stream
    made = Counter(item.reason for item in [*garbage.values(), *partly.values()])
    counted: Counter = Counter()
    for lane in proc.lanes.values():
        counted.update(lane.engine.rejected)
    assert made == counted
    logged = sum(f["count"] for _, event, f in log.lines if event == "events.rejected")
    assert logged == sum(lane.stats.rejected for lane in proc.lanes.values())


@pytest.mark.parametrize("subject", [b"analytics.a\x0bb",
                                     b"analytics.\xff\xfe",
                                     b"analytics.a\x01\x7fb"])  # odd, and always read: the control case
async def test_a_subject_nats_py_cannot_read_is_dead_lettered_or_ignored_not_a_stall(tmp_path, subject):
    async with EmbeddedServer(tmp_path) as server:
        admin = await connect(ConnectOptions(url=server.url, name="hostile-live-admin"))
        await provision_streams(admin, DEFINITIONS, LogRecorder())
        good = b"PUB analytics.gateway.request 2\r\n{}\r\n"
        await raw_publish(server.url, [good] * 20 + [b"PUB " + subject + b" 2\r\n{}\r\n"] + [good] * 20)
        # The server took it (stored a moment after the PONG that answers the publishes).
        assert 41 == await wait_for(lambda: stream_last_seq(admin, "ANALYTICS"), lambda got: got >= 41)
        try:
            nc, proc, task, _ = await asyncio.wait_for(start(server.url, batch_size=100), 8)
            await wait_for(lambda: proc.lanes["ANALYTICS"].stats.last_seq, lambda seq: seq >= 41, timeout_s=8)
            await stop(nc, proc, task)
        finally:
            await admin.close()


async def raw_publish(url: str, frames: list[bytes]) -> None:
    """PUB frames written as they are, as a producer with its own client may write them."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    await reader.readline()  # INFO
    writer.write(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n' + b"".join(frames)
                 + b"PING\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"PONG")
    writer.close()
