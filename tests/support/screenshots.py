"""Screenshots of browser tests: the last page of a journey at each width, for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def save_screenshot(page: Any, name: str) -> Path:
    """`name`-`width`px.png in CERTPANEL_SCREENSHOT_DIR (default <repo>/test-artifacts/screenshots)."""
    folder = Path(os.environ.get("CERTPANEL_SCREENSHOT_DIR") or DEFAULT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = folder / f"{name}-{width}px.png"
    page.screenshot(path=str(path), full_page=True)
    return path
