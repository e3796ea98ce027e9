"""The one exception tree of slo-processor.

::

    ProcessorError                 base of everything this package raises on purpose
    ├── ConfigError                a config file is invalid (carries every problem found)
    ├── BusError                   NATS / JetStream could not be reached or refused a request
    │   ├── EmbeddedServerError    the embedded nats-server binary is missing or did not start
    │   ├── PermissionDeniedError  the server refused a publish or subscription (never retried)
    │   └── LeaseLostError         another instance holds the lease this one renewed (standby mode)
    ├── DeliveryGapError           a durable consumer delivered messages to another process, or was deleted
    ├── CheckpointError            a snapshot could not be written, read or decoded
    │   └── CheckpointFencedError  another process wrote the checkpoint since this one read it
    └── AlertmanagerError          Alertmanager refused alerts or could not be reached, or its
                                   credentials' environment variables are not set

Bad input events are *not* exceptions: the engine returns them as counted rejections and the shell
dead-letters them. Exceptions are for bugs and broken infrastructure. Third-party errors are
translated at the edge with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "AlertmanagerError",
    "BusError",
    "CheckpointError",
    "CheckpointFencedError",
    "DeliveryGapError",
    "ConfigError",
    "ConfigProblem",
    "EmbeddedServerError",
    "LeaseLostError",
    "PermissionDeniedError",
    "ProcessorError",
]

from dataclasses import dataclass


class ProcessorError(Exception):
    """Base of every error slo-processor raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file, located as precisely as the YAML allows."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(ProcessorError):
    """A config file is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def report(self, path: str) -> str:
        """What ``slo validate`` prints: each problem as ``file:line: field: message``, then how many."""
        count = len(self.problems)
        return "\n".join([*(str(p) for p in self.problems), f"{path}: {count} problem{'s' if count != 1 else ''}"])


class BusError(ProcessorError):
    """NATS or JetStream could not be reached, or refused a request."""


class EmbeddedServerError(BusError):
    """The embedded nats-server binary is missing or did not start."""


class PermissionDeniedError(BusError):
    """The server refused a publish or a subscription: the NATS user lacks a permission.

    Retrying cannot help (permissions do not change under a running client), so whoever meets it
    stops rather than retries; the message names the subject that was refused.
    """


class LeaseLostError(BusError):
    """The lease this instance renewed is gone or taken (``slo run --standby``): it must stop acting."""


class DeliveryGapError(ProcessorError):
    """Messages of this process's durable consumer went to another process (a stale instance's
    pull request, sent after its lease was gone), or the consumer was deleted (with its position
    and what it had delivered unacked): acking past them would skip them, so this process stops
    and resumes from its checkpoint, which creates the consumer again where needed and delivers
    them again. Not a BusError: waiting and pulling again cannot bring them back."""


class CheckpointError(ProcessorError):
    """A snapshot could not be written, read or decoded."""


class CheckpointFencedError(CheckpointError):
    """The checkpoint key changed since this process last read or wrote it: another instance of the
    same ``--instance`` wrote it (a standby that took over). Writing would overwrite its state."""


class AlertmanagerError(ProcessorError):
    """Alertmanager refused alerts or could not be reached (the sender counts, logs and retries
    it; it never stops the processor), or a credential's environment variable is not set."""
