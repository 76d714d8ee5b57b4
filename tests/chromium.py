"""Debian's Chromium for the browser tests: where it is, how to launch it headless here."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Without the background-networking flags Chromium keeps trying hosts this closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def chromium_path() -> str | None:
    """DISPATCH_CHROMIUM, /usr/bin/chromium, or chromium on PATH; None when there is none."""
    candidate = os.environ.get("DISPATCH_CHROMIUM", "/usr/bin/chromium")
    return candidate if Path(candidate).is_file() and os.access(candidate, os.X_OK) else shutil.which("chromium")


def launch_browser() -> Iterator[object]:
    """Yield a headless Chromium (Playwright), or skip the test when no binary is installed."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium binary (set DISPATCH_CHROMIUM or apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
