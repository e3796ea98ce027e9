"""Which engine reads which stream.

Each consumed JetStream stream is its own time domain (see engine/core.py) with its own engine,
which evaluates the part of the config whose SLIs read that stream's subjects: the SLIs, their
SLOs and their alert rules. The bus monitor's measurements (``bus.>``) are a lane of their own,
fed by this process, not by a stream. SLIs on the input subjects (``slo.input.>``) measure what each
engine does with its own input, so every lane's part has them, with their alert rules (their
``stream`` label keeps the lanes' series and alerts apart); they open no lane of their own.
"""

from __future__ import annotations

__all__ = ["BUS_LANE", "consumer_filter", "consumer_prefix", "filter_subjects", "parse_services", "partition_config", "services_config", "sidecar_instance",
           "stream_subjects"]

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from processor.config.model import Config, SliConfig
from processor.config.parse import subject_pattern_matches
from processor.errors import ProcessorError
from processor.runtime.partitions import Partition, hot_slis, own_stream, partition_filter_subjects
from processor.vocabulary import BUS_SUBJECT_PATTERN, INPUT_SUBJECT_PATTERN

BUS_LANE = "BUS"  # the bus monitor's measurements: a time domain of their own, not a stream


def stream_subjects(definition: dict[str, Any]) -> list[str]:
    """The subjects a stream definition (``streams/*.json``) holds."""
    return list(definition.get("subjects", []))


def _home(subject: str, definitions: Sequence[dict[str, Any]]) -> str | None:
    """The lane that holds an SLI's subject: the bus monitor's, a stream's, or none."""
    if subject_pattern_matches(BUS_SUBJECT_PATTERN, subject):
        return BUS_LANE
    return next(
        (d["name"] for d in definitions if any(subject_pattern_matches(s, subject) for s in stream_subjects(d))),
        None,
    )


def partition_config(config: Config, definitions: Sequence[dict],
                     partition: Partition | None = None) -> tuple[dict[str, Config], list[str]]:
    """The part of the config each stream's engine evaluates, and the SLIs that no stream holds.
    With ``partition`` and a stream of its own (partitions.own_stream), the hot SLIs read that one."""
    parts: dict[str, Config] = {}
    orphans = []
    measuring_input = []
    own = None if partition is None else own_stream(definitions, partition)
    hot = set() if own is None or partition is None else {s.name for s in hot_slis(config, partition.key)}
    for sli in config.slis:
        if subject_pattern_matches(INPUT_SUBJECT_PATTERN, sli.subject):
            measuring_input.append(sli)
            continue
        home = own if sli.name in hot else _home(sli.subject, definitions)
        if home is None:
            orphans.append(sli.name)
            continue
        part = parts.setdefault(home, config.model_copy(update={"slis": (), "slos": (), "alerts": ()}))
        parts[home] = part.model_copy(
            update={
                "slis": part.slis + (sli,),
                "slos": part.slos + tuple(s for s in config.slos if s.sli == sli.name),
                "alerts": part.alerts + tuple(a for a in config.alerts if a.sli == sli.name),
            }
        )
    for home, part in parts.items():
        parts[home] = _with_slis(config, part, measuring_input)
    return parts, orphans


def _with_slis(config: Config, part: Config, slis: Sequence[SliConfig]) -> Config:
    names = {sli.name for sli in slis}
    return part.model_copy(
        update={
            "slis": part.slis + tuple(slis),
            "slos": part.slos + tuple(s for s in config.slos if s.sli in names),
            "alerts": part.alerts + tuple(a for a in config.alerts if a.sli in names),
        }
    )


def services_config(config: Config, services: Sequence[str]) -> Config:
    """A sidecar's part of the config (``slo run --services``): the SLIs of those services, with
    their SLOs and alert rules, and the SLIs on the input subjects (they measure this process's
    own input). Raises ProcessorError for a service no SLI names."""
    known = {sli.service for sli in config.slis}
    unknown = [s for s in services if s not in known]
    if unknown:
        raise ProcessorError(f"--services: no SLI of the config belongs to {', '.join(unknown)} "
                          f"(services: {', '.join(sorted(known))})")
    wanted = set(services)
    kept = tuple(s for s in config.slis
                 if s.service in wanted or subject_pattern_matches(INPUT_SUBJECT_PATTERN, s.subject))
    names = {s.name for s in kept}
    return config.model_copy(update={
        "slis": kept,
        "slos": tuple(s for s in config.slos if s.sli in names),
        "alerts": tuple(a for a in config.alerts if a.sli in names),
    })


def filter_subjects(part: Config, partition: Partition | None = None) -> list[str]:
    """The subjects a lane's consumer needs for its part of the config: every SLI's subject but
    the input ones, leaving out those another pattern already covers (JetStream refuses
    overlapping filters), sorted; of a ``partition``'s hot subject, only its share."""
    subjects = {s.subject for s in part.slis if not subject_pattern_matches(INPUT_SUBJECT_PATTERN, s.subject)}
    kept = sorted(
        s for s in subjects
        if not any(other != s and _covers(other, s) for other in subjects)
    )
    return kept if partition is None else partition_filter_subjects(kept, partition)


def consumer_filter(stream: str, part: Config, definitions: Sequence[dict], partition: Partition | None,
                    by_slis: bool) -> list[str] | None:
    """A lane's durable's filter subjects: None (unfiltered) for an instance that reads every
    stream whole, and for a partition's own stream (it holds the partition's share alone, and
    nats-server delivers through an unfiltered durable for less: docs/scaling.md); else its SLIs'
    subjects (``by_slis``: a sidecar), of the hot subject only the partition's share."""
    if partition is not None and stream == own_stream(definitions, partition):
        return None
    return filter_subjects(part, partition) if by_slis or partition is not None else None


def _covers(pattern: str, subject: str) -> bool:
    """Whether ``pattern`` matches all that the pattern ``subject`` matches (``a.*`` does not
    cover ``a.>``)."""
    return subject_pattern_matches(pattern, subject) and (not subject.endswith(">") or ">" in pattern.split("."))


def parse_services(text: str | None) -> list[str]:
    """``--services api-gateway,trading-engine``: the names, in order, without blanks or repeats."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    return list(dict.fromkeys(names))


def sidecar_instance(services: Sequence[str]) -> str:
    """The instance name of a sidecar (its durables ``slo_<instance>_<stream>`` and checkpoint key)
    when none is given: ``sc_<services joined by _>``, or ``sc_<hash>`` when that is too long."""
    joined = "sc_" + "_".join(sorted(services))
    if len(joined) <= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", joined):
        return joined
    return "sc_" + hashlib.sha256(",".join(sorted(services)).encode()).hexdigest()[:12]


def consumer_prefix(instance: str) -> str:
    """The prefix of an instance's durable consumers: ``slo`` for the default, else ``slo_<instance>``."""
    return "slo" if instance == "default" else f"slo_{instance}"
