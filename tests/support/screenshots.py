"""Screenshots of the last page of a browser journey, one per viewport width, for the admin-facing review."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def save_screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """``<CERTPANEL_SCREENSHOT_DIR or <repo>/test-artifacts/screenshots>/<name>-<width>px.png``, full page."""
    folder = Path(os.environ.get("CERTPANEL_SCREENSHOT_DIR") or ROOT / "test-artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = folder / f"{name}-{width}px.png"
    page.screenshot(path=str(path), full_page=True)
    return path
