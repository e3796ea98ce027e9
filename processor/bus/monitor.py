"""The event bus measured by the processor itself (PLATFORM-SLOS.md "Event Bus (NATS JetStream)").

The monitor does not judge anything: each ``sample()`` round returns *events*, ``(subject, JSON
payload)`` pairs that the service feeds into an engine of their own (the ``BUS`` time domain),
where ordinary SLIs and alert rules from config evaluate them. A broken bus is therefore a
measurement (``status: "error"``, ``state: "down"``, ``delivered: false``), never an exception.

One round, all requests concurrent and each bounded by ``request_timeout_s`` (at most half the
interval, at most 2 s), so a round always ends within ``interval_ms`` (a stream's consumer list,
page by page, asks for a next page only within the first timeout: two timeouts at most):

``bus.publish.probe``   ``{"ts", "latency_ms", "status": "ok"|"error", "error"?, "stream"}``
    A probe ``{"probe_id", "ts"}`` is published to ``probe_subject`` through JetStream with its
    id as ``Nats-Msg-Id``; ``latency_ms`` is publish -> PubAck (float ms, monotonic clock). A
    refused or unanswered publish is ``status: "error"`` with the reason. ``stream`` is the stream
    that acknowledged the probe; on error, the stream known to hold ``probe_subject`` (from an
    earlier ack or the lookup in ``start()``), or ``""`` when none is known.
``bus.probe.delivery``  ``{"ts", "probe_id", "delivered": bool, "delay_ms"?}``
    Exactly one per acknowledged probe, in a later round: ``delivered: true`` with the publish ->
    receipt delay when the probe came back on the monitor's core subscription within
    ``delivery_timeout_ms``; ``delivered: false`` once that time passed without it (``delay_ms``
    is still given when it did arrive, late). A probe whose publish failed has no delivery event:
    the publish event already counts it as a failure.
``bus.stream.status``   ``{"ts", "stream", "state": "up"|"down", "error"?}``
    One per stream: ``up`` when STREAM.INFO answers within the timeout.
``bus.stream.config``   ``{"ts", "stream", "drift": bool, "fields"}``
    One per stream that has a definition in ``streams/`` and answered: ``fields`` names the
    settings whose live value differs from the definition, comma-separated and sorted
    (``"max_age,num_replicas"``; ``""`` without drift). Replicas are judged as provisioning sets
    them on this cluster (``streams.config_drift``), not as the file says.
``bus.stream.messages`` ``{"ts", "stream", "messages"}``
    One per stream of ``count_messages`` that answered, from the second answer on: how many
    messages it stored since its previous answer (the growth of ``state.last_seq``, which expiry
    by ``max_age`` does not lower). A stream whose ``last_seq`` went back (deleted and created
    again) starts counting afresh and gives no event that round.
``bus.consumer.lag``    ``{"ts", "stream", "consumer", "pending", "ack_pending"}``
    One per configured (stream, durable) whose info could be read: ``num_pending`` and
    ``num_ack_pending``. A durable that does not exist (yet) is skipped with one log line; a
    stream that does not answer gives no lag event (its status event says ``down``).
    On each stream of ``discover_consumers``, also one per consumer that CONSUMER.LIST finds
    (anyone's, not only the processor's), up to ``max_consumers`` of them in all. Ephemeral
    consumers (no durable name) get server-made random names that change with every
    subscription, so that one series each would churn the SLI's series: a stream's ephemerals are
    one event, ``consumer: "*ephemeral"`` (``*`` is never part of a consumer's name), with the
    largest ``pending`` and ``ack_pending`` among them and ``"count"``, how many there are.

Every event of a round carries the same ``ts``, the wall clock (``now_ms``) at the start of the
round, so the ``BUS`` domain's event time moves forward round by round and never goes back within
one. Durations (``latency_ms``, ``delay_ms``) and the delivery timeout use the monotonic clock, so
a wall-clock step neither distorts a measurement nor declares every outstanding probe lost.
"""

from __future__ import annotations

__all__ = [
    "EPHEMERAL_CONSUMER",
    "BusMonitor",
    "DeliveryOutcome",
    "ProbeLedger",
    "consumer_lags",
    "new_messages",
    "wall_clock_ms",
]

