"""Names shared by two or more layers, each defined once here. House-rule tests
(tests/unit/test_vocabulary.py) keep every producer and consumer of them in step.

Nothing here imports anything: every layer may use it.
"""

from __future__ import annotations

__all__ = [
    "ALERT_LABELS",
    "BUS_MONITOR_SUBJECTS",
    "GAUGE_STATS",
    "OUTPUT_SUBJECT_PREFIXES",
    "OVERFLOW_LABEL",
    "REJECTION_REASONS",
    "STAT_NAMES",
    "SUBJECT_FIELD",
    "TEMPLATE_PLACEHOLDERS",
]

# The labels every alert carries (``slo`` only when the rule names one); a series label may not
# take one of these names.
ALERT_LABELS = ("alertname", "service", "sli", "slo", "severity")

# What ``{...}`` may name in an alert's summary and description, besides the alert's labels.
TEMPLATE_PLACEHOLDERS = ("value", "threshold", "expr", "service", "sli", "slo", "window", "for", "labels")

# The pseudo-field through which predicates read the message's subject.
SUBJECT_FIELD = "_subject"

# The label value shared by every label set past an SLI's cardinality cap.
OVERFLOW_LABEL = "__overflow__"

# Stats a condition names (besides quantiles ``pNN`` and the engine's own ``burn_rate``).
GAUGE_STATS = ("last", "min", "max", "avg", "sum")
STAT_NAMES = ("good_ratio", "bad_ratio", "bad_count", "count", "since_last", *GAUGE_STATS, "bad_for")

# Every reason a message can be rejected for; each is also the last token of its dead-letter
# subject (``slo.deadletter.<reason>``), so they must stay valid subject tokens.
REJECTION_REASONS = (
    "not_json",
    "not_object",
    "missing_field",
    "bad_field_type",
    "bad_value",
    "negative_value",
    "bad_timestamp",
    "no_timestamp",
    "late",
)

# The subjects on which the bus monitor's measurements enter the engine, with their payloads
# (besides ``ts``); SLIs on ``bus.`` subjects must read one of these.
BUS_MONITOR_SUBJECTS: dict[str, str] = {
    "bus.publish.probe": "latency_ms (publish to ack), status: ok | error",
    "bus.probe.delivery": "delivered: bool (the probe arrived within delivery_timeout)",
    "bus.consumer.lag": "stream, consumer, pending (num_pending of the consumer)",
    "bus.stream.status": "stream, state: up | down (whether stream info answered)",
}

# Where the processor publishes: ``<prefix>.<tokens...>`` (see README, "subjects").
OUTPUT_SUBJECT_PREFIXES = {
    "alerts": "slo.alerts",  # .<severity>.<service>
    "budget": "slo.budget",  # .<service>.<slo>
    "actions": "slo.actions",  # .<service>
    "sli": "slo.sli",  # .<service>.<sli>
    "deadletter": "slo.deadletter",  # .<reason>
}
