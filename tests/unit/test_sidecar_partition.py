"""A sidecar's partition (`slo run --services`, `slo validate --services`): which SLIs it keeps,
which subjects its consumers filter on, its instance name."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from processor.cli import main
from processor.config.load import load_config
from processor.errors import ProcessorError
from processor.runtime.topology import filter_subjects, parse_services, services_config, sidecar_instance

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "config" / "slo.yaml")


def test_a_sidecar_keeps_its_services_slis_with_their_slos_and_rules_and_the_input_slis():
    part = services_config(CONFIG, ["api-gateway"])
    assert ["gateway_request_latency", "gateway_requests", "gateway_rate_limit_accuracy", "input_messages",
            "input_messages_by_sli"] == [s.name for s in part.slis]
    assert {"gateway_request_latency", "gateway_requests", "gateway_rate_limit_accuracy", "input_messages",
            "input_messages_by_sli"} >= {s.sli for s in part.slos} | {a.sli for a in part.alerts}
    assert 9 == len(part.slos) and 6 == len(part.alerts)
    assert ["analytics.gateway.request"] == filter_subjects(part)


def test_an_unknown_service_is_refused_with_the_known_ones():
    with pytest.raises(ProcessorError, match="no SLI of the config belongs to nope .*api-gateway"):
        services_config(CONFIG, ["api-gateway", "nope"])


@pytest.mark.parametrize(("subjects", "expected"), [
    pytest.param(["market.quote.>", "market.quote.AAPL", "market.heartbeat"], ["market.heartbeat", "market.quote.>"],
                 id="a subject a wildcard covers is left out (overlapping filters are refused)"),
    pytest.param(["trade.*", "trade.>"], ["trade.>"], id="> covers *"),
    pytest.param(["trade.saga.*", "trade.saga.>"], ["trade.saga.>"], id="* does not cover >, > covers *"),
    pytest.param(["a.*.c", "a.b.*"], ["a.*.c", "a.b.*"], id="partial overlaps are both kept"),
])
def test_filter_subjects_drop_what_another_covers(subjects, expected):
    slis = tuple(CONFIG.slis[0].model_copy(update={"subject": s, "name": f"s{i}"}) for i, s in enumerate(subjects))
    assert expected == filter_subjects(CONFIG.model_copy(update={"slis": slis}))


def test_instance_names():
    assert ["a", "b"] == parse_services(" a, b,,a ")
    assert "sc_api-gateway_trading-engine" == sidecar_instance(["trading-engine", "api-gateway"])
    long = sidecar_instance(["market-data", "trading-engine", "api-gateway"])
    assert long.startswith("sc_") and 15 == len(long)


def test_validate_services_says_what_the_partition_holds(capsys):
    assert 0 == main(["validate", str(ROOT / "config" / "slo.yaml"), "--services", "api-gateway",
                      "--streams-dir", str(ROOT / "streams")])
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("sidecar api-gateway: instance sc_api-gateway (checkpoint key sc_api-gateway), 5 SLIs")
    assert "  ANALYTICS: durable slo_sc_api-gateway_analytics, filter_subjects analytics.gateway.request" == out[2]
    assert 6 == len(out)


def test_run_with_an_unknown_service_exits_1_before_connecting(capsys):
    previous = structlog.get_config()  # `slo run` configures logging onto the captured stderr
    try:
        assert 1 == main(["run", "--config", str(ROOT / "config" / "slo.yaml"), "--services", "api-gateway,nope",
                          "--nats-url", "nats://127.0.0.1:1"])
    finally:
        structlog.configure(**previous)
    assert "--services: no SLI of the config belongs to nope" in capsys.readouterr().err


def test_validate_with_an_unknown_service_prints_no_ok_only_the_error(capsys):
    assert 1 == main(["validate", str(ROOT / "config" / "slo.yaml"), "--services", "api-gatway",
                      "--streams-dir", str(ROOT / "streams")])
    out, err = capsys.readouterr()
    assert "" == out
    assert "--services: no SLI of the config belongs to api-gatway" in err
    assert "api-gateway" in err