import asyncio
import itertools
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
import orjson
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from processor.bus import _jsapi
from processor.bus.denials import denials, guarded
from processor.bus.streams import cluster_size, config_drift
from processor.errors import BusError, PermissionDeniedError
from processor.config.model import BusMonitorConfig
from processor.vocabulary import (
    BUS_CONSUMER_LAG,
    BUS_PROBE_DELIVERY,
    BUS_PUBLISH_PROBE,
    BUS_STREAM_CONFIG,
    BUS_STREAM_MESSAGES,
    BUS_STREAM_STATUS,
)


_MSG_ID_HEADER = "Nats-Msg-Id"
_REQUEST_TIMEOUT_CAP_S = 2.0
_REQUEST_TIMEOUT_FLOOR_S = 0.05
# nats-py bounds the wait for a reply, but not the write of the request: with its outgoing
# buffer over the limit, publish() waits for the socket to drain, as long as that takes. An outer
# bound, a little looser than the reply timeout, keeps a round short on a stuck connection too.
_GUARD_GRACE_S = 0.25
# Enough for every probe still inside its delivery timeout even if rounds come twice as often as
# the interval says; a hard cap for absurd configs (a day of timeout at a 10 ms interval).
_LEDGER_HEADROOM = 4
_LEDGER_CAP_MAX = 1024

# The consumer label of a stream's ephemeral consumers, taken together (see the module docstring).
EPHEMERAL_CONSUMER = "*ephemeral"
# CONSUMER.LIST answers up to 256 consumers a page (nats-server's JSApiListLimit); this many pages
# bound a round's requests on a stream with runaway consumers, well past any max_consumers.
_MAX_LIST_PAGES = 8

# Errors that mean "the bus did not do it" and are therefore measurements, not failures of ours.
_BUS_PROBLEMS = (BusError, nats.errors.Error, OSError, TimeoutError)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class DeliveryOutcome:
    probe_id: str
    delivered: bool
    delay_ms: float | None  # None: never seen


class ProbeLedger:
    """Outstanding probes and their receipts; each probe leaves it exactly once, as one outcome.

    Pure bookkeeping: times are monotonic seconds passed in by the caller. A probe is delivered
    when it was received no later than ``timeout_ms`` after it was sent; the outcome is known (and
    given by ``sweep``) once it was received or once ``timeout_ms`` has passed. Past ``capacity``
    outstanding probes, ``add`` gives up on the oldest ones (not delivered, as far as we know).
    """

    def __init__(self, timeout_ms: int, capacity: int) -> None:
        if timeout_ms < 1 or capacity < 1:
            raise ValueError("timeout_ms and capacity must be at least 1")
        self.timeout_ms = timeout_ms
        self.capacity = capacity
        # probe id -> [sent_s, received_s or None]; insertion order is send order.
        self._probes: dict[str, list[float | None]] = {}

    def __len__(self) -> int:
        return len(self._probes)

    def add(self, probe_id: str, sent_s: float) -> list[DeliveryOutcome]:
        """Track a probe about to be sent; returns the outcomes of probes evicted to make room."""
        self._probes[probe_id] = [sent_s, None]
        evicted = []
        while len(self._probes) > self.capacity:
            oldest = next(iter(self._probes))
            evicted.append(self._outcome(oldest, self._probes.pop(oldest)))
        return evicted

    def discard(self, probe_id: str) -> bool:
        """Forget a probe whose publish failed (the publish event already reports it); returns
        whether it had been received all the same."""
        entry = self._probes.pop(probe_id, None)
        return entry is not None and entry[1] is not None

    def received(self, probe_id: str, at_s: float) -> None:
        entry = self._probes.get(probe_id)
        # Unknown ids are other replicas' probes (same subject) or ones we already settled.
        if entry is not None and entry[1] is None:
            entry[1] = at_s

    def sweep(self, now_s: float) -> list[DeliveryOutcome]:
        """Outcomes of every probe received or past its timeout at ``now_s``, in send order."""
        timeout_s = self.timeout_ms / 1000
        settled = [
            probe_id
            for probe_id, (sent_s, received_s) in self._probes.items()
            if received_s is not None or now_s - sent_s >= timeout_s  # type: ignore[operator]
        ]
        return [self._outcome(p, self._probes.pop(p)) for p in settled]

    def clear(self) -> None:
        self._probes.clear()

    def _outcome(self, probe_id: str, entry: list[float | None]) -> DeliveryOutcome:
        sent_s, received_s = entry
        if received_s is None:
            return DeliveryOutcome(probe_id, False, None)
        assert sent_s is not None
        delay_ms = round((received_s - sent_s) * 1000, 3)
        return DeliveryOutcome(probe_id, delay_ms <= self.timeout_ms, delay_ms)


