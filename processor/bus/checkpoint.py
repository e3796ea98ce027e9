"""Engine snapshots in a JetStream KV bucket.

A snapshot can outgrow the server's ``max_payload`` (1 MiB by default) once a large catalogue
holds weeks of state, so large snapshots are split into parts. The value under ``key`` is a small
envelope, either the snapshot inline or a manifest naming the parts. Parts alternate between two
slots of fixed keys (``<key>.part.a.<i>`` / ``<key>.part.b.<i>``): a save writes the slot the
current manifest does not use, then the manifest, so a crash mid-save leaves the previous snapshot
whole, and the number of keys in the bucket stays bounded without ever deleting anything.

Every write is a compare-and-set on the revision this store last read or wrote for that key (a
KV update with the expected last revision): a process that restored a checkpoint can only
overwrite that checkpoint, never one another instance wrote since (a standby that took over while
this one was frozen, docs/availability.md). The refusal is a ``CheckpointFencedError``; nothing
of this process's state is written past it. The parts too: ``load`` learns the revisions of both
slots' parts, and a save writes the slot its own last snapshot does not use, each part on the
revision it knows (a part it never saw must not exist). So a writer that another one overtook is
refused at the first part that one rewrote, and can never write into the slot of a manifest it did
not write; if it gets its checkpoint in first, that is a whole one of its own, and the other's next
save is refused instead.

What is stored is a checkpoint in ``CHECKPOINT_FORMAT``: every consumed stream's engine snapshot
with the last stream sequence whose effects it holds, as zlib-compressed JSON
(:func:`encode_checkpoint` / :func:`decode_checkpoint`). Every failure, of the KV bucket or of the
bytes in it, is a ``CheckpointError``.
"""

from __future__ import annotations

__all__ = ["CHECKPOINT_FORMAT", "CheckpointStore", "StreamStates", "decode_checkpoint", "encode_checkpoint"]

import hashlib
import json
import zlib
from typing import Any

import nats.errors
import orjson
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.js.kv import KeyValue

from processor.bus.denials import guarded
from processor.bus.streams import cluster_size
from processor.errors import CheckpointError, CheckpointFencedError

_log = structlog.get_logger(__name__)

_INLINE = b"\x00"
_CHUNKED = b"\x01"
_HISTORY = 5
_WANTED_REPLICAS = 3
# Room for the publish protocol line and headers inside max_payload.
_PAYLOAD_OVERHEAD_BYTES = 4096
# What a KV request can fail with: nats-py's errors (timeouts included) and the socket's own.
_KV_ERRORS = (nats.errors.Error, OSError)

CHECKPOINT_FORMAT = 1

# stream name -> (last stream sequence applied, that stream's engine snapshot)
StreamStates = dict[str, tuple[int, dict[str, Any]]]


def encode_checkpoint(streams: StreamStates) -> bytes:
    """Every stream's (last applied sequence, engine snapshot) as one versioned, compressed value."""
    body = {"format": CHECKPOINT_FORMAT, "streams": {n: {"seq": s, "engine": e} for n, (s, e) in streams.items()}}
    try:
        return zlib.compress(orjson.dumps(body), 6)
    except (TypeError, ValueError, zlib.error) as exc:  # orjson.JSONEncodeError is a TypeError
        raise CheckpointError(f"checkpoint cannot be encoded: {exc}") from exc


