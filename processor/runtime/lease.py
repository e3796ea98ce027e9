"""Active and standby (``slo run --standby``): several instances of one partition, one active.

The active holds a lease in a JetStream KV bucket (``bus/lease.py``) and renews it every
``ttl/4``; the others are standby and try to create the key every ``ttl/10``, which succeeds once
the active has let the server expire it (it died, froze or lost the network) or released it (a
stop). Then the standby becomes active: it restores the last checkpoint and resumes after it,
exactly as a restart does, and what it publishes again carries the same ``Nats-Msg-Id``s, which
the SLO stream drops.

Fencing. The active acts (publishes, acks, checkpoints) only while ``Lease.held()``: until
``LOCAL_SHARE`` of the TTL after it *sent* its last successful renewal, so earlier than the
server, which counts from when it *stored* it, can let a standby in. A renewal that is refused
(the key expired or was taken) or that cannot be made before that deadline ends the lease at once
(``lease.lost`` / ``lease.expired``): the processor stops without publishing or checkpointing again,
and the instance is standby. A frozen process (SIGSTOP, a VM pause) notices on its first step
after waking, as its monotonic clock went on. What it had already begun before freezing, one
publish or one checkpoint write, is covered by the bus: outputs repeat under the same message ids
(dropped within the SLO stream's duplicate window) and every checkpoint write is a compare-and-set
on the revision this instance last wrote (``bus/checkpoint.py``), refused once the new active wrote.
"""

from __future__ import annotations

__all__ = ["DEDUPE_MARGIN_S", "DEFAULT_LEASE_TTL_S", "Lease", "check_duplicate_window", "holder_id"]

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from processor.bus.lease import LeaseStore
from processor.errors import BusError, LeaseLostError, ProcessorError

# Failover within 10 s of a death: the TTL, a standby's poll (ttl/10) and its start (bench/failover.py).
DEFAULT_LEASE_TTL_S = 5.0
# What part of the TTL the active acts for after sending a renewal: the rest is the margin for
# the renewal's trip to the server and for clocks that do not run at exactly the same rate.
LOCAL_SHARE = 0.8
RENEW_SHARE = 0.25  # renew every ttl/4: two renewals can fail before the deadline
POLL_SHARE = 0.1  # a standby tries every ttl/10
# What a restart or takeover needs beyond the checkpoint interval and the TTL before it has
# published again what came after the checkpoint: start, restore, re-apply (bench/failover.py).
DEDUPE_MARGIN_S = 30.0


