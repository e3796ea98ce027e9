"""Connecting to NATS: options from the CLI and the environment, TLS and auth, error translation."""

from __future__ import annotations

__all__ = ["ConnectOptions", "connect", "let_go"]

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import structlog
from nats.aio.client import Client

from processor.bus.denials import denials
from processor.bus.leanread import widen_reads
from processor.errors import BusError

_log = structlog.get_logger(__name__)

_MASK = "***"


@dataclass(frozen=True)
class ConnectOptions:
    """How to reach NATS. ``url=None`` means "start and use the embedded server".

    ``url`` may list several servers separated by commas, as ``NATS_URL`` conventionally does.
    """

    url: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: str | None = None
    nkey_seed_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    name: str = "slo-processor"
    # The whole first connect, retries included; reconnects after that are unbounded.
    connect_timeout_s: float = 5.0

    @classmethod
    def resolve(cls, cli_url: str | None, env: Mapping[str, str]) -> ConnectOptions:
        """URL from the CLI, else ``SLO_NATS_URL``, else ``NATS_URL``; credentials from ``SLO_NATS_*``."""

        def get(key: str) -> str | None:
            # An exported-but-empty variable means "not set", as shells make that easy to do.
            return env.get(key) or None

        return cls(
            url=cli_url or get("SLO_NATS_URL") or get("NATS_URL"),
            user=get("SLO_NATS_USER"),
            password=get("SLO_NATS_PASSWORD"),
            token=get("SLO_NATS_TOKEN"),
            creds_file=get("SLO_NATS_CREDS"),
            nkey_seed_file=get("SLO_NATS_NKEY_SEED"),
            tls_ca=get("SLO_NATS_TLS_CA"),
            tls_cert=get("SLO_NATS_TLS_CERT"),
            tls_key=get("SLO_NATS_TLS_KEY"),
        )

    @property
    def servers(self) -> list[str]:
        if not self.url:
            return []
        return [part.strip() for part in self.url.split(",") if part.strip()]

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_ca or self.tls_cert or self.tls_key) or any(
            s.startswith("tls://") for s in self.servers
        )

    def redacted_url(self) -> str:
        if not self.url:
            return "embedded nats-server"
        return ",".join(_redact_url(s) for s in self.servers)

    def redacted(self) -> str:
        """A description for logs: where, and which kinds of auth, but never a secret."""
        parts = [self.redacted_url()]
        if self.user:
            parts.append(f"user={self.user}")
        if self.password:
            parts.append(f"password={_MASK}")
        if self.token:
            parts.append(f"token={_MASK}")
        if self.creds_file:
            parts.append(f"creds={self.creds_file}")
        if self.nkey_seed_file:
            parts.append(f"nkey_seed={self.nkey_seed_file}")
        if self.uses_tls:
            parts.append("tls=on")
        return " ".join(parts)


def _redact_url(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.password is not None:
        userinfo = f"{parts.username}:{_MASK}"
    else:
        # A lone userinfo in a NATS URL is a token (nats://s3cr3t@host), not a user name.
        userinfo = _MASK
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, parts.fragment))


def _tls_context(opts: ConnectOptions) -> ssl.SSLContext | None:
    if not (opts.tls_ca or opts.tls_cert or opts.tls_key):
        return None
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=opts.tls_ca)
        if opts.tls_cert:
            ctx.load_cert_chain(certfile=opts.tls_cert, keyfile=opts.tls_key)
        elif opts.tls_key:
            raise BusError("SLO_NATS_TLS_KEY is set without SLO_NATS_TLS_CERT")
    except (OSError, ssl.SSLError) as exc:
        raise BusError(f"cannot load TLS files for {opts.redacted_url()}: {exc}") from exc
    return ctx


# Retrying these cannot help: wrong credentials or certificates stay wrong.
_FATAL_CONNECT_ERRORS = (
    nats.errors.AuthorizationError,
    nats.errors.InvalidUserCredentialsError,
    nats.errors.SecureConnRequiredError,
    nats.errors.SecureConnWantedError,
    ssl.SSLError,
    FileNotFoundError,
)
# nats-py reports a refused login during connect as a plain nats.errors.Error carrying the
# server's -ERR text, not as AuthorizationError; only the text tells.
_FATAL_SERVER_ERR_TEXTS = ("authorization violation", "authentication", "user authentication")


def _is_fatal(exc: Exception) -> bool:
    if isinstance(exc, _FATAL_CONNECT_ERRORS):
        return True
    text = str(exc).lower()
    return any(t in text for t in _FATAL_SERVER_ERR_TEXTS)


