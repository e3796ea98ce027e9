"""The loop the product and its async tests run on (processor/bus/eventloop.py)."""

from __future__ import annotations

import asyncio

import uvloop

from processor.bus import eventloop
from processor.bus.connect import ConnectOptions, connect, let_go
from processor.bus.embedded import EmbeddedServer


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_a_command_runs_on_uvloop() -> None:
    assert uvloop.Loop == eventloop.run(_loop_type())
    assert "uvloop" == eventloop.LOOP_NAME


async def test_an_async_test_runs_on_the_products_loop() -> None:
    assert uvloop.Loop == await _loop_type()


def test_run_returns_the_result_and_closes_its_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> int:
        loops.append(asyncio.get_running_loop())
        return 42

    assert 42 == eventloop.run(main())
    assert loops[0].is_closed()


async def test_a_connection_to_a_server_that_has_gone_is_let_go_on_this_loop(tmp_path) -> None:
    """nats-py writes what it holds before it closes: into the socket of a stopped server that
    raises, ConnectionResetError on asyncio's loop, RuntimeError on uvloop's."""
    server = EmbeddedServer(tmp_path)
    nc = await connect(ConnectOptions(url=await server.start(), name="let-go"))
    await server.stop()
    await nc.publish("anything", b"held by nats-py until its flusher runs")
    await let_go(nc)
    assert nc.is_closed
