"""`slo validate --services` and `--partitions`: what a sidecar (`slo run --services`) or each
partition (`slo run --partition I/N --partition-by SUBJECT`) would evaluate and consume."""

from __future__ import annotations

__all__ = ["describe_partition", "describe_partitions"]

import json
from pathlib import Path

from processor.bus.streams import load_stream_definitions
from processor.config.model import Config
from processor.errors import ProcessorError
from processor.runtime.partitions import (MAX_PARTITIONS, Partition, PartitionKey, Rest, hot_slis, own_stream,
                                          parse_partition_by, partition_instance, rest_part, split_config,
                                          transform_holder)
from processor.runtime.topology import (BUS_LANE, consumer_filter, consumer_prefix, parse_services, partition_config,
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
    definitions = load_stream_definitions(Path(streams_dir))
    lines = [f"sidecar {', '.join(services)}: instance {name} (checkpoint key {name}), "
             f"{len(part.slis)} SLIs, {len(part.slos)} SLOs, {len(part.alerts)} alert rules"]
    return "\n".join(lines + _lanes(part, definitions, name, None))


def _lanes(part: Config, definitions: list[dict], name: str, partition: Partition | None) -> list[str]:
    parts, orphans = partition_config(part, definitions, partition)
    lines = []
    for stream in sorted(parts):
        lane = parts[stream]
        if stream == BUS_LANE:
            lines.append(f"  {stream}: measured by this process (bus monitor), no consumer")
        else:
            subjects = consumer_filter(stream, lane, definitions, partition, by_slis=True)
            lines.append(f"  {stream}: durable {durable_name(consumer_prefix(name), stream)}, "
                         + ("unfiltered (the partition's own stream)" if subjects is None
                            else f"filter_subjects {' '.join(subjects)}"))
        lines.append(_names("SLIs", [s.name for s in lane.slis]))
        lines.append(_names("SLOs", [s.name for s in lane.slos]))
        lines.append(_names("alert rules", [a.name for a in lane.alerts]))
    if orphans:
        lines.append(_names("SLIs no stream holds (not evaluated)", orphans))
    return lines


def describe_partitions(config: Config, services_text: str | None, count: int | None, key_text: str | None,
                        streams_dir: str | Path, instance: str = "default", rest_apart: bool = False,
                        run_options: str = "") -> str:
    """Whether the config (``--services``' part of it) splits into ``count`` partitions of the hot
    subject ``key_text``; if it does, the stream's transform and each partition's consumers and
    SLIs (``rest_apart``: and the ``--partition rest`` instance's), each with the `slo run` that
    runs it (``run_options``: what else it needs, ``--config PATH``). Raises ProcessorError naming
    every SLI that cannot be split, and why."""
    if count is None or key_text is None:
        raise ProcessorError("--partitions N and --partition-by SUBJECT go together, e.g. --partitions 2 "
                             "--partition-by 'market.quote.{symbol}'")
    if not 2 <= count <= MAX_PARTITIONS:
        raise ProcessorError(f"--partitions {count}: from 2 to {MAX_PARTITIONS}")
    key = parse_partition_by(key_text)
    services = parse_services(services_text)
    part = services_config(config, services) if services else config
    base = instance if instance != "default" or not services else sidecar_instance(services)
    definitions = load_stream_definitions(Path(streams_dir))
    hot = hot_slis(part, key)
    lines = [f"partitions: {count} of {key} ({', '.join(services) if services else 'every service'}): "
             f"{len(hot)} SLIs split by {key.label}: {', '.join(s.name for s in hot) or '-'}",
             *_transform_lines(key, count, definitions)]
    for index in range(count):
        partition = Partition(key, index, count, rest_apart)
        shard = split_config(part, partition)
        name = partition_instance(base, partition)
        lines.append(f"partition {index}: `slo run{run_options} --partition {index}/{count} --partition-by '{key}'"
                     f"{' --rest-apart' if rest_apart else ''}{' --services ' + ','.join(services) if services else ''}`"
                     f": instance {name} (checkpoint key {name}), {len(shard.slis)} SLIs, {len(shard.slos)} SLOs, "
                     f"{len(shard.alerts)} alert rules")
        lines += _lanes(shard, definitions, name, partition)
    if rest_apart:
        rest = Rest(key)
        shard, name = rest_part(part, key), partition_instance(base, rest)
        lines.append(f"the rest: `slo run{run_options} --partition rest --partition-by '{key}'"
                     f"{' --services ' + ','.join(services) if services else ''}`: instance {name} (checkpoint key "
                     f"{name}), {len(shard.slis)} SLIs, {len(shard.slos)} SLOs, {len(shard.alerts)} alert rules")
        lines += _lanes(shard, definitions, name, None)
    capped = [s.name for s in hot if s.max_series]
    if capped:
        lines.append(f"note: max_series caps each partition's series of {', '.join(capped)} on its own: past it, "
                     f"outputs differ from an unpartitioned run")
    return "\n".join(lines)


def _transform_lines(key: PartitionKey, count: int, definitions: list[dict]) -> list[str]:
    """Which stream holds the hot subject, and the subject_transform it must have; or, when each
    partition has a stream of its own, the account mapping the server must have."""
    transform = key.transform(count)
    own = [own_stream(definitions, Partition(key, i, count)) for i in range(count)]
    if all(own):
        return [f"streams {', '.join(str(o) for o in own)}: one per partition, each read whole; the server's "
                f"account mapping must append the partition token as the subject is published: "
                f"{json.dumps({'mappings': key.mapping(count)})} (docs/scaling.md)"]
    stream = transform_holder(definitions, key)
    have = stream.get("subject_transform") == transform
    text = json.dumps({"subject_transform": transform})
    return [f"stream {stream['name']}: {'has' if have else 'needs'} {text}"
            + ("" if have else " (add it to its definition in the streams directory; docs/scaling.md)")]
