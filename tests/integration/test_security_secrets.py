"""No password, token, NKey seed, JWT or private key ever appears in a log line.

The book of tests/securitykit.py holds every secret the security tests made and every line their
processes wrote (stdout and stderr of each `slo run`, the captured output of the in-process
restart test). This module comes last of them (by name), adds the runs most likely to leak, where
secrets travel inside the URL and where they are refused, and greps the lot.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from processor.bus.embedded import EmbeddedServer
from tests.securitykit import BOOK, ROOT, SMALL_CONFIG, LogBook, password, slo_run

pytestmark = pytest.mark.integration


def test_the_grep_finds_a_secret_whole_or_cut():
    book = LogBook()
    jwt_like = book.secret("eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJpYXQiOjE3MDAwMDAwMDB9.c2ln")
    book.secret("pw-short")
    book.add_log("clean", '{"event": "nats.connected", "server": "nats://slo:***@127.0.0.1:4222"}')
    assert [] == book.leaks()
    book.add_log("whole", '{"event": "x", "url": "nats://slo:pw-short@host"}')
    book.add_log("cut", f'{{"event": "x", "error": "bad jwt ...{jwt_like[20:50]}..."}}')
    assert ["whole #1:1", "cut #2:1"] == [leak.split(": holds")[0] for leak in book.leaks()]


async def test_no_secret_appears_in_any_log_line_of_the_security_tests(tmp_path):
    user_password, token = password(), password()
    (tmp_path / "users.conf").write_text(f'authorization {{ users = [ {{ user: slo, password: "{user_password}" }} ] }}\n')
    (tmp_path / "token.conf").write_text(f'authorization {{ token: "{token}" }}\n')
    async with (
        EmbeddedServer(tmp_path / "users", extra_args=["-c", str(tmp_path / "users.conf")]) as users,
        EmbeddedServer(tmp_path / "token", extra_args=["-c", str(tmp_path / "token.conf")]) as tokens,
    ):
        users_host, token_host = users.url.removeprefix("nats://"), tokens.url.removeprefix("nats://")
        # Credentials inside the URL, where a log of "where we connect" would carry them.
        run = slo_run("secrets-url-userinfo", tmp_path, f"nats://slo:{user_password}@{users_host}", {}, config=SMALL_CONFIG)
        await asyncio.to_thread(run.wait_for_event, "processor.ready")
        assert 0 == await asyncio.to_thread(run.stop)
        # Refused: the error line names the server it could not reach.
        for label, url in (("secrets-url-wrong-password", f"nats://slo:{password()}@{users_host}"),
                           ("secrets-url-wrong-token", f"nats://{password()}@{token_host}")):
            run = slo_run(label, tmp_path, url, {}, config=SMALL_CONFIG)
            assert 1 == await asyncio.to_thread(run.wait, 20.0)
            assert "***@" in run.text()
        # The simulator reads the same variables.
        simulate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "processor.cli", "simulate", "--nats-url", users.url, "--duration", "20s",
             "--fast", "--streams-dir", str(ROOT / "streams")],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "SLO_NATS_USER": "slo", "SLO_NATS_PASSWORD": user_password},
        )
        BOOK.add_log("secrets-simulate", simulate.stdout + simulate.stderr)
        assert 0 == simulate.returncode, simulate.stderr

    assert sum(1 for label in BOOK.logs if label.startswith("secrets-")) == 4
    assert [] == BOOK.leaks()
    # What the grep looked at, when the whole suite ran: every security test's processes.
    print(f"{len(BOOK.secrets)} secrets, {len(BOOK.logs)} logs, "
          f"{sum(len(t.splitlines()) for t in BOOK.logs.values())} lines")
