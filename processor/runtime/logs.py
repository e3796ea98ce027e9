"""Log configuration of the runtime: structlog, JSON lines or a readable console."""

from __future__ import annotations

__all__ = ["configure_logging"]

import sys

import structlog


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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
