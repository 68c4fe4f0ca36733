"""Debian's headless Chromium, as the browser tests start it (Playwright never downloads a browser here)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless, as root, and with none of Chromium's own background traffic (updates, sync, field trials, QUIC).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.moto_only("starts the service with its embedded moto"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium); .ci/run installs it",
    ),
]
