"""Screenshots of browser tests, for a person to look at: one file a page and width."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def save_screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    folder = Path(os.environ.get("CERTPANEL_SCREENSHOT_DIR") or ROOT / "test-artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = folder / f"{name}-{width}px.png"
    page.screenshot(path=str(path), full_page=True)
    return path
