"""The validated, immutable model of a config file.

The YAML loader (``processor.config.load``) turns text into these objects; the engine builds its
stateful evaluators from them. Everything here is frozen: a running engine never sees its config
change under it. Units are in the names: ``*_ms`` are milliseconds, thresholds of latency stats are
milliseconds (the config writes them with a unit, ``150ms``, ``1.5s``), ratios are fractions in [0, 1].
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from processor.config.predicate import Predicate

__all__ = [
    "FrozenModel",
    "AlertConfig",
    "BudgetConfig",
    "AlertmanagerConfig",
    "BusMonitorConfig",
    "KafkaConfig",
    "KafkaTopicConfig",
    "BurnTier",
    "Condition",
    "Defaults",
    "SliConfig",
    "SloConfig",
    "Config",
    "Stat",
]

Op = Literal[">", ">=", "<", "<="]
# info/warning/critical are the document's escalation levels; emergency is its 10x burn tier;
# page/ticket are the well-known SRE burn-rate catalogue's.
Severity = Literal["info", "warning", "critical", "emergency", "page", "ticket"]


class FrozenModel(BaseModel):
    """Every config model: immutable, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Stat(FrozenModel):
    """What a condition measures over a window of one SLI series.

    - ``quantile``: the q-quantile of a latency SLI, in ms (``p95`` is q=0.95).
    - ``good_ratio`` / ``bad_ratio``: good/total and 1 - good/total of a ratio SLI.
    - ``count``: number of accepted events in the window (any SLI kind).
    """

    kind: Literal[
        "quantile",  # latency (and duration correlations)
        "good_ratio",  # ratio, outcome correlations, state (share of window time good)
        "bad_ratio",
        "bad_count",  # ratio / outcome correlations: number of bad events in the window
        "count",  # any kind: events in the window
        "since_last",  # any kind: ms from the series' last event to the boundary
        "last",  # gauge
        "min",
        "max",
        "avg",
        "sum",
        "bad_for",  # state: ms the series has been bad, continuously, at the boundary (0 if good)
        "burn_rate",  # built by the engine for burn-rate tiers, not written in configs
    ]
    q: float | None = None

    def __str__(self) -> str:
        if self.kind == "quantile":
            assert self.q is not None
            return f"p{self.q * 100:g}"
        return self.kind


class Condition(FrozenModel):
    """``<stat> <op> <threshold>``, e.g. ``p95 > 150ms`` or ``bad_ratio > 0.05%``.

    ``threshold`` is normalised: milliseconds for quantiles, a fraction for ratios, a plain number
    for counts. ``text`` keeps what the user wrote, for messages.
    """

    stat: Stat
    op: Op
    threshold: float
    text: str

    def holds(self, value: float) -> bool:
        if self.op == ">":
            return value > self.threshold
        if self.op == ">=":
            return value >= self.threshold
        if self.op == "<":
            return value < self.threshold
        return value <= self.threshold


class Defaults(FrozenModel):
    event_time_field: str = "ts"
    allowed_lateness_ms: int = 5_000
    # How far an event's time may run ahead of the JetStream timestamp of its own message.
    max_future_skew_ms: int = 60_000
    resolution_ms: int = 10_000
    rule_window_ms: int = 60_000
    sli_report_every_ms: int = 60_000  # slo.sli.<service>.<sli> cadence, over rule_window_ms
    # An SLI whose silence is bad (an absence rule or a time-slice budget reads it) that has sent
    # nothing this long after the state began raises ServiceNeverReported (engine/never_seen.py).
    never_seen_grace_ms: int = 300_000
    # Every alert's runbook_url is this, '#' and the alert's section anchor (render.py). Relative by
    # default, a link into this repository; an operator points it at the copy people can open.
    runbook_base_url: str = "docs/runbooks.md"


