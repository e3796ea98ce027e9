"""Which engine reads which topic: a topic's part of the config, and the name of a partition's lane.

On NATS each stream is a time domain with its own engine (runtime/topology.py). On Kafka the ordered
unit is the topic-partition, so each assigned partition gets an engine of its own (its lane), which
evaluates the part of the config whose SLIs can read the topic's subjects (the subject space of its
mapping: ``<prefix>.>``, or the prefix alone), with their SLOs and alert rules, and the SLIs on the
input subjects (every lane measures its own input, labelled with the lane's name). SLIs on ``bus.>``
measure a NATS server: no Kafka topic feeds them.
"""

from __future__ import annotations

__all__ = ["lane_name", "patterns_overlap", "topic_part", "topic_space"]

from processor.config.model import Config, KafkaTopicConfig
from processor.config.parse import subject_pattern_matches
from processor.vocabulary import BUS_SUBJECT_PATTERN, INPUT_SUBJECT_PATTERN


def lane_name(topic: str, partition: int) -> str:
    """``trade-0``: the name of a partition's lane, its engine's ``stream`` label and a subject
    token (``slo.clock.<lane>``), so dots in the topic become underscores."""
    return f"{topic.replace('.', '_')}-{partition}"


def topic_space(topic: KafkaTopicConfig) -> str:
    """The subjects a topic's records can get, as a pattern."""
    return topic.prefix if topic.subject_from == "topic" else topic.prefix + ".>"


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some subject matches both NATS patterns (``*`` one token, ``>`` one or more)."""
    ta, tb = a.split("."), b.split(".")
    for x, y in zip(ta, tb, strict=False):
        if x == ">" or y == ">":
            return True
        if x != y and "*" not in (x, y):
            return False
    return len(ta) == len(tb)


def topic_part(config: Config, topic: KafkaTopicConfig) -> Config | None:
    """The part of ``config`` a partition of ``topic`` evaluates; None when no SLI reads it."""
    space = topic_space(topic)
    reading = [s for s in config.slis
               if not subject_pattern_matches(INPUT_SUBJECT_PATTERN, s.subject)
               and not patterns_overlap(BUS_SUBJECT_PATTERN, s.subject) and patterns_overlap(s.subject, space)]
    if not reading:
        return None
    measuring = [s for s in config.slis if subject_pattern_matches(INPUT_SUBJECT_PATTERN, s.subject)]
    names = {s.name for s in reading + measuring}
    return config.model_copy(update={
        "slis": tuple(s for s in config.slis if s.name in names),
        "slos": tuple(s for s in config.slos if s.sli in names),
        "alerts": tuple(a for a in config.alerts if a.sli in names),
    })
