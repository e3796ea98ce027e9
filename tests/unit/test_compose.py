"""docker-compose.yml cannot run here (no Docker engine); check what it declares instead."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_declares_a_three_node_jetstream_cluster_and_the_processor():
    services = load()["services"]
    assert {"nats-1", "nats-2", "nats-3", "processor"} == set(services)
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
    assert {"nats-1-data", "nats-2-data", "nats-3-data"} == set(doc["volumes"])


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
    assert {"./config:/app/config:ro", "./streams:/app/streams:ro"} == set(proc["volumes"])
    assert (ROOT / "Dockerfile").is_file()
