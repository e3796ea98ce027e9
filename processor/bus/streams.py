"""Stream definitions as data (``streams/*.json``) and their idempotent provisioning.

Each file is one JetStream API ``StreamConfig`` (what ``nats stream add --config FILE`` reads and
``nats stream info --json`` prints under ``config``): durations in nanoseconds, ``-1`` for
"unlimited"; a key that is not one of its fields is an error (nats-server would ignore it, and
make the stream without the limit it meant). Provisioning creates what is missing, updates what
may be updated in place, and never deletes a stream or its messages.
"""

from __future__ import annotations

__all__ = [
    "ProvisionResult",
    "cluster_size",
    "config_drift",
    "load_stream_definitions",
    "provision_streams",
]

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog
from nats.aio.client import Client
from nats.js.api import StreamConfig

from processor.bus import _jsapi
from processor.bus.backoff import Backoff, retry
from processor.config.problems import closest
from processor.errors import BusError, ConfigError, ConfigProblem

Action = Literal["created", "updated", "unchanged"]

# Creating a replicated stream in a cluster that is still forming: retry placement for 10 s.
_PLACEMENT_BACKOFF = Backoff(first_s=0.1, max_s=1.0, deadline_s=10.0)
_PLACEMENT_ERRORS = frozenset({_jsapi.ERR_NO_SUITABLE_PEERS, _jsapi.ERR_INSUFFICIENT_RESOURCES})

# Fields nats-server refuses to change on an existing stream ("stream configuration update can
# not change ..."). A difference here is reported and left alone: the only way to apply it would be
# to delete the stream, and provisioning never deletes data.
_IMMUTABLE_FIELDS = frozenset(
    {"name", "storage", "retention", "max_consumers", "mirror", "template_owner", "first_seq"}
)


@dataclass(frozen=True)
class ProvisionResult:
    name: str
    action: Action
    replicas: int


