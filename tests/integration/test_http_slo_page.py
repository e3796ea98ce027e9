"""The built-in SLO page in a real headless Chromium (the Debian package, which .ci/run installs),
served by a processor's listener fed the known scenario of tests/httpkit.py: the list and an SLO's
page render with no network, show the SLO names and the hand-worked numbers (DOM from
``--dump-dom``), the filters work, and the screenshots are not blank (the charts drew)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from processor.runtime.charts import PALETTE
from tests.htmlrows import table_rows
from tests.httpkit import http_get, served_scenario
from tests.integration.test_backtest_report import read_png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs the Debian "
                                                          "package: apt-get install chromium)")]


@pytest_asyncio.fixture(scope="module")
async def scenario(tmp_path_factory):
    async with served_scenario(tmp_path_factory.mktemp("nats-page")) as scenario:
        yield scenario


async def _chromium(tmp_path: Path, url: str, *args: str) -> bytes:
    # A subprocess of the loop, so that the listener on the same loop answers it.
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1250,1300", *args, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert 0 == proc.returncode, err.decode()[-2000:]
    return out


def _rows(dom: str, attr: str) -> dict[str, list[str]]:
    return table_rows(dom, attr, cells=("td", "th"))


async def test_the_list_shows_every_slo_with_the_scenarios_numbers(scenario, tmp_path):
    base = f"http://127.0.0.1:{scenario.port}"
    page = (await http_get(scenario.port, "/"))[2].decode()
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    rows = _rows((await _chromium(tmp_path, base + "/", "--dump-dom")).decode(), "data-slo")
    assert {s.name for s in scenario.telemetry.config.slos} == set(rows)
    service, name, objective, window, sli_now, left, policy, burn, firing = rows["gateway_latency_p95"]
    assert ("api-gateway", "gateway_latency_p95", "p95 < 200ms", "30d") == (service, name, objective, window)
    assert 250.0 == pytest.approx(float(sli_now.removesuffix(" ms")), rel=0.01)
    assert ("-400.00%", "emergency", "") == (left, policy, firing)
    assert "5m: 5x" in burn and "1h: 5x" in burn

    shot = tmp_path / "list.png"
    await _chromium(tmp_path, base + "/", f"--screenshot={shot}")
    assert read_png(shot.read_bytes()).astype(np.int32).std() > 20, "the list looks blank"


async def test_the_filters_keep_one_service_and_the_burning_slos(scenario, tmp_path):
    url = f"http://127.0.0.1:{scenario.port}/?service=api-gateway&burning=1"
    rows = _rows((await _chromium(tmp_path, url, "--dump-dom")).decode(), "data-slo")
    assert {"api-gateway"} == {cells[0] for cells in rows.values()}
    # p95 and p50 burn (every request is over 50 ms); availability has no bad request.
    assert {"gateway_latency_p95", "gateway_latency_p50"} <= set(rows)
    assert "gateway_availability" not in rows


async def test_an_slo_page_draws_its_charts_and_states_its_budget(scenario, tmp_path):
    url = f"http://127.0.0.1:{scenario.port}/slo/gateway_latency_p95"
    facts = _rows((await _chromium(tmp_path, url, "--dump-dom")).decode(), "data-fact")
    assert ["budget left", "-400.00%"] == facts["budget left"]
    assert ["budget spent", "500.00%"] == facts["budget spent"]
    assert ["good / total", "90 / 120"] == facts["good / total"]
    assert ["policy", "emergency"] == facts["policy"]
    assert ["as of", "2023-11-14T22:16:00.000Z"] == facts["as of"]  # T0 + 120 s

    shot = tmp_path / "slo.png"
    await _chromium(tmp_path, url, f"--screenshot={shot}")
    img = read_png(shot.read_bytes()).astype(np.int32)
    assert img.std() > 20, "the page looks blank"
    green = np.array([int(PALETTE[0][i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(img - green).sum(axis=2) < 30).sum() > 50, "the SLI and budget lines did not draw"
