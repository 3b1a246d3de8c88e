"""Screenshots of the last page a browser test saw, at each width it checked (for a human to look at)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def save_screenshot(page: Any, name: str) -> Path:
    folder = Path(os.environ.get("CERTPANEL_SCREENSHOT_DIR") or REPO / "test-artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = folder / f"{name}-{width}px.png"
    page.screenshot(path=str(path), full_page=True)
    return path
