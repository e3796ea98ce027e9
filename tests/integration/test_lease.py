"""The lease of `slo run --standby` (processor/bus/lease.py, processor/runtime/lease.py) and the
fenced checkpoint writes (processor/bus/checkpoint.py) on a real nats-server: who may act, when
the server lets another instance in, and that a stale writer can never overwrite the checkpoint of
the instance that took over (inline and split into parts)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
import structlog
from nats.aio.client import Client
from structlog.testing import capture_logs

from processor.bus.checkpoint import CheckpointStore
from processor.config.load import load_config
from processor.bus.lease import LeaseStore
from processor.errors import CheckpointFencedError, LeaseLostError, ProcessorError
from processor.runtime.lease import LOCAL_SHARE, Lease, check_duplicate_window
from processor.runtime.telemetry import Telemetry

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TTL_S = 1.0


def bucket() -> str:
    return f"lease_{uuid.uuid4().hex[:8]}"


async def test_one_holder_at_a_time_and_the_server_frees_a_dead_holders_lease_after_the_ttl(nc: Client) -> None:
    name = bucket()
    first, second = LeaseStore(nc, "p0", TTL_S, bucket=name), LeaseStore(nc, "p0", TTL_S, bucket=name)
    assert TTL_S == await first.open() == await second.open()
    epoch = await first.acquire(b"first")
    assert epoch is not None and None is await second.acquire(b"second")
    revision = await first.renew(epoch, b"first")
    with pytest.raises(LeaseLostError):
        await first.renew(epoch, b"first")  # not the last revision written any more
    assert b"first" == await second.holder()

    # The holder dies (no more renewals): the key is gone a TTL after its last write, not before.
    written_s = time.monotonic()
    while (taken := await second.acquire(b"second")) is None:
        await asyncio.sleep(0.02)
    assert TTL_S <= time.monotonic() - written_s + 0.05 < TTL_S + 1.5
    assert taken > revision
    with pytest.raises(LeaseLostError):
        await first.renew(revision, b"first")
    assert not await first.release(revision)  # never frees another instance's lease
    assert await second.release(taken)
    assert await first.acquire(b"first") is not None  # released: no TTL to wait


async def test_a_lease_that_expires_while_it_is_being_acquired_is_taken(nc: Client, monkeypatch) -> None:
    # nats-py's create writes "only if new", is refused (the key is held), then reads the key to
    # tell a deleted one. Here that read comes after the server expired the key (a fresh-clone CI
    # run met it by chance): the lease is free, not an error. Real server, real expiry; only the
    # read is delayed past the TTL.
    name = bucket()
    holder, taker = LeaseStore(nc, "p2", TTL_S, bucket=name), LeaseStore(nc, "p2", TTL_S, bucket=name)
    await holder.open()
    await taker.open()
    assert await holder.acquire(b"holder") is not None
    store = taker._store()
    read = store._get
    delayed = []

    async def read_after_the_ttl(key, *args, **kwargs):
        if not delayed:
            delayed.append(key)
            await asyncio.sleep(TTL_S + 0.5)
        return await read(key, *args, **kwargs)

    monkeypatch.setattr(store, "_get", read_after_the_ttl)
    taken = await taker.acquire(b"taker")
    assert ["p2"] == delayed and taken is not None
    assert b"taker" == await holder.holder()


async def test_a_lease_acts_only_until_its_local_deadline_and_a_late_renewal_cannot_revive_it(nc: Client) -> None:
    now = [100.0]
    lease = Lease(LeaseStore(nc, "p1", TTL_S, bucket=bucket()), structlog.get_logger(), clock=lambda: now[0])
    await lease.open()
    assert await lease.acquire(asyncio.Event())
    assert lease.held()
    now[0] += TTL_S * LOCAL_SHARE - 0.01
    assert lease.held()
    now[0] += 0.02
    with capture_logs() as logs:
        assert not lease.held() and lease.lost.is_set()
        await lease._renew()  # noqa: SLF001 - a renewal that was in flight when the deadline passed
    assert not lease.held()
    assert ["lease.expired"] == [r["event"] for r in logs]


async def test_instances_with_another_ttl_refuse_to_run(nc: Client) -> None:
    name = bucket()
    await Lease(LeaseStore(nc, "p2", TTL_S, bucket=name), structlog.get_logger()).open()
    with pytest.raises(ProcessorError, match="--lease-ttl 2s, but the lease bucket was created with a TTL of 1s"):
        await Lease(LeaseStore(nc, "p2", 2.0, bucket=name), structlog.get_logger()).open()


@pytest.mark.parametrize("size", ["inline", "parts"])
async def test_a_stale_checkpoint_writer_is_fenced_and_the_new_one_is_not(nc: Client, size: str) -> None:
    name = f"ckpt_{uuid.uuid4().hex[:8]}"
    copies = nc.max_payload * 2 // 8 if size == "parts" else 1  # parts: more than two max_payloads

    def state(n: int) -> bytes:
        return b"state-%d" % n * copies

    stale = CheckpointStore(nc, bucket=name, key="default")
    assert None is await stale.load()
    await stale.save(state(1))
    await stale.save(state(2))

    # The standby takes over: it restores what the stale one saved last, then saves its own.
    new = CheckpointStore(nc, bucket=name, key="default")
    assert state(2) == await new.load()
    await new.save(state(3))
    with pytest.raises(CheckpointFencedError, match="written by another process since revision"):
        await stale.save(state(4))
    await new.save(state(5))
    assert state(5) == await CheckpointStore(nc, bucket=name, key="default").load()


async def test_a_restarted_process_writes_on_from_the_revision_it_loaded(nc: Client) -> None:
    name = f"ckpt_{uuid.uuid4().hex[:8]}"
    await CheckpointStore(nc, bucket=name).save(b"before the crash")
    restarted = CheckpointStore(nc, bucket=name)
    assert b"before the crash" == await restarted.load()
    await restarted.save(b"after")
    assert b"after" == await CheckpointStore(nc, bucket=name).load()


def test_the_duplicate_window_must_cover_a_checkpoint_interval_the_ttl_and_the_start() -> None:
    with capture_logs() as logs:
        check_duplicate_window(120.0, 15.0, 5.0, "SLO", structlog.get_logger())  # 50 s needed
        check_duplicate_window(40.0, 15.0, None, "SLO", structlog.get_logger())  # 45 s needed
    assert [("stream.duplicate_window_short", 45.0)] == [(r["event"], r["needed_s"]) for r in logs]


def test_readyz_says_the_role_and_a_standby_is_ready() -> None:
    telemetry = Telemetry(load_config(ROOT / "config" / "slo.yaml"))
    telemetry.phase, telemetry.role = "standby", "standby"
    ready, body = telemetry.readiness()
    assert (True, "standby", "standby", []) == (ready, body["phase"], body["role"], body["reasons"])
    telemetry.phase, telemetry.role = "starting", "active"  # taking over: not ready until running
    ready, body = telemetry.readiness()
    assert (False, "active", ["processor starting"]) == (ready, body["role"], body["reasons"])
    assert "role" not in Telemetry(telemetry.config).readiness()[1]  # without --standby, as before
