"""The parts of processor.bus that need no server: reply-subject parsing, options, definitions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from processor.bus.connect import ConnectOptions
from processor.bus.jsreply import consumer_sequence, js_timestamp_ms, stream_sequence
from processor.bus.streams import load_stream_definitions
from processor.errors import ConfigError

TS_NS = 1_795_782_483_066_796_685


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(f"$JS.ACK.ANALYTICS.engine.1.4242.17.{TS_NS}.9", id="without domain"),
        pytest.param(
            f"$JS.ACK._.ACCHASH.ANALYTICS.engine.1.4242.17.{TS_NS}.9.RANDOM", id="with domain and token"
        ),
        pytest.param(f"$JS.ACK.hub.ACCHASH.ANALYTICS.engine.3.4242.17.{TS_NS}.9", id="with domain"),
    ],
)
def test_an_ack_reply_subject_gives_stream_sequence_and_timestamp(reply: str) -> None:
    assert 4242 == stream_sequence(reply)
    assert 17 == consumer_sequence(reply)
    assert TS_NS // 1_000_000 == js_timestamp_ms(reply)


@pytest.mark.parametrize("reply", ["", "_INBOX.abc.1", "$JS.ACK.too.short", "$JS.API.X.a.b.c.d.e.f"])
def test_a_reply_that_is_no_ack_subject_has_no_sequence_or_timestamp(reply: str) -> None:
    with pytest.raises(ValueError):
        stream_sequence(reply)
    assert None is js_timestamp_ms(reply)


def test_the_reply_parser_imports_nothing_the_engine_may_not() -> None:
    source = Path(sys.modules[stream_sequence.__module__].__file__).read_text()
    assert "import nats" not in source and "import asyncio" not in source


def test_the_url_comes_from_the_cli_then_slo_nats_url_then_nats_url() -> None:
    env = {"SLO_NATS_URL": "nats://slo:4222", "NATS_URL": "nats://generic:4222"}
    assert "nats://cli:4222" == ConnectOptions.resolve("nats://cli:4222", env).url
    assert "nats://slo:4222" == ConnectOptions.resolve(None, env).url
    assert "nats://generic:4222" == ConnectOptions.resolve(None, {"NATS_URL": "nats://generic:4222"}).url
    assert None is ConnectOptions.resolve(None, {"SLO_NATS_URL": "", "NATS_URL": ""}).url


def test_credentials_and_tls_files_come_from_the_environment() -> None:
    env = {
        "SLO_NATS_USER": "alice",
        "SLO_NATS_PASSWORD": "pw",
        "SLO_NATS_TOKEN": "tok",
        "SLO_NATS_CREDS": "/etc/nats/user.creds",
        "SLO_NATS_NKEY_SEED": "/etc/nats/user.nk",
        "SLO_NATS_TLS_CA": "ca.pem",
        "SLO_NATS_TLS_CERT": "cert.pem",
        "SLO_NATS_TLS_KEY": "key.pem",
    }
    opts = ConnectOptions.resolve(None, env)
    assert ("alice", "pw", "tok", "/etc/nats/user.creds") == (
        opts.user,
        opts.password,
        opts.token,
        opts.creds_file,
    )
    assert ("ca.pem", "cert.pem", "key.pem") == (opts.tls_ca, opts.tls_cert, opts.tls_key)
    assert "/etc/nats/user.nk" == opts.nkey_seed_file
    assert "slo-processor" == opts.name


def test_the_redacted_description_holds_no_secret() -> None:
    opts = ConnectOptions(
        url="nats://bob:hunter2@a:4222, nats://s3cr3t-token@b:4222,nats://c:4222",
        user="alice",
        password="pw-123",
        token="tok-456",
        tls_ca="ca.pem",
    )
    text = opts.redacted()
    for secret in ("hunter2", "s3cr3t-token", "pw-123", "tok-456"):
        assert secret not in text
    assert text.startswith("nats://bob:***@a:4222,nats://***@b:4222,nats://c:4222 user=alice")
    assert "embedded nats-server" == ConnectOptions().redacted()
    # A seed file is named (its path is no secret), never read into the description.
    assert "nats://c:4222 nkey_seed=/etc/nats/user.nk" == ConnectOptions(url="nats://c:4222", nkey_seed_file="/etc/nats/user.nk").redacted()


def test_a_bad_stream_definition_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "good.json").write_text(json.dumps({"name": "GOOD", "subjects": ["good.>"]}))
    (tmp_path / "broken.json").write_text('{\n  "name": "BROKEN",\n  "subjects": ["x.>"],,\n}\n')
    (tmp_path / "nameless.json").write_text(json.dumps({"subjects": []}))

    with pytest.raises(ConfigError) as caught:
        load_stream_definitions(tmp_path)

    problems = {(Path(p.file).name, p.line, p.field) for p in caught.value.problems}
    assert {("broken.json", 3, ""), ("nameless.json", None, "name"), ("nameless.json", None, "subjects")} == problems


def test_a_misspelt_field_of_a_stream_is_named_with_its_line_and_the_field_it_may_mean(tmp_path: Path) -> None:
    # nats-server ignores a key it does not know: the stream would be made without its max_age.
    (tmp_path / "ai.json").write_text('{\n  "name": "AI",\n  "subjects": ["ai.>"],\n  "max_agee": 86400000000000\n}\n')
    with pytest.raises(ConfigError) as caught:
        load_stream_definitions(tmp_path)
    (problem,) = caught.value.problems
    assert ("ai.json", 4, "max_agee") == (Path(problem.file).name, problem.line, problem.field)
    assert "did you mean 'max_age'?" in problem.message


def test_every_shipped_stream_definition_uses_known_fields_only() -> None:
    assert 5 == len(load_stream_definitions(Path(__file__).parents[2] / "streams"))


def test_two_files_defining_one_stream_are_an_error(tmp_path: Path) -> None:
    for file in ("a.json", "b.json"):
        (tmp_path / file).write_text(json.dumps({"name": "SAME", "subjects": [f"{file[0]}.>"]}))
    with pytest.raises(ConfigError, match="also defined in"):
        load_stream_definitions(tmp_path)
