"""SLIs on the input subjects (``slo.input.>``): they read the engine's own account of what it did
with each message (processor/engine/input.py), not messages from a stream."""

from __future__ import annotations

from processor.vocabulary import INPUT_SUBJECTS

__all__ = ["input_labels_problem", "input_slo_problem", "input_subject_problem", "is_input_subject"]


def is_input_subject(subject: str) -> bool:
    """Whether the subject is in the input subjects' namespace (``slo.input.…``)."""
    return subject.split(".")[:2] == ["slo", "input"]


def input_subject_problem(subject: str) -> str | None:
    if not is_input_subject(subject) or subject in INPUT_SUBJECTS:
        return None
    return (f"no account of the input has subject {subject!r}: the processor feeds "
            + "; ".join(f"{s} ({fields})" for s, fields in INPUT_SUBJECTS.items()))


def input_labels_problem(subject: str, label_fields: tuple[str, ...]) -> str | None:
    """Every stream's engine measures its own input; the ``stream`` label keeps their series, and
    so their alerts, apart."""
    if not is_input_subject(subject) or "stream" in label_fields:
        return None
    return f"{subject} is measured by each stream's engine on its own: add stream to labels (labels: [stream, …])"


def input_slo_problem(subject: str) -> str | None:
    if not is_input_subject(subject):
        return None
    return (f"an SLO's budget covers its whole SLI, and {subject} is measured by each stream's engine on its "
            "own: watch it with an alert rule instead")
