"""deploy/prometheus/prometheus.yml: Prometheus scraping the processor's /metrics, accepted by
`promtool check config` (Debian package `prometheus`, which .ci/run installs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (.ci/run installs the "
                                    "Debian package prometheus)")


def check_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_accepts_the_config():
    result = check_config(CONFIG)
    assert 0 == result.returncode, result.stdout + result.stderr


@needs_promtool
def test_promtool_rejects_a_broken_copy(tmp_path):
    # The check can fail: the same file with its scrape interval made invalid.
    broken = tmp_path / "prometheus.yml"
    broken.write_text(CONFIG.read_text().replace("scrape_interval: 15s", "scrape_interval: fifteen"))
    assert broken.read_text() != CONFIG.read_text()
    assert 0 != check_config(broken).returncode


def test_the_processor_is_scraped_on_loopback_9464_as_job_slo_processor():
    doc = yaml.safe_load(CONFIG.read_text())
    (job,) = [j for j in doc["scrape_configs"] if j["job_name"] == "slo-processor"]
    assert "/metrics" == job.get("metrics_path", "/metrics")
    assert [{"targets": ["127.0.0.1:9464"]}] == job["static_configs"]
