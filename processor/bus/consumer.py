"""The batch-level pull consumer: JetStream messages in batches, at the cost of one wake-up per batch.

nats-py's ``PullSubscription.fetch()`` waits for each message separately (``next_msg`` with a
timer per message), which caps it at a few tens of thousands of messages per second. Here one pull
request asks for ``batch_size`` messages, the deliveries are appended to a list as they are read,
and the caller is woken once when the batch is complete. One request stays in flight ahead of the
batch being processed, so the server streams the next batch while the engine works on this one.

Deliveries are read by ``leanread.LeanParser`` off the connection's read buffer into columns
(``leanread.Deliveries``), with no nats-py ``Msg``, queue or task per message (about twice the
rate), and a batch is handed over as columns too. With a nats-py it
was not written against, or ``lean=False``, the same logic runs in a subscription callback.

What the server does, read in nats-server's consumer.go and measured against 2.15, that shapes it:

- Deliveries keep the subject they were published on; only status messages arrive on the pull
  request's own reply subject. A data message cannot be attributed to the request it answers.
- The server hands messages to a consumer's waiting requests round-robin, not request by request
  (two requests for 10, 5 messages published: split 3/2). So the puller keeps one arrival-ordered
  buffer and counts *credit*, the messages asked for and not yet delivered; a 408 carries
  ``Nats-Pending-Messages``, the undelivered rest of that request, which keeps the count honest.
- Requests are ``no_wait`` with ``expires``: with nothing pending the server holds the request
  like a long poll (408 Request Timeout at ``expires``); once it has delivered something it ends
  the request with 404 No Messages as soon as the consumer has nothing more pending. A batch is
  therefore "what was there", returned at once, not "wait until batch_size or expiry", which keeps
  latency low on a trickle without giving up large batches on a backlog.
- A ``no_wait`` request that arrives while the requests already waiting cover every pending
  message is turned away at once with 408 "Requests Pending" and no pending header.
- Status messages come on the same subscription as data, with empty data, an empty reply
  subject and a ``Status`` header. A JetStream delivery always has a ``$JS.ACK...`` reply
  subject, so the reply alone tells them apart, at no parsing cost.
- Pull requests whose reply subject lost its subscriber are dropped by the server on the next
  delivery attempt (interest check), so a stopped puller's requests do not swallow messages.
"""

from __future__ import annotations

__all__ = ["BatchPuller", "Delivery", "consumer_pending", "js_timestamp_ms", "stream_sequence"]

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from processor.bus import _jsapi
from processor.bus.denials import denials
from processor.bus.durable import checked_start_seq, consumer_pending, filter_config
from processor.bus.leanread import Deliveries, PulledMsg, Route, lean_routes
from processor.bus.jsreply import (ack_tokens, consumer_sequence, delivered_count, delivered_index, js_timestamp_ms,
                                   stream_sequence)
from processor.errors import BusError, DeliveryGapError, LeaseLostError
from processor.vocabulary import PULL_BATCH_SIZE

_log = structlog.get_logger(__name__)

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000

_ACK = b"+ACK"
_ACK_WAIT_S = 30
_HISTORY_INACTIVE_S = 60
# Statuses after which sending the same pull request again cannot succeed.
_FATAL_STATUSES = frozenset({"400", "412"})
_CONSUMER_DELETED = "Consumer Deleted"
_FATAL_409_PREFIXES = (_CONSUMER_DELETED, "Consumer is push based", "Exceeded MaxRequestBatch",
                       "Exceeded MaxRequestExpires", "Exceeded MaxRequestMaxBytes")
# An old server that answers an empty no_wait request at once, even with expires, would make an
# idle puller spin; after this many such answers in a row the puller long-polls without no_wait.
_EMPTY_404_LIMIT = 3

# What a batch holds: a lean delivery, or a nats-py Msg on the fallback path (both: subject, data, reply).
Delivery = PulledMsg | Msg


