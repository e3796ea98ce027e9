"""`slo run` end to end against a nats-server that admits it one way each: user and password, a
token, an NKey, a creds file (JWT, operator mode) and mutual TLS with a CA made here.

Each run consumes an event and publishes the alert and the dead letter it causes; a wrong secret
makes it exit 1 at once with one line that says so. The book in tests/securitykit.py keeps every
secret and log line for tests/integration/test_security_secrets.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nkeys
import orjson
import pytest
import trustme

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from tests.securitykit import BOOK, SMALL_CONFIG, NKey, gateway_event, operator_mode, password, slo_run

pytestmark = pytest.mark.integration


@dataclass
class WayIn:
    """A server config that admits one identity, and how the processor and the test present it."""

    server_conf: str
    env: dict[str, str] = field(default_factory=dict)  # the processor's SLO_NATS_* variables
    args: tuple[str, ...] = ()  # or its command-line options
    client: dict[str, str] = field(default_factory=dict)  # ConnectOptions of the test's own client
    wrong_env: dict[str, str] = field(default_factory=dict)  # a secret the server refuses


def user_password(tmp: Path) -> WayIn:
    secret = password()
    conf = f'authorization {{ users = [ {{ user: slo, password: "{secret}" }} ] }}\n'
    return WayIn(conf, env={"SLO_NATS_USER": "slo", "SLO_NATS_PASSWORD": secret},
                 client={"user": "slo", "password": secret},
                 wrong_env={"SLO_NATS_USER": "slo", "SLO_NATS_PASSWORD": password()})


def token(tmp: Path) -> WayIn:
    secret = password()
    # On the command line this once, to see that arguments are redacted as well as variables.
    return WayIn(f'authorization {{ token: "{secret}" }}\n', args=("--token", secret), client={"token": secret},
                 wrong_env={"SLO_NATS_TOKEN": password()})


def nkey(tmp: Path) -> WayIn:
    user, stranger = NKey.new(nkeys.PREFIX_BYTE_USER), NKey.new(nkeys.PREFIX_BYTE_USER)
    seed_file, wrong_file = tmp / "slo.nk", tmp / "stranger.nk"
    seed_file.write_text(user.seed + "\n")
    wrong_file.write_text(stranger.seed + "\n")
    conf = f"authorization {{ users = [ {{ nkey: {user.public} }} ] }}\n"
    return WayIn(conf, env={"SLO_NATS_NKEY_SEED": str(seed_file)}, client={"nkey_seed_file": str(seed_file)},
                 wrong_env={"SLO_NATS_NKEY_SEED": str(wrong_file)})


def creds(tmp: Path) -> WayIn:
    (tmp / "right").mkdir()
    (tmp / "other").mkdir()
    conf, creds_file = operator_mode(tmp / "right")
    _, foreign = operator_mode(tmp / "other")  # a user of an operator this server does not trust
    return WayIn(conf, args=("--creds", str(creds_file)), client={"creds_file": str(creds_file)},
                 wrong_env={"SLO_NATS_CREDS": str(foreign)})


def mutual_tls(tmp: Path) -> WayIn:
    ca, stranger_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    for name, issuer in (("client", ca), ("stranger", stranger_ca)):
        cert = issuer.issue_cert("slo-processor")
        cert.cert_chain_pems[0].write_to_path(str(tmp / f"{name}.pem"))
        cert.private_key_pem.write_to_path(str(tmp / f"{name}.key"))
        BOOK.secret(cert.private_key_pem.bytes().decode().splitlines()[1])  # a line of the key itself
    conf = (f'tls {{ cert_file: "{tmp}/server.pem", key_file: "{tmp}/server.pem", ca_file: "{tmp}/ca.pem", '
            f"verify: true, timeout: 2 }}\n")
    files = {"tls_ca": str(tmp / "ca.pem"), "tls_cert": str(tmp / "client.pem"), "tls_key": str(tmp / "client.key")}
    return WayIn(conf, env={"SLO_NATS_TLS_CA": files["tls_ca"], "SLO_NATS_TLS_CERT": files["tls_cert"],
                            "SLO_NATS_TLS_KEY": files["tls_key"]}, client=files,
                 wrong_env={"SLO_NATS_TLS_CA": files["tls_ca"], "SLO_NATS_TLS_CERT": str(tmp / "stranger.pem"),
                            "SLO_NATS_TLS_KEY": str(tmp / "stranger.key")})


WAYS_IN: dict[str, Callable[[Path], WayIn]] = {
    "user_password": user_password, "token": token, "nkey": nkey, "creds_jwt": creds, "mutual_tls": mutual_tls,
}


async def _published(nc, subject: str, count: int, timeout_s: float = 30.0) -> list:
    seen: list = []
    done = asyncio.Event()

    async def collect(msg) -> None:
        seen.append(msg)
        if len(seen) >= count:
            done.set()

    sub = await nc.subscribe(subject, cb=collect)
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        await sub.unsubscribe()
    return seen


@pytest.mark.parametrize("way", sorted(WAYS_IN))
async def test_slo_run_consumes_and_publishes_when_admitted_this_way(way, tmp_path):
    way_in = WAYS_IN[way](tmp_path)
    (tmp_path / "nats.conf").write_text(way_in.server_conf)
    async with EmbeddedServer(tmp_path / "nats", extra_args=["-c", str(tmp_path / "nats.conf")]) as server:
        run = slo_run(f"auth-{way}", tmp_path, server.url, way_in.env, *way_in.args, config=SMALL_CONFIG)
        try:
            await asyncio.to_thread(run.wait_for_event, "processor.ready")
            nc = await connect(ConnectOptions(url=server.url, name="security-test", **way_in.client))
            try:
                alert = asyncio.create_task(_published(nc, "slo.alerts.>", 1))
                dead = asyncio.create_task(_published(nc, "slo.deadletter.>", 1))
                await asyncio.sleep(0.2)  # both subscriptions registered before anything is published
                js = nc.jetstream()
                await js.publish("analytics.gateway.request", gateway_event(0, status_code=503))
                await js.publish("analytics.gateway.request", b"{not json")
                [alert_msg], [dead_msg] = await asyncio.gather(alert, dead)
                assert "slo.alerts.critical.api-gateway" == alert_msg.subject
                assert ("GatewayServerError", "firing") == (orjson.loads(alert_msg.data)["labels"]["alertname"],
                                                            orjson.loads(alert_msg.data)["status"])
                assert ("slo.deadletter.not_json", b"{not json") == (dead_msg.subject, dead_msg.data)
                # Consumed and acked: the durable has nothing left to deliver or to wait for. The
                # ack follows the batch's outputs (the alert now fires on its event), so wait for it.
                for _ in range(50):
                    info = await nc.jetstream().consumer_info("ANALYTICS", "slo_analytics")
                    if info.ack_floor.stream_seq >= 2:
                        break
                    await asyncio.sleep(0.1)
                assert (0, 2) == (info.num_pending, info.ack_floor.stream_seq)
            finally:
                await nc.close()
            assert 0 == await asyncio.to_thread(run.stop)
        finally:
            run.stop()
    assert [] == BOOK.leaks()


@pytest.mark.parametrize("way", sorted(WAYS_IN))
async def test_slo_run_with_a_secret_the_server_refuses_exits_1_with_one_error_line(way, tmp_path):
    way_in = WAYS_IN[way](tmp_path)
    (tmp_path / "nats.conf").write_text(way_in.server_conf)
    async with EmbeddedServer(tmp_path / "nats", extra_args=["-c", str(tmp_path / "nats.conf")]) as server:
        url = server.url
        run = slo_run(f"auth-refused-{way}", tmp_path, url, way_in.wrong_env, config=SMALL_CONFIG)
        assert 1 == await asyncio.to_thread(run.wait, 20.0)
    errors = [r for r in run.records() if r.get("level") == "error"]
    assert ["processor.failed"] == [r["event"] for r in errors], run.text()
    assert errors[0]["error"].startswith(f"cannot connect to {url}: "), errors[0]["error"]
    assert "Traceback" not in run.text()
    assert [] == BOOK.leaks()