async def connect(opts: ConnectOptions) -> Client:
    """Connect, or raise BusError within ``opts.connect_timeout_s``.

    nats-py applies one ``max_reconnect_attempts`` to the first connect and to reconnects; we want
    reconnects forever once connected (a NATS restart must not kill the processor) but a first
    connect that gives up quickly with the real reason. So reconnect is unbounded and the first
    connect is bounded from outside, ending early on errors that retrying cannot fix.
    """
    if not opts.url:
        raise BusError("no NATS URL given (the embedded server provides one)")
    widen_reads()
    nc = Client()
    watch = _FirstConnect(nc, opts.redacted_url())
    connect_task = asyncio.ensure_future(nc.connect(**_client_options(opts, watch)))  # type: ignore[arg-type]
    fatal_task = asyncio.ensure_future(watch.fatal.wait())
    try:
        await asyncio.wait({connect_task, fatal_task}, timeout=opts.connect_timeout_s, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        connect_task.cancel()  # we were cancelled: leave no connect attempt running behind us
        raise
    finally:
        fatal_task.cancel()
    if connect_task.done() and not connect_task.cancelled() and connect_task.exception() is None:
        watch.connected = True
        _log.info("nats.connected", server=opts.redacted(), server_version=str(nc.connected_server_version))
        return nc
    raise await _failed_connect(nc, connect_task, watch, opts)


class _FirstConnect:
    """nats-py's callbacks, which before the first connect collect errors (ending the attempt
    early on those retrying cannot fix) and after it log."""

    def __init__(self, nc: Client, where: str) -> None:
        self.nc = nc
        self.where = where
        self.errors_seen: list[Exception] = []
        self.fatal = asyncio.Event()
        self.connected = False

    async def on_error(self, exc: Exception) -> None:
        # Not logged: the wait that the refusal leaves hanging raises it (denials.py), once.
        if denials(self.nc).note(exc):
            return
        if not self.connected:
            self.errors_seen.append(exc)
            if _is_fatal(exc):
                self.fatal.set()
            return
        _log.warning("nats.error", server=self.where, error=_describe(exc))

    async def on_disconnected(self) -> None:
        # nats-py calls this on our own close() too; only a lost connection deserves a warning.
        if self.nc.is_closed:
            _log.info("nats.closed", server=self.where)
        else:
            _log.warning("nats.disconnected", server=self.where)

    async def on_reconnected(self) -> None:
        _log.info("nats.reconnected", server=self.where)


async def let_go(nc: Client) -> None:
    """Close a connection that is being let go, whatever became of its server. nats-py first
    writes what it still holds into the socket, and into that of a server that has gone this
    raises (ConnectionResetError); what it held is lost either way: acks only mean redeliveries,
    which the checkpoint skips."""
    with contextlib.suppress(nats.errors.Error, OSError):
        await nc.close()


def _client_options(opts: ConnectOptions, watch: _FirstConnect) -> dict[str, object]:
    kwargs: dict[str, object] = {
        "servers": opts.servers,
        "name": opts.name,
        "connect_timeout": max(1, int(opts.connect_timeout_s)),
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 1,
        "error_cb": watch.on_error,
        "disconnected_cb": watch.on_disconnected,
        "reconnected_cb": watch.on_reconnected,
    }
    tls = _tls_context(opts)
    if tls is not None:
        kwargs["tls"] = tls
    for option, value in (("user", opts.user), ("password", opts.password), ("token", opts.token),
                          ("user_credentials", opts.creds_file), ("nkeys_seed", opts.nkey_seed_file)):
        if value:
            kwargs[option] = value
    return kwargs


async def _failed_connect(nc: Client, connect_task: asyncio.Future, watch: _FirstConnect, opts: ConnectOptions) -> BusError:
    """Stop the attempt, close the client and say why it failed."""
    if not connect_task.done():
        connect_task.cancel()
    # gather() collects the attempt's own error or cancellation without swallowing ours.
    [outcome] = await asyncio.gather(connect_task, return_exceptions=True)
    if isinstance(outcome, Exception) and not watch.errors_seen:
        watch.errors_seen.append(outcome)
    try:
        await nc.close()
    except Exception:  # noqa: BLE001 - cleanup of a client that never connected
        pass
    last = watch.errors_seen[-1] if watch.errors_seen else None
    reason = _describe(last) if last is not None else f"timed out after {opts.connect_timeout_s:g} s"
    if isinstance(last, ConnectionResetError) and _has_credentials(opts):
        # nats-server closes the socket right after its -ERR; the reset can win the race with
        # the error text, so say what it most likely means.
        reason += " (the server closed the connection during the handshake: check the credentials)"
    error = BusError(f"cannot connect to {watch.where}: {reason}")
    error.__cause__ = last
    return error


def _has_credentials(opts: ConnectOptions) -> bool:
    return bool(opts.user or opts.password or opts.token or opts.creds_file or opts.nkey_seed_file) or any(
        "@" in server for server in opts.servers
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
