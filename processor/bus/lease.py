"""The lease of ``slo run --standby`` in a JetStream KV bucket: which of the instances of one
partition (same ``--instance``) is active. docs/availability.md tells the whole protocol.

The bucket's own ``max_age`` is the lease TTL: the server removes an entry ``ttl`` after its last
write, whatever a client does or fails to do, so a holder that dies frees the lease by itself.
Acquiring is a create-only write (it succeeds only while the key does not exist); renewing is an
update on the revision the holder last wrote (a compare-and-set): if the key expired, or another
instance created it since, the renewal is refused and the holder knows it lost the lease. The
revision written at acquire is the lease's epoch, which only grows.

Why the bucket's TTL and not a per-message TTL (``Nats-TTL``): nats-py's ``update`` cannot carry
one, and a single bucket TTL means every instance works with the TTL the server enforces, read
back from the bucket (``LeaseStore.open``), not with what its own flag says.
"""

from __future__ import annotations

__all__ = ["LEASE_BUCKET", "LeaseStore"]

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.kv import KeyValue

from processor.bus.denials import guarded
from processor.bus.streams import cluster_size
from processor.errors import BusError, LeaseLostError

LEASE_BUCKET = "slo_leases"
_WANTED_REPLICAS = 3
_KV_ERRORS = (nats.errors.Error, OSError)
_CREATE_ATTEMPTS = 3


class LeaseStore:
    """One lease key (the ``--instance`` name) in the lease bucket."""

    def __init__(self, nc: Client, key: str, ttl_s: float, bucket: str = LEASE_BUCKET) -> None:
        self._nc = nc
        self.key = key
        self.ttl_s = ttl_s
        self._bucket = bucket
        # A request must come back well within the lease: a renewal that takes longer is a failure.
        self._js = nc.jetstream(timeout=max(0.2, ttl_s / 4))
        self._kv: KeyValue | None = None

    async def open(self) -> float:
        """Find or create the bucket; the TTL it enforces (seconds), which may differ from ``ttl_s``
        when another instance created it: the caller must then refuse to run."""
        try:
            try:
                self._kv = await guarded(self._nc, self._js.key_value(self._bucket))
            except nats.js.errors.BucketNotFoundError:
                self._kv = await guarded(self._nc, self._js.create_key_value(
                    bucket=self._bucket, history=1, ttl=self.ttl_s,
                    replicas=min(_WANTED_REPLICAS, cluster_size(self._nc) or 1),
                    description="slo-processor leases: which instance of a partition is active",
                ))
            status = await self._kv.status()
        except _KV_ERRORS as exc:
            raise BusError(f"lease bucket {self._bucket}: {exc}") from exc
        return float(status.ttl or 0.0)

    def _store(self) -> KeyValue:
        assert self._kv is not None, "open() first"
        return self._kv

    async def acquire(self, holder: bytes) -> int | None:
        """Create the key if it does not exist: its revision (the lease's epoch), or None when
        another instance holds it."""
        for _ in range(_CREATE_ATTEMPTS):
            try:
                return int(await guarded(self._nc, self._store().create(self.key, holder), self._subject()))
            except nats.js.errors.KeyWrongLastSequenceError:
                return None
            except nats.js.errors.KeyNotFoundError:
                # nats-py's create met the key, then read it (to tell a deleted one) after the
                # server had expired it (its TTL): the lease is free now, so create again.
                continue
            except _KV_ERRORS as exc:
                raise BusError(f"lease {self._bucket}/{self.key}: cannot acquire: {exc}") from exc
        return None  # the key came and went every time: held by someone, or free at the next try

    async def renew(self, revision: int, holder: bytes) -> int:
        """Write the key again if ``revision`` is still its last write: the new revision.
        ``LeaseLostError`` if it expired or another instance took it; ``BusError`` if the bus did not
        answer (the lease may still be held: try again while it lasts)."""
        try:
            return int(await guarded(self._nc, self._store().update(self.key, holder, last=revision),
                                     self._subject()))
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise LeaseLostError(f"lease {self._bucket}/{self.key}: expired or taken since revision {revision}") from exc
        except _KV_ERRORS as exc:
            raise BusError(f"lease {self._bucket}/{self.key}: cannot renew: {exc}") from exc

    async def release(self, revision: int) -> bool:
        """Delete the key if ``revision`` is still its last write, so that a standby takes over at
        once instead of after the TTL; False if it could not (expired, taken, or no answer)."""
        try:
            await guarded(self._nc, self._store().delete(self.key, last=revision), self._subject())
        except (*_KV_ERRORS, nats.js.errors.Error):
            return False
        return True

    async def holder(self) -> bytes | None:
        """What the holder wrote (who it is), None when nobody holds the lease."""
        try:
            entry = await self._store().get(self.key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        except _KV_ERRORS:
            return None
        return entry.value

    def _subject(self) -> str:
        return f"$KV.{self._bucket}.{self.key}"
