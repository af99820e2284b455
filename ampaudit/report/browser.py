"""Open a report in headless Chromium: what a reader's browser does, checked.

Used by the tests and to make the README's screenshot::

    python -m ampaudit.report.browser report.html -o report.png [--height 2400]

Needs Playwright (the ``dev`` extra) and a Chromium on the machine (Debian's
``chromium`` package; ``.ci/run`` installs it). Playwright's own browser
download is never used: it drives the system browser through ``executable_path``.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PageVisit", "find_chromium", "visit"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """Path of a Chromium: ``$AMPAUDIT_CHROMIUM``, else the first on ``PATH``."""
    explicit = os.environ.get("AMPAUDIT_CHROMIUM")
    if explicit:
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageVisit:
    """What happened while a page loaded.

    Attributes
    ----------
    console : list of (str, str)
        Console messages as (type, text); page errors are type ``"pageerror"``.
    requests : list of str
        URLs the page requested (the page itself first).
    dialogs : list of str
        Messages of alert/confirm/prompt dialogs the page opened.
    cells : list of (str, str, str)
        ``(data-key, data-value, shown text)`` of every number in the comparison table.
    text : str
        The page's visible text.
    robustness : list of (str, str, str)
        The same for every number in the robustness table (``#robustness-table``).
    """

    console: list[tuple[str, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    cells: list[tuple[str, str, str]] = field(default_factory=list)
    text: str = ""
    robustness: list[tuple[str, str, str]] = field(default_factory=list)


def visit(
    path: str | Path,
    *,
    screenshot: str | Path | None = None,
    width: int = 1280,
    height: int | None = None,
    chromium: str | None = None,
) -> PageVisit:
    """Load ``path`` from ``file://`` and record console, requests and dialogs.

    Parameters
    ----------
    path : str or Path
        The HTML file.
    screenshot : str or Path, optional
        Write a PNG of the full page (or of its top ``height`` pixels) here.
    width : int, default=1280
        Viewport width in CSS pixels.
    height : int, optional
        Clip the screenshot to this height.
    chromium : str, optional
        Browser executable; default :func:`find_chromium`.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium or find_chromium()
    if executable is None:
        raise FileNotFoundError("no Chromium found: install Debian's chromium package")
    out = PageVisit()
    url = Path(path).resolve().as_uri()
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: out.console.append((m.type, m.text)))
            page.on("pageerror", lambda e: out.console.append(("pageerror", str(e))))
            page.on("request", lambda r: out.requests.append(r.url))
            page.on("dialog", lambda d: _dismiss(d, out.dialogs))
            page.goto(url, wait_until="load")
            if screenshot is not None:
                clip: Any = None
                if height is not None:
                    clip = {"x": 0, "y": 0, "width": width, "height": height}
                page.screenshot(path=str(screenshot), full_page=True, clip=clip)
            out.cells = [
                tuple(c)
                for c in page.eval_on_selector_all(
                    "#comparison-table [data-key]",
                    "els => els.map(e => [e.dataset.key, e.dataset.value, e.textContent])",
                )
            ]
            out.robustness = [
                tuple(c)
                for c in page.eval_on_selector_all(
                    "#robustness-table [data-key]",
                    "els => els.map(e => [e.dataset.key, e.dataset.value, e.textContent])",
                )
            ]
            out.text = page.inner_text("body")
        finally:
            browser.close()
    return out


def _dismiss(dialog: Any, seen: list[str]) -> None:
    seen.append(dialog.message)
    dialog.dismiss()


def main(argv: list[str] | None = None) -> int:
    """Screenshot a report (the README's picture)."""
    parser = argparse.ArgumentParser(prog="python -m ampaudit.report.browser")
    parser.add_argument("report")
    parser.add_argument("-o", "--output", required=True, help="PNG file")
    parser.add_argument("--height", type=int, help="clip to the top HEIGHT pixels")
    ns = parser.parse_args(argv)
    seen = visit(ns.report, screenshot=ns.output, height=ns.height)
    problems = [m for m in seen.console if m[0] in ("error", "pageerror")]
    print(f"{ns.output}: {len(seen.requests)} request(s), {len(problems)} console error(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
