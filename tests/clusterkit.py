"""A 3-node nats-server cluster for the tests: routes on loopback, free ports, JetStream with a
store directory per node, one cluster name; and what the failure tests do to it: find the node
leading a stream, stop it (SIGTERM: a clean shutdown) or kill it (SIGKILL), start it again on the
same ports and store, and wait for a stream to have a leader again.

Each node is an ``EmbeddedServer`` (processor/bus/embedded.py) with the cluster flags: its client
and route ports are fixed (picked free at the start), so that a restarted node is found again by
the other nodes' routes and by the clients' server lists.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

from nats.aio.client import Client

from processor.bus import _jsapi
from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import cluster_size
from processor.errors import BusError

CLUSTER_NAME = "slo-test"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on loopback right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Cluster:
    """``size`` nats-server nodes named n0, n1, ... routed to each other on loopback."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = Path(root)
        self.size = size
        ports = free_ports(3 * size)
        self.client_ports, self.route_ports, self.monitor_ports = ports[:size], ports[size:2 * size], ports[2 * size:]
        self.nodes: list[EmbeddedServer | None] = [None] * size

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p}" for p in self.client_ports]

    @property
    def url(self) -> str:
        """Every node, comma-separated, as ``--nats-url`` and ``NATS_URL`` take them."""
        return ",".join(self.urls)

    def name(self, index: int) -> str:
        return f"n{index}"

    def _server(self, index: int) -> EmbeddedServer:
        routes = ",".join(f"nats://127.0.0.1:{p}" for i, p in enumerate(self.route_ports) if i != index)
        return EmbeddedServer(
            self.root / self.name(index),
            port=self.client_ports[index],
            monitor_port=self.monitor_ports[index],
            start_timeout_s=20.0,
            extra_args=[
                "--server_name", self.name(index),
                "--cluster_name", CLUSTER_NAME,
                "--cluster", f"nats://127.0.0.1:{self.route_ports[index]}",
                "--routes", routes,
            ],
        )

    async def start(self) -> None:
        """Every node, together (JetStream answers on none until a meta leader is elected among
        them), then until a client sees the whole cluster (routes form after the election)."""
        self.nodes = [self._server(i) for i in range(self.size)]
        await asyncio.gather(*(n.start() for n in self.nodes))
        deadline = time.monotonic() + 10
        while True:
            nc = await self.connect()
            try:
                if cluster_size(nc) == self.size and await self._places_replicas(nc):
                    return
            finally:
                await nc.close()
            assert time.monotonic() < deadline, "the cluster did not form (routes, JetStream peers) within 10 s"
            await asyncio.sleep(0.1)

    async def _places_replicas(self, nc: Client) -> bool:
        """Whether JetStream knows every peer yet: routes form before the meta group has them all,
        and an R3 stream created in between is refused ("no suitable peers for placement")."""
        probe = {"name": "KIT_READY", "subjects": ["kit.ready"], "num_replicas": self.size, "storage": "memory"}
        try:
            await _jsapi.request(nc, f"{_jsapi.API_PREFIX}.STREAM.CREATE.KIT_READY", probe, what="probe")
        except BusError:
            return False
        await _jsapi.request(nc, f"{_jsapi.API_PREFIX}.STREAM.DELETE.KIT_READY", None, what="probe")
        return True

    async def connect(self, name: str = "slo-cluster-tests") -> Client:
        return await connect(ConnectOptions(url=self.url, name=name, connect_timeout_s=10.0))

    async def stop_node(self, index: int) -> None:
        """A clean shutdown (SIGTERM), as an operator or an orchestrator stops a node."""
        node, self.nodes[index] = self.nodes[index], None
        if node is not None:
            await node.stop()

    async def kill_node(self, index: int) -> None:
        """SIGKILL: the node vanishes without a word to its peers."""
        node = self.nodes[index]
        assert node is not None, f"{self.name(index)} is not running"
        pid = int((self.root / self.name(index) / "nats-server.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        await self.stop_node(index)  # reaps the process and releases the store lock

    async def restart_node(self, index: int) -> None:
        """The node again, on its ports and store; returns once it has rejoined JetStream."""
        assert self.nodes[index] is None, f"{self.name(index)} is still running"
        node = self._server(index)
        await node.start()
        self.nodes[index] = node

    async def stop(self) -> None:
        await asyncio.gather(*(self.stop_node(i) for i in range(self.size)))

    async def __aenter__(self) -> Cluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stream_info(self, nc: Client, stream: str) -> dict:
        return await _jsapi.request(nc, f"{_jsapi.API_PREFIX}.STREAM.INFO.{stream}", what=f"stream {stream}: info",
                                    timeout_s=2.0)

    async def stream_leader(self, nc: Client, stream: str) -> int | None:
        """The index of the node leading ``stream`` (None: no leader right now)."""
        try:
            info = await self.stream_info(nc, stream)
        except BusError:
            return None  # no leader to answer, or the client is reconnecting
        leader = info.get("cluster", {}).get("leader")
        return int(leader[1:]) if leader else None

    async def consumer_leader(self, nc: Client, stream: str, consumer: str) -> int | None:
        try:
            info = await _jsapi.request(nc, f"{_jsapi.API_PREFIX}.CONSUMER.INFO.{stream}.{consumer}",
                                        what=f"consumer {stream}/{consumer}: info", timeout_s=2.0)
        except BusError:
            return None
        leader = info.get("cluster", {}).get("leader")
        return int(leader[1:]) if leader else None

    async def move_leader(self, nc: Client, asset: str, to: int, timeout_s: float = 10.0) -> None:
        """Make node ``to`` the leader of ``asset``, a stream (``"SLO"``) or a consumer
        (``"ANALYTICS/slo_ANALYTICS"``): a stepdown that prefers it (nats-server 2.11+)."""
        stream, _, consumer = asset.partition("/")
        what = f"{stream}.{consumer}" if consumer else stream
        kind = "CONSUMER" if consumer else "STREAM"

        async def leader() -> int | None:
            return await (self.consumer_leader(nc, stream, consumer) if consumer else self.stream_leader(nc, stream))

        deadline = time.monotonic() + timeout_s
        while (now := await leader()) != to:
            assert time.monotonic() < deadline, f"{asset}: led by {now}, not n{to}, after {timeout_s:g} s"
            if now is not None:
                body = {"placement": {"preferred": self.name(to)}}
                try:
                    await _jsapi.request(nc, f"{_jsapi.API_PREFIX}.{kind}.LEADER.STEPDOWN.{what}", body,
                                         what=f"{asset}: stepdown", timeout_s=2.0)
                except BusError:
                    pass  # a stepdown under way, or no leader yet: ask again
            await asyncio.sleep(0.1)

    def connected_node(self, client_name: str) -> int | None:
        """The node a client named ``client_name`` is connected to (the monitoring port's
        /connz), None when it is connected to none."""
        for index, port in enumerate(self.monitor_ports):
            if self.nodes[index] is None:
                continue
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/connz?limit=1024", timeout=2) as reply:
                connz = json.load(reply)
            if any(c.get("name") == client_name for c in connz.get("connections") or []):
                return index
        return None

    async def wait_stream_leader(self, nc: Client, stream: str, not_on: int | None = None,
                                 timeout_s: float = 30.0) -> int:
        """Until ``stream`` has a leader other than node ``not_on``; its index."""
        deadline = time.monotonic() + timeout_s
        while True:
            leader = await self.stream_leader(nc, stream)
            if leader is not None and leader != not_on:
                return leader
            assert time.monotonic() < deadline, f"stream {stream}: no new leader within {timeout_s:g} s"
            await asyncio.sleep(0.05)
