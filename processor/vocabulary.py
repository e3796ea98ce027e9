"""Names shared by two or more layers, each defined once here. House-rule tests
(tests/unit/test_vocabulary.py) keep every producer and consumer of them in step.

Nothing here imports anything: every layer may use it.
"""

from __future__ import annotations

__all__ = [
    "ALERT_LABELS",
    "BUS_CONSUMER_LAG",
    "BUS_MONITOR_SUBJECTS",
    "BUS_PROBE_DELIVERY",
    "BUS_PUBLISH_PROBE",
    "BUS_STREAM_CONFIG",
    "BUS_STREAM_MESSAGES",
    "BUS_STREAM_STATUS",
    "BUS_SUBJECT_PATTERN",
    "GAUGE_STATS",
    "INPUT_SLI",
    "INPUT_STREAM",
    "INPUT_SUBJECTS",
    "INPUT_SUBJECT_PATTERN",
    "OUTPUT_SUBJECT_PREFIXES",
    "OVERFLOW_LABEL",
    "PULL_BATCH_SIZE",
    "REJECTION_REASONS",
    "SERVICE_TOKEN_AT",
    "SLO_STREAM",
    "STAT_NAMES",
    "SUBJECT_FIELD",
    "TIME_REJECTION_REASONS",
    "TEMPLATE_PLACEHOLDERS",
    "durable_name",
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
    "out_of_range",
    "bad_timestamp",
    "no_timestamp",
    "late",
    "future",
)
# The reasons about a message's time: each rejects it for every SLI reading that time (normally
# all of them), so a dead letter names one of these when it has one, before any one SLI's.
TIME_REJECTION_REASONS = ("bad_timestamp", "no_timestamp", "late", "future")

# The engine's own account of its input, fed to the SLIs that read these subjects as events of
# their own (never published, never read from a stream): at every boundary the watermark passes,
# one event per stream and one per SLI with the messages accepted and rejected since the last one.
# SLIs on ``slo.input.>`` must read one of these; each stream's engine measures its own input.
INPUT_SUBJECT_PATTERN = "slo.input.>"
INPUT_STREAM = "slo.input.stream"
INPUT_SLI = "slo.input.sli"
INPUT_SUBJECTS: dict[str, str] = {
    INPUT_STREAM: "stream, accepted, rejected (messages on subjects that an SLI reads; rejected: dead-lettered)",
    INPUT_SLI: "stream, sli, service, accepted, rejected (messages on the SLI's subjects; rejected: by that SLI)",
}

# The subjects on which the bus monitor's measurements enter the engine, with their payloads
# (besides ``ts``); SLIs on ``bus.`` subjects must read one of these.
BUS_SUBJECT_PATTERN = "bus.>"
BUS_PUBLISH_PROBE = "bus.publish.probe"
BUS_PROBE_DELIVERY = "bus.probe.delivery"
BUS_CONSUMER_LAG = "bus.consumer.lag"
BUS_STREAM_STATUS = "bus.stream.status"
BUS_STREAM_CONFIG = "bus.stream.config"
BUS_STREAM_MESSAGES = "bus.stream.messages"
BUS_MONITOR_SUBJECTS: dict[str, str] = {
    BUS_PUBLISH_PROBE: "latency_ms (publish to ack), status: ok | error",
    BUS_PROBE_DELIVERY: "delivered: bool (the probe arrived within delivery_timeout)",
    BUS_CONSUMER_LAG: "stream, consumer, pending (num_pending of the consumer)",
    BUS_STREAM_STATUS: "stream, state: up | down (whether stream info answered)",
    BUS_STREAM_CONFIG: "stream, drift: bool, fields (the settings that differ from streams/, comma-separated)",
    BUS_STREAM_MESSAGES: "stream, messages (stored since the previous round, from the stream's last_seq)",
}


def durable_name(consumer_prefix: str, stream: str) -> str:
    """The durable pull consumer of ``stream`` for processors named by ``consumer_prefix``
    (``slo_market``): the runtime creates it, the simulator pauses it for ``consumer_lag``."""
    return f"{consumer_prefix}_{stream}".lower()

# Messages a pull request of the processor asks for, and at most a batch its engine evaluates at once
# (`slo run --batch-size`; the runtime, the CLI and the benches). 2,000 rather than 1,000: the
# engine's work per batch (a few dozen numpy calls per SLI) is spread over twice the events, and
# nats-server answers a pull of 2,000 as fast per message as one of 1,000 (bench/throughput.py on
# the gateway backlog: end to end 1.9-2.0 us of client CPU an event against 2.1; 3,000 and 4,000
# made the bare pull slower, 393,000-429,000 msgs/s against 450,000). Only a backlog fills one.
PULL_BATCH_SIZE = 2000

# The stream of the processor's outputs (streams/slo.json: ``slo.>``).
SLO_STREAM = "SLO"

# Where the processor publishes: ``<prefix>.<tokens...>`` (see README, "subjects").
OUTPUT_SUBJECT_PREFIXES = {
    "alerts": "slo.alerts",  # .<severity>.<service>
    "budget": "slo.budget",  # .<service>.<slo>
    "actions": "slo.actions",  # .<service>
    "sli": "slo.sli",  # .<service>.<sli>
    "deadletter": "slo.deadletter",  # .<reason>
    "clock": "slo.clock",  # .<stream>[.p<I>of<N>]: event time moved without events (idle), for replay
}

# Where the service is among the tokens of each kind of output's subject that names one (above):
# the Kafka outputs key by it, `slo tail --service` looks for it.
SERVICE_TOKEN_AT = {"alerts": 3, "actions": 2, "budget": 2, "sli": 2}
