"""Per topic-partition checkpoints: (last applied offset, engine snapshot) under a key of its own.

A partition moves between workers as a whole, so its state is stored alone: the worker that loses
it saves it (``PartitionCheckpoints.save``), the one that gains it loads it and seeks to the offset
after it. ``KvCheckpoints`` keeps them in the JetStream KV bucket of the NATS path
(bus/checkpoint.py: the same codec, the same split of large snapshots), one key per partition,
``kafka_<group>_<lane>``. Another store (for a deployment without NATS) implements the same two
methods.
"""

from __future__ import annotations

__all__ = ["KvCheckpoints", "PartitionCheckpoints", "checkpoint_key"]

import asyncio
import re
from typing import Any, Protocol

from processor.bus.checkpoint import CheckpointStore, decode_checkpoint, encode_checkpoint

_KEY_UNSAFE = re.compile(r"[^-_A-Za-z0-9]")


class PartitionCheckpoints(Protocol):
    async def load(self, lane: str) -> tuple[int, dict[str, Any]] | None: ...

    async def save(self, lane: str, state: tuple[int, dict[str, Any]]) -> None: ...


def checkpoint_key(group: str, lane: str) -> str:
    """The KV key of a partition's checkpoint (KV keys take letters, digits, - and _ here)."""
    return _KEY_UNSAFE.sub("_", f"kafka_{group}_{lane}")


class KvCheckpoints:
    """Partition checkpoints in the NATS JetStream KV bucket ``slo_checkpoints``."""

    def __init__(self, nc: Any, group: str, bucket: str = "slo_checkpoints"):
        self._nc = nc
        self._group = group
        self._bucket = bucket
        self._stores: dict[str, CheckpointStore] = {}

    def _store(self, lane: str) -> CheckpointStore:
        if lane not in self._stores:
            self._stores[lane] = CheckpointStore(self._nc, self._bucket, key=checkpoint_key(self._group, lane))
        return self._stores[lane]

    async def load(self, lane: str) -> tuple[int, dict[str, Any]] | None:
        raw = await self._store(lane).load()
        return None if raw is None else decode_checkpoint(raw).get(lane)

    async def save(self, lane: str, state: tuple[int, dict[str, Any]]) -> None:
        # Encoding a large snapshot is CPU work: off the event loop, as on the NATS path.
        payload = await asyncio.to_thread(encode_checkpoint, {lane: state})
        await self._store(lane).save(payload)
