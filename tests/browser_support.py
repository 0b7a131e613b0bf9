"""A real browser for the tests: Debian's Chromium, driven by Playwright.

Playwright's own browser download is not used (it is blocked on the machines
this project runs on, and a system browser is what users have). The browser is
Debian's `chromium` package, launched through `executable_path`.

When no Chromium is on the machine and the tests run as root on a Debian-like
system, it is installed once with apt-get (the project's own files install
what the tests need; a fresh machine has only Python and pip). Anywhere else a
browser test is skipped, and says why.

    with chromium_page() as page:
        page.goto(url)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["chromium_path", "chromium_page"]

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# Flags for a sandboxed, offline machine: as root Chromium needs --no-sandbox, and
# background networking would try (and fail) to reach the outside world.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
INSTALL_TIMEOUT = 900

_install_tried = False


def _find() -> str | None:
    for path in CANDIDATES:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


def _install() -> None:
    """apt-get install chromium, once per run, only as root where apt-get exists."""
    global _install_tried
    if _install_tried or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    _install_tried = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            subprocess.run(cmd, env=env, capture_output=True, timeout=INSTALL_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return


def chromium_path() -> str:
    """The path of a system Chromium, installing Debian's if possible; else skip the test."""
    path = _find()
    if path is None:
        _install()
        path = _find()
    if path is None:
        pytest.skip("no Chromium on this machine (Debian's `chromium` package is needed, "
                    "and it could not be installed here)")
    return path


@contextmanager
def chromium_page(width: int = 1200, height: int = 900) -> Iterator:
    """A Playwright page in headless Chromium; closed with everything it opened."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright (the dev extra) is not installed")
    executable = chromium_path()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
