"""Partitions of one hot subject (`slo run --partition I/N --partition-by SUBJECT`): pure functions.

The operator gives the stream that holds the hot subject a JetStream subject transform
(``subject_transform``, see ``stream_transform``) that appends a partition token to every message
of it as it is stored: ``market.quote.AAPL`` is stored as ``market.quote.AAPL.1``, the token being
nats-server's ``{{partition(N, i)}}`` of the key token (an FNV-1a hash of it, modulo N). Partition
I's instance filters its consumer to ``market.quote.*.I``: it is delivered only its partition's
messages, and evaluates the SLIs that read them (the *hot* SLIs). Every other SLI of its part of
the config (``--services`` or all) is evaluated by partition 0 alone, so that the N instances
together evaluate each SLI once; or, with ``--rest-apart``, by an instance of its own
(``--partition rest``, ``Rest``), so that every partition's durable reads the hot subject alone.

A hot SLI can be split only if none of its outputs depends on two partitions' events: every
series must hold the key label (or the SLI's subject must fix the key token), no error budget may
count its series together (an SLO's budget covers the whole SLI), and a correlation may not pair
events across partitions. ``partition_problems`` says, per SLI, why not; docs/scaling.md.
"""

from __future__ import annotations

__all__ = ["PartitionKey", "Partition", "REST", "Rest", "parse_partition", "rest_part", "share_config", "share_from_args", "parse_partition_by", "partition_part",
           "partition_filter_subjects", "partition_problems", "partition_instance", "partition_from_args", "split_config",
           "hot_slis", "intersect", "own_stream", "transform_holder", "transform_missing"]

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from processor.config.model import Config, SliConfig
from processor.config.parse import subject_pattern_matches
from processor.errors import ProcessorError
from processor.vocabulary import BUS_SUBJECT_PATTERN, INPUT_SUBJECT_PATTERN

_KEY_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LITERAL_TOKEN = re.compile(r"[^\s.*>{}]+")
CORRELATION_KIND = "correlation"
MAX_PARTITIONS = 1024  # nats-server takes more; a consumer per partition and instance is the cost
REST = "rest"  # `--partition rest`: the SLIs that do not read the hot subject (Rest)


@dataclass(frozen=True)
class PartitionKey:
    """The hot subject as publishers send it, with its key token named by the payload label that
    carries the same value: ``market.quote.{symbol}``."""

    published: str  # the subject pattern, the key token as *: market.quote.*
    label: str  # symbol
    key_index: int  # the key token's position (0-based) among the subject's tokens
    wildcard: int  # the key token's number among the wildcard tokens (1-based), for partition(N, i)

    @property
    def stored(self) -> str:
        """What the stream stores after the transform: ``market.quote.*.*``."""
        return f"{self.published}.*"

    @property
    def family(self) -> str:
        """Every subject a hot SLI may read: the published subject up to the key token, then ``>``."""
        return ".".join([*self.published.split(".")[: self.key_index], ">"])

    def filter(self, index: int) -> str:
        """Partition ``index``'s messages: ``market.quote.*.0``."""
        return f"{self.published}.{index}"

    def transform(self, count: int) -> dict[str, str]:
        """The stream's ``subject_transform`` for ``count`` partitions."""
        tokens, n = [], 0
        for token in self.published.split("."):
            if token == "*":
                n += 1
                token = f"{{{{wildcard({n})}}}}"
            tokens.append(token)
        return {"src": self.published, "dest": ".".join([*tokens, f"{{{{partition({count},{self.wildcard})}}}}"])}

    def mapping(self, count: int) -> dict[str, str]:
        """The account ``mappings`` entry of nats-server's config that appends the partition token
        as the subject is published (the layout of one stream per partition)."""
        transform = self.transform(count)
        return {transform["src"]: transform["dest"]}

    def __str__(self) -> str:
        tokens = self.published.split(".")
        tokens[self.key_index] = f"{{{self.label}}}"
        return ".".join(tokens)


