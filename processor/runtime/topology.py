"""Which engine reads which stream.

Each consumed JetStream stream is its own time domain (see engine/core.py) with its own engine,
which evaluates the part of the config whose SLIs read that stream's subjects: the SLIs, their
SLOs and their alert rules. The bus monitor's measurements (``bus.>``) are a lane of their own,
fed by this process, not by a stream. SLIs on the input subjects (``slo.input.>``) measure what each
engine does with its own input, so every lane's part has them, with their alert rules (their
``stream`` label keeps the lanes' series and alerts apart); they open no lane of their own.
"""

from __future__ import annotations

__all__ = ["BUS_LANE", "partition_config", "stream_subjects"]

from collections.abc import Sequence
from typing import Any

from processor.config.model import Config, SliConfig
from processor.config.parse import subject_pattern_matches
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


def partition_config(config: Config, definitions: Sequence[dict]) -> tuple[dict[str, Config], list[str]]:
    """The part of the config each stream's engine evaluates, and the SLIs that no stream holds."""
    parts: dict[str, Config] = {}
    orphans = []
    measuring_input = []
    for sli in config.slis:
        if subject_pattern_matches(INPUT_SUBJECT_PATTERN, sli.subject):
            measuring_input.append(sli)
            continue
        home = _home(sli.subject, definitions)
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
