"""Publishing through the loss of a NATS node: PubAcks that were to come over a connection that
broke never come, so the publisher gives up on them as soon as the client is connected to another
node, not at the end of its timeout; publishing again stores every message once (Nats-Msg-Id)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from processor.bus import _jsapi
from processor.bus.backoff import Backoff, retry
from processor.bus.connect import ConnectOptions, connect
from processor.bus.publisher import OutMessage, Publisher
from processor.errors import BusError
from tests.clusterkit import Cluster

pytestmark = pytest.mark.integration

STREAM = {"name": "OUT", "subjects": ["out.>"], "num_replicas": 3, "storage": "file",
          "duplicate_window": 120 * 1_000_000_000}


async def test_pubacks_of_a_lost_connection_are_given_up_at_the_reconnect_and_a_retry_stores_each_once(tmp_path):
    async with Cluster(tmp_path / "cluster") as cluster:
        admin = await cluster.connect()
        await _jsapi.request(admin, f"{_jsapi.API_PREFIX}.STREAM.CREATE.OUT", STREAM, what="create OUT")
        leader = await cluster.wait_stream_leader(admin, "OUT")
        # Connected to another node than the stream's leader (the others it learns from the
        # cluster's INFO): the messages reach the stream through it, and the PubAcks come back
        # through it.
        node = (leader + 1) % cluster.size
        nc = await connect(ConnectOptions(url=cluster.urls[node]))
        publisher = Publisher(nc)
        messages = [OutMessage(f"out.{i}", b"x" * 2000, msg_id=f"m{i}") for i in range(200)]
        await publisher.publish_all(messages[:1])

        # Frozen, the node takes the messages into its socket and passes nothing on; then it is
        # gone, and what it held with it.
        pid = int((cluster.root / cluster.name(node) / "nats-server.pid").read_text())
        os.kill(pid, signal.SIGSTOP)
        pending = asyncio.ensure_future(publisher.publish_all(messages, timeout_s=30.0))
        await asyncio.sleep(0.5)
        killed_s = time.monotonic()
        await cluster.kill_node(node)
        with pytest.raises(BusError, match="the connection was replaced"):
            await pending
        gave_up_s = time.monotonic() - killed_s

        # What the outbox does: publish again until stored (the stream elects a new leader).
        await retry(lambda: publisher.publish_all(messages, timeout_s=2.0), backoff=Backoff(0.1, 1.0, deadline_s=30.0))
        info = await cluster.stream_info(admin, "OUT")
        await publisher.close()
        await nc.close()
        await admin.close()

    print(f"PubAcks given up {gave_up_s:.2f} s after the node was killed")
    assert gave_up_s < 5.0
    assert 200 == info["state"]["messages"]