@dataclass(frozen=True)
class Partition:
    """Partition ``index`` of ``count`` of ``key``: what one `slo run --partition` instance takes."""

    key: PartitionKey
    index: int
    count: int
    # --rest-apart: partition 0 too evaluates the hot SLIs alone; the rest is a `--partition rest`
    # instance's (Rest).
    rest_apart: bool = False

    @property
    def tag(self) -> str:
        """``p<I>of<N>``: ends its durables' and checkpoint key's names, and names it in its time
        moves on ``slo.clock.<stream>.<tag>`` (runtime/render.clock_message)."""
        return f"p{self.index}of{self.count}"

    def label(self, stream: str) -> str:
        """The ``stream`` label of this instance's input SLIs: each partition measures its own input."""
        return f"{stream}/{self.index}"


@dataclass(frozen=True)
class Rest:
    """`slo run --partition rest --partition-by SUBJECT`: every SLI of the part but the hot ones,
    in an instance of its own (durables and checkpoint key ``rest``), its consumers filtered to
    those SLIs' subjects as a sidecar's are; the partitions then run with ``--rest-apart``."""

    key: PartitionKey
    tag: str = REST


def parse_partition_by(text: str) -> PartitionKey:
    """``market.quote.{symbol}``: literal tokens, ``*`` for other tokens, exactly one ``{label}``."""
    tokens = text.split(".")
    keys = [i for i, t in enumerate(tokens) if _KEY_TOKEN.fullmatch(t)]
    bad = [t for t in tokens if not (t == "*" or _KEY_TOKEN.fullmatch(t) or _LITERAL_TOKEN.fullmatch(t))]
    if len(keys) != 1 or bad:
        raise ValueError(f"{text!r}: write the hot subject as published with its key token named by the payload "
                         f"label that carries it, e.g. market.quote.{{symbol}} (literal tokens, * for others, one "
                         f"{{label}}, no >)")
    at = keys[0]
    label = _KEY_TOKEN.fullmatch(tokens[at]).group(1)  # type: ignore[union-attr]
    published = ".".join("*" if i == at else t for i, t in enumerate(tokens))
    return PartitionKey(published, label, at, tokens[: at + 1].count("*") + 1)


