"""What the runtime tells the HTTP listener (``runtime/http.py``): the hooks the lanes, the outbox and
the checkpointer call, and the readiness of the processor.

Every hook is synchronous, does no I/O and only updates counters and bounded dicts, so it never
blocks a lane. Readiness (``/readyz``): not ready while the processor starts (provisioning,
restoring the checkpoint, opening the consumers) or stops, nor while a consumed stream's lane has
not pulled yet or is behind by more than ``max_pending`` messages (its consumer's pending count as
of its last batch: a backlog after a restart, a processor that cannot keep up). With ``--standby``
the body says the ``role``: a standby is ready (it is healthy and ready to take over; an instance
never ready would stall a rolling deployment), and says so in its ``phase``.
"""

from __future__ import annotations

__all__ = ["READY_MAX_PENDING", "Telemetry"]

import time
from collections.abc import Callable, Sequence
from typing import Any

from processor.bus.jsreply import pending_count
from processor.config.model import Config
from processor.engine import Engine, Outputs
from processor.runtime.board import SloBoard
from processor.runtime.metrics import Metrics

READY_MAX_PENDING = 10_000


class Telemetry:
    def __init__(self, config: Config, *, max_pending: int = READY_MAX_PENDING,
                 clock: Callable[[], float] = time.monotonic, board: SloBoard | None = None) -> None:
        self.config = config
        self.board = board or SloBoard(config)
        self.metrics = Metrics(self.board, clock=clock)
        self.max_pending = max_pending
        self.phase = "starting"  # -> "running" -> "stopping"; "standby" (--standby) until it holds the lease
        self.role: str | None = None  # --standby: "active" or "standby"
        self.pending: dict[str, int | None] = {}  # consumed streams; None: not pulled yet

    # ---- hooks of the runtime ----
    def lane_opened(self, stream: str, consumed: bool) -> None:
        self.metrics.add_stream(stream)
        if consumed:
            self.pending[stream] = None

    def restored(self, engine: Engine) -> None:
        """A lane's engine was restored from a checkpoint: the alerts it holds as firing."""
        self.board.restored(engine.firing_alerts())

    def pulled(self, stream: str, msgs: Sequence[Any]) -> None:
        """A pull returned: the consumer's pending count after its last message (0 when empty)."""
        pending = pending_count(msgs[-1].reply) if msgs else 0
        if pending is not None:
            self.pending[stream] = pending
            self.metrics.pending.labels(stream).set(pending)

    def applied(self, stream: str, msgs: Sequence[Any], out: Outputs, seconds: float) -> None:
        """A batch was ingested, its outputs published and the batch acked."""
        metrics = self.metrics
        if msgs:
            metrics.events.labels(stream).inc(len(msgs))
            metrics.batch.labels(stream).observe(seconds)
        for rejection in out.rejections:
            metrics.rejected.labels(stream, rejection.reason).inc()

    def published(self, out: Outputs, seconds: float | None) -> None:
        """The outbox has every output of a batch stored (``seconds``: how long that took)."""
        self.board.observe(out)
        if seconds is not None:
            self.metrics.publish.observe(seconds)

    def checkpointed(self) -> None:
        self.metrics.checkpointed()

    # ---- readiness ----
    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, the JSON body of /readyz saying why)."""
        lanes = {}
        reasons = []
        if self.phase not in ("running", "standby"):
            reasons.append(f"processor {self.phase}")
        for stream, pending in sorted(self.pending.items()):
            behind = pending is None or pending > self.max_pending
            lanes[stream] = {"pending": pending, "ready": not behind}
            if pending is None:
                reasons.append(f"{stream}: no batch pulled yet")
            elif behind:
                reasons.append(f"{stream}: {pending} messages pending > {self.max_pending}")
        ready = not reasons
        body = {"ready": ready, "phase": self.phase, "reasons": reasons, "max_pending": self.max_pending,
                "streams": lanes}
        if self.role is not None:
            body["role"] = self.role
        return ready, body
