"""Engine outputs onto the bus: render them, publish them, wait until JetStream has stored them.

A batch is acked only after its outputs are stored, so while the bus is unavailable the outbox
waits for it (nats-py reconnects by itself) and publishes again; republishing is safe, every
message carries a ``Nats-Msg-Id`` that the stream deduplicates. The publisher is an
``OutputPublisher``: NATS JetStream by default, or Kafka topics (``kafka/sink.py``, whose consumers
dedupe by the same id). What the outputs say is also
logged: one line per alert transition and per action, one line per batch for its rejections.
"""

from __future__ import annotations

__all__ = ["PUBLISH_BACKOFF", "Delivery", "Outbox", "OutputPublisher", "render_outputs"]

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from processor.bus.backoff import Backoff, retry
from processor.bus.consumer import stream_sequence
from processor.bus.publisher import OutMessage, Sent
from processor.engine import Outputs
from processor.engine.outputs import AlertTransition, PolicyAction, Rejection
from processor.errors import BusError, PermissionDeniedError
from processor.runtime.render import (
    RUNBOOK_BASE_URL,
    action_message,
    alert_message,
    budget_message,
    clock_message,
    deadletter_message,
    sli_message,
)
from processor.runtime.stopping import stop_aware_sleep
from processor.runtime.telemetry import Telemetry
from processor.runtime.testhooks import Stall

# At most 1 s between attempts: a NATS cluster electing a new leader for the SLO stream answers
# 503 (no responders) for a few seconds, and the publish should follow the election within a
# second, not up to 5 s later (docs/availability.md, "A 3-node NATS cluster"). An attempt that gets a 503 costs the server little.
PUBLISH_BACKOFF = Backoff(first_s=0.1, max_s=1.0)


class OutputPublisher(Protocol):
    """Where the outbox publishes: NATS JetStream (``bus/publisher.Publisher``, the default) or Kafka
    topics (``kafka/sink.KafkaPublisher``). ``publish_all`` returns once every message is stored and
    acknowledged, so the caller may then ack or commit its input; it raises ``BusError`` for what
    may pass (retried here while running) and ``PermissionDeniedError`` for a refusal."""

    duplicates: int  # publishes the destination reported as duplicates (the stop report)

    @property
    def max_payload(self) -> int: ...

    async def publish_all(self, messages: Sequence[OutMessage]) -> None: ...

    async def close(self) -> None: ...


def render_outputs(stream: str, msgs: Sequence[Any], out: Outputs, max_payload: int | None = None,
                   runbook_base_url: str = RUNBOOK_BASE_URL, after_seq: int | None = None,
                   partition: str | None = None) -> list[OutMessage]:
    """Every output of a batch as a message: alerts first, then SLI values, budgets, actions,
    dead letters and time moves.

    ``msgs`` is the batch the outputs came from (the dead letters carry its raw messages, cut to
    the server's ``max_payload`` with their headers); ``runbook_base_url`` is
    ``defaults.runbook_base_url``, where each alert's ``runbook_url`` points; ``after_seq`` is the
    last stream sequence applied before the batch's time moves (None: a lane that reads no
    stream, whose moves are not recorded); ``partition``: the tag of a `slo run --partition`
    instance, which its time moves carry (render.clock_message).
    """
    messages = []
    for alert in out.alerts:
        subject, payload, msg_id = alert_message(alert, runbook_base_url)
        messages.append(OutMessage(subject, payload, msg_id=msg_id))
    for sli_report in out.slis:
        subject, payload, msg_id = sli_message(sli_report)
        messages.append(OutMessage(subject, payload, msg_id=msg_id))
    for report in out.budgets:
        subject, payload, msg_id = budget_message(report)
        messages.append(OutMessage(subject, payload, msg_id=msg_id))
    for action in out.actions:
        subject, payload, msg_id = action_message(action)
        messages.append(OutMessage(subject, payload, msg_id=msg_id))
    for rej in out.rejections:
        msg = msgs[rej.index]
        seq = stream_sequence(msg.reply) if msg.reply else None
        subject, payload, headers, msg_id = deadletter_message(rej, msg.subject, msg.data, stream, seq, max_payload)
        messages.append(OutMessage(subject, payload, headers=headers, msg_id=msg_id))
    if after_seq is not None:
        for closed_through_ms in out.time_moves:
            subject, payload, msg_id = clock_message(stream, closed_through_ms, after_seq, partition)
            messages.append(OutMessage(subject, payload, msg_id=msg_id))
    return messages


