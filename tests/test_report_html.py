"""`report --html`: one self-contained page, checked as text and in a real headless Chromium.

The screenshot test needs Debian's `chromium` (`apt-get install -y chromium`); without it the
test is skipped and says why. Chromium runs with networking features off and a throw-away
profile; the page itself names no URL, so nothing can be fetched.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.synth import generate
from tests.test_e2e import agent, agent_env, no_traceback

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page(isolated_home: Path, tmp_path: Path) -> Path:
    generate(isolated_home, 300_000, seed=3)
    out = tmp_path / "report.html"
    p = agent(["report", "--html", str(out), "--timezone", "UTC", "--by", "day"], agent_env())
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert f"wrote {out}" in p.stderr and p.stdout == ""
    return out


def test_page_is_self_contained(page: Path) -> None:
    html = page.read_text()
    assert (page.stat().st_mode & 0o777) == 0o600
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    for section in ("Daily cost", "Model share", "Agent share", "Top repositories",
                    "Top sessions", "Tool latency"):  # fmt: skip
        assert section in html, section
    assert html.count("<svg") >= 4 and "prefers-color-scheme: dark" in html
    # nothing to fetch: no URL, no script, no external stylesheet or image
    assert not re.search(r"(?i)(https?:|//[a-z0-9]|<script|<link|<img|@import|url\()", html)


def test_names_are_escaped() -> None:
    from agent_cli.report import build
    from agent_cli.report_html import VIEWS, render_html
    from agent_cli.report_query import Event, Query

    tokens = (1, 1, 0, 0, 0, 0)
    bad = "<script>x</script>"
    e = Event(0, 1772445600000, "claude-code", "s", None, False, "<b>m</b>", tokens, 0.1,
              False, 10, None, bad, "b&", None, None, None, None, 1, None)  # fmt: skip
    q = Query(by=("repo",))
    views = {n: build([e], Query(by=by)) for n, by in VIEWS.items()}
    html = render_html(build([e], q), views)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;m" in html


def _png_size_and_colours(data: bytes) -> tuple[int, int, int, int]:
    """Width, height, the number of distinct pixel rows of an 8-bit RGB(A) PNG, and the
    brightness (r + g + b) of its top-left pixel (the page background)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, _, colour = struct.unpack(">IIBB", data[16:26])
    chunks, i = b"", 8
    while i < len(data):
        n = struct.unpack(">I", data[i : i + 4])[0]
        if data[i + 4 : i + 8] == b"IDAT":
            chunks += data[i + 8 : i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(chunks)  # filtered rows; the first pixel is always as drawn
    stride = 1 + w * (4 if colour == 6 else 3)
    rows = {raw[r * stride + 1 : (r + 1) * stride] for r in range(h)}
    return w, h, len(rows), sum(raw[1:4])


def _screenshot(page: Path, tmp_path: Path, name: str, *extra: str) -> bytes:
    assert CHROMIUM is not None
    shot = tmp_path / f"{name}.png"
    profile = tmp_path / f"profile-{name}"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    p = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", f"--user-data-dir={profile}", "--window-size=1200,1800",
         "--hide-scrollbars", *extra, f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert p.returncode == 0 and shot.exists(), p.stderr[-2000:]
    keep = os.environ.get("AGENT_CLI_KEEP_SCREENSHOT")  # a folder to look at them in
    if keep:
        shutil.copyfile(shot, Path(keep) / shot.name)
    return shot.read_bytes()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_page_renders_in_headless_chromium_light_and_dark(page: Path, tmp_path: Path) -> None:
    light = _png_size_and_colours(_screenshot(page, tmp_path, "light"))
    dark = _png_size_and_colours(_screenshot(page, tmp_path, "dark", "--force-dark-mode"))
    for w, h, distinct, _ in (light, dark):
        assert (w, h) == (1200, 1800)
        assert distinct > 100  # text, cards and charts drawn, not a blank page
    assert light[3] > 600 and dark[3] < 150  # white page by day, dark one in dark mode