class BusMonitor:
    """Measures the bus from the processor's own connection; see the module docstring."""

    def __init__(
        self,
        nc: Client,
        config: BusMonitorConfig,
        streams: Sequence[str],
        *,
        definitions: Sequence[dict[str, Any]] = (),
        now_ms: Callable[[], int] = wall_clock_ms,
        log: Any = None,
    ) -> None:
        self._nc = nc
        self._settings = config
        self._streams: tuple[str, ...] = tuple(config.streams) or tuple(streams)
        self._consumers: tuple[tuple[str, str], ...] = tuple(config.consumers)
        # streams/*.json by stream name: the settings each stream must keep (bus.stream.config).
        self._definitions = {str(d["name"]): d for d in definitions}
        # Each counted stream's last_seq at its previous answer (bus.stream.messages).
        self._last_seq: dict[str, int] = {}
        self._now_ms = now_ms
        self._log = log if log is not None else structlog.get_logger(__name__)
        interval_ms = max(1, config.interval_ms)
        timeout_ms = max(1, config.delivery_timeout_ms)
        self.request_timeout_s = max(
            _REQUEST_TIMEOUT_FLOOR_S, min(_REQUEST_TIMEOUT_CAP_S, interval_ms / 2000)
        )
        capacity = 2 * math.ceil(timeout_ms / interval_ms) + _LEDGER_HEADROOM
        self.ledger = ProbeLedger(timeout_ms, min(_LEDGER_CAP_MAX, capacity))
        # Replicas publish probes on the same subject; the instance token keeps ids (and so
        # Nats-Msg-Id dedupe and receipt matching) apart.
        self._instance = uuid.uuid4().hex[:12]
        self._probe_seq = itertools.count(1)
        self._probe_stream = ""
        self._sub: Subscription | None = None
        self._round_lock = asyncio.Lock()
        # Last reported condition per thing, so that a lasting problem is logged once, not per round.
        self._condition: dict[tuple[str, ...], str] = {}

    @property
    def streams(self) -> tuple[str, ...]:
        return self._streams

    async def start(self) -> None:
        """Subscribe to the probe subject (core NATS) to see probes arrive; raises BusError."""
        if self._sub is not None:
            return
        subject = self._settings.probe_subject
        try:
            self._sub = await self._nc.subscribe(subject, cb=self._on_probe)
        except nats.errors.Error as exc:
            raise BusError(f"bus monitor: cannot subscribe to {subject}: {exc}") from exc
        if (getattr(self._nc, "options", None) or {}).get("no_echo"):
            self._log.warning(
                "bus_monitor.no_echo",
                probe_subject=subject,
                consequence="the connection has no_echo set, so probes never come back to it "
                "and every probe will count as undelivered",
            )
        await self._find_probe_stream()
        self._log.info(
            "bus_monitor.started",
            probe_subject=subject,
            probe_stream=self._probe_stream or None,
            streams=list(self._streams),
            consumers=[f"{s}/{c}" for s, c in self._consumers],
            discover_consumers=list(self._settings.discover_consumers),
            count_messages=list(self._settings.count_messages),
            interval_ms=self._settings.interval_ms,
            request_timeout_s=self.request_timeout_s,
        )

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        self.ledger.clear()
        if sub is not None:
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass  # a closed connection has no subscription left to remove

    async def sample(self) -> list[tuple[str, bytes]]:
        """One round of measurements; never raises for bus problems (they are the measurements)."""
        if self._sub is None:
            raise RuntimeError("BusMonitor.sample() called before start()")
        # A refusal is the one bus problem that is not a measurement: it is a misconfiguration,
        # and would read as a broken bus forever. It ends the round, and the processor.
        denials(self._nc).check()
        async with self._round_lock:
            ts_ms = self._now_ms()
            events = [
                self._delivery_event(ts_ms, outcome)
                for outcome in self.ledger.sweep(time.perf_counter())
            ]
            probe, streams, lags, discovered = await asyncio.gather(
                self._probe(ts_ms),
                asyncio.gather(*(self._stream_round(ts_ms, s) for s in self._streams)),
                asyncio.gather(*(self._consumer_lag(ts_ms, s, c) for s, c in self._consumers)),
                self._discovered_lags(ts_ms),
            )
            events.extend(probe)
            events.extend(event for stream_events in streams for event in stream_events)
            events.extend(lag for lag in lags if lag is not None)
            events.extend(discovered)
            return events

    # --- measurements ----------------------------------------------------------------------------

    async def _probe(self, ts_ms: int) -> list[tuple[str, bytes]]:
        probe_id = f"probe-{self._instance}-{next(self._probe_seq)}"
        payload = orjson.dumps({"probe_id": probe_id, "ts": ts_ms})
        # Tracked before it is sent: the copy on our subscription can overtake the PubAck.
        sent_s = time.perf_counter()
        evicted = self.ledger.add(probe_id, sent_s)
        if evicted:
            self._log.warning(
                "bus_monitor.probes_evicted",
                count=len(evicted),
                capacity=self.ledger.capacity,
                hint="sample() runs more often than interval_ms allows for delivery_timeout_ms",
            )
        timeout_s = self.request_timeout_s
        error: str | None = None
        timed_out = False
        stream = ""
        try:
            reply = await asyncio.wait_for(
                guarded(self._nc, self._nc.request(
                    self._settings.probe_subject,
                    payload,
                    timeout=timeout_s,
                    headers={_MSG_ID_HEADER: probe_id},
                ), self._settings.probe_subject),
                timeout_s + _GUARD_GRACE_S,
            )
            stream, error = _read_pub_ack(reply)
        except PermissionDeniedError:
            raise
        except nats.errors.NoRespondersError:
            error = f"no JetStream stream holds {self._settings.probe_subject}"
        except TimeoutError:  # nats-py's own TimeoutError is one too
            error = f"no PubAck within {timeout_s:g} s"
            timed_out = True
        except _BUS_PROBLEMS as exc:
            error = _describe(exc)
        latency_ms = round((time.perf_counter() - sent_s) * 1000, 3)

        body: dict[str, Any] = {"ts": ts_ms, "latency_ms": latency_ms}
        if error is None:
            self._probe_stream = stream
            body["status"] = "ok"
        else:
            if self.ledger.discard(probe_id) and timed_out:
                # Our own subscription is interest enough to keep the server from answering
                # "no responders", so a subject that no stream holds shows up as this.
                error += " (the probe reached subscribers, but no stream stored it)"
            body["status"] = "error"
            body["error"] = error
        body["stream"] = stream or self._probe_stream
        self._note(("probe",), "ok" if error is None else "error", error=error)
        events = [(BUS_PUBLISH_PROBE, orjson.dumps(body))]
        events.extend(self._delivery_event(ts_ms, outcome) for outcome in evicted)
        return events

    async def _stream_round(self, ts_ms: int, stream: str) -> list[tuple[str, bytes]]:
        """The stream's status and, from the same STREAM.INFO answer, its settings and growth."""
        body: dict[str, Any] = {"ts": ts_ms, "stream": stream}
        info: dict[str, Any] = {}
        try:
            info = await self._api(f"STREAM.INFO.{stream}")
            body["state"] = "up"
        except PermissionDeniedError:
            raise
        except _BUS_PROBLEMS as exc:
            body["state"] = "down"
            body["error"] = _describe(exc)
        self._note(("stream", stream), body["state"], error=body.get("error"))
        events = [(BUS_STREAM_STATUS, orjson.dumps(body))]
        if info:
            events.extend(self._stream_config(ts_ms, stream, info.get("config") or {}))
            events.extend(self._stream_messages(ts_ms, stream, info.get("state") or {}))
        return events

    def _stream_config(self, ts_ms: int, stream: str, live: dict[str, Any]) -> list[tuple[str, bytes]]:
        definition = self._definitions.get(stream)
        if definition is None:
            return []
        # Read each round: a cluster that grows (or is still forming at start) changes what
        # provisioning would have set.
        fields = config_drift(definition, live, cluster_size(self._nc))
        text = ",".join(fields)
        self._note(("config", stream), f"drift:{text}" if fields else "ok",
                   error=f"differs from streams/ in {', '.join(fields)}" if fields else None)
        body = {"ts": ts_ms, "stream": stream, "drift": bool(fields), "fields": text}
        return [(BUS_STREAM_CONFIG, orjson.dumps(body))]

    def _stream_messages(self, ts_ms: int, stream: str, state: dict[str, Any]) -> list[tuple[str, bytes]]:
        if stream not in self._settings.count_messages or "last_seq" not in state:
            return []
        last_seq = int(state["last_seq"])
        count = new_messages(self._last_seq.get(stream), last_seq)
        self._last_seq[stream] = last_seq
        if count is None:
            return []
        return [(BUS_STREAM_MESSAGES, orjson.dumps({"ts": ts_ms, "stream": stream, "messages": count}))]

    async def _consumer_lag(self, ts_ms: int, stream: str, durable: str) -> tuple[str, bytes] | None:
        try:
            info = await self._api(f"CONSUMER.INFO.{stream}.{durable}")
        except PermissionDeniedError:
            raise
        except _jsapi.JsApiError as exc:
            if exc.err_code == _jsapi.ERR_CONSUMER_NOT_FOUND:
                self._note(("consumer", stream, durable), "missing")
            else:
                self._note(("consumer", stream, durable), "unreadable", error=_describe(exc))
            return None
        except _BUS_PROBLEMS as exc:
            self._note(("consumer", stream, durable), "unreadable", error=_describe(exc))
            return None
        self._note(("consumer", stream, durable), "ok")
        return BUS_CONSUMER_LAG, orjson.dumps(_lag_body(ts_ms, stream, durable, info))

    async def _discovered_lags(self, ts_ms: int) -> list[tuple[str, bytes]]:
        """The lag of every consumer on the ``discover_consumers`` streams but the listed ones,
        at most ``max_consumers`` of them, in stream order, then by name."""
        streams = self._settings.discover_consumers
        listed = set(self._consumers)
        found = await asyncio.gather(*(self._list_consumers(s) for s in streams))
        bodies = [
            body
            for stream, infos in zip(streams, found)
            for body in consumer_lags(stream, infos, ts_ms)
            if (stream, body["consumer"]) not in listed
        ]
        limit = self._settings.max_consumers
        if len(bodies) > limit:
            self._note(("discovery",), "capped", error=f"{len(bodies)} consumers found, the lag of "
                       f"the first {limit} is measured (bus_monitor.max_consumers)")
        else:
            self._note(("discovery",), "ok")
        return [(BUS_CONSUMER_LAG, orjson.dumps(body)) for body in bodies[:limit]]

    async def _list_consumers(self, stream: str) -> list[dict[str, Any]]:
        """Every consumer's info on ``stream`` (CONSUMER.LIST, page by page); [] when the stream
        does not answer (its status event says so). A next page is asked for only while the
        first request's timeout has not passed, so that the listing ends within two of them, and
        the round within its interval, however many consumers there are."""
        infos: list[dict[str, Any]] = []
        deadline_s = time.perf_counter() + self.request_timeout_s
        for _ in range(_MAX_LIST_PAGES):
            try:
                page = await self._api(f"CONSUMER.LIST.{stream}", {"offset": len(infos)})
            except PermissionDeniedError:
                raise
            except _BUS_PROBLEMS:
                return []
            consumers = page.get("consumers") or []
            infos.extend(consumers)
            if not consumers or len(infos) >= int(page.get("total", 0)) or time.perf_counter() > deadline_s:
                break
        return infos

    # --- plumbing --------------------------------------------------------------------------------

    async def _api(self, request: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """One JetStream API request ("STREAM.INFO.X"), bounded in time; errors are BusErrors
        whose text begins with the request kind ("STREAM.INFO: ...")."""
        what = ".".join(request.split(".")[:2])
        timeout_s = self.request_timeout_s
        try:
            return await asyncio.wait_for(
                _jsapi.request(
                    self._nc, f"{_jsapi.API_PREFIX}.{request}", payload, what=what, timeout_s=timeout_s
                ),
                timeout_s + _GUARD_GRACE_S,
            )
        except TimeoutError as exc:
            raise BusError(f"{what}: JetStream did not answer within {timeout_s:g} s") from exc

    async def _on_probe(self, msg: Msg) -> None:
        received_s = time.perf_counter()
        try:
            probe_id = orjson.loads(msg.data)["probe_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return  # not a probe of ours; someone else publishes on the subject
        if isinstance(probe_id, str):
            self.ledger.received(probe_id, received_s)

    async def _find_probe_stream(self) -> None:
        """Best effort: which stream holds the probe subject, to name it in error events and to
        say at start, rather than in every round, that probes cannot be stored."""
        subject = self._settings.probe_subject
        try:
            body = await self._api("STREAM.NAMES", {"subject": subject})
        except PermissionDeniedError:
            raise
        except _BUS_PROBLEMS as exc:
            self._log.info("bus_monitor.probe_stream_unknown", probe_subject=subject, error=_describe(exc))
            return
        names = body.get("streams") or []
        if names:
            self._probe_stream = str(names[0])
        else:
            self._log.warning(
                "bus_monitor.probe_subject_not_stored",
                probe_subject=subject,
                consequence="no stream holds the probe subject; every probe publish will fail",
            )

    def _delivery_event(self, ts_ms: int, outcome: DeliveryOutcome) -> tuple[str, bytes]:
        body: dict[str, Any] = {"ts": ts_ms, "probe_id": outcome.probe_id, "delivered": outcome.delivered}
        if outcome.delay_ms is not None:
            body["delay_ms"] = outcome.delay_ms
        return BUS_PROBE_DELIVERY, orjson.dumps(body)

    def _note(self, key: tuple[str, ...], condition: str, *, error: str | None = None) -> None:
        """Log a thing's condition when it changes (the first "ok" of a thing is not news). A
        condition may carry its detail after a colon ("drift:max_age"): a new detail is news too,
        and the log event is named by the part before it."""
        previous = self._condition.get(key)
        self._condition[key] = condition
        if condition == previous or (previous is None and condition in ("ok", "up")):
            return
        kind, *names = key
        fields: dict[str, Any] = {}
        if kind in ("stream", "config"):
            fields["stream"] = names[0]
        elif kind == "consumer":
            fields["stream"], fields["consumer"] = names
        elif kind == "probe":
            fields["probe_subject"] = self._settings.probe_subject
        if error is not None:
            fields["error"] = error
        if previous == "missing" and condition == "ok":
            self._log.info("bus_monitor.consumer_found", **fields)
        elif condition in ("ok", "up"):
            self._log.info(f"bus_monitor.{kind}_recovered", **fields)
        elif condition == "missing":
            self._log.info(
                "bus_monitor.consumer_missing", **fields, note="no lag is measured until it exists"
            )
        else:
            self._log.warning(f"bus_monitor.{kind}_{condition.split(':')[0]}", **fields)


def new_messages(previous_last_seq: int | None, last_seq: int) -> int | None:
    """Messages a stream stored between two answers, from its ``last_seq`` then and now; None
    when unknown: no earlier answer, or a sequence that went back (the stream was made anew)."""
    if previous_last_seq is None or last_seq < previous_last_seq:
        return None
    return last_seq - previous_last_seq


def consumer_lags(stream: str, infos: Sequence[dict[str, Any]], ts_ms: int) -> list[dict[str, Any]]:
    """``bus.consumer.lag`` bodies from CONSUMER.LIST's consumer infos: one per durable, by name,
    then the ephemerals as one (their largest pending and ack pending, and their count)."""
    durables: list[dict[str, Any]] = []
    ephemerals: list[dict[str, Any]] = []
    for info in infos:
        name = (info.get("config") or {}).get("durable_name")
        (durables if name else ephemerals).append(info)
    bodies = [
        _lag_body(ts_ms, stream, str(info["config"]["durable_name"]), info)
        for info in sorted(durables, key=lambda i: str(i["config"]["durable_name"]))
    ]
    if ephemerals:
        worst = {
            "num_pending": max(int(i.get("num_pending", 0)) for i in ephemerals),
            "num_ack_pending": max(int(i.get("num_ack_pending", 0)) for i in ephemerals),
        }
        bodies.append(dict(_lag_body(ts_ms, stream, EPHEMERAL_CONSUMER, worst), count=len(ephemerals)))
    return bodies


def _lag_body(ts_ms: int, stream: str, consumer: str, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "ts": ts_ms,
        "stream": stream,
        "consumer": consumer,
        "pending": int(info.get("num_pending", 0)),
        "ack_pending": int(info.get("num_ack_pending", 0)),
    }


def _read_pub_ack(reply: Msg) -> tuple[str, str | None]:
    """(stream, None) for a PubAck; ("", why the message was not stored) otherwise."""
    try:
        ack = orjson.loads(reply.data) if reply.data else None
    except orjson.JSONDecodeError:
        return "", "invalid PubAck from JetStream"
    if not isinstance(ack, dict):
        status = (reply.headers or {}).get("Status")
        return "", f"empty reply to the publish (status {status or 'none'})"
    error = ack.get("error")
    if error:
        return "", f"{error.get('description', 'error')} (err_code={error.get('err_code')})"
    if "seq" not in ack:
        return "", "PubAck without a sequence"
    return str(ack.get("stream", "")), None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
