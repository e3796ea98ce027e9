"""Subscribing to the processor's outputs from a service: typed alerts, durable resume, ack after use.

    async with Subscription(nc, alerts_subject(service="trading-engine"), durable="risk-desk") as sub:
        async for alert in sub.alerts():
            await page_someone(alert)          # acked when the loop asks for the next one

or ``await sub.run(callback, ...)``: each item is acked once the callback returned. An item whose
handling raised (or that was in hand when the process died) is not acked: a durable subscription
delivers it again on restart and nothing after it was acked, so a restarted service misses nothing
and sees nothing twice that it had finished with. Without ``durable`` the subscription is
ephemeral: from now, nothing kept. See docs/subscribing.md.
"""

from __future__ import annotations

__all__ = ["Alert", "KINDS", "Output", "Subscription", "alerts_subject", "kind_subjects", "subject_service"]

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import nats.errors
import nats.js.errors
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from processor.errors import BusError
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES, SERVICE_TOKEN_AT, SLO_STREAM

KINDS = ("alerts", "actions", "budget", "sli", "deadletter")
_EPHEMERAL_INACTIVE_S = 30.0


def alerts_subject(service: str | None = None, severity: str | None = None) -> str:
    """``slo.alerts.<severity>.<service>``, ``*`` for what is not given."""
    return f"{OUTPUT_SUBJECT_PREFIXES['alerts']}.{severity or '*'}.{service or '*'}"


