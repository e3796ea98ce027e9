"""The engine's account of its own input, measured by ordinary SLIs.

Every message that some SLI reads is either used or rejected (dead-lettered), wholly or by some of
its SLIs. The ledger counts those decisions as they are made and, each time the watermark is about
to close a boundary, hands them to the SLIs on the reserved subjects (processor/vocabulary.py,
``INPUT_SUBJECTS``) as events the engine makes itself:

- ``slo.input.stream``: ``{stream, accepted, rejected}``, messages on subjects that some SLI
  reads; rejected = dead-lettered, even when other SLIs used it;
- ``slo.input.sli``: ``{stream, sli, service, accepted, rejected}`` per SLI, of the messages on the
  SLI's subjects; rejected = rejected by that SLI.

A ``ratio`` SLI with ``good_count: accepted`` and ``bad_count: rejected`` then has the rejected
share as its ``bad_ratio``, with the usual rules on it. The counts are kept per subject and summed
per SLI only when handed over, so that the per-message cost is one dict increment.

The hand-over happens at points fixed by the event sequence (a boundary about to close), never at
the end of a batch, and what is counted but not yet handed over is part of the snapshot: the
result does not depend on how the stream is cut into batches or where a checkpoint falls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from processor.config.parse import subject_pattern_matches
from processor.vocabulary import INPUT_SLI, INPUT_STREAM, INPUT_SUBJECT_PATTERN

__all__ = ["ROUTED_SUBJECTS_MAX", "InputLedger", "reads_input"]

# Distinct subjects counted between two hand-overs before they are folded (``fold``). Only event
# time closes a boundary, and a flood of garbage moves none: counted by subject, a producer
# sending it on ever new subjects (``market.quote.<anything>``) would grow the ledger, and every
# checkpoint, without bound.
ROUTED_SUBJECTS_MAX = 4096


def reads_input(subject_pattern: str) -> bool:
    """Whether an SLI on this subject reads the engine's input ledger rather than messages."""
    return subject_pattern_matches(INPUT_SUBJECT_PATTERN, subject_pattern)


class InputLedger:
    __slots__ = ("stream", "routed", "refused", "dead", "_readers")

    def __init__(self, stream: str, input_slis: Sequence[Any]) -> None:
        self.stream = stream
        self.routed: dict[str, int] = {}  # subject -> messages that some SLI reads (the engine adds)
        self.refused: dict[str, int] = {}  # SLI name -> messages it rejected
        self.dead = 0  # messages dead-lettered
        self._readers = {
            subject: [s for s in input_slis if subject_pattern_matches(s.config.subject, subject)]
            for subject in (INPUT_STREAM, INPUT_SLI)
        }

    @property
    def measured(self) -> bool:
        """Whether any SLI reads the ledger (else it only keeps the counts small)."""
        return any(self._readers.values())

    def rejected(self, sli_names: Sequence[str]) -> None:
        """One message dead-lettered, rejected by these SLIs."""
        self.dead += 1
        refused = self.refused
        for name in sli_names:
            refused[name] = refused.get(name, 0) + 1

    def hand_over(self, t_ms: int, slis_of: Callable[[str], Sequence[Any]], resolution_ms: int) -> None:
        """Feed the counts since the last hand-over to the input SLIs as events at ``t_ms`` (an
        open sub-window), then start counting afresh."""
        if self.routed and self.measured:
            messages = sum(self.routed.values())
            self._feed(INPUT_STREAM, {"accepted": messages - self.dead, "rejected": self.dead}, t_ms, resolution_ms)
            if self._readers[INPUT_SLI]:
                for sli, offered in self._offered(slis_of).items():
                    rejected = self.refused.get(sli.name, 0)
                    counts = {"sli": sli.name, "service": sli.config.service, "accepted": offered - rejected,
                              "rejected": rejected}
                    self._feed(INPUT_SLI, counts, t_ms, resolution_ms)
        # In place: the engine's per-message loop holds ``routed`` in a local.
        self.routed.clear()
        self.refused.clear()
        self.dead = 0

    def _offered(self, slis_of: Callable[[str], Sequence[Any]]) -> dict[Any, int]:
        offered: dict[Any, int] = {}
        # By subject, not by first arrival: the batched path counts a batch's subjects in another
        # order than event by event, and the SLIs' series must come out the same.
        for subject, n in sorted(self.routed.items()):
            for sli in slis_of(subject):
                offered[sli] = offered.get(sli, 0) + n
        return offered

    def fold(self, slis_of: Callable[[str], Sequence[Any]], most: int = ROUTED_SUBJECTS_MAX) -> None:
        """With more than ``most`` subjects counted, the subjects read by the same SLIs become one:
        the least of them, with their sum. What ``hand_over`` makes of the counts is unchanged
        (each SLI's sum, and the SLIs' order, which follows the least subject that reads each),
        and folding again, or later, gives the same: a snapshot, always folded, does not depend on
        when a batch ended."""
        routed = self.routed
        if len(routed) <= most:
            return
        least: dict[tuple, str] = {}
        folded: dict[str, int] = {}
        for subject in sorted(routed):
            into = least.setdefault(tuple(slis_of(subject)), subject)
            folded[into] = folded.get(into, 0) + routed[subject]
        routed.clear()  # in place: the engine's per-message loop holds it
        routed.update(folded)

    def _feed(self, subject: str, counts: dict[str, Any], t_ms: int, resolution_ms: int) -> None:
        payload = {"ts": t_ms, "stream": self.stream, **counts}
        for sli in self._readers[subject]:
            sli.add(payload, t_ms, resolution_ms)

    def snapshot(self, slis_of: Callable[[str], Sequence[Any]]) -> dict:
        self.fold(slis_of, most=0)
        return {"routed": dict(sorted(self.routed.items())), "refused": dict(sorted(self.refused.items())),
                "dead": self.dead}

    def restore(self, data: dict) -> None:
        self.routed.clear()
        self.routed.update(data.get("routed", {}))
        self.refused = dict(data.get("refused", {}))
        self.dead = data.get("dead", 0)
