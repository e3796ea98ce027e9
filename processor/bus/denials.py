"""Permission violations on a connection, turned from a silent stall into one clear error.

nats-server does not refuse a publish or a subscription in answer to it: it drops it and sends an
``-ERR 'Permissions Violation for Publish to "<subject>"'`` line, which nats-py hands to the
connection's error callback. The operation itself just never completes: a JetStream API request
times out, a pull request never delivers, a PubAck never comes. Nothing that retrying can fix (the
server's permissions do not change under a running client), and nothing that names the cause.

So ``connect()`` records every violation here, per connection, and the bus edge waits through
:func:`guarded` (or checks :meth:`Denials.check` between batches): once the server has refused
anything on a connection, every such wait raises the *first* refusal as a
:class:`~processor.errors.PermissionDeniedError`, naming what was lacking. The processor stops on
it, whichever of its parts noticed first, with that one message.
"""

from __future__ import annotations

__all__ = ["Denials", "denials", "guarded"]

import asyncio
import re
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar

from processor.errors import PermissionDeniedError

T = TypeVar("T")

# nats-server's wording (server/client.go: pubPermissionViolation, subPermissionViolation).
_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "?([^"\s]+)"?', re.IGNORECASE)
_VERBS = {"publish": "publish", "subscription": "subscribe"}
_SPELLINGS_MAX = 4096
_HINT = "the NATS user lacks this permission (docs/security.md lists what the processor needs)"


class Denials:
    """What the server refused on one connection; the first refusal is the one reported."""

    def __init__(self, nc: Any = None) -> None:
        self.first: PermissionDeniedError | None = None
        self.count = 0
        self._refused = asyncio.Event()
        self._client = weakref.ref(nc) if nc is not None else lambda: None
        # lower case -> as we spell it, of the subjects we publish to (see _spelled()).
        self._spelling: dict[str, str] = {}

    def expect(self, subject: str) -> None:
        """Remember how a subject we publish to is spelled, so that a refusal can name it as it is.

        nats-py lower-cases the server's error text, and subjects are case-sensitive: a refusal
        naming ``$js.api.stream.info.ai`` would send an operator to grant the wrong subject. A
        subject ending in ``.`` stands for every subject it begins (ack subjects).
        """
        if len(self._spelling) >= _SPELLINGS_MAX:
            self._spelling.clear()  # only error messages depend on it; a bound keeps it small
        self._spelling[subject.lower()] = subject

    def note(self, exc: BaseException) -> bool:
        """Record ``exc`` if it is a permission violation; True if it was one."""
        text = str(exc)
        match = _VIOLATION.search(text)
        if match is None and "permissions violation" not in text.lower():
            return False
        self.count += 1
        if self.first is None:
            if match is not None:
                verb = _VERBS[match.group(1).lower()]
                what = f"{verb} to {self._spelled(verb, match.group(2))}"
            else:
                what = text.removeprefix("nats: ").strip()
            self.first = PermissionDeniedError(f"permission denied: {what}: {_HINT}")
            self._refused.set()
        return True

    def _spelled(self, verb: str, lowered: str) -> str:
        if verb == "subscribe":
            client = self._client()
            known = [sub.subject for sub in (getattr(client, "_subs", None) or {}).values()]
        else:
            known = list(self._spelling.values())
        for subject in sorted(known, key=len, reverse=True):
            key = subject.lower()
            if lowered == key or (key.endswith(".") and lowered.startswith(key)):
                return subject + lowered[len(key) :]
        return f"{lowered} (in lower case: the client does not keep the case of the server's message)"

    def check(self) -> None:
        """Raise the first refusal, if there was one."""
        if self.first is not None:
            raise self.first

    async def wait(self) -> PermissionDeniedError:
        """Return the first refusal once there is one."""
        await self._refused.wait()
        assert self.first is not None
        return self.first


# One record per client, for as long as the client lives. Keyed by the client so that every part
# of the bus edge finds it from the ``nc`` it already has; a client not made by connect() (tests,
# tools) gets an empty record that nothing fills, and its waits behave as before.
_BY_CLIENT: weakref.WeakKeyDictionary[Any, Denials] = weakref.WeakKeyDictionary()


def denials(nc: Any) -> Denials:
    """The record of refusals of connection ``nc``."""
    record = _BY_CLIENT.get(nc)
    if record is None:
        record = _BY_CLIENT[nc] = Denials(nc)
    return record


async def guarded(nc: Any, operation: Awaitable[T], *subjects: str) -> T:
    """Await ``operation`` (which publishes to ``subjects``), unless the server refuses something
    on ``nc`` first: then cancel it and raise that refusal (it is why it would never finish)."""
    record = denials(nc)
    for subject in subjects:
        record.expect(subject)
    task = asyncio.ensure_future(operation)
    if record.first is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise record.first
    refused = asyncio.ensure_future(record.wait())
    try:
        await asyncio.wait({task, refused}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        refused.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if (task.cancelled() or task.exception() is not None) and record.first is not None:
        raise record.first  # the operation's own timeout or cancellation is a consequence
    return task.result()