class SliConfig(FrozenModel):
    """One service level indicator: which events feed it and what is read from them.

    This class holds what every kind has; each kind's module (``processor/kinds/<kind>.py``)
    declares a subclass with ``kind: Literal["<kind>"]`` and its own fields, and the loader builds
    that subclass. Every kind supports ``count`` and ``since_last``.
    """

    name: str
    service: str
    kind: str
    subject: str  # NATS subject pattern, ``*`` and ``>`` wildcards allowed
    where: Predicate | None = None  # events not matching are not part of this SLI (not rejected)
    labels: tuple[str, ...] = ()  # payload fields whose values split the SLI into series
    # The alert label name of each entry of ``labels``, when the config renames them
    # (``labels: {target_service: service}``: ``service`` is the processor's own label). Empty: the
    # field paths are the names. Use ``series_label_names()``.
    label_names: tuple[str, ...] = ()
    max_series: int = 1000  # label cardinality cap; further label sets go to OVERFLOW_LABEL
    description: str = ""
    event_time_field: str  # resolved from defaults when the SLI does not override it

    def series_label_names(self) -> tuple[str, ...]:
        """The names of the series labels on alerts, in the order of ``labels``."""
        return self.label_names or self.labels

    def predicates(self) -> tuple[Predicate, ...]:
        """Every predicate of the SLI (a kind adds its own), e.g. to see which read the subject."""
        return () if self.where is None else (self.where,)




class BurnTier(FrozenModel):
    """One multi-window burn-rate alert tier: fires while the burn rate over both windows is at
    least ``burn`` and each window holds at least its minimum number of events (or slices)."""

    tier: str  # label value, e.g. "emergency" or "page-fast"
    burn: float
    long_ms: int
    short_ms: int
    severity: Severity
    min_events_long: int = 0
    min_events_short: int = 0


class BudgetConfig(FrozenModel):
    """How an SLO's error budget is counted.

    ``occurrences``: good events / total events; for a latency objective ``pQ < T`` an event is
    good when its latency is below T and the objective ratio is Q. ``time_slices``: the fraction
    of good slices of ``slice_ms``; a slice is good when ``slice_condition`` holds over its data.
    The budget window is rolling (``window_ms``) unless ``calendar`` aligns it to the month, week
    (Monday) or day in ``timezone``.
    """

    method: Literal["occurrences", "time_slices"] = "occurrences"
    window_ms: int = 30 * 86_400_000
    calendar: Literal["month", "week", "day"] | None = None
    timezone: str = "UTC"  # IANA name, checked at load
    slice_ms: int = 60_000
    slice_condition: Condition | None = None  # time_slices only
    no_data: Literal["good", "bad", "ignore"] = "ignore"  # time_slices: a slice without data
    burn_tiers: tuple[BurnTier, ...] = ()  # from the chosen catalogue, minus disabled tiers
    catalogue: str | None = None
    policy: bool = True
    hysteresis: float = 0.02  # fraction of the budget by which a recovery must clear a border
    # The policy moves only once the budget window holds this many events (or slices): a handful
    # of events right after a start would otherwise decide the tier on one bad one.
    policy_min_events: int = 100
    report_every_ms: int = 60_000
    exhaustion_window_ms: int = 3_600_000  # burn rate that "time to exhaustion" projects


class SloConfig(FrozenModel):
    """An objective on an SLI, e.g. ``p95 < 200ms`` or ``good_ratio >= 99.9%``."""

    name: str
    sli: str
    service: str
    objective: Condition
    # The fraction that must be good: 0.999 for good_ratio >= 99.9 % (or bad_ratio < 0.1 %), 0.95
    # for p95 < 200ms (occurrences), the share of good slices for time slices.
    objective_ratio: float
    description: str = ""
    window_ms: int = 30 * 86_400_000  # the error-budget period ("Error Budget (30 days)")
    budget: BudgetConfig | None = None
    # The SLI's expected volume as the config declares it (``expected: 48/1d``), in events per
    # minute; None when the config does not say. Checked against the burn-rate gates at load.
    expected_per_min: float | None = None


class AlertConfig(FrozenModel):
    """An alert rule: fires when ``condition`` holds at every boundary for ``for_ms``."""

    name: str  # Alertmanager ``alertname``
    sli: str
    service: str
    slo: str | None = None
    condition: Condition
    window_ms: int
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    severity: Severity
    summary: str = ""
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()  # extra static labels, sorted by key
    # Count-based "for": fire once the condition has held while this many events of the series
    # arrived ("p95 > 90s for 3 cycles"); used instead of for_ms when set.
    for_events: int | None = None
    # Calendar window instead of window_ms (sums such as a daily cost): the day or month so far,
    # in ``timezone``.
    calendar: Literal["day", "month"] | None = None
    timezone: str = "UTC"
    # Published on slo.actions.<service> when the alert fires ("switch to cheaper model").
    action: str | None = None