class _Fenced(Exception):
    """The lease was lost between two attempts to publish a batch's outputs."""


class Delivery:
    """A batch's outputs between ``Outbox.send`` and ``Outbox.confirm``."""

    __slots__ = ("messages", "out", "started_s", "sent")

    def __init__(self, messages: list[OutMessage], out: Outputs, started_s: float) -> None:
        self.messages, self.out, self.started_s = messages, out, started_s
        self.sent: Sent | None = None  # Publisher.send_all's, when the messages went out already


class Outbox:
    """Publishes the outputs of the lanes through one publisher; gives up only once stopping."""

    def __init__(self, publisher: OutputPublisher, stop: asyncio.Event, log: Any, backoff: Backoff = PUBLISH_BACKOFF,
                 stall: Stall | None = None, runbook_base_url: str = RUNBOOK_BASE_URL,
                 telemetry: Telemetry | None = None,
                 alert_sink: Callable[[Sequence[AlertTransition]], None] | None = None,
                 may_act: Callable[[], bool] = lambda: True, partition: str | None = None):
        self.publisher = publisher
        self.telemetry = telemetry  # told what was published (runtime/telemetry.py)
        # Takes every alert transition once the bus has stored it (the Alertmanager sender's
        # submit, which never waits).
        self.alert_sink = alert_sink
        self._runbook_base_url = runbook_base_url
        self._stop = stop
        self._log = log
        self._backoff = backoff
        self._stall = stall  # test-only (runtime/testhooks.py)
        self._may_act = may_act  # --standby: False once the lease is lost (runtime/lease.py)
        self._partition = partition  # --partition's tag, named by its time moves (render.clock_message)

    async def deliver(self, stream: str, msgs: Sequence[Any], out: Outputs, after_seq: int | None = None) -> bool:
        """Log, render and publish a batch's outputs; False if the processor stopped before the
        bus took them (the batch must then stay unacked and out of every checkpoint).
        ``after_seq``: see ``render_outputs``."""
        delivery = await self.send(stream, msgs, out, after_seq)
        return delivery is not None and await self.confirm(stream, delivery)

    async def send(self, stream: str, msgs: Sequence[Any], out: Outputs, after_seq: int | None = None) -> Delivery | None:
        """``deliver``'s first half: log and render the outputs and send them, without waiting for
        the bus to store them (``confirm`` waits); None when this instance may not publish."""
        if not self._may_act():
            self._log.warning("publish.fenced", stream=stream, note="this instance lost its lease: nothing published, "
                              "the batch stays unacked for the active instance")
            return None
        messages = render_outputs(stream, msgs, out, self.publisher.max_payload, self._runbook_base_url, after_seq,
                                  self._partition)
        self._log_outputs(stream, msgs, out, messages)
        # A stream's batch (its messages have a reply subject), not the bus monitor's.
        stall = self._stall
        if stall is not None and msgs and len(messages) > stall.keep and msgs[0].reply and stall.reached("publish"):
            kept = messages[: stall.keep]
            await self.publisher.publish_all(kept)
            await stall.forever(self._log, stream=stream, published=len(kept), of=len(messages))
        delivery = Delivery(messages, out, time.perf_counter())
        send_all = getattr(self.publisher, "send_all", None)  # a publisher that only publishes whole: confirm does
        if messages and send_all is not None:
            try:
                delivery.sent = await send_all(messages)
            except PermissionDeniedError:
                raise
            except BusError as exc:  # confirm publishes them again, until the bus takes them
                self._log.warning("publish.retrying", stream=stream, error=str(exc), retry_in_s=0)
        return delivery

    async def confirm(self, stream: str, delivery: Delivery) -> bool:
        """``deliver``'s second half: wait until the bus has stored what ``send`` sent (sent
        again while it is unavailable); False if the processor stopped first."""
        if not await self.publish(stream, delivery.messages, delivery.sent):
            return False
        out = delivery.out
        if self.telemetry is not None:
            self.telemetry.published(out, time.perf_counter() - delivery.started_s if delivery.messages else None)
        if out.alerts and self.alert_sink is not None:
            self.alert_sink(out.alerts)
        return True

    async def publish(self, stream: str, messages: list[OutMessage], sent: Sent | None = None) -> bool:
        """Publish until every message is stored, retrying while the bus is unavailable; ``sent``:
        they were sent already (``Publisher.send_all``), the first attempt only waits for them."""
        if not messages:
            return True
        first = [sent]

        async def attempt() -> None:
            already, first[0] = first[0], None
            if already is not None:
                await self.publisher.wait_all(already)  # type: ignore[attr-defined]
            elif not self._may_act():
                raise _Fenced  # this instance lost its lease while the bus was away: no re-send
            else:
                await self.publisher.publish_all(messages)

        def keep_trying(exc: Exception) -> bool:
            # A refusal is not an outage: it never passes, and the processor stops on it.
            return isinstance(exc, BusError) and not isinstance(exc, PermissionDeniedError) and not self._stop.is_set()

        def retrying(exc: Exception, delay_s: float) -> None:
            self._log.warning("publish.retrying", stream=stream, error=str(exc), retry_in_s=delay_s)

        try:
            await retry(
                attempt,
                backoff=self._backoff,
                retry_if=keep_trying,
                on_retry=retrying,
                sleep=stop_aware_sleep(self._stop),
            )
        except PermissionDeniedError:
            raise
        except _Fenced:
            self._log.warning("publish.fenced", stream=stream, note="this instance lost its lease: not published "
                              "again, the batch stays unacked for the active instance")
            return False
        except BusError as exc:
            # Only a stop ends the retries on a BusError: the batch stays unacked.
            self._log.error("publish.abandoned", stream=stream, error=str(exc),
                            note="batch not acked; it is redelivered and re-evaluated on restart")
            return False
        return True

    def _log_outputs(self, stream: str, msgs: Sequence[Any], out: Outputs, messages: list[OutMessage]) -> None:
        # render_outputs() puts the alerts first, in order.
        for alert, message in zip(out.alerts, messages, strict=False):
            labels = alert.label_map
            # Its other labels too (slo, tier, sli, a series' symbol): what tells apart one rule's
            # alerts, such as a budget burn's tiers.
            self._log.info(
                "alert." + alert.status,
                alertname=labels["alertname"],
                severity=labels["severity"],
                service=labels["service"],
                labels={k: v for k, v in labels.items() if k not in ("alertname", "severity", "service")},
                value=alert.value,
                expr=alert.expr,
                subject=message.subject,
            )
        for action in out.actions:
            if isinstance(action, PolicyAction):
                self._log.warning("action.budget_policy", service=action.service, slo=action.slo,
                                  policy=action.policy, previous_policy=action.previous_policy,
                                  remaining=round(action.remaining, 4), action=action.action)
            else:
                self._log.warning("action.alert", service=action.service, alertname=action.alertname,
                                  action=action.action)
        if out.rejections:
            self._log_rejections(stream, msgs, out.rejections)

    def _log_rejections(self, stream: str, msgs: Sequence[Any], rejections: Sequence[Rejection]) -> None:
        # One line per batch, not per event: a broken producer must not flood the log. The dead
        # letters carry every message with its reason.
        first = rejections[0]
        reasons: dict[str, int] = {}
        slis: dict[str, int] = {}
        for rej in rejections:
            reasons[rej.reason] = reasons.get(rej.reason, 0) + 1
            for name in rej.slis:
                slis[name] = slis.get(name, 0) + 1
        self._log.warning(
            "events.rejected",
            stream=stream,
            count=len(rejections),
            partly_used=sum(rej.applied for rej in rejections),  # still counted by the SLIs that could
            reasons=reasons,
            slis=slis,
            example_subject=msgs[first.index].subject,
            example_detail=first.detail,
        )