class BatchPuller:
    """A durable pull consumer (AckPolicy ALL) read a batch at a time.

    Pass ``start_after_seq`` whenever a checkpoint exists: delivery then resumes exactly after it;
    ``0`` reads the stream from its first message (a processor with no checkpoint yet). With
    ``None`` the durable's own position is used (or, for a new durable, the whole stream).
    """

    _reack: str | None  # a redelivery of a message acked before (its ack lost), to ack again

    def __init__(
        self,
        nc: Client,
        stream: str,
        durable: str,
        filter_subject: str | Sequence[str] | None = None,
        batch_size: int = PULL_BATCH_SIZE,
        expires_ms: int = 500,
        start_after_seq: int | None = None,
        history: dict[str, Any] | None = None,
        may_pull: Callable[[], bool] | None = None,
        lean: bool = True,
        check_gaps: bool = False,
    ) -> None:
        if batch_size < 1 or expires_ms < 10:
            raise ValueError("batch_size must be at least 1 and expires_ms at least 10")
        self._nc, self._stream, self._durable = nc, stream, durable
        # One subject, or several (a sidecar's: nats-server 2.10+ takes ``filter_subjects``).
        self._filters = filter_config(filter_subject)
        self._batch_size = batch_size
        self._expires_ms = expires_ms
        self._start_after_seq = start_after_seq
        # A read of stored history (a replay): an ephemeral consumer starting where ``history``
        # says (its deliver policy), never acked, deleted at stop and by the server once inactive.
        self._history = history
        # `slo run --standby`: the lease's fence, asked right before each pull request, since a
        # request of an instance that lost its lease takes messages from the new active's
        # consumer (same durable), which its ack of later ones (AckPolicy ALL) would then skip.
        self._may_pull = may_pull
        self._check_gaps = check_gaps or may_pull is not None  # deliveries lost on the way: _check_no_gap
        self._next_subject = f"{_jsapi.API_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._pull_payload = json.dumps({"batch": batch_size, "expires": expires_ms * _NS_PER_MS, "no_wait": True}).encode()
        self._what = f"consumer {stream}/{durable}"
        self._refusals = denials(nc)
        self._inbox = ""
        self._sub: Subscription | None = None
        self._lean = lean
        self._routes: dict[int, Route] | None = None
        self._request_counter = 0
        self._reconnects = nc.stats.get("reconnects", 0)  # the client's count when requests were sent
        # reply subject of each pull request the server may still be serving -> when it expires
        self._live_requests: dict[str, float] = {}
        self._credit = 0
        self._buffer: Deliveries | list[Msg] = []  # Deliveries once the lean parser reads for us
        self._waiter: asyncio.Future[None] | None = None
        self._failure: BusError | DeliveryGapError | None = None
        self._no_responders = self._request_ended = False  # a pull answered 503: the consumer may be gone
        # Everything before the <delivered> token of a first delivery ("$JS.ACK.S.C.1."): a
        # reply starting with it is a first delivery, which the callback checks with startswith
        # instead of parsing. Learned from the first delivery.
        self._first_delivery_prefix: bytes | None = None  # of a reply as its bytes (PulledMsg.raw_reply)
        self._last_appended: Delivery | None = None
        self._delivered_total = 0
        # The consumer's delivery sequence before this puller's first delivery (--standby: see
        # _check_no_gap); None: unknown, not checked.
        self._dseq_origin: int | None = None
        self._delivered_at_last_404 = -1
        self._empty_404s = 0
        self.redeliveries_dropped = 0
        self._acked_seq, self._reack = 0, None  # the stream sequence of the last message acked

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def lean(self) -> bool:
        """Whether deliveries are read by the lean parser (else by a subscription callback)."""
        return self._routes is not None

    async def start(self) -> None:
        self._refusals.expect(self._next_subject)
        self._refusals.expect(f"$JS.ACK.{self._stream}.{self._durable}.")
        await self._ensure_consumer()
        self._inbox = self._nc.new_inbox()
        # Installed before the subscription exists, so no delivery of ours can have gone the
        # nats-py way (its queue) when the lean way starts: they would be read out of order.
        routes = lean_routes(self._nc) if self._lean else None
        try:
            # nats-py drops messages past these limits (a "slow consumer"), which would be a
            # silent gap. The server never sends more than the credit asked for (at most a few
            # batches), so limits this far above it cannot be reached.
            self._sub = await self._nc.subscribe(
                f"{self._inbox}.*",
                cb=self._on_msg,
                pending_msgs_limit=max(64 * self._batch_size, 512 * 1024),
                pending_bytes_limit=256 * 1024 * 1024,
            )
        except nats.errors.Error as exc:
            raise BusError(f"{self._what}: cannot subscribe: {exc}") from exc
        if routes is not None:
            routes[self._sub._id] = self
            self._routes = routes
            self._buffer = Deliveries()
        await self._top_up()

    async def _ensure_consumer(self) -> None:
        if self._history is not None:
            await self._create_or_update({
                "name": self._durable,
                "ack_policy": "none",
                "replay_policy": "instant",
                "mem_storage": True,
                "inactive_threshold": _HISTORY_INACTIVE_S * _NS_PER_S,
                **self._filters,
                **self._history,
            })
            return
        info = await self._consumer_info()
        config = self._wanted_config()
        # A consumer created here starts its delivery sequence at 0; one kept, where it is.
        self._dseq_origin = 0
        if self._start_after_seq is not None:
            if info is not None and self._reusable_at(info, self._start_after_seq):
                self._dseq_origin = int(info.get("delivered", {}).get("consumer_seq", 0))
                await self._reconcile(info["config"], config)
                return
            if info is not None:
                await self._delete_to_reposition(info)
            config["deliver_policy"] = "by_start_sequence"
            config["opt_start_seq"] = await checked_start_seq(self._nc, self._stream, self._durable, self._start_after_seq)
            await self._create_or_update(config)
            return
        if info is None:
            config["deliver_policy"] = "all"
            await self._create_or_update(config)
            return
        existing = info["config"]
        self._dseq_origin = int(info.get("delivered", {}).get("consumer_seq", 0))
        if existing.get("ack_policy") != "all" or existing.get("deliver_subject"):
            raise BusError(
                f"{self._what}: an existing consumer of that name is not a pull consumer with "
                f"AckPolicy ALL; remove it or choose another durable name"
            )
        await self._reconcile(existing, config)

    async def _consumer_info(self) -> dict[str, Any] | None:
        """The durable's info, None when it does not exist yet."""
        try:
            return await _jsapi.request(
                self._nc,
                f"{_jsapi.API_PREFIX}.CONSUMER.INFO.{self._stream}.{self._durable}",
                what=f"{self._what}: info",
            )
        except _jsapi.JsApiError as exc:
            if exc.err_code == _jsapi.ERR_STREAM_NOT_FOUND:
                raise BusError(f"{self._what}: stream {self._stream} does not exist") from exc
            if exc.err_code != _jsapi.ERR_CONSUMER_NOT_FOUND:
                raise
            return None

    def _wanted_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "durable_name": self._durable,
            "name": self._durable,
            "ack_policy": "all",
            "ack_wait": _ACK_WAIT_S * _NS_PER_S,
            # AckPolicy ALL with one ack per batch: a few batches are unacked at any time. Too low
            # a limit would stall delivery mid-batch until the ack arrives.
            "max_ack_pending": max(20 * self._batch_size, 50_000),
            "max_deliver": -1,
            "replay_policy": "instant",
        }
        config.update(self._filters)
        return config

    async def _delete_to_reposition(self, info: dict[str, Any]) -> None:
        # Safe to delete: the checkpoint, not the consumer, is the source of truth. The engine
        # state was restored from a snapshot that covers exactly the stream up to start_after_seq,
        # so what the old consumer had delivered or acked beyond it is meaningless now; keeping it
        # would skip events (acked past the checkpoint) or replay them out of order (delivered but
        # unacked ones come back after ack_wait). Deleting a consumer never deletes stream data.
        _log.info(
            "consumer.repositioned",
            stream=self._stream,
            durable=self._durable,
            start_after_seq=self._start_after_seq,
            was_delivered_seq=info.get("delivered", {}).get("stream_seq"),
            was_ack_floor_seq=info.get("ack_floor", {}).get("stream_seq"),
        )
        await _jsapi.request(
            self._nc,
            f"{_jsapi.API_PREFIX}.CONSUMER.DELETE.{self._stream}.{self._durable}",
            what=f"{self._what}: delete to reposition",
        )

    async def _reconcile(self, existing: dict[str, Any], config: dict[str, Any]) -> None:
        # Keep its deliver policy (which cannot change) and position; refresh what may change.
        desired = dict(existing, **config)
        for key in ("filter_subject", "filter_subjects"):
            if key not in self._filters:
                desired.pop(key, None)
        if desired != existing:
            await self._create_or_update(desired)

    @staticmethod
    def _reusable_at(info: dict[str, Any], seq: int) -> bool:
        config = info.get("config", {})
        if config.get("ack_policy") != "all" or config.get("deliver_subject"):
            return False
        delivered = int(info.get("delivered", {}).get("stream_seq", -1))
        ack_floor = int(info.get("ack_floor", {}).get("stream_seq", -1))
        # Nothing delivered beyond the checkpoint, nothing unacked before it.
        return delivered == seq and ack_floor == seq

    async def _create_or_update(self, config: dict[str, Any]) -> None:
        await _jsapi.request(
            self._nc,
            f"{_jsapi.API_PREFIX}.CONSUMER.CREATE.{self._stream}.{self._durable}",
            {"stream_name": self._stream, "config": config},
            what=f"{self._what}: create",
        )

    async def _top_up(self) -> bool:
        """Keep at least one full request's worth of messages asked for beyond the buffer;
        True if a request was sent."""
        reconnects = self._nc.stats.get("reconnects", 0)
        if reconnects != self._reconnects:
            # The connection was replaced (a NATS node lost): the requests it carried may have
            # died with their server, so ask again now rather than after they expire. Requests
            # that did survive only deliver more than asked for, which the buffer takes.
            self._reconnects = reconnects
            self._live_requests.clear()
            self._credit = 0
        if self._live_requests:
            now_s = time.monotonic()
            stale = [r for r, deadline in self._live_requests.items() if deadline < now_s]
            for reply in stale:
                del self._live_requests[reply]
            if not self._live_requests:
                # Every request we made has expired server-side. Their 408s may have been lost
                # (a reconnect drops pending pull requests silently): any credit left is fiction.
                self._credit = 0
        sent = False
        while self._credit < self._batch_size:
            if self._may_pull is not None and not self._may_pull():
                raise LeaseLostError(f"{self._what}: this instance no longer holds its lease: no more pull requests")
            sent = True
            self._request_counter += 1
            reply = f"{self._inbox}.{self._request_counter}"
            # Grace beyond expires: the server's 408 is the normal end, the deadline a backstop.
            self._live_requests[reply] = time.monotonic() + self._expires_ms / 1000 + 1.0
            self._credit += self._batch_size
            try:
                await self._nc.publish(self._next_subject, self._pull_payload, reply=reply)
            except nats.errors.Error as exc:
                raise BusError(f"{self._what}: cannot send a pull request: {exc}") from exc
        return sent

    def on_deliveries(self, msgs: Deliveries) -> None:
        """Deliveries read by the lean parser: what ``_on_msg`` does, a run at a time."""
        try:
            prefix = self._first_delivery_prefix
            # All first deliveries (the rule): checked in C, no Python frame per message.
            if prefix is None or not all(map(bytes.startswith, msgs.raw_replies, repeat(prefix))):
                msgs = self._new_to_us(msgs)
                if not msgs:
                    return
            self._buffer.extend(msgs)
            self._last_appended = msgs[-1]
            self._delivered_total += len(msgs)
            self._credit -= len(msgs)
            if len(self._buffer) >= self._batch_size or self._credit <= 0:
                self._wake()
        except Exception as exc:  # noqa: BLE001 - raised here, it would end nats-py's read loop
            self._fail(f"cannot read a delivery: {exc!r}")

    def _new_to_us(self, msgs: Deliveries) -> Deliveries:
        """``msgs`` without the redeliveries ``_accept_slow_path`` drops, one at a time."""
        kept = Deliveries()
        for msg in msgs:
            prefix = self._first_delivery_prefix
            if (prefix is not None and msg.raw_reply.startswith(prefix)) or self._accept_slow_path(msg.reply):
                kept.append(msg)
                self._last_appended = msg
        return kept

    def on_status(self, subject: str, headers: dict[str, str]) -> None:
        """A status message read by the lean parser."""
        try:
            self._on_status(subject, headers)
        except Exception as exc:  # noqa: BLE001 - raised here, it would end nats-py's read loop
            self._fail(f"cannot read a status message: {exc!r}")

    def _fail(self, why: str) -> None:
        self._failure = BusError(f"{self._what}: {why}")
        self._wake()

    async def _on_msg(self, msg: Msg) -> None:
        reply = msg.reply
        if reply:
            prefix = self._first_delivery_prefix
            if prefix is None or not reply.encode().startswith(prefix):  # (the fallback path: str)
                if not self._accept_slow_path(reply):
                    return
            self._buffer.append(msg)
            self._last_appended = msg
            self._delivered_total += 1
            self._credit -= 1
            if len(self._buffer) >= self._batch_size or self._credit <= 0:
                self._wake()
            return
        self._on_status(msg.subject, msg.headers or {})

    def _accept_slow_path(self, reply: str) -> bool:
        """A redelivery, or the first message: decide whether it is new to this puller."""
        try:
            tokens = ack_tokens(reply)
        except ValueError:
            return True
        if delivered_count(tokens) == 1:
            self._first_delivery_prefix = (".".join(tokens[: delivered_index(tokens)]) + ".1.").encode()
            return True
        # Redelivered after ack_wait while this puller still held it unacked (a stall longer than
        # ack_wait). It arrives out of order, behind newer messages; passing it on would count it
        # twice. One from before this puller existed is new to us and goes through.
        last = self._last_appended
        seq = stream_sequence(reply)
        if last is not None and seq <= stream_sequence(last.reply):
            self.redeliveries_dropped += 1
            self._credit -= 1
            if seq <= self._acked_seq:
                # Acked before, the ack lost with a consumer leader: again, or its floor never moves.
                self._reack = reply
            return False
        return True

    def _on_status(self, subject: str, headers: dict[str, str]) -> None:
        status = headers.get("Status", "")
        if status == "100":
            return  # idle heartbeat; we do not ask for them, but they are harmless
        was_live = self._live_requests.pop(subject, None) is not None
        undelivered = headers.get("Nats-Pending-Messages")
        if status == "408" and undelivered is None:
            # "Requests Pending": turned away on arrival, nothing delivered to it. The requests
            # already waiting are still streaming, so this ends no batch and wakes nobody.
            if was_live:
                self._credit = max(0, self._credit - self._batch_size)
            return
        if was_live:
            if undelivered is not None:
                self._credit -= int(undelivered)
            else:
                # 404 (or a 409) does not say how much of this request went undelivered. The
                # requests still live have either received nothing (full credit each) or are
                # about to end the same way, so this is an upper bound that settles at zero.
                self._credit = min(self._credit, self._batch_size * len(self._live_requests))
            if not self._live_requests or self._credit < 0:
                self._credit = 0
        if status == "404":
            self._note_404()
        description = str(headers.get("Description", ""))
        if status == "409" and description.startswith(_CONSUMER_DELETED) and self._history is None:
            self._failure = self._deleted()
        elif status == "503" and self._history is None:
            self._no_responders = True  # a deleted consumer's 409 goes only to a pull waiting then: next_batch asks
        elif status in _FATAL_STATUSES or (
            status == "409" and description.startswith(_FATAL_409_PREFIXES)
        ):
            self._failure = BusError(f"{self._what}: server ended the pull: {status} {description}")
        self._request_ended = True
        self._wake()

    def _note_404(self) -> None:
        if self._delivered_total != self._delivered_at_last_404:
            self._delivered_at_last_404 = self._delivered_total
            self._empty_404s = 0
            return
        self._empty_404s += 1
        if self._empty_404s == _EMPTY_404_LIMIT:
            self._pull_payload = json.dumps(
                {"batch": self._batch_size, "expires": self._expires_ms * _NS_PER_MS}
            ).encode()
            _log.warning(
                "consumer.no_wait_unsupported",
                stream=self._stream,
                durable=self._durable,
                fallback="long-poll pull requests; partial batches wait for expires_ms",
            )

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _ready(self) -> bool:
        buffered = len(self._buffer)
        return (
            buffered >= self._batch_size
            or self._request_ended
            or (buffered > 0 and self._credit <= 0)
            or self._failure is not None
        )

    async def next_batch(self, timeout_s: float) -> Sequence[Delivery]:
        """Up to ``batch_size`` messages in stream order; fewer or none once the server ends a
        request early (no messages, request expired) or ``timeout_s`` has passed."""
        if self._sub is None:
            raise BusError(f"{self._what}: next_batch() needs start() and no stop()")
        if self._failure is not None:
            raise self._failure
        # A refused pull request or ack is dropped by the server without an answer: an idle-looking
        # consumer. Checked once per batch, it costs nothing per message.
        self._refusals.check()
        if self._reack is not None:
            reply, self._reack = self._reack, None
            await self._publish_ack(reply)
        await self._top_up()
        if not self._ready():
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout_s, _resolve, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self._sub is None:
            return []  # stop() was called while we waited
        if self._failure is not None:
            raise self._failure
        if self._no_responders:
            self._no_responders = False
            if await self._consumer_info() is None:
                raise self._deleted()
        self._check_no_gap()
        self._request_ended = False
        buffer = self._buffer
        if len(buffer) <= self._batch_size:
            batch, self._buffer = buffer, buffer[:0]
        else:
            batch, self._buffer = buffer[: self._batch_size], buffer[self._batch_size :]
        if batch and await self._top_up():
            # Ask for the next batch now, so that it streams in while the caller works on this
            # one: nats-py only queues a publish for its flusher task, which would otherwise not
            # run (and the server not hear of the request) until the engine is done with this
            # batch. One turn of the loop lets it write the request.
            await asyncio.sleep(0)
        return batch

    def _deleted(self) -> DeliveryGapError:
        # Its position and unacked deliveries are gone: resume from the checkpoint, as for a gap. The pulls
        # waiting when it was deleted get a 409 Consumer Deleted, later ones a 503 (no responders).
        return DeliveryGapError(f"{self._what}: the durable consumer was deleted; resuming from the checkpoint")

    def _check_no_gap(self) -> None:
        """Every delivery of the consumer since it started came to this puller. The consumer's
        delivery sequence counts every message it sent to anyone; more than this puller received
        means some never reached it (a stale pull request of a frozen instance took them, or a
        connection lost with its NATS node), and acking later ones (AckPolicy ALL) skips them."""
        last = self._last_appended
        if not self._check_gaps or self._dseq_origin is None or last is None or not self._buffer:
            return
        try:
            delivered = consumer_sequence(last.reply) - self._dseq_origin
        except ValueError:
            return
        received = self._delivered_total + self.redeliveries_dropped
        if delivered > received:
            raise DeliveryGapError(f"{self._what}: {delivered - received} message(s) delivered but never received "
                                   f"(taken by another process, or lost with a connection); resuming from the checkpoint")

    async def pending(self, timeout_s: float = _jsapi.DEFAULT_TIMEOUT_S) -> int:
        """Messages of the stream not delivered to this consumer yet (its ``num_pending``)."""
        return await consumer_pending(self._nc, self._stream, self._durable, timeout_s)

    async def ack(self, last_msg: Delivery) -> None:
        """Acknowledge ``last_msg`` and, with AckPolicy ALL, everything delivered before it."""
        if self._history is not None:
            return  # a read of history acks nothing
        await self._publish_ack(last_msg.reply)
        with contextlib.suppress(ValueError):
            self._acked_seq = max(self._acked_seq, stream_sequence(last_msg.reply))

    async def _publish_ack(self, reply: str) -> None:
        try:
            await self._nc.publish(reply, _ACK)
        except nats.errors.Error as exc:
            raise BusError(f"{self._what}: cannot ack: {exc}") from exc

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None and self._routes is not None:
            self._routes.pop(sub._id, None)
        self._wake()
        self._live_requests.clear()
        self._credit = 0
        if sub is not None:
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass  # the connection is already gone, and the subscription with it
        if self._history is not None:
            try:
                await _jsapi.request(self._nc, f"{_jsapi.API_PREFIX}.CONSUMER.DELETE.{self._stream}.{self._durable}",
                                     what=f"{self._what}: delete")
            except (BusError, nats.errors.Error):
                pass  # the server deletes it by itself once it has been inactive a while


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
