"""Log configuration of the runtime: structlog, JSON lines or a readable console."""

from __future__ import annotations

__all__ = ["configure_logging", "warnings_on_stderr"]

import contextlib
import sys
from collections.abc import Iterator

import structlog


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured: a
    command run in-process (a test's ``main(["run", ...])``) must not leave every logger that it
    cached writing to a stream that was swapped out and closed since."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(json_logs: bool | None = None) -> None:
    """JSON lines when not on a TTY (collectors parse them), readable console otherwise."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),
        cache_logger_on_first_use=True,
    )


@contextlib.contextmanager
def warnings_on_stderr() -> Iterator[None]:
    """Only warnings and errors, on stderr (stdout may carry the outputs), not connect's info
    lines; the previous configuration comes back after, for callers (tests) that run more."""
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30),
                        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    try:
        yield
    finally:
        structlog.configure(**previous)
