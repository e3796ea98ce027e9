"""`slo validate --services`: what a sidecar (`slo run --services`) would evaluate and consume."""

from __future__ import annotations

__all__ = ["describe_partition"]

from pathlib import Path

from processor.bus.streams import load_stream_definitions
from processor.config.model import Config
from processor.runtime.topology import (BUS_LANE, consumer_prefix, filter_subjects, parse_services, partition_config,
                                        services_config, sidecar_instance)
from processor.vocabulary import durable_name


def _names(title: str, names: list[str]) -> str:
    return f"    {title} ({len(names)}): {', '.join(names) if names else '-'}"


def describe_partition(config: Config, services_text: str, streams_dir: str | Path, instance: str = "default") -> str:
    """Per stream: the durable, its filter subjects, the SLIs, SLOs and alert rules of the partition.
    Raises ProcessorError for a service that no SLI names."""
    services = parse_services(services_text)
    part = services_config(config, services)
    name = sidecar_instance(services) if instance == "default" else instance
    parts, orphans = partition_config(part, load_stream_definitions(Path(streams_dir)))
    lines = [f"sidecar {', '.join(services)}: instance {name} (checkpoint key {name}), "
             f"{len(part.slis)} SLIs, {len(part.slos)} SLOs, {len(part.alerts)} alert rules"]
    for stream in sorted(parts):
        lane = parts[stream]
        if stream == BUS_LANE:
            lines.append(f"  {stream}: measured by this process (bus monitor), no consumer")
        else:
            lines.append(f"  {stream}: durable {durable_name(consumer_prefix(name), stream)}, "
                         f"filter_subjects {' '.join(filter_subjects(lane))}")
        lines.append(_names("SLIs", [s.name for s in lane.slis]))
        lines.append(_names("SLOs", [s.name for s in lane.slos]))
        lines.append(_names("alert rules", [a.name for a in lane.alerts]))
    if orphans:
        lines.append(_names("SLIs no stream holds (not evaluated)", orphans))
    return "\n".join(lines)
