"""docker-compose.yml cannot run here (no Docker engine); check what it declares instead."""

import re

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_declares_a_three_node_jetstream_cluster_and_the_processor():
    services = load()["services"]
    assert {"nats-1", "nats-2", "nats-3", "processor", "prometheus", "alertmanager", "grafana"} == set(services)
    for name in ("nats-1", "nats-2", "nats-3"):
        cmd = services[name]["command"]
        assert "-js" in cmd
        assert "slo" == cmd[cmd.index("--cluster_name") + 1]
        routes = cmd[cmd.index("--routes") + 1].split(",")
        others = {f"nats://{n}:6222" for n in ("nats-1", "nats-2", "nats-3") if n != name}
        assert others == set(routes)


def test_each_node_keeps_its_jetstream_store_on_its_own_volume():
    doc = load()
    mounts = {name: doc["services"][name]["volumes"][0] for name in ("nats-1", "nats-2", "nats-3")}
    assert {f"{n}-data:/data" for n in mounts} == set(mounts.values())
    assert {"nats-1-data", "nats-2-data", "nats-3-data"} <= set(doc["volumes"])


def test_published_ports_bind_loopback_only():
    for svc in load()["services"].values():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_the_processor_reaches_all_three_nodes_and_mounts_config_and_streams():
    proc = load()["services"]["processor"]
    assert {"nats://nats-1:4222", "nats://nats-2:4222", "nats://nats-3:4222"} == set(
        proc["environment"]["SLO_NATS_URL"].split(",")
    )
    assert ["slo", "run"] == proc["command"][:2]
    assert "127.0.0.1:9464" == proc["command"][proc["command"].index("--http") + 1]
    assert {"./config:/app/config:ro", "./streams:/app/streams:ro"} == set(proc["volumes"])
    assert (ROOT / "Dockerfile").is_file()


def test_every_mounted_host_path_exists_and_every_named_volume_is_declared():
    doc = load()
    seen = 0
    for name, svc in doc["services"].items():
        for mount in svc.get("volumes", []):
            source, target = mount.split(":")[:2]
            assert target.startswith("/"), (name, mount)
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, mount)
                seen += 1
            else:
                assert source in doc["volumes"], (name, mount)
    assert seen >= 5


def test_prometheus_scrapes_the_processor_on_its_loopback_with_the_deploy_config():
    services = load()["services"]
    prom = services["prometheus"]
    # deploy/prometheus/prometheus.yml scrapes 127.0.0.1:9464: the processor's own network.
    assert "service:processor" == prom["network_mode"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    assert "127.0.0.1:9090:9090" in services["processor"]["ports"]


def test_grafana_gets_the_provisioning_and_the_dashboards_and_reaches_prometheus():
    grafana = load()["services"]["grafana"]
    mounts = dict(m.rsplit(":", 1)[0].split(":") for m in grafana["volumes"] if m.startswith("."))
    assert "/etc/grafana/provisioning/datasources" == mounts["./deploy/grafana/provisioning/datasources"]
    assert "/etc/grafana/provisioning/dashboards" == mounts["./deploy/grafana/provisioning/dashboards"]
    # The dashboards provider reads this folder (deploy/grafana/provisioning/dashboards/slo.yml).
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/slo.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    # The datasource's URL comes from the environment the compose file sets.
    datasource = (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    assert re.search(r"url: \$\{SLO_PROMETHEUS_URL\}", datasource)
    assert "http://processor:9090" == grafana["environment"]["SLO_PROMETHEUS_URL"]


def test_alertmanager_is_declared():
    am = load()["services"]["alertmanager"]
    assert am["image"].startswith("prom/alertmanager:")
    assert "127.0.0.1:9093:9093" in am["ports"]
