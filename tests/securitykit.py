"""What the security tests share: credentials made in the test (passwords, tokens, NKeys, JWTs
signed here, a TLS CA), nats-server configs that use them, `slo run` as a subprocess whose every
log line is kept, and the book of secrets and logs that the last test greps.

Servers are ``EmbeddedServer``s with a config file in ``extra_args``: the suite's one launcher.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing
import nkeys
import orjson

ROOT = Path(__file__).resolve().parents[1]

# One event of the kind the small configs below read, with a fixed event time: deterministic.
T0_MS = 1_700_000_000_000


def gateway_event(t_s: int, latency_ms: float = 100.0, status_code: int = 200) -> bytes:
    return orjson.dumps({"ts": T0_MS + t_s * 1000, "route": "/v1/orders", "method": "POST",
                         "status_code": status_code, "latency_ms": latency_ms, "rate_limited": False,
                         "rate_limit_correct": True})


# A config small enough to start in a blink: an alert that fires on the first 5xx, so that one
# event proves the whole path (consume, evaluate, publish, ack).
SMALL_CONFIG = """\
version: 1
defaults:
  allowed_lateness: 0s
  resolution: 1s
  rule_window: 2s
slis:
  gateway_requests:
    service: api-gateway
    kind: ratio
    subject: analytics.gateway.request
    good: status_code < 500
alerts:
  - name: GatewayServerError
    sli: gateway_requests
    expr: bad_count > 0
    severity: critical
    summary: "{value:.0f} server errors over {window}"
"""


# ---------------------------------------------------------------------------- the book of secrets


@dataclass
class LogBook:
    """Every secret the security tests made and every log they collected, for the grep."""

    secrets: set[str] = field(default_factory=set)
    logs: dict[str, str] = field(default_factory=dict)

    def secret(self, value: str) -> str:
        self.secrets.add(value)
        return value

    def add_log(self, label: str, text: str) -> None:
        self.logs[f"{label} #{len(self.logs)}"] = text

    def leaks(self) -> list[str]:
        """``label:line: secret`` for every log line holding a secret (or a 12-character piece of one)."""
        found = []
        for label, text in self.logs.items():
            for number, line in enumerate(text.splitlines(), 1):
                for value in self.secrets:
                    if _holds(line, value):
                        found.append(f"{label}:{number}: holds {value[:4]}…: {line[:200]}")
        return found


def _holds(line: str, value: str) -> bool:
    # A JWT or seed cut into a log line is a leak too; 12 characters of random base32/base64 do
    # not occur by chance.
    pieces = [value] if len(value) < 24 else [value[i : i + 12] for i in range(0, len(value) - 11, 12)]
    return any(piece in line for piece in pieces)


BOOK = LogBook()


def password() -> str:
    return BOOK.secret("pw-" + secrets.token_urlsafe(18))


# --------------------------------------------------------------------------------- NKeys and JWTs


@dataclass(frozen=True)
class NKey:
    seed: str  # "SU...", "SA...", "SO..."
    public: str  # "U...", "A...", "O..."

    @classmethod
    def new(cls, prefix: int) -> NKey:
        raw = nacl.signing.SigningKey.generate().encode()
        seed = nkeys.encode_seed(raw, prefix)
        pair = nkeys.from_seed(bytearray(seed))
        return cls(BOOK.secret(seed.decode()), pair.public_key.decode())

    def sign(self, data: bytes) -> bytes:
        return nkeys.from_seed(bytearray(self.seed.encode())).sign(data)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(issuer: NKey, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A NATS JWT (v2) of ``subject``, signed by ``issuer``: what `nsc` would write."""
    claims: dict[str, Any] = {"iat": int(time.time()), "iss": issuer.public, "name": name, "sub": subject,
                              "nats": {**nats, "version": 2}}
    # The id is the hash of the claims, as the jwt library makes it; nats-server only wants it unique.
    claims["jti"] = base64.b32encode(hashlib.sha512(orjson.dumps(claims)).digest()[:32]).decode().rstrip("=")
    header = _b64(orjson.dumps({"typ": "JWT", "alg": "ed25519-nkey"}))
    body = _b64(orjson.dumps(claims))
    signature = _b64(issuer.sign(f"{header}.{body}".encode()))
    return BOOK.secret(f"{header}.{body}.{signature}")


_UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True,
              "conn": -1, "leaf": -1}
# JetStream is on for an account whose JWT gives it storage.
_JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def operator_mode(directory: Path) -> tuple[str, Path]:
    """A server config in operator mode (one operator, a system account and one account with
    JetStream, their JWTs preloaded in a MEMORY resolver) and a creds file of a user of the latter."""
    operator, system, account, user = (NKey.new(p) for p in (
        nkeys.PREFIX_BYTE_OPERATOR, nkeys.PREFIX_BYTE_ACCOUNT, nkeys.PREFIX_BYTE_ACCOUNT, nkeys.PREFIX_BYTE_USER))
    operator_jwt = jwt(operator, operator.public, "test-operator", {"type": "operator"})
    # JetStream in operator mode will not start without a system account.
    system_jwt = jwt(operator, system.public, "SYS", {"type": "account", "limits": _UNLIMITED})
    account_jwt = jwt(operator, account.public, "slo", {
        "type": "account", "limits": {**_UNLIMITED, **_JETSTREAM}, "default_permissions": {"pub": {}, "sub": {}}})
    user_jwt = jwt(account, user.public, "slo-processor", {
        "type": "user", "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1})
    creds = directory / "slo-processor.creds"
    creds.write_text(
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user.seed}\n------END USER NKEY SEED------\n"
    )
    conf = (f'operator: "{operator_jwt}"\nsystem_account: {system.public}\nresolver: MEMORY\n'
            f'resolver_preload: {{\n  {system.public}: "{system_jwt}"\n  {account.public}: "{account_jwt}"\n}}\n')
    return conf, creds


# ------------------------------------------------------------------------------------- slo run


@dataclass
class SloRun:
    """`slo run` as a subprocess; every line it writes is kept (and goes into the book at close)."""

    proc: subprocess.Popen
    label: str
    lines: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def start_reading(self) -> None:
        def read(stream: Any) -> None:
            for raw in stream:
                with self._changed:
                    self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                    self._changed.notify_all()

        self._threads = [threading.Thread(target=read, args=(s,), daemon=True) for s in (self.proc.stdout, self.proc.stderr)]
        for thread in self._threads:
            thread.start()

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def wait_for_event(self, event: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = next((r for r in self.records() if r.get("event") == event), None)
                if found is not None:
                    return found
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{self.label}: no {event} log line (exit {self.proc.poll()}):\n{self.text()}")
                self._changed.wait(0.1)

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def wait(self, timeout_s: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for thread in self._threads:
                thread.join(timeout=5)
            BOOK.add_log(self.label, self.text())
        return code

    def text(self) -> str:
        return "\n".join(self.lines)


def slo_run(label: str, tmp: Path, url: str, env: dict[str, str], *args: str, config: str | None = None) -> SloRun:
    """Start `slo run` against ``url``; credentials in ``env`` (``SLO_NATS_*``) or ``args``."""
    config_path = tmp / "slo.yaml"
    if config is None:
        config_path = ROOT / "config" / "slo.yaml"
    else:
        config_path.write_text(config)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_NATS_", "NATS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "processor.cli", "run", "--config", str(config_path), "--nats-url", url,
         "--streams-dir", str(ROOT / "streams"), "--store-dir", str(tmp / "store"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env={**clean, **env}, cwd=tmp,
    )
    run = SloRun(proc, label)
    run.start_reading()
    return run


async def stored_messages(nc: Any, stream: str, subject: str) -> list[Any]:
    """Every message of ``stream`` on ``subject``, read with an ephemeral pull consumer."""
    sub = await nc.jetstream().pull_subscribe(subject, stream=stream)
    found: list[Any] = []
    try:
        while True:
            found += await sub.fetch(200, timeout=1)
    except TimeoutError:  # nats-py's timeout is one too: the stream has no more
        pass
    finally:
        await sub.unsubscribe()
    return found
