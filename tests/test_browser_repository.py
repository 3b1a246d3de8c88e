"""The Repository in a real browser, at a laptop's 1366 px and a phone's 390 px: what needs attention comes first,
a self-signed certificate is renewed, and the public certificates leave as one zip."""

from __future__ import annotations

import zipfile

import pytest

from tests.support.screenshots import save_screenshot
from tests.test_browser import _login, browser, page  # noqa: F401  (the shared fixtures)

pytestmark = pytest.mark.browser

# How many lines a cell's text takes: 1 when it does not wrap.
LINES = (
    "el => { const r = document.createRange(); r.selectNodeContents(el);"
    " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"
)


def test_sort_by_days_left_renew_and_bulk_export(page) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from repository.actions import certificate_create_self_signed

    certificate_create_self_signed(hostname="aa-valid.example.com", key_type="ec256", days=365)
    certificate_create_self_signed(hostname="mm.example.com", key_type="ec256", days=200)
    soon = certificate_create_self_signed(hostname="zz-soon.example.com", key_type="ec256", days=10)
    page.set_viewport_size({"width": 1366, "height": 900})
    _login(page)
    page.goto("/certificates/?sort=name")
    rows = page.locator("table.repo-list tbody tr")
    assert "aa-valid" in rows.first.inner_text()
    page.click("th >> text=Days left")
    page.wait_for_url("**sort=days**")
    assert "zz-soon.example.com" in rows.first.inner_text() and "9 days" in rows.first.inner_text()
    assert page.get_attribute("th[aria-sort]", "aria-sort") == "ascending"
    assert rows.first.locator("td.nowrap").first.evaluate(LINES) == 1, "the expiry date wraps at 1366 px"

    page.check(f"#select-{soon.pk}")
    page.get_by_label("Select mm.example.com").check()
    with page.expect_download() as download:
        page.click("button:has-text('Export public certificates')")
    archive = zipfile.ZipFile(download.value.path())
    assert sorted(archive.namelist()) == [f"mm.example.com-{soon.pk - 1}.crt", f"zz-soon.example.com-{soon.pk}.crt"]

    rows.first.locator("th a").click()
    page.click("text=Renew…")
    page.fill("#id_days", "365")
    page.click("button:has-text('Renew')")
    page.wait_for_url("**/certificates/*/")
    assert "Renewed zz-soon.example.com" in page.inner_text(".messages")
    assert "Renewed from" in page.inner_text("#successor") and "364 days left" in page.inner_text("#days-left")
    save_screenshot(page, "repository-renewed")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/certificates/")
    assert "zz-soon.example.com" in rows.first.inner_text()
    assert rows.first.locator("td.nowrap").first.evaluate(LINES) == 1, "the expiry date wraps at 390 px"
    # The table scrolls inside its wrapper; nothing of the page's content sticks out (the top bar is base.html's).
    assert page.evaluate(
        "(() => { const m = document.querySelector('main'); return m.scrollWidth <= m.clientWidth; })()"
    )
    save_screenshot(page, "repository-list")
    page.set_viewport_size({"width": 1366, "height": 900})
    save_screenshot(page, "repository-list")  # the journey's last page at both widths
