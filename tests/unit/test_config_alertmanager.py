"""The ``alertmanager:`` section: defaults, every field, and each problem at its file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.config.load import load_config_text
from processor.config.model import AlertmanagerConfig
from processor.errors import ConfigError

BASE = "version: 1\n"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + text, "t.yaml")
    return [str(p) for p in info.value.problems]


def test_a_file_without_the_section_sends_nowhere() -> None:
    assert None is load_config_text(BASE, "t.yaml").alertmanager


def test_the_defaults_are_one_minute_resends_ten_second_timeouts_and_warnings_escalated_after_an_hour() -> None:
    config = load_config_text(BASE + "alertmanager:\n  urls: [http://127.0.0.1:9093/]\n", "t.yaml")

    expected = AlertmanagerConfig(urls=("http://127.0.0.1:9093",), timeout_ms=10_000, resend_interval_ms=60_000,
                                  escalate_after_ms=3_600_000, escalate_severities=("warning",), queue_size=10_000)
    assert expected == config.alertmanager


def test_every_field_reaches_the_model() -> None:
    text = """alertmanager:
  urls: [https://am-1.example:9093, https://am-2.example:9093]
  timeout: 5s
  resend_interval: 30s
  basic_auth: {username_env: AM_USER, password_env: AM_PASSWORD}
  tls: {ca_file: /etc/ca.pem, cert_file: /etc/c.pem, key_file: /etc/k.pem}
  external_url: https://slo.example/
  queue_size: 50
  escalation: {after: 45m, severities: [warning, ticket]}
"""
    am = load_config_text(BASE + text, "t.yaml").alertmanager

    assert AlertmanagerConfig(
        urls=("https://am-1.example:9093", "https://am-2.example:9093"), timeout_ms=5_000,
        resend_interval_ms=30_000, basic_auth_username_env="AM_USER", basic_auth_password_env="AM_PASSWORD",
        tls_ca_file="/etc/ca.pem", tls_cert_file="/etc/c.pem", tls_key_file="/etc/k.pem",
        external_url="https://slo.example", queue_size=50, escalate_after_ms=2_700_000,
        escalate_severities=("warning", "ticket"),
    ) == am


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alertmanager: [http://x]\n", ["t.yaml:2: alertmanager: expected a mapping such as {urls: [http://127.0.0.1:9093], resend_interval: 1m}"]),
        ("alertmanager:\n  timeout: 1s\n", ["t.yaml:2: alertmanager.urls: required key is missing"]),
        ("alertmanager:\n  urls: []\n", ["t.yaml:3: alertmanager.urls: list at least one Alertmanager URL"]),
        ("alertmanager:\n  urls:\n    - http://a:9093\n    - ftp://b\n",
         ["t.yaml:5: alertmanager.urls[1]: expected an http(s) URL such as http://127.0.0.1:9093, got 'ftp://b'"]),
        ("alertmanager:\n  urls: ['http://u:secret@a:9093']\n",
         ["t.yaml:3: alertmanager.urls[0]: no credentials in the URL: use basic_auth: {username_env: ..., password_env: ...}"]),
        ("alertmanager:\n  urls: [http://a:9093, 'http://a:9093/']\n",
         ["t.yaml:3: alertmanager.urls: the same URL is listed twice"]),
        ("alertmanager:\n  urls: [http://a]\n  resend_interval: 0s\n",
         ["t.yaml:4: alertmanager.resend_interval: must be greater than 0"]),
        ("alertmanager:\n  urls: [http://a]\n  bearer_token_env: 's3cr3t-t0ken!'\n",
         ["t.yaml:4: alertmanager.bearer_token_env: expected the name of an environment variable (letters, "
          "digits and _, such as ALERTMANAGER_TOKEN), not shown here: the secret itself never goes in the config"]),
        ("alertmanager:\n  urls: [http://a]\n  bearer_token_env: T\n  basic_auth: {username_env: U, password_env: P}\n",
         ["t.yaml:4: alertmanager.bearer_token_env: use either basic_auth or bearer_token_env, not both"]),
        ("alertmanager:\n  urls: [http://a]\n  tls:\n    cert_file: c.pem\n",
         ["t.yaml:4: alertmanager.tls: cert_file and key_file go together (a client certificate needs its key)"]),
        ("alertmanager:\n  urls: [http://a]\n  escalation:\n    after: 1h\n    severities: [warn]\n",
         ["t.yaml:6: alertmanager.escalation.severities[0]: unknown severity 'warn': one of info, warning, "
          "critical, emergency, page, ticket"]),
        ("alertmanager:\n  urls: [http://a]\n  retries: 3\n",
         ["t.yaml:4: alertmanager.retries: unknown key"]),
    ],
    ids=["not a mapping", "no urls", "empty urls", "not http", "credentials in url", "duplicate url",
         "zero interval", "a secret instead of a variable name", "two auths", "cert without key",
         "unknown severity", "unknown key"],
)
def test_problems_name_the_line_and_field(text: str, expected: list[str]) -> None:
    problems = _problems(text)

    assert len(expected) == len(problems), problems
    for want, got in zip(expected, problems, strict=True):
        assert got.startswith(want), got


def test_a_secret_written_where_a_variable_name_goes_is_never_echoed() -> None:
    problems = _problems("alertmanager:\n  urls: [http://a]\n  basic_auth: {username_env: U, password_env: 'hunter2!'}\n")

    assert 1 == len(problems) and "alertmanager.basic_auth.password_env" in problems[0]
    assert "hunter2" not in problems[0]


def test_the_example_in_docs_config_md_is_valid() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    [example] = [b.split("```", 1)[0] for b in docs.split("```yaml\n")[1:] if b.startswith("alertmanager:")]

    am = load_config_text(BASE + example, "docs/config.md").alertmanager

    assert ("http://127.0.0.1:9093",) == am.urls
    assert "ALERTMANAGER_TOKEN" == am.bearer_token_env
