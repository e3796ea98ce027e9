"""Raw JetStream API requests, for the places where nats-py's typed wrappers get in the way.

The stream definitions in ``streams/`` are already JetStream API JSON (durations in nanoseconds);
sending them as they are avoids a round trip through nats-py's dataclasses, which convert
durations to float seconds and drop fields they do not know.
"""

from __future__ import annotations

import json
from typing import Any

import nats.errors
from nats.aio.client import Client

from processor.bus.denials import guarded
from processor.errors import BusError

API_PREFIX = "$JS.API"
DEFAULT_TIMEOUT_S = 5.0

# JetStream API err_code values (nats-server's server/errors.json).
ERR_STREAM_NOT_FOUND = 10059
ERR_CONSUMER_NOT_FOUND = 10014
ERR_REPLICAS_NOT_SUPPORTED = 10074  # "replicas > 1 not supported in non-clustered mode"
ERR_INSUFFICIENT_RESOURCES = 10023
ERR_NO_SUITABLE_PEERS = 10005  # "no suitable peers for placement"


class JsApiError(BusError):
    """The JetStream API answered with an error object."""

    def __init__(self, what: str, subject: str, code: int, err_code: int, description: str):
        self.subject = subject
        self.code = code
        self.err_code = err_code
        self.description = description
        super().__init__(f"{what}: {description} (code={code}, err_code={err_code})")


async def request(
    nc: Client,
    subject: str,
    payload: dict[str, Any] | None = None,
    *,
    what: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """One JetStream API request; ``what`` says what we were doing, for the error message."""
    data = json.dumps(payload).encode() if payload is not None else b""
    try:
        # A refused request or reply subscription never gets an answer: the refusal says why.
        reply = await guarded(nc, nc.request(subject, data, timeout=timeout_s), subject)
    except nats.errors.NoRespondersError as exc:
        raise BusError(f"{what}: JetStream is not enabled on this server or account") from exc
    except nats.errors.TimeoutError as exc:
        raise BusError(f"{what}: JetStream did not answer within {timeout_s:g} s") from exc
    except nats.errors.Error as exc:
        raise BusError(f"{what}: {exc}") from exc
    try:
        body: dict[str, Any] = json.loads(reply.data)
    except ValueError as exc:
        raise BusError(f"{what}: JetStream answered with invalid JSON") from exc
    err = body.get("error")
    if err:
        raise JsApiError(
            what,
            subject,
            int(err.get("code", 0)),
            int(err.get("err_code", 0)),
            str(err.get("description", "unknown error")),
        )
    return body
