"""Every PromQL query of every panel of deploy/grafana/dashboards/ returns data through a real
Prometheus (Debian package `prometheus`, which .ci/run installs), started on free loopback ports
with deploy/prometheus/prometheus.yml (its target and scrape interval swapped for the test's).

What Prometheus scrapes: the processor itself, `slo run --http` on the tests' nats-server fed by
`slo simulate`."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.dashboardkit import METRIC_FAMILIES, Query, all_queries

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (.ci/run installs the Debian "
                       "package prometheus)"),
]
SCRAPE_INTERVAL = "1s"
DATA_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def real_processor(nats_url: str, tmp: Path) -> Iterator[str]:
    """`slo run --http` on the tests' nats-server, fed 15 minutes of platform traffic that end
    with incidents still going (so that alerts fire, costs run over and budgets burn)."""
    address = f"127.0.0.1:{free_port()}"
    common = ["--nats-url", nats_url, "--streams-dir", str(ROOT / "streams")]
    log = (tmp / "slo-run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "processor.cli", "run", "--config", str(ROOT / "config" / "slo.yaml"), *common,
         "--store-dir", str(tmp / "store"), "--instance", "dashboards", "--http", address],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
    )
    try:
        wait_http(f"http://{address}/metrics", timeout_s=60.0)
        subprocess.run(
            [sys.executable, "-m", "processor.cli", "simulate", *common, "--fast", "--duration", "15m",
             "--incident", "latency_spike:gateway@8m+7m", "--incident", "outage:gateway=0.2@8m+7m",
             "--incident", "cost_overrun@10m+5m", "--incident", "provider_down:alpaca@12m+3m"],
            check=True, capture_output=True, timeout=300, cwd=tmp,
        )
        yield address
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def metrics_target(nats_url, tmp_path_factory) -> Iterator[str]:
    yield from real_processor(nats_url, tmp_path_factory.mktemp("slo-run"))


@pytest.fixture(scope="module")
def prometheus(metrics_target, tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = SCRAPE_INTERVAL
    config["global"]["evaluation_interval"] = SCRAPE_INTERVAL
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "slo-processor"]
    job["static_configs"] = [{"targets": [metrics_target]}]
    # The copy lives elsewhere: its rule files by their full path; no Alertmanager to send to here.
    config["rule_files"] = [str(ROOT / "deploy" / "prometheus" / f) for f in config["rule_files"]]
    config.pop("alerting")
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address={address}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
    )
    try:
        wait_http(f"http://{address}/-/ready")
        yield f"http://{address}"
    finally:
        stop(proc)
        log.close()


def instant(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    assert "success" == doc["status"], doc
    return doc["data"]["result"]


def eventually(base: str, expr: str, timeout_s: float = DATA_TIMEOUT_S) -> list[dict]:
    """The query's result once it has one (Prometheus needs a scrape or two first); [] if never."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = instant(base, expr)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_prometheus_scrapes_the_processor_as_job_slo_processor_with_every_metric_family(prometheus):
    assert ["1"] == [r["value"][1] for r in eventually(prometheus, 'up{job="slo-processor"} == 1')]
    names = {r["metric"]["__name__"] for r in eventually(prometheus, '{job="slo-processor", __name__=~"slo_.*"}')}
    families = {n.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
                if n not in METRIC_FAMILIES else n for n in names}
    assert set(METRIC_FAMILIES) <= families


def test_a_query_of_a_name_the_processor_never_exports_returns_nothing(prometheus):
    # The check below can fail: an SLI that is not in the catalogue has no series.
    eventually(prometheus, 'up{job="slo-processor"} == 1')
    assert [] == instant(prometheus, 'slo_sli_value{sli="no_such_sli", stat="p99"}')


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.name)
def test_every_panel_query_returns_data(prometheus, query: Query):
    result = eventually(prometheus, query.expr)
    assert result, f"{query.name}: no data for {query.expr}"
