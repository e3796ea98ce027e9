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


RULES = ROOT / "deploy" / "prometheus" / "rules"


@needs_promtool
def test_the_processors_own_alerts_fire_and_clear_at_the_hand_worked_minutes():
    # deploy/prometheus/rules/slo-processor.test.yml: drops between minute 2 and 3 fire at 3 and are
    # gone once the 5 m window has passed them; down from minute 4 fires at 5 (for: 1m), clears at 8.
    result = subprocess.run([PROMTOOL, "test", "rules", str(RULES / "slo-processor.test.yml")],
                            capture_output=True, text=True, timeout=60, cwd=RULES)
    assert 0 == result.returncode, result.stdout + result.stderr


@needs_promtool
def test_the_rules_test_can_fail(tmp_path):
    # The same rules with the drop window shortened to 1 m: the alert is gone by minute 9 either way,
    # but the Down rule without its for: 1m fires at minute 4, where the test expects nothing.
    broken = (RULES / "slo-processor.yml").read_text().replace("for: 1m\n", "")
    (tmp_path / "slo-processor.yml").write_text(broken)
    (tmp_path / "slo-processor.test.yml").write_text((RULES / "slo-processor.test.yml").read_text())
    result = subprocess.run([PROMTOOL, "test", "rules", "slo-processor.test.yml"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert 0 != result.returncode


def test_the_drops_alert_reads_the_metric_the_processor_exports():
    from processor.config.load import load_config
    from processor.runtime.telemetry import Telemetry

    telemetry = Telemetry(load_config(ROOT / "config" / "slo.yaml"))
    telemetry.metrics.alertmanager_dropped(3)
    exposition = telemetry.metrics.exposition().decode()
    rules = yaml.safe_load((RULES / "slo-processor.yml").read_text())
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert "increase(slo_alertmanager_dropped_total[5m]) > 0" == exprs["SloProcessorAlertmanagerDrops"]
    assert "slo_alertmanager_dropped_total 3.0" in exposition