def parse_partition(text: str) -> tuple[int, int]:
    """``I/N``: partition I (0-based) of N."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match:
        raise ValueError(f"{text!r}: write I/N, this instance's partition and their number, e.g. 0/2")
    index, count = int(match.group(1)), int(match.group(2))
    if not 2 <= count <= MAX_PARTITIONS or index >= count:
        raise ValueError(f"{text!r}: N from 2 to {MAX_PARTITIONS}, I from 0 to N-1")
    return index, count


def intersect(a: str, b: str) -> str | None:
    """The subject pattern matching what both patterns match, None when nothing does."""
    at, bt = a.split("."), b.split(".")
    out: list[str] = []
    for i in range(max(len(at), len(bt))):
        x, y = (at[i] if i < len(at) else None), (bt[i] if i < len(bt) else None)
        if x == ">" or y == ">":
            rest = bt[i:] if x == ">" else at[i:]
            return ".".join(out + rest) if rest else None
        if x is None or y is None:
            return None
        if x != "*" and y != "*" and x != y:
            return None
        out.append(y if x == "*" else x)
    return ".".join(out)


def _consumed(sli: SliConfig) -> bool:
    return not (subject_pattern_matches(INPUT_SUBJECT_PATTERN, sli.subject)
                or subject_pattern_matches(BUS_SUBJECT_PATTERN, sli.subject))


def hot_slis(config: Config, key: PartitionKey) -> list[SliConfig]:
    """The SLIs that read what the stream stores of the hot subject."""
    return [s for s in config.slis if _consumed(s) and intersect(s.subject, key.stored) is not None]


def partition_problems(config: Config, key: PartitionKey) -> list[str]:
    """Why ``config`` cannot be split by ``key``: one line per SLI and reason; empty when it can."""
    problems = []
    for sli in config.slis:
        if _consumed(sli) and intersect(sli.subject, key.published) and not intersect(sli.subject, key.stored):
            problems.append(f"SLI {sli.name}: reads {sli.subject}, but the stream stores the partitioned subject as "
                            f"{key.stored} (a partition token appended): it would see nothing; write "
                            f"{key.family}")
    for sli in hot_slis(config, key):
        problems += [f"SLI {sli.name}: {why}" for why in _split_problems(config, sli, key)]
    return problems


def _split_problems(config: Config, sli: SliConfig, key: PartitionKey) -> list[str]:
    if not subject_pattern_matches(key.family, sli.subject):
        return [f"reads {sli.subject}, which holds other subjects besides the partitioned {key.published}: its "
                f"events cannot be split by {key.label}; evaluate it unpartitioned (leave its service out of the "
                f"partitioned instances with --services), or narrow its subject to {key.family}"]
    out = []
    fixed = intersect(sli.subject, key.stored)
    if fixed is not None and fixed.split(".")[key.key_index] == "*" and key.label not in sli.labels:
        labels = ", ".join(sli.labels) or "none"
        out.append(f"has no label {key.label} (labels: {labels}): its series would gather events of every "
                   f"partition; add {key.label} to its labels")
    if sli.kind == CORRELATION_KIND:
        out.append("a correlation pairs a start and an end event, which can fall in different partitions")
    for slo in config.slos:
        if slo.sli == sli.name:
            out.append(f"SLO {slo.name} counts every series of the SLI in one error budget, which would be split "
                       f"across partitions; evaluate it unpartitioned (another instance, --services)")
    return out


def partition_part(config: Config, partition: Partition) -> Config:
    """The instance's part: the hot SLIs in every partition; the others (but those on the input
    subjects, which every instance keeps) in partition 0 alone."""
    hot = {s.name for s in hot_slis(config, partition.key)}
    rest = partition.index == 0 and not partition.rest_apart
    kept = tuple(s for s in config.slis if s.name in hot or rest or _input(s))
    names = {s.name for s in kept}
    return config.model_copy(update={
        "slis": kept,
        "slos": tuple(s for s in config.slos if s.sli in names),
        "alerts": tuple(a for a in config.alerts if a.sli in names),
    })


def rest_part(config: Config, key: PartitionKey) -> Config:
    """A ``Rest`` instance's part: every SLI but the hot ones (those on the input subjects too)."""
    hot = {s.name for s in hot_slis(config, key)}
    kept = tuple(s for s in config.slis if s.name not in hot)
    names = {s.name for s in kept}
    return config.model_copy(update={
        "slis": kept,
        "slos": tuple(s for s in config.slos if s.sli in names),
        "alerts": tuple(a for a in config.alerts if a.sli in names),
    })


def _input(sli: SliConfig) -> bool:
    return subject_pattern_matches(INPUT_SUBJECT_PATTERN, sli.subject)


def partition_filter_subjects(subjects: Sequence[str], partition: Partition) -> list[str]:
    """A lane's filter subjects (``topology.filter_subjects``) narrowed to the partition: a subject
    of the hot subject's family becomes its part in partition ``index`` (``market.quote.>`` ->
    ``market.quote.*.0``)."""
    out = []
    for subject in subjects:
        narrowed = intersect(subject, partition.key.filter(partition.index))
        out.append(narrowed if narrowed is not None else subject)
    return sorted(set(out))


def own_stream(definitions: Sequence[dict], partition: Partition) -> str | None:
    """The stream that holds ``partition``'s share of the hot subject and nothing else, when the
    operator gave each partition a stream of its own (``MARKET_P0``: ``market.quote.*.0``, the
    published subject rewritten by an account ``mappings`` entry; docs/scaling.md): the partition
    reads it whole, through an unfiltered durable. None: the share is in a shared stream."""
    share = partition.key.filter(partition.index)
    for definition in definitions:
        subjects = list(definition.get("subjects", []))
        if subjects and all(subject_pattern_matches(share, s) for s in subjects) \
                and any(subject_pattern_matches(s, share) for s in subjects):
            return str(definition["name"])
    return None