def kind_subjects(kind: str | None, service: str | None = None, severity: str | None = None) -> list[str]:
    """The subjects of one kind of output (every kind when None: alerts, actions, budget, sli and,
    without ``service`` and ``severity``, dead letters), for one service when given;
    ``severity`` narrows the alerts (the other kinds have none)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}: one of {', '.join(KINDS)}")
    if severity is not None and kind not in (None, "alerts"):
        raise ValueError(f"a severity narrows alerts only, and {kind} has none: leave out the severity, or follow alerts")
    svc = service or "*"
    by_kind = {
        "alerts": alerts_subject(service, severity),
        "actions": f"{OUTPUT_SUBJECT_PREFIXES['actions']}.{svc}",
        "budget": f"{OUTPUT_SUBJECT_PREFIXES['budget']}.{svc}.*",
        "sli": f"{OUTPUT_SUBJECT_PREFIXES['sli']}.{svc}.*",
        "deadletter": f"{OUTPUT_SUBJECT_PREFIXES['deadletter']}.*",
    }
    if kind is not None:
        return [by_kind[kind]]
    if service is None and severity is None:
        # Every kind, not ``slo.>``: that also holds the processor's own bus probes (slo.probe,
        # every 5 s) and idle-clock moves (slo.clock.<stream>), which are not outputs.
        return list(by_kind.values())
    return [s for k, s in by_kind.items() if k != "deadletter" and (severity is None or k == "alerts")]


def subject_service(subject: str) -> str | None:
    """The service an output's subject names (``slo.alerts.<severity>.<service>``,
    ``slo.actions.<service>``, ``slo.budget.<service>.<slo>``, ``slo.sli.<service>.<sli>``); None
    for a subject of no service (dead letters, the processor's probes and clock moves)."""
    for kind, at in SERVICE_TOKEN_AT.items():
        prefix = OUTPUT_SUBJECT_PREFIXES[kind] + "."
        if subject.startswith(prefix):
            tokens = subject.split(".")
            return tokens[at] if len(tokens) > at else None
    return None


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Output:
    """One message of the SLO stream: its subject, kind, JSON body (None for a dead letter, whose
    payload is the raw rejected message), headers and stream sequence."""

    subject: str
    kind: str
    body: dict[str, Any] | None
    data: bytes
    headers: dict[str, str]
    stream_seq: int | None

    @classmethod
    def from_msg(cls, msg: Any) -> Output:
        kind = msg.subject.split(".")[1] if msg.subject.count(".") >= 1 else ""
        body = None
        if kind != "deadletter":
            with contextlib.suppress(orjson.JSONDecodeError):
                body = orjson.loads(msg.data)
        seq = msg.metadata.sequence.stream if msg.reply else None
        return cls(msg.subject, kind, body if isinstance(body, dict) else None, msg.data, dict(msg.headers or {}), seq)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert transition of ``slo.alerts.<severity>.<service>`` (shaped as an Alertmanager alert)."""

    status: str  # firing | resolved
    alertname: str
    service: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    fingerprint: str
    active_at: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None
    value: float | None
    threshold: float | None
    stream_seq: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_output(cls, out: Output) -> Alert:
        b = out.body or {}
        labels = dict(b.get("labels", {}))
        return cls(
            status=b.get("status", ""), alertname=labels.get("alertname", ""), service=labels.get("service", ""),
            severity=labels.get("severity", ""), labels=labels, annotations=dict(b.get("annotations", {})),
            fingerprint=b.get("fingerprint", ""), active_at=_moment(b.get("activeAt")),
            starts_at=_moment(b.get("startsAt")), ends_at=_moment(b.get("endsAt")), value=b.get("value"),
            threshold=b.get("threshold"), stream_seq=out.stream_seq, raw=b,
        )


class Subscription:
    """A pull consumer on the SLO stream for ``subjects``: durable (``durable`` names it; it resumes
    after the last acked message, and starts at ``start`` = "new" or "all" when created) or
    ephemeral (from now; removed at close). Items are acked one by one, after their handling."""

    def __init__(self, nc: Any, subjects: str | Sequence[str], *, durable: str | None = None, start: str = "new",
                 batch: int = 100, stream: str = SLO_STREAM) -> None:
        self._nc, self._js = nc, nc.jetstream()
        self.subjects = [subjects] if isinstance(subjects, str) else list(subjects)
        self.durable, self.stream, self._batch = durable, stream, batch
        self._deliver = DeliverPolicy.ALL if start == "all" else DeliverPolicy.NEW
        self._sub: Any = None
        self._name: str | None = None
        self._in_hand: Any = None

    async def __aenter__(self) -> Subscription:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _config(self) -> ConsumerConfig:
        filters = {"filter_subject": self.subjects[0]} if len(self.subjects) == 1 else {"filter_subjects": self.subjects}
        if self.durable is None:
            return ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.NEW, mem_storage=True,
                                  inactive_threshold=_EPHEMERAL_INACTIVE_S, **filters)
        return ConsumerConfig(durable_name=self.durable, name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                              deliver_policy=self._deliver, max_ack_pending=self._batch, **filters)

    async def start(self) -> None:
        try:
            existing = None
            if self.durable is not None:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    existing = await self._js.consumer_info(self.stream, self.durable)
            if existing is not None:
                held = existing.config.filter_subjects or [existing.config.filter_subject]
                if sorted(held) != sorted(self.subjects):
                    raise BusError(f"consumer {self.stream}/{self.durable} follows {', '.join(map(str, held))}, "
                                   f"not {', '.join(self.subjects)}: choose another durable name or delete it")
                self._name = self.durable
                if existing.num_ack_pending:
                    await self._reposition(existing.ack_floor.stream_seq)
            else:
                self._name = (await self._js.add_consumer(self.stream, self._config())).name
            self._sub = await self._js.pull_subscribe_bind(self._name, self.stream)
        except nats.errors.Error as exc:
            hint = (" (not on this server: `slo run` creates the SLO stream when it starts; is this the processor's NATS?)"
                    if "stream not found" in str(exc) else "")
            raise BusError(f"subscribing to {', '.join(self.subjects)} on stream {self.stream}: {exc}{hint}") from exc

    async def _reposition(self, acked_seq: int) -> None:
        """Deliveries a stopped subscriber never acked would come back only after the ack wait (30 s),
        behind newer messages: start the durable again right after the last acked message instead,
        so that a restarted service resumes at once and in order. (One process per durable.)"""
        await self._js.delete_consumer(self.stream, self.durable)
        config = self._config()
        config.deliver_policy, config.opt_start_seq = DeliverPolicy.BY_START_SEQUENCE, acked_seq + 1
        await self._js.add_consumer(self.stream, config)

    async def close(self) -> None:
        """Stop; an item in hand is left unacked (a durable delivers it again)."""
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            if self.durable is None and self._name:
                with contextlib.suppress(nats.errors.Error, nats.js.errors.Error):
                    await self._js.delete_consumer(self.stream, self._name)
            self._sub = None

    async def ack(self) -> None:
        """Ack the item in hand now (the iterators do it when the next is asked for)."""
        msg, self._in_hand = self._in_hand, None
        if msg is not None and self.durable is not None:
            try:
                await msg.ack_sync()
            except nats.errors.Error as exc:
                raise BusError(f"ack of {msg.subject}: {exc}") from exc

    async def outputs(self, idle_timeout_s: float = 1.0) -> AsyncIterator[Output]:
        """Every message as an ``Output``, until closed or the task is cancelled (Ctrl-C)."""
        while self._sub is not None:
            try:
                batch = await self._sub.fetch(self._batch, timeout=idle_timeout_s)
            except (TimeoutError, asyncio.TimeoutError, nats.errors.TimeoutError):
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # nats-py's fetch can turn a cancellation (Ctrl-C) into a timeout
                    raise asyncio.CancelledError from None
                continue
            except nats.errors.Error as exc:
                raise BusError(f"reading {', '.join(self.subjects)}: {exc}") from exc
            for msg in batch:
                self._in_hand = msg
                yield Output.from_msg(msg)
                await self.ack()

    async def alerts(self, idle_timeout_s: float = 1.0) -> AsyncIterator[Alert]:
        """The alert transitions among the outputs, typed."""
        async for out in self.outputs(idle_timeout_s):
            if out.kind == "alerts" and out.body is not None:
                yield Alert.from_output(out)

    async def run(self, callback: Callable[[Alert], Awaitable[None]], *, limit: int | None = None) -> int:
        """Await ``callback(alert)`` for each alert, then ack it; after ``limit`` alerts (or never)
        return how many were handled. A callback that raises leaves its alert unacked."""
        handled = 0
        async for alert in self.alerts():
            await callback(alert)
            await self.ack()
            handled += 1
            if limit is not None and handled >= limit:
                break
        return handled