def holder_id() -> str:
    """Who holds a lease, for the logs of the others: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """This instance's view of its lease: acquire, keep (renew), release; ``held()`` is the fence."""

    def __init__(self, store: LeaseStore, log: Any, holder: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl_s = store.ttl_s
        self.holder = holder or holder_id()
        self._log = log
        self._clock = clock
        self.epoch: int | None = None  # the revision written at acquire: grows with every takeover
        self.revision: int | None = None  # the revision of the last renewal
        self._deadline_s = 0.0
        self.lost = asyncio.Event()

    def held(self) -> bool:
        """True while this instance may act: it holds the lease and its deadline has not passed.
        The first call past the deadline ends the lease (a renewal still in flight cannot bring it
        back: the processor may already have stopped acting on this answer)."""
        if self.epoch is None or self.lost.is_set():
            return False
        if self._clock() >= self._deadline_s:
            self._lose("lease.expired", f"no renewal in {self.ttl_s * LOCAL_SHARE:g} s (frozen, starved of CPU, "
                                        f"or the bus did not answer)")
            return False
        return True

    async def open(self) -> None:
        """The bucket, with the TTL this instance was given; a different TTL is an error, since every
        instance must stop acting before the server lets another one in."""
        enforced_s = await self.store.open()
        if abs(enforced_s - self.ttl_s) > 1e-3:
            raise ProcessorError(
                f"--lease-ttl {self.ttl_s:g}s, but the lease bucket was created with a TTL of {enforced_s:g}s: "
                f"give every instance the same --lease-ttl (or delete the bucket while none runs: "
                f"nats kv rm slo_leases)")

    def _value(self) -> bytes:
        return orjson.dumps({"holder": self.holder, "ttl_s": self.ttl_s})

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait on standby until this instance holds the lease (True) or ``stop`` is set (False)."""
        self.lost.clear()
        said_standby = False
        while not stop.is_set():
            sent_s = self._clock()
            try:
                revision = await self.store.acquire(self._value())
            except BusError as exc:
                self._log.warning("lease.acquire_failed", key=self.store.key, error=str(exc))
                revision = None
            if revision is not None:
                self.epoch = self.revision = revision
                self._deadline_s = sent_s + self.ttl_s * LOCAL_SHARE
                self._log.info("lease.acquired", key=self.store.key, epoch=revision, holder=self.holder,
                               ttl_s=self.ttl_s, role="active")
                return True
            if not said_standby:
                said_standby = True
                other = await self.store.holder()
                self._log.info("lease.standby", key=self.store.key, holder=self.holder,
                               active=_holder_of(other), ttl_s=self.ttl_s, role="standby")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.ttl_s * POLL_SHARE)
        return False

    async def keep(self) -> None:
        """Renew until cancelled or lost (``lost`` is then set and the reason logged)."""
        while self.held():
            await asyncio.sleep(min(self.ttl_s * RENEW_SHARE, self._deadline_s - self._clock()))
            if self.held():  # else woke up late (frozen): expired, without asking the bus
                await self._renew()

    async def _renew(self) -> None:
        assert self.revision is not None
        sent_s = self._clock()
        try:
            self.revision = await self.store.renew(self.revision, self._value())
        except LeaseLostError as exc:
            if not self.lost.is_set():
                self._lose("lease.lost", str(exc))
            return
        except BusError as exc:
            self._log.warning("lease.renew_failed", key=self.store.key, epoch=self.epoch, error=str(exc),
                              acts_for_s=round(max(0.0, self._deadline_s - self._clock()), 3))
            return
        if not self.lost.is_set():
            self._deadline_s = sent_s + self.ttl_s * LOCAL_SHARE

    def _lose(self, event: str, reason: str) -> None:
        self._log.error(event, key=self.store.key, epoch=self.epoch, reason=reason,
                        action="stepping down: no more publishing or checkpointing; standby")
        self.lost.set()

    def step_down(self, reason: str) -> None:
        """Give the lease up from inside (the checkpoint was fenced): the same as losing it."""
        if not self.lost.is_set():
            self._lose("lease.step_down", reason)

    async def release(self) -> None:
        """Free the lease now, so that a standby need not wait the TTL: at a stop, or after stepping
        down on a fenced checkpoint. A delete on the revision of our last renewal: refused if the
        lease expired or was taken since, so it never frees another instance's lease."""
        if self.revision is None:
            return
        released = await self.store.release(self.revision)
        self._log.info("lease.released" if released else "lease.release_failed", key=self.store.key, epoch=self.epoch)
        self.epoch = self.revision = None


def _holder_of(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return str(orjson.loads(value).get("holder"))
    except (orjson.JSONDecodeError, AttributeError):
        return None


def check_duplicate_window(window_s: float | None, checkpoint_interval_s: float, lease_ttl_s: float | None,
                           stream: str, log: Any) -> None:
    """Warn when the SLO stream's duplicate window cannot drop what a restart or a takeover
    publishes again: the outputs of up to one checkpoint interval of events, published again up to
    the TTL and the start after the first time (docs/availability.md)."""
    if window_s is None:
        return
    needed_s = checkpoint_interval_s + (lease_ttl_s or 0.0) + DEDUPE_MARGIN_S
    if window_s < needed_s:
        log.warning("stream.duplicate_window_short", stream=stream, duplicate_window_s=window_s, needed_s=needed_s,
                    hint="outputs published again after a restart or takeover would be stored twice: raise the "
                    "stream's duplicate_window (streams/slo.json) or shorten the checkpoint interval")