def transform_holder(definitions: Sequence[dict], key: PartitionKey) -> dict:
    """The definition of the stream that holds the hot subject (the first, as the consumers take
    it): the one the partition transform goes on. ProcessorError when none does."""
    for definition in definitions:
        if any(subject_pattern_matches(s, key.published) for s in definition.get("subjects", [])):
            return definition
    raise ProcessorError(f"--partition-by {key}: no stream in the stream definitions holds {key.published}")


def transform_missing(definitions: Sequence[dict], partition: Partition) -> str | None:
    """Why ``partition``'s instance would never be delivered its share, or None: the stream that
    holds the hot subject lacks the ``subject_transform`` for ``partition.count`` partitions (its
    messages are then stored without the token its filter asks for). None too when each
    partition has a stream of its own (an account mapping's job, which only the server knows)."""
    if all(own_stream(definitions, Partition(partition.key, i, partition.count)) for i in range(partition.count)):
        return None
    holder = transform_holder(definitions, partition.key)
    transform = partition.key.transform(partition.count)
    if holder.get("subject_transform") == transform:
        return None
    return (f"stream {holder['name']} stores {partition.key.published} without the partition token that "
            f"partition {partition.index}'s filter {partition.key.filter(partition.index)} asks for: none of them "
            f"would reach it. Add {json.dumps({'subject_transform': transform})} to its definition in the streams "
            f"directory (`slo validate --partitions {partition.count} --partition-by '{partition.key}'` prints it; "
            f"docs/scaling.md)")


def partition_instance(base: str, partition: Partition | Rest) -> str:
    """The instance name (durables, checkpoint key) of a partition: ``p<I>of<N>`` (``rest``), after
    the ``--services`` or ``--instance`` name when there is one."""
    return partition.tag if base == "default" else f"{base}_{partition.tag}"


def partition_from_args(index_text: str | None, by_text: str | None) -> Partition | None:
    """``--partition I/N`` and ``--partition-by SUBJECT``: both or neither."""
    if index_text is None and by_text is None:
        return None
    if index_text is None or by_text is None:
        raise ProcessorError("--partition and --partition-by go together: --partition I/N --partition-by "
                             "market.quote.{symbol}")
    try:
        index, count = parse_partition(index_text)
        return Partition(parse_partition_by(by_text), index, count)
    except ValueError as exc:
        raise ProcessorError(str(exc)) from exc


def share_from_args(index_text: str | None, by_text: str | None, rest_apart: bool = False) -> Partition | Rest | None:
    """``--partition I/N`` (or ``rest``), ``--partition-by SUBJECT`` and ``--rest-apart``."""
    if index_text is not None and index_text.strip() == REST:
        if by_text is None:
            raise ProcessorError("--partition rest needs --partition-by, the hot subject whose SLIs it leaves out")
        try:
            return Rest(parse_partition_by(by_text))
        except ValueError as exc:
            raise ProcessorError(str(exc)) from exc
    partition = partition_from_args(index_text, by_text)
    if partition is None:
        if rest_apart:
            raise ProcessorError("--rest-apart goes with --partition I/N --partition-by SUBJECT")
        return None
    return Partition(partition.key, partition.index, partition.count, rest_apart)


def share_config(config: Config, share: Partition | Rest | None) -> Config:
    """What an instance of ``share`` evaluates: a partition's part (``split_config``), the rest's
    (``rest_part``), or all of ``config``."""
    if share is None:
        return config
    return rest_part(config, share.key) if isinstance(share, Rest) else split_config(config, share)


def split_config(config: Config, partition: Partition) -> Config:
    """The part of ``config`` that ``partition``'s instance evaluates; ProcessorError naming every
    SLI that cannot be split, and why."""
    problems = partition_problems(config, partition.key)
    if problems:
        raise ProcessorError(f"--partition-by {partition.key}: the config cannot be partitioned:\n  "
                             + "\n  ".join(problems))
    return partition_part(config, partition)