def decode_checkpoint(raw: bytes) -> StreamStates:
    """The inverse of :func:`encode_checkpoint`; ``CheckpointError`` for anything else."""
    try:
        body = orjson.loads(zlib.decompress(raw))
    except (zlib.error, orjson.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(f"checkpoint is not a valid snapshot: {exc}") from exc
    version = body.get("format") if isinstance(body, dict) else None
    if version != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint format {version!r}, expected {CHECKPOINT_FORMAT}")
    try:
        return {str(n): (_sequence(v["seq"]), _mapping(v["engine"])) for n, v in body["streams"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint format {CHECKPOINT_FORMAT} with a malformed body: {exc!r}") from exc


def _sequence(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"stream sequence {value!r} is not a whole number >= 0")
    return value


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"engine snapshot is a {type(value).__name__}, not an object")
    return value


class CheckpointStore:
    def __init__(self, nc: Client, bucket: str = "slo_checkpoints", key: str = "default") -> None:
        self._nc = nc
        self._bucket = bucket
        self._key = key
        self._kv: KeyValue | None = None
        # key -> the revision this store last read (at load) or wrote; a key it never saw is
        # expected not to exist (0). What a write expects to replace.
        self._revisions: dict[str, int] = {}
        self._loaded = False
        self._slot: str | None = None  # the slot of the parts of the snapshot this store loaded or saved

    async def _store(self) -> KeyValue:
        if self._kv is not None:
            return self._kv
        js = self._nc.jetstream()
        try:
            try:
                self._kv = await guarded(self._nc, js.key_value(self._bucket), *self._api_subjects("INFO", "MSG.GET"))
            except nats.js.errors.BucketNotFoundError:
                size = cluster_size(self._nc) or 1
                # Identical concurrent creates (two replicas starting together) both succeed.
                self._kv = await guarded(self._nc, js.create_key_value(
                    bucket=self._bucket,
                    history=_HISTORY,
                    replicas=min(_WANTED_REPLICAS, size),
                    description="slo-processor engine snapshots",
                ), *self._api_subjects("CREATE"))
                _log.info("checkpoint.bucket_created", bucket=self._bucket)
        except _KV_ERRORS as exc:
            raise CheckpointError(f"checkpoint bucket {self._bucket}: {exc}") from exc
        return self._kv

    async def save(self, data: bytes) -> int:
        """Store a snapshot; returns the KV revision of the entry under ``key``.
        ``CheckpointFencedError`` if another process wrote the checkpoint since this store read or
        wrote it (before any key of that process's checkpoint is touched)."""
        kv = await self._store()
        if not self._loaded:
            await self.load()  # the revisions every write expects to replace
        part_size = max(1024, self._nc.max_payload - _PAYLOAD_OVERHEAD_BYTES)
        try:
            if len(data) + 1 <= part_size:
                revision = await self._put(kv, self._key, _INLINE + data)
                self._slot = None
                return revision
            slot = "b" if self._slot == "a" else "a"
            parts = 0
            for offset in range(0, len(data), part_size):
                await self._put(kv, self._part_key(slot, parts), data[offset : offset + part_size])
                parts += 1
            manifest = {
                "slot": slot,
                "parts": parts,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            revision = await self._put(kv, self._key, _CHUNKED + json.dumps(manifest).encode())
            self._slot = slot
            return revision
        except CheckpointFencedError:
            raise
        except _KV_ERRORS as exc:
            raise CheckpointError(
                f"checkpoint {self._bucket}/{self._key}: cannot save {len(data)} bytes: {exc}"
            ) from exc

    async def load(self) -> bytes | None:
        """The latest snapshot, or None when there is none yet. Also learns the revision of every
        key a save writes (the envelope, the parts of both slots), which the save then expects."""
        kv = await self._store()
        where = f"checkpoint {self._bucket}/{self._key}"
        try:
            data, self._slot = await self._read(kv, where)
            for slot in ("a", "b"):
                if slot != self._slot:  # the slot in use was read with the snapshot
                    index = 0
                    while await self._get(kv, self._part_key(slot, index)) is not None:
                        index += 1
        except _KV_ERRORS as exc:
            raise CheckpointError(f"{where}: cannot load: {exc}") from exc
        self._loaded = True
        return data

    async def _read(self, kv: KeyValue, where: str) -> tuple[bytes | None, str | None]:
        """(the snapshot or None, the slot of its parts or None)."""
        envelope = await self._get(kv, self._key)
        if envelope is None:
            return None, None
        kind, body = envelope[:1], envelope[1:]
        if kind == _INLINE:
            return body, None
        if kind != _CHUNKED:
            raise CheckpointError(f"{where}: unknown envelope type {kind!r}")
        manifest = self._manifest(body, where)
        chunks = []
        for index in range(manifest["parts"]):
            chunk = await self._get(kv, self._part_key(manifest["slot"], index))
            if chunk is None:
                raise CheckpointError(f"{where}: part {index} of {manifest['parts']} is missing")
            chunks.append(chunk)
        data = b"".join(chunks)
        if len(data) != manifest["size"] or hashlib.sha256(data).hexdigest() != manifest["sha256"]:
            # Two writers on one key, or a part overwritten after its manifest: not our snapshot.
            raise CheckpointError(f"{where}: parts do not match their manifest (size or sha256)")
        return data, manifest["slot"]

    @staticmethod
    def _manifest(body: bytes, where: str) -> dict[str, Any]:
        try:
            manifest = json.loads(body)
            if not (
                manifest["slot"] in ("a", "b")
                and isinstance(manifest["parts"], int)
                and isinstance(manifest["size"], int)
                and isinstance(manifest["sha256"], str)
            ):
                raise ValueError("bad field types")
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{where}: unreadable manifest: {exc}") from exc
        return dict(manifest)

    def _part_key(self, slot: str, index: int) -> str:
        return f"{self._key}.part.{slot}.{index}"

    def _api_subjects(self, *requests: str) -> list[str]:
        # What nats-py's KV sends for us, spelled out for refusals (denials.py).
        stream = f"KV_{self._bucket}"
        return [f"$JS.API.STREAM.{r}.{stream}" for r in requests] + [f"$JS.API.DIRECT.GET.{stream}."]

    async def _put(self, kv: KeyValue, key: str, value: bytes) -> int:
        last = self._revisions.get(key, 0)
        try:
            # guarded: a refused put is dropped without a PubAck; the refusal says why at once.
            revision = int(await guarded(self._nc, kv.update(key, value, last=last), f"$KV.{self._bucket}.{key}"))
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise CheckpointFencedError(
                f"checkpoint {self._bucket}/{key}: written by another process since revision {last} "
                f"(another instance named {self._key!r} is running); not overwritten"
            ) from exc
        self._revisions[key] = revision
        return revision

    async def _get(self, kv: KeyValue, key: str) -> bytes | None:
        try:
            entry = await guarded(self._nc, kv.get(key))
        except nats.js.errors.KeyNotFoundError as exc:
            # A deleted key: nats-py raises KeyNotFoundError carrying the delete marker (its revision).
            deleted = getattr(exc, "entry", None)
            self._revisions[key] = int(deleted.revision) if deleted is not None and deleted.revision else 0
            return None
        self._revisions[key] = int(entry.revision or 0)
        return entry.value
