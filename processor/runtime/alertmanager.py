"""The Alertmanager sender: every alert transition published on ``slo.alerts`` also goes to each
configured Alertmanager's v2 API (``POST <url>/api/v2/alerts``), the way Prometheus sends them.

Sending never blocks evaluation: :meth:`AlertmanagerSender.submit` only appends to a bounded queue
(past ``queue_size`` the oldest alerts are dropped, counted in :class:`SenderStats` and logged at
error level); one task posts batches, retrying each Alertmanager with ``bus/backoff.py`` until the
next resend is due, then gives the batch up (counted, logged). Firing alerts come back with the
next resend anyway, and a lost resolution is made by Alertmanager itself when the firing alert's
``endsAt`` passes. What is firing (``FiringSet``, runtime/am_alerts.py) is rebuilt after a restart
from the engines' restored rule states (``Engine.firing_alerts``).
"""

from __future__ import annotations

__all__ = ["BATCH_MAX", "AlertmanagerSender", "SenderStats", "credentials"]

import asyncio
import base64
import contextlib
import os
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from processor.bus.backoff import Backoff, retry
from processor.config.model import AlertmanagerConfig
from processor.engine.outputs import AlertTransition
from processor.errors import AlertmanagerError
from processor.runtime.am_alerts import ENDS_AT_INTERVALS, FiringSet, am_alert
from processor.runtime.render import RUNBOOK_BASE_URL
from processor.runtime.stopping import stop_aware_sleep

BATCH_MAX = 64  # alerts per POST, as Prometheus' default max batch size


@dataclass
class SenderStats:
    """What the sender counted since start (for /metrics and the stop report)."""

    queued: int = 0  # alerts waiting to be sent now
    firing: int = 0  # alerts in the firing set (re-sent every interval)
    sent: int = 0  # alerts an Alertmanager accepted (counted per Alertmanager)
    dropped: int = 0  # alerts dropped from the full queue, never sent
    failed: int = 0  # alerts given up after retries (counted per Alertmanager)
    errors: int = 0  # failed POSTs, retried or not
    by_url: dict[str, dict[str, int]] = field(default_factory=dict)  # url -> {"sent", "failed", "errors"}

    def count(self, url: str, key: str, n: int) -> None:
        setattr(self, key, getattr(self, key) + n)
        per = self.by_url.setdefault(url, {"sent": 0, "failed": 0, "errors": 0})
        per[key] += n


def credentials(config: AlertmanagerConfig, env: Mapping[str, str]) -> dict[str, Any]:
    """The ``headers`` of every request (its Authorization), read from the environment variables the config
    names; raises AlertmanagerError naming a variable that is not set (never a value)."""

    def read(name: str, key: str) -> str:
        value = env.get(name)
        if not value:
            raise AlertmanagerError(f"alertmanager.{key}: environment variable {name} is not set")
        return value

    if config.bearer_token_env:
        return {"headers": {"Authorization": "Bearer " + read(config.bearer_token_env, "bearer_token_env")}}
    if config.basic_auth_username_env and config.basic_auth_password_env:
        pair = (read(config.basic_auth_username_env, "basic_auth.username_env") + ":"
                + read(config.basic_auth_password_env, "basic_auth.password_env"))
        return {"headers": {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}}
    return {}


def _ssl_context(config: AlertmanagerConfig) -> ssl.SSLContext | None:
    if not (config.tls_ca_file or config.tls_cert_file):
        return None
    try:
        ctx = ssl.create_default_context(cafile=config.tls_ca_file)
        if config.tls_cert_file:
            ctx.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise AlertmanagerError(f"alertmanager.tls: {exc}") from exc
    return ctx


class _Refused(Exception):
    """Alertmanager answered with a status that retrying will not change (4xx but 429)."""


