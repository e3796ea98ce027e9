"""``/metrics``: the processor's conclusions and its own health, in the Prometheus exposition
format (prometheus-client, a registry of our own).

Families (names and labels are relied on by deploy/grafana and deploy/prometheus; README,
"Operate it", lists them):

- from the outputs the outbox published (``runtime/board.py``), built at each scrape:
  ``slo_sli_value{service,sli,stat,series}``, ``slo_budget_remaining_ratio{service,slo}``,
  ``slo_budget_consumed_ratio{service,slo}``, ``slo_burn_rate{service,slo,window}``,
  ``slo_policy_tier{service,slo,tier}`` (1 for the current tier, 0 for the others),
  ``slo_alert_firing{alertname,service,severity,slo,sli,tier}`` (1 while firing, 0 once resolved);
- counted by the lanes, the outbox and the checkpointer: ``slo_events_total{stream}`` (messages
  read: applied, dead-lettered or ignored), ``slo_events_rejected_total{stream,reason}``
  (dead-lettered, each once, by its dead letter's reason),
  ``slo_consumer_pending_messages{stream}``, ``slo_batch_duration_seconds{stream}``,
  ``slo_publish_duration_seconds``, ``slo_checkpoint_age_seconds``;
- ``slo_alertmanager_queue_length`` and ``slo_alertmanager_dropped_total``: 0 until an
  Alertmanager sender calls ``attach_alertmanager`` and ``alertmanager_dropped``;
- the process collector (``process_*``).
"""

from __future__ import annotations

__all__ = ["Metrics"]

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from processor.config.parse import format_duration
from processor.engine.budget import POLICY_TIERS
from processor.runtime.board import SloBoard, series_label
from processor.vocabulary import REJECTION_REASONS

ALERT_LABELS = ("alertname", "service", "severity", "slo", "sli", "tier")
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _BoardCollector(Collector):
    """The gauges of the board, built at each scrape from the latest published outputs."""

    def __init__(self, board: SloBoard) -> None:
        self.board = board

    def collect(self) -> Iterator[GaugeMetricFamily]:
        board = self.board
        sli = GaugeMetricFamily("slo_sli_value", "Latest reported value of an SLI series' stat over the rule window",
                                labels=["service", "sli", "stat", "series"])
        for name, latest in sorted(board.slis.items()):
            for labels, values in sorted(latest.series.items()):
                for stat, value in values:
                    if value is not None:
                        sli.add_metric([latest.service, name, stat, series_label(labels)], value)
        remaining = GaugeMetricFamily("slo_budget_remaining_ratio", "Error budget left (1 - consumed; negative "
                                      "once overspent)", labels=["service", "slo"])
        consumed = GaugeMetricFamily("slo_budget_consumed_ratio", "Error budget spent: bad / allowed bad",
                                     labels=["service", "slo"])
        burn = GaugeMetricFamily("slo_burn_rate", "Burn rate of the error budget over a window",
                                 labels=["service", "slo", "window"])
        tier = GaugeMetricFamily("slo_policy_tier", "Budget policy tier: 1 for the current one, 0 for the others",
                                 labels=["service", "slo", "tier"])
        for name, report in sorted(board.budgets.items()):
            remaining.add_metric([report.service, name], report.remaining)
            consumed.add_metric([report.service, name], report.consumed)
            for window_ms, rate in report.burn_rates:
                if rate is not None:
                    burn.add_metric([report.service, name, format_duration(window_ms)], rate)
            for policy, _, _ in (POLICY_TIERS if report.policy is not None else ()):
                tier.add_metric([report.service, name, policy], 1.0 if policy == report.policy else 0.0)
        yield from (sli, remaining, consumed, burn, tier, self._alerts())

    def _alerts(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("slo_alert_firing", "1 while an alert fires, 0 once resolved (series of one "
                                   "rule share a sample: 1 while any fires)", labels=list(ALERT_LABELS))
        values: dict[tuple[str, ...], float] = {}
        for alert in self.board.alerts.values():
            labels = alert.label_map
            key = tuple(labels.get(k, "") for k in ALERT_LABELS)
            values[key] = max(values.get(key, 0.0), 1.0 if alert.status == "firing" else 0.0)
        for key, value in sorted(values.items()):
            family.add_metric(list(key), value)
        return family


class Metrics:
    """The registry and the instruments the runtime updates; ``exposition()`` is a scrape."""

    def __init__(self, board: SloBoard, streams: tuple[str, ...] = (), clock: Callable[[], float] = time.monotonic):
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        reg = self.registry
        self.events = Counter("slo_events", "Messages a stream's lane read: applied, dead-lettered or ignored",
                              ["stream"], registry=reg)
        self.rejected = Counter("slo_events_rejected", "Messages dead-lettered, by reason", ["stream", "reason"],
                                registry=reg)
        self.pending = Gauge("slo_consumer_pending_messages", "Messages of the stream not yet delivered to the "
                             "processor's consumer, as of its last batch", ["stream"], registry=reg)
        self.batch = Histogram("slo_batch_duration_seconds", "A batch from pull to ack: ingest, publish, ack",
                               ["stream"], buckets=BATCH_BUCKETS, registry=reg)
        self.publish = Histogram("slo_publish_duration_seconds", "Publishing a batch's outputs until every "
                                 "PubAck", buckets=BATCH_BUCKETS, registry=reg)
        self.checkpoint_at_s = clock()
        age = Gauge("slo_checkpoint_age_seconds", "Seconds since the stored checkpoint last held every applied "
                    "change (since the start before the first)", registry=reg)
        age.set_function(lambda: self._clock() - self.checkpoint_at_s)
        self._queue_length: Callable[[], float] = lambda: 0.0
        queue = Gauge("slo_alertmanager_queue_length", "Alerts waiting to be sent to Alertmanager", registry=reg)
        queue.set_function(lambda: self._queue_length())
        self.alertmanager_dropped_total = Counter("slo_alertmanager_dropped", "Alerts the Alertmanager sender "
                                                  "dropped (queue full or retries exhausted)", registry=reg)
        ProcessCollector(registry=reg)
        reg.register(_BoardCollector(board))
        for stream in streams:
            self.add_stream(stream)

    def add_stream(self, stream: str) -> None:
        """Make a stream's series exist (at 0) before its first batch."""
        self.events.labels(stream)
        for reason in REJECTION_REASONS:
            self.rejected.labels(stream, reason)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def checkpointed(self) -> None:
        self.checkpoint_at_s = self._clock()

    def attach_alertmanager(self, queue_length: Callable[[], float]) -> None:
        """The Alertmanager sender's hook: how long its queue is (read at each scrape)."""
        self._queue_length = queue_length

    def alertmanager_dropped(self, n: int = 1) -> None:
        self.alertmanager_dropped_total.inc(n)