class BusMonitorConfig(FrozenModel):
    """The event bus measured by the processor itself (PLATFORM-SLOS.md "Event Bus").

    Every ``interval_ms`` the shell publishes a probe to ``probe_subject`` through JetStream and
    times its ack, checks that it arrives, asks each stream for its info (its availability, its
    settings against streams/ and its message count) and each named or discovered consumer for its
    pending count. The results enter the engine as events on ``bus.>`` subjects (see
    processor/bus/monitor.py), so ordinary SLIs and rules evaluate them.
    """

    interval_ms: int = 5_000
    probe_subject: str = "slo.probe"
    delivery_timeout_ms: int = 5_000
    streams: tuple[str, ...] = ()  # empty: every stream in streams/
    consumers: tuple[tuple[str, str], ...] = ()  # (stream, durable) whose lag is measured
    # Streams whose every consumer (anyone's, found with CONSUMER.LIST) has its lag measured.
    discover_consumers: tuple[str, ...] = ()
    # At most this many discovered consumers are measured (listed ones always are): the lag SLI's
    # series, and the rounds' requests, stay bounded however many consumers clients create.
    max_consumers: int = 100
    # Streams whose messages are counted (bus.stream.messages): the bus-wide capacity.
    count_messages: tuple[str, ...] = ()


class AlertmanagerConfig(FrozenModel):
    """Where and how alerts are pushed to Alertmanager's v2 API (runtime/alertmanager.py).

    Secrets are never here: ``*_env`` name the environment variables that hold them."""

    urls: tuple[str, ...]  # base URLs; each gets POST <url>/api/v2/alerts
    timeout_ms: int = 10_000
    resend_interval_ms: int = 60_000  # firing alerts are re-sent this often
    basic_auth_username_env: str | None = None
    basic_auth_password_env: str | None = None
    bearer_token_env: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # generatorURL's base (the SLO page): None takes the --http address of `slo run`.
    external_url: str | None = None
    queue_size: int = 10_000  # alerts waiting to be sent; past it the oldest are dropped (counted)
    # A firing alert of these severities still firing this long after its startsAt is sent again
    # with escalated="true" (deploy/alertmanager/alertmanager.yml routes it to PagerDuty).
    escalate_after_ms: int = 3_600_000
    escalate_severities: tuple[str, ...] = ("warning",)


class KafkaTopicConfig(FrozenModel):
    """How one Kafka topic's records get the subject the SLIs select on (processor/kafka/subjects.py):
    ``prefix`` (the topic's name unless given), then the record key (``subject_from="key"``), a
    payload field (``"field"``, named by ``field``, a dotted path), or nothing more (``"topic"``)."""

    topic: str
    prefix: str
    subject_from: Literal["field", "key", "topic"] = "field"
    field: str | None = "type"


class KafkaConfig(FrozenModel):
    """The ``kafka:`` section: where ``slo run --source kafka`` reads (docs/kafka.md)."""

    brokers: tuple[str, ...] = ()  # host:port; --kafka-brokers overrides
    group: str = "slo-processor"  # the consumer group (and the faust app id)
    topics: tuple[KafkaTopicConfig, ...] = ()
    batch_size: int = 1000  # records handed to an engine at once, at most
    batch_within_ms: int = 200  # ... or what came within this long
    # The group's timeouts (faust's defaults: 60 s each). A join waits up to the rebalance timeout
    # for the group's other members (Tansu, the tests' broker, always waits all of it).
    session_timeout_ms: int = 60_000
    rebalance_timeout_ms: int = 60_000


class Config(FrozenModel):
    version: Literal[1] = 1
    source: str = "<memory>"
    defaults: Defaults = Defaults()
    slis: tuple[SliConfig, ...] = ()
    slos: tuple[SloConfig, ...] = ()
    alerts: tuple[AlertConfig, ...] = ()
    bus_monitor: BusMonitorConfig | None = None
    alertmanager: AlertmanagerConfig | None = None
    kafka: KafkaConfig | None = None

    def sli(self, name: str) -> SliConfig:
        for s in self.slis:
            if s.name == name:
                return s
        raise KeyError(name)