class AlertmanagerSender:
    def __init__(self, config: AlertmanagerConfig, log: Any, *, runbook_base_url: str = RUNBOOK_BASE_URL,
                 generator_base_url: str | None = None, env: Mapping[str, str] = os.environ,
                 clock: Callable[[], float] = time.time, backoff: Backoff | None = None):
        self.config = config
        self.stats = SenderStats()
        self._log = log
        self._runbook_base_url = runbook_base_url
        self._generator_base_url = config.external_url or generator_base_url
        self._clock = clock
        self._resend_s = config.resend_interval_ms / 1000
        self._backoff = backoff or Backoff(first_s=min(0.5, self._resend_s / 4), max_s=max(self._resend_s / 2, 0.5),
                                           deadline_s=self._resend_s)
        self.firing = FiringSet(config.escalate_after_ms, config.escalate_severities)
        self._queue: deque[dict] = deque()
        self._wake = asyncio.Event()
        self._request = credentials(config, env)  # fails at start, not at the first alert
        self._ssl = _ssl_context(config)
        self._last_drop_log_s = -1e9
        self.on_dropped: Callable[[int], None] | None = None  # e.g. the /metrics counter

    # -- the evaluation side: never waits ------------------------------------------------------

    def submit(self, alerts: Iterable[AlertTransition]) -> None:
        """Queue the transitions of a batch (after their publish on slo.alerts)."""
        for alert in alerts:
            self._enqueue(self.firing.apply(alert, self._body(alert)))
        self.stats.firing = len(self.firing)

    def restore(self, alerts: Iterable[AlertTransition]) -> None:
        """The firing alerts of the restored engines; sent at the first resend."""
        self.firing.restore((a, self._body(a)) for a in alerts)
        self.stats.firing = len(self.firing)

    def _body(self, alert: AlertTransition) -> dict:
        return am_alert(alert, self._runbook_base_url, self._generator_base_url)

    def _enqueue(self, bodies: list[dict]) -> None:
        queue, limit = self._queue, self.config.queue_size
        self._queue.extend(bodies)
        dropped = len(queue) - limit
        if dropped > 0:
            for _ in range(dropped):
                queue.popleft()
            self.stats.dropped += dropped
            if self.on_dropped is not None:
                self.on_dropped(dropped)
            now_s = time.monotonic()
            if now_s - self._last_drop_log_s >= 10:  # at most one line per 10 s of drops
                self._last_drop_log_s = now_s
                self._log.error("alertmanager.dropped", dropped=dropped, dropped_total=self.stats.dropped,
                                queue_size=limit, note="the queue to Alertmanager is full: the oldest alerts were dropped")
        self.stats.queued = len(queue)
        self._wake.set()

    # -- the sending side -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop``: the queue as it fills, every firing alert every resend interval."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_ms / 1000)
        async with aiohttp.ClientSession(timeout=timeout, **self._request) as session:
            next_resend_s = time.monotonic()
            while not stop.is_set():
                if time.monotonic() >= next_resend_s:
                    next_resend_s = time.monotonic() + self._resend_s
                    self._resend()
                if self._queue:
                    await self._send_batch(session, stop)
                    continue
                self._wake.clear()
                waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waits, timeout=max(0.0, next_resend_s - time.monotonic()),
                                   return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()

    def _resend(self) -> None:
        now_ms = int(self._clock() * 1000)
        self._enqueue(self.firing.due(now_ms, now_ms + ENDS_AT_INTERVALS * self.config.resend_interval_ms))

    async def _send_batch(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        batch = [self._queue.popleft() for _ in range(min(BATCH_MAX, len(self._queue)))]
        self.stats.queued = len(self._queue)
        await asyncio.gather(*(self._send_to(session, url, batch, stop) for url in self.config.urls))

    async def _send_to(self, session: aiohttp.ClientSession, url: str, batch: list[dict], stop: asyncio.Event) -> None:
        endpoint = url + "/api/v2/alerts"

        async def post() -> None:
            try:
                async with session.post(endpoint, json=batch, ssl=self._ssl if self._ssl else True) as resp:
                    if resp.status < 300:
                        return
                    text = (await resp.text())[:200]
                    error = f"HTTP {resp.status}: {text.strip()}"
                    raise (_Refused if 400 <= resp.status < 500 and resp.status != 429 else AlertmanagerError)(error)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                raise AlertmanagerError(f"{type(exc).__name__}: {exc}") from exc

        def retrying(exc: Exception, delay_s: float) -> None:
            self.stats.count(url, "errors", 1)
            self._log.warning("alertmanager.retrying", url=url, error=str(exc), retry_in_s=round(delay_s, 3))

        try:
            await retry(post, backoff=self._backoff, on_retry=retrying, sleep=stop_aware_sleep(stop),
                        retry_if=lambda exc: isinstance(exc, AlertmanagerError) and not stop.is_set())
        except (AlertmanagerError, _Refused) as exc:
            self.stats.count(url, "errors", 1)
            self.stats.count(url, "failed", len(batch))
            self._log.error("alertmanager.send_failed", url=url, alerts=len(batch), error=str(exc),
                            note="given up; firing alerts are re-sent at the next interval")
            return
        self.stats.count(url, "sent", len(batch))

    async def flush(self, timeout_s: float) -> None:
        """At a stop: one bounded attempt at what is still queued (resolutions above all)."""
        if not self._queue:
            return
        stop = asyncio.Event()
        stop.set()  # one attempt each, no retries
        timeout = aiohttp.ClientTimeout(total=min(timeout_s, self.config.timeout_ms / 1000))
        with contextlib.suppress(asyncio.TimeoutError):
            async with aiohttp.ClientSession(timeout=timeout, **self._request) as session:
                await asyncio.wait_for(self._send_batch(session, stop), timeout_s)