def load_stream_definitions(directory: Path) -> list[dict[str, Any]]:
    """Read every ``*.json`` in ``directory``, sorted by file name; report every bad file at once."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(
            [ConfigProblem(str(directory), None, "", "stream definition directory not found")]
        )
    problems: list[ConfigProblem] = []
    definitions: list[dict[str, Any]] = []
    seen_names: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        file = str(path)
        try:
            text = path.read_text(encoding="utf-8")
            definition = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(ConfigProblem(file, exc.lineno, "", f"invalid JSON: {exc.msg}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(ConfigProblem(file, None, "", f"cannot read: {exc}"))
            continue
        file_problems = _check_definition(file, definition) or _unknown_fields(file, text, definition)
        if file_problems:
            problems.extend(file_problems)
            continue
        name = definition["name"]
        if name in seen_names:
            problems.append(
                ConfigProblem(file, None, "name", f"stream {name!r} is also defined in {seen_names[name]}")
            )
            continue
        seen_names[name] = file
        definitions.append(definition)
    if not definitions and not problems:
        problems.append(ConfigProblem(str(directory), None, "", "no *.json stream definitions found"))
    if problems:
        raise ConfigError(problems)
    return definitions


# The fields of a JetStream stream configuration, as nats-py models them: nats-server ignores a key
# outside them, so a misspelt one (``max_agee``) would make the stream without its limit.
_STREAM_FIELDS = sorted(field.name for field in dataclasses.fields(StreamConfig))


def _unknown_fields(file: str, text: str, definition: dict[str, Any]) -> list[ConfigProblem]:
    problems = []
    for key in definition:
        if key not in _STREAM_FIELDS:
            near = closest(key, _STREAM_FIELDS)
            hint = f"did you mean {near!r}?" if near else "see the JetStream StreamConfig"
            key_re = re.compile(rf'"{re.escape(key)}"\s*:')  # the key, not a value spelt alike
            line = next((n for n, row in enumerate(text.splitlines(), 1) if key_re.search(row)), None)
            problems.append(ConfigProblem(file, line, key, f"not a field of a stream's configuration, which the "
                                                           f"server would ignore; {hint}"))
    return problems


def _check_definition(file: str, definition: object) -> list[ConfigProblem]:
    if not isinstance(definition, dict):
        return [ConfigProblem(file, None, "", "a stream definition must be a JSON object")]
    problems = []
    name = definition.get("name")
    if not isinstance(name, str) or not name or any(c in name for c in " .*>\t\r\n/\\"):
        problems.append(
            ConfigProblem(file, None, "name", "must be a non-empty stream name without . * > or spaces")
        )
    subjects = definition.get("subjects")
    if not isinstance(subjects, list) or not subjects or not all(
        isinstance(s, str) and s for s in subjects
    ):
        problems.append(ConfigProblem(file, None, "subjects", "must be a non-empty list of subjects"))
    for key in ("max_age", "duplicate_window"):
        value = definition.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            problems.append(ConfigProblem(file, None, key, "must be a whole number of nanoseconds"))
    replicas = definition.get("num_replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or not 1 <= replicas <= 5:
        problems.append(ConfigProblem(file, None, "num_replicas", "must be 1 to 5"))
    return problems


def cluster_size(nc: Client) -> int | None:
    """How many servers can hold a replica; None when the server does not tell us.

    Method: the INFO a server sends on connect has a ``cluster`` field only when the server has
    routes configured. Without it, JetStream runs in standalone mode, which refuses
    ``num_replicas > 1`` outright (err_code 10074), so the size is 1. In a cluster, the same INFO
    lists in ``connect_urls`` the client URL of every server of the cluster, itself included
    (gossiped over the routes); its length is the cluster size. The list is empty when the servers
    run with ``no_advertise``: then we cannot tell, and keep the definition's replicas. nats-py
    keeps only the first INFO (``_server_info``, not public) and does not update it from the
    asynchronous INFOs a forming cluster sends later; those add to ``discovered_servers``, which
    is public, so both are counted. A non-system account has no JetStream API call that reports
    the meta-group size, so INFO is the best a plain client can do. Verified against a local
    3-node cluster (connect_urls listed all 3; SLO was created with 3 replicas).
    """
    info: dict[str, Any] = getattr(nc, "_server_info", None) or {}
    if not info:
        return None
    if not info.get("cluster"):
        return 1
    urls = {u for u in info.get("connect_urls") or [] if u}
    urls |= {f"{u.hostname}:{u.port}" for u in nc.discovered_servers if u.hostname}
    return len(urls) or None


async def provision_streams(
    nc: Client, definitions: list[dict[str, Any]], log: Any
) -> list[ProvisionResult]:
    """Create or update every stream; idempotent, never deletes. ``log`` is a structlog logger."""
    size = cluster_size(nc)
    results = []
    for definition in definitions:
        wanted = int(definition.get("num_replicas", 1))
        replicas = min(wanted, size) if size is not None else wanted
        result = await _provision_one(nc, definition, replicas, log)
        if result.replicas < wanted:
            log.info(
                "stream.replicas_lowered",
                stream=result.name,
                wanted=wanted,
                cluster_size=size if size is not None else result.replicas,
            )
        results.append(result)
    return results


async def _provision_one(
    nc: Client, definition: dict[str, Any], replicas: int, log: Any
) -> ProvisionResult:
    name = definition["name"]
    desired = dict(definition, num_replicas=replicas)
    try:
        info = await _jsapi.request(
            nc, f"{_jsapi.API_PREFIX}.STREAM.INFO.{name}", what=f"stream {name}: info"
        )
    except _jsapi.JsApiError as exc:
        if exc.err_code != _jsapi.ERR_STREAM_NOT_FOUND:
            raise
        return await _create(nc, desired, log)

    current: dict[str, Any] = info.get("config", {})
    wanted = int(definition.get("num_replicas", 1))
    if replicas < wanted:
        # The cluster size is read from gossip and can come up short (a route still forming);
        # never scale an existing stream down because of it, only up to what is wanted.
        replicas = max(replicas, min(int(current.get("num_replicas", 1)), wanted))
        desired["num_replicas"] = replicas
    differing = sorted(k for k, v in desired.items() if not _same(current.get(k), v))
    if not differing:
        return ProvisionResult(name, "unchanged", int(current.get("num_replicas", replicas)))

    frozen = [k for k in differing if k in _IMMUTABLE_FIELDS]
    if frozen:
        log.warning(
            "stream.definition_not_applicable",
            stream=name,
            fields=frozen,
            reason="these fields cannot change on an existing stream; it is left as it is",
        )
    updatable = [k for k in differing if k not in _IMMUTABLE_FIELDS]
    if not updatable:
        return ProvisionResult(name, "unchanged", int(current.get("num_replicas", replicas)))

    # Send the server's own config with our changes on top, so that fields the definition does
    # not mention keep their current values instead of reverting to defaults.
    update = dict(current)
    update.update({k: desired[k] for k in updatable})
    body = await _jsapi.request(
        nc, f"{_jsapi.API_PREFIX}.STREAM.UPDATE.{name}", update, what=f"stream {name}: update"
    )
    log.info("stream.updated", stream=name, fields=updatable)
    return ProvisionResult(name, "updated", int(body["config"].get("num_replicas", replicas)))


async def _create(nc: Client, desired: dict[str, Any], log: Any) -> ProvisionResult:
    name = desired["name"]
    subject = f"{_jsapi.API_PREFIX}.STREAM.CREATE.{name}"

    async def create() -> dict[str, Any]:
        nonlocal desired
        try:
            return await _jsapi.request(nc, subject, desired, what=f"stream {name}: create")
        except _jsapi.JsApiError as exc:
            if exc.err_code != _jsapi.ERR_REPLICAS_NOT_SUPPORTED or int(desired.get("num_replicas", 1)) <= 1:
                raise
        # INFO said clustered (or said nothing) but JetStream itself is standalone.
        desired = dict(desired, num_replicas=1)
        return await _jsapi.request(nc, subject, desired, what=f"stream {name}: create")

    def placement_pending(exc: Exception) -> bool:
        # A cluster that has just formed elects its meta leader before every peer has reported
        # its JetStream resources, so placement fails for a moment (seen in tests within a
        # second of the start). A cluster that is really too small keeps failing past the
        # deadline, and the error says what to change.
        return isinstance(exc, _jsapi.JsApiError) and exc.err_code in _PLACEMENT_ERRORS

    def waiting(exc: Exception, delay_s: float) -> None:
        log.info("stream.waiting_for_peers", stream=name, replicas=desired.get("num_replicas"))

    try:
        body = await retry(create, backoff=_PLACEMENT_BACKOFF, retry_if=placement_pending, on_retry=waiting)
    except _jsapi.JsApiError as exc:
        if not placement_pending(exc):
            raise
        raise BusError(
            f"stream {name}: the cluster cannot place {desired.get('num_replicas', 1)} "
            f"replicas ({exc.description}); lower num_replicas in its definition"
        ) from exc
    replicas = int(body["config"].get("num_replicas", 1))
    log.info("stream.created", stream=name, subjects=desired["subjects"], replicas=replicas)
    return ProvisionResult(name, "created", replicas)


# What a definition says that is not a setting of the stream's behaviour: a different description
# is no drift.
_NOT_SETTINGS = frozenset({"name", "description"})


def config_drift(definition: dict[str, Any], live: dict[str, Any], cluster_size: int | None) -> list[str]:
    """The fields of ``definition`` (a streams/*.json) that the stream's live config (STREAM.INFO
    ``config``) does not match, sorted; pure.

    Replicas are judged as provisioning sets them, not as the file says: on ``cluster_size``
    servers the definition's ``num_replicas`` becomes ``min(wanted, cluster_size)``, and an
    existing stream is never scaled down, so anything from that up to what the file wants matches
    (None: the size is unknown, and only the file's number does).
    """
    differing = [
        key
        for key, wanted in definition.items()
        if key not in _NOT_SETTINGS and key != "num_replicas" and not _same(live.get(key), wanted)
    ]
    wanted_replicas = int(definition.get("num_replicas", 1))
    fewest = wanted_replicas if cluster_size is None else min(wanted_replicas, cluster_size)
    if not fewest <= int(live.get("num_replicas", 1)) <= wanted_replicas:
        differing.append("num_replicas")
    return sorted(differing)


def _same(current: Any, desired: Any) -> bool:
    if isinstance(desired, list) and isinstance(current, list):
        return sorted(map(str, desired)) == sorted(map(str, current))
    if isinstance(desired, dict) and isinstance(current, dict):
        # The server adds its own keys (e.g. "_nats.ver" in metadata); only ours must match.
        return all(_same(current.get(k), v) for k, v in desired.items())
    if current is None:
        # The server omits fields at their zero value (false, 0, empty).
        return desired in (False, 0, "", [], {})
    return bool(current == desired)
