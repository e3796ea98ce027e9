"""The ``alertmanager:`` section: where the processor pushes its alerts (runtime/alertmanager.py).

Secrets never appear in the file: ``basic_auth`` and ``bearer_token_env`` name environment
variables, which the runtime reads at start. Every problem gets the line of its key.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from processor.config.fields import DurationMs, PositiveInt, RawModel
from processor.config.model import AlertmanagerConfig
from processor.config.problems import Problems
from processor.config.tree import Loc

__all__ = ["RawAlertmanager", "read_alertmanager"]

_SECTION_SHAPE = "expected a mapping such as {urls: [http://127.0.0.1:9093], resend_interval: 1m}"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFAULTS = AlertmanagerConfig(urls=("http://x",))
_SEVERITIES = ("info", "warning", "critical", "emergency", "page", "ticket")


class RawBasicAuth(RawModel):
    username_env: str
    password_env: str


class RawTls(RawModel):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class RawEscalation(RawModel):
    after: DurationMs = _DEFAULTS.escalate_after_ms
    severities: list[str] = list(_DEFAULTS.escalate_severities)


class RawAlertmanager(RawModel):
    urls: list[Any]
    timeout: DurationMs = _DEFAULTS.timeout_ms
    resend_interval: DurationMs = _DEFAULTS.resend_interval_ms
    basic_auth: RawBasicAuth | None = None
    bearer_token_env: str | None = None
    tls: RawTls | None = None
    external_url: str | None = None
    queue_size: PositiveInt = _DEFAULTS.queue_size
    escalation: RawEscalation | None = None


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str):
        return f"expected an http(s) URL such as http://127.0.0.1:9093, got {url!r}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"expected an http(s) URL such as http://127.0.0.1:9093, got {url!r}"
    if parts.username or parts.password:
        return "no credentials in the URL: use basic_auth: {username_env: ..., password_env: ...}"
    if parts.query or parts.fragment:
        return f"expected a base URL without query or fragment, got {url!r}"
    return None


def _env_problem(name: Any) -> str | None:
    if isinstance(name, str) and _ENV_NAME.fullmatch(name):
        return None
    # The value is not echoed: it may be the secret itself, pasted here by mistake.
    return ("expected the name of an environment variable (letters, digits and _, such as ALERTMANAGER_TOKEN), "
            "not shown here: the secret itself never goes in the config")


def _env_names(raw: RawAlertmanager, loc: Loc, problems: Problems) -> None:
    if raw.basic_auth is not None:
        for key in ("username_env", "password_env"):
            problems.check(loc + ("basic_auth", key), _env_problem(getattr(raw.basic_auth, key)))
    if raw.bearer_token_env is not None:
        problems.check(loc + ("bearer_token_env",), _env_problem(raw.bearer_token_env))
        if raw.basic_auth is not None:
            problems.add(loc + ("bearer_token_env",), "use either basic_auth or bearer_token_env, not both")


def _other_problems(raw: RawAlertmanager, loc: Loc, problems: Problems) -> None:
    urls = raw.urls or []
    if raw.urls is not None and not urls:
        problems.add(loc + ("urls",), "list at least one Alertmanager URL")
    for i, url in enumerate(urls):
        problems.check(loc + ("urls", i), _url_problem(url))
    if len({u.rstrip("/") for u in urls if isinstance(u, str)}) < len(urls):
        problems.add(loc + ("urls",), "the same URL is listed twice")
    for key in ("timeout", "resend_interval"):
        if getattr(raw, key) is not None and getattr(raw, key) <= 0:
            problems.add(loc + (key,), "must be greater than 0")
    if raw.tls is not None and (raw.tls.cert_file is None) != (raw.tls.key_file is None):
        problems.add(loc + ("tls",), "cert_file and key_file go together (a client certificate needs its key)")
    if raw.external_url is not None:
        problems.check(loc + ("external_url",), _url_problem(raw.external_url))
    if raw.escalation is not None:
        if raw.escalation.after is not None and raw.escalation.after <= 0:
            problems.add(loc + ("escalation", "after"), "must be greater than 0")
        for i, sev in enumerate(raw.escalation.severities or []):
            if sev not in _SEVERITIES:
                problems.add(loc + ("escalation", "severities", i),
                             f"unknown severity {sev!r}: one of {', '.join(_SEVERITIES)}")


def read_alertmanager(value: Any, problems: Problems) -> AlertmanagerConfig | None:
    """The section (``value``, not None); None if it has problems."""
    loc: Loc = ("alertmanager",)
    if not isinstance(value, dict):
        problems.add(loc, _SECTION_SHAPE)
        return None
    n = len(problems)
    entry, raw = problems.validate(RawAlertmanager, value, loc)
    _env_names(raw, loc, problems)
    _other_problems(raw, loc, problems)
    if entry is None or len(problems) > n:
        return None
    tls = entry.tls or RawTls()
    escalation = entry.escalation or RawEscalation()
    return AlertmanagerConfig(
        urls=tuple(u.rstrip("/") for u in entry.urls),
        timeout_ms=entry.timeout,
        resend_interval_ms=entry.resend_interval,
        basic_auth_username_env=entry.basic_auth.username_env if entry.basic_auth else None,
        basic_auth_password_env=entry.basic_auth.password_env if entry.basic_auth else None,
        bearer_token_env=entry.bearer_token_env,
        tls_ca_file=tls.ca_file,
        tls_cert_file=tls.cert_file,
        tls_key_file=tls.key_file,
        external_url=entry.external_url.rstrip("/") if entry.external_url else None,
        queue_size=entry.queue_size,
        escalate_after_ms=escalation.after,
        escalate_severities=tuple(escalation.severities),
    )
