"""Publishing outputs to JetStream: a whole batch at once, done when every message is stored.

nats-py's ``js.publish`` is one request, one future and one timer per message, awaited in turn
unless wrapped in a task each. Here all messages go out back to back with their own reply
subjects under one wildcard inbox, a callback collects the PubAcks, and the caller waits once.
"""

from __future__ import annotations

__all__ = ["OutMessage", "Publisher", "Sent"]

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from processor.bus.denials import denials, guarded
from processor.errors import BusError

MSG_ID_HEADER = "Nats-Msg-Id"
# How often a wait for PubAcks looks whether the connection was replaced meanwhile.
_RECONNECT_CHECK_S = 0.25


@dataclass(frozen=True)
class OutMessage:
    subject: str
    payload: bytes
    headers: dict[str, str] | None = None
    # Stable id of what this message says (e.g. an alert transition): the stream drops a second
    # copy within its duplicate_window, whichever replica or restart publishes it.
    msg_id: str | None = None


class Sent:
    """What ``Publisher.send_all`` sent, for ``wait_all``: the messages, their PubAcks' batch,
    their reply tokens and the connection's reconnect count when they went out."""

    __slots__ = ("messages", "batch", "tokens", "reconnects")

    def __init__(self, messages: Sequence[OutMessage], batch: _Batch, reconnects: int) -> None:
        self.messages, self.batch, self.reconnects = messages, batch, reconnects
        self.tokens: list[str] = []


class _Batch:
    __slots__ = ("subjects", "remaining", "error", "done", "duplicates")

    def __init__(self, subjects: list[str], done: asyncio.Future[None]) -> None:
        self.subjects = subjects
        self.remaining = len(subjects)
        self.error: str | None = None
        self.done = done
        self.duplicates = 0


class Publisher:
    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._inbox = ""
        self._sub: Subscription | None = None
        self._counter = itertools.count(1)
        # reply token -> (batch, index of the message in it)
        self._waiting: dict[str, tuple[_Batch, int]] = {}
        self._start_lock = asyncio.Lock()
        self.duplicates = 0

    @property
    def max_payload(self) -> int:
        """The largest message (headers and payload) the server accepts."""
        return self._nc.max_payload

    async def _ensure_subscribed(self) -> None:
        if self._sub is not None:
            return
        async with self._start_lock:
            if self._sub is not None:
                return
            self._inbox = self._nc.new_inbox()
            try:
                self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
            except nats.errors.Error as exc:
                raise BusError(f"publisher: cannot subscribe for acks: {exc}") from exc

    async def publish_all(self, messages: Sequence[OutMessage], timeout_s: float = 5.0) -> None:
        """Publish every message; return once JetStream has stored (or deduplicated) all of them."""
        sent = await self.send_all(messages)
        if sent is not None:
            await self.wait_all(sent, timeout_s)

    async def send_all(self, messages: Sequence[OutMessage]) -> Sent | None:
        """Publish every message without waiting for the PubAcks (``wait_all`` waits for them);
        None when there is nothing to send."""
        if not messages:
            return None
        refusals = denials(self._nc)
        refusals.check()
        for message in messages:
            refusals.expect(message.subject)
        await self._ensure_subscribed()
        sent = Sent(messages, _Batch([m.subject for m in messages], asyncio.get_running_loop().create_future()),
                    self._reconnects())
        try:
            for index, message in enumerate(messages):
                token = str(next(self._counter))
                sent.tokens.append(token)
                self._waiting[token] = (sent.batch, index)
                headers = message.headers
                if message.msg_id is not None:
                    headers = {**headers, MSG_ID_HEADER: message.msg_id} if headers else {
                        MSG_ID_HEADER: message.msg_id
                    }
                await self._nc.publish(
                    message.subject,
                    message.payload,
                    reply=f"{self._inbox}.{token}",
                    headers=headers,
                )
        except nats.errors.Error as exc:
            self._forget(sent)
            raise BusError(f"publish to {messages[len(sent.tokens) - 1].subject}: {exc}") from exc
        except BaseException:
            self._forget(sent)
            raise
        return sent

    async def wait_all(self, sent: Sent, timeout_s: float = 5.0) -> None:
        """Return once JetStream has stored (or deduplicated) every message ``send_all`` sent."""
        batch = sent.batch
        try:
            if not await self._acked(batch, timeout_s, sent.reconnects):
                missing = next(
                    (sent.messages[i].subject for t, (b, i) in self._waiting.items() if b is batch),
                    "?",
                )
                waited = "the connection was replaced" if self._reconnects() != sent.reconnects else (
                    f"no acknowledgement from JetStream within {timeout_s:g} s")
                raise BusError(
                    f"publish to {missing}: {waited} ({batch.remaining} of {len(sent.messages)} unacknowledged)"
                ) from None
        finally:
            self._forget(sent)
        if batch.error is not None:
            raise BusError(batch.error)
        self.duplicates += batch.duplicates

    def _forget(self, sent: Sent) -> None:
        for token in sent.tokens:
            self._waiting.pop(token, None)

    def _reconnects(self) -> int:
        return int(self._nc.stats.get("reconnects", 0))

    async def _acked(self, batch: _Batch, timeout_s: float, reconnects: int) -> bool:
        """Wait for every PubAck of ``batch``: True once they came, False after ``timeout_s``, or
        as soon as the client is connected again after losing the connection it sent them on.

        Messages and PubAcks on a connection that broke (its server stopped or killed: a NATS
        node lost) never come; waiting the whole timeout for them only delays the publish
        again, which the stream deduplicates (Nats-Msg-Id).
        """
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + timeout_s
        while True:
            try:
                # A refused publish is dropped by the server with no PubAck: do not wait it out.
                await asyncio.wait_for(guarded(self._nc, asyncio.shield(batch.done)),
                                       timeout=min(_RECONNECT_CHECK_S, max(0.0, deadline_s - loop.time())))
                return True
            except TimeoutError:
                if loop.time() >= deadline_s:
                    return False
                if self._reconnects() != reconnects and self._nc.is_connected:
                    return False

    async def _on_reply(self, msg: Msg) -> None:
        token = msg.subject[len(self._inbox) + 1 :]
        entry = self._waiting.pop(token, None)
        if entry is None:
            return  # a late ack of a batch that already timed out
        batch, index = entry
        error, duplicate = _parse_ack(msg)
        if error is not None and batch.error is None:
            batch.error = f"publish to {batch.subjects[index]}: {error}"
        batch.duplicates += duplicate
        batch.remaining -= 1
        if batch.remaining == 0 and not batch.done.done():
            batch.done.set_result(None)

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass


def _parse_ack(msg: Msg) -> tuple[str | None, bool]:
    """(None, duplicate) for a PubAck; otherwise (why the message was not stored, False)."""
    if not msg.data:
        status = (msg.headers or {}).get("Status")
        if status == "503":
            return "no JetStream stream listens on this subject", False
        return f"empty reply (status {status or 'none'})", False
    try:
        ack = json.loads(msg.data)
    except ValueError:
        return "invalid PubAck from JetStream", False
    error = ack.get("error")
    if error:
        return f"{error.get('description', 'error')} (err_code={error.get('err_code')})", False
    if "seq" not in ack:
        return "PubAck without a sequence", False
    return None, bool(ack.get("duplicate"))
