"""slo backtest --report in a real headless Chromium (the Debian package, which .ci/run installs):
the page renders with no network, its charts drew (the screenshot is not blank and holds the
colours of the baseline's and candidate's alert bands and of the incident), and its score table
holds the numbers worked out by hand in tests/backtestkit.py."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from processor.cli import main
from processor.replay.report import BASELINE_COLOR, CANDIDATE_COLOR, INCIDENT_COLOR
from tests import backtestkit as kit
from tests.htmlrows import table_rows

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs the Debian "
                                                         "package: apt-get install chromium)")


def read_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB(A) PNG as an (h, w, 3) array: enough of PNG for Chromium's screenshots."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    bpp = {2: 3, 6: 4}[ctype]
    assert (8, 0) == (depth, interlace)
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), dtype=np.int32)
    prev = np.zeros(w * bpp, dtype=np.int32)
    for y in range(h):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:
            cur = (line + prev) % 256
        else:
            cur = np.array(_unfilter(kind, line.tolist(), prev.tolist(), bpp), dtype=np.int32)
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3].astype(np.uint8)


def _unfilter(kind: int, c: list[int], p: list[int], bpp: int) -> list[int]:
    for i in range(len(c)):
        a = c[i - bpp] if i >= bpp else 0
        b = p[i]
        d = p[i - bpp] if i >= bpp else 0
        if kind == 3:
            c[i] = (c[i] + (a + b) // 2) & 255
        else:
            pa, pb, pc = abs(b - d), abs(a - d), abs(a + b - 2 * d)
            c[i] = (c[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else d)) & 255
    return c


def _chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1250,1300", *args,
                           page.as_uri()], capture_output=True, timeout=120, check=True)


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int32)


def test_the_report_renders_its_charts_and_the_hand_worked_scores(tmp_path: Path):
    p = kit.write_scenario(tmp_path)
    page = tmp_path / "report.html"
    assert 0 == main(["backtest", "--baseline", str(p["baseline"]), "--candidate", str(p["candidate"]),
                      "--input", str(p["events"]), "--incidents", str(p["incidents"]), "--report", str(page),
                      "--streams-dir", str(p["streams"])])
    text = page.read_text()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in text

    _chromium(tmp_path, page, f"--screenshot={tmp_path / 'shot.png'}")
    img = read_png((tmp_path / "shot.png").read_bytes()).astype(np.int32)
    assert img.std() > 20, "the page looks blank"
    for color in (BASELINE_COLOR, CANDIDATE_COLOR, INCIDENT_COLOR):
        near = (np.abs(img - _rgb(color)).sum(axis=2) < 30).sum()
        assert near > 500, f"{color}: {near} pixels; the alert bands did not draw"

    dom = _chromium(tmp_path, page, "--dump-dom").stdout.decode()
    scores = table_rows(dom, "data-rule", "data-side", table_id="scores")
    # rule, side, alerts, precision, recall, detected, detection, reset, pages/week, page precision
    assert ["(all rules)", "baseline", "2", "50.0%", "100.0%", "1/1", "10s", "10s", "4032.0", "50.0%"] == scores[
        ("(all rules)", "baseline")]
    assert ["(all rules)", "candidate", "1", "100.0%", "100.0%", "1/1", "40s", "10s", "2016.0", "100.0%"] == scores[
        ("(all rules)", "candidate")]
    assert ["SvcSlow[critical]", "candidate", "1", "100.0%", "100.0%", "1/1", "40s", "10s", "2016.0",
            "100.0%"] == scores[("SvcSlow[critical]", "candidate")]
