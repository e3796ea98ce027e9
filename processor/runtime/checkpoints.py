"""When and what to checkpoint: every lane's engine snapshot with its last applied sequence.

Checkpoints are taken between batches (under each lane's lock), so a restored engine resumes
exactly after the recorded sequence: nothing is lost and nothing is counted twice. The format,
its codec and the KV store are in ``processor/bus/checkpoint.py``.
"""

from __future__ import annotations

__all__ = ["Checkpointer"]

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from processor.bus.checkpoint import CheckpointStore, StreamStates, decode_checkpoint, encode_checkpoint
from processor.engine import Engine
from processor.errors import CheckpointError, CheckpointFencedError, PermissionDeniedError
from processor.runtime.lane import Lane
from processor.runtime.telemetry import Telemetry


class Checkpointer:
    """Saves the lanes' state every ``interval_s`` and once more at the end; restores it at start."""

    def __init__(self, store: CheckpointStore, lanes: Mapping[str, Lane], interval_s: float, log: Any,
                 telemetry: Telemetry | None = None, *, may_act: Callable[[], bool] = lambda: True,
                 on_fenced: Callable[[str], None] = lambda reason: None) -> None:
        self.store = store
        # --standby: saved only while the lease is held (runtime/lease.py); a save refused by the
        # store's compare-and-set (another instance wrote since) is reported to ``on_fenced``.
        self._may_act = may_act
        self._on_fenced = on_fenced
        self._telemetry = telemetry
        self._lanes = lanes
        self.interval_s = interval_s
        self._log = log

    async def load(self) -> StreamStates:
        """The state of every stream in the stored checkpoint; empty when there is none yet."""
        raw = await self.store.load()
        return {} if raw is None else decode_checkpoint(raw)

    def restore(self, stream: str, engine: Engine, state: tuple[int, dict]) -> int:
        """Restore ``engine`` from its stream's saved state; returns the sequence to resume after."""
        seq, snap = state
        try:
            notes = engine.restore(snap)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # a snapshot of another shape
            raise CheckpointError(f"checkpoint of stream {stream}: cannot restore its engine: {exc!r}") from exc
        for note in notes:
            self._log.warning("checkpoint.dropped_state", stream=stream, note=note)
        self._log.info("checkpoint.restored", stream=stream, after_seq=seq)
        return seq

    async def save(self) -> None:
        """Store a checkpoint now, if any lane changed since the last one; ``CheckpointFencedError``
        when this instance may no longer write it."""
        if not self._may_act():
            raise CheckpointFencedError("this instance no longer holds its lease: it does not write the checkpoint")
        if not any(lane.dirty for lane in self._lanes.values()):
            self._up_to_date()
            return
        states: StreamStates = {}
        taken = []
        for lane in self._lanes.values():
            state, changes = await lane.checkpoint_state()
            if changes is not None:
                taken.append((lane, changes))
            if state is not None:
                states[lane.stream] = state
        # Encoding ~MBs of state is CPU work; off the event loop it does not stall the lanes.
        payload = await asyncio.to_thread(encode_checkpoint, states)
        if not self._may_act():  # the lease may have run out while the state was taken and encoded
            raise CheckpointFencedError("this instance lost its lease while taking the checkpoint: it does not write it")
        revision = await self.store.save(payload)
        for lane, changes in taken:
            lane.checkpoint_saved(changes)
        self._up_to_date()
        self._log.debug("checkpoint.saved", revision=revision, streams={s: v[0] for s, v in states.items()})

    def _up_to_date(self) -> None:
        if self._telemetry is not None:
            self._telemetry.checkpointed()

    async def run(self, stop: asyncio.Event, each_interval: Callable[[], None] = lambda: None) -> None:
        """Every interval until ``stop``: ``each_interval()``, then save. The final checkpoint is
        :meth:`save_final`'s, once the lanes are done."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
                return
            each_interval()
            try:
                await self.save()
            except PermissionDeniedError:
                raise  # no next interval can do better; the lanes stop on the same refusal
            except CheckpointFencedError as exc:
                self._log.error("checkpoint.fenced", error=str(exc), action="stepping down")
                self._on_fenced(str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - logged; the next interval tries again
                # A failed checkpoint loses no data (the consumer still holds everything after
                # the last good one); keep processing and try again next interval.
                self._log.error("checkpoint.failed", error=str(exc))

    async def save_final(self) -> None:
        try:
            await self.save()
        except PermissionDeniedError:
            raise  # the processor's one error: reported by whoever runs it, not logged here
        except CheckpointFencedError as exc:
            self._log.warning("checkpoint.final_fenced", error=str(exc), note="the other instance's checkpoint stands")
            self._on_fenced(str(exc))
        except Exception as exc:  # noqa: BLE001 - the consumers still hold everything since the last one
            self._log.error("checkpoint.final_failed", error=str(exc))
