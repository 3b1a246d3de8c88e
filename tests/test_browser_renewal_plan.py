"""A certificate's renewal plan on its page, in a real browser at a laptop's 1366 px and a phone's 390 px: the
window, who decided it (the CA's ARI window or the lifetime rule, with why ARI did not answer) and the next ARI check.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from repository.actions import certificate_create_self_signed
from repository.keystore import key_store
from repository.models import AcmeAccount, Certificate
from tests.support.factories import ec_key
from tests.support.screenshots import save_screenshot
from tests.test_browser import _login, browser, page  # noqa: F401  (the shared fixtures)

pytestmark = pytest.mark.browser

FITS = "(() => { const m = document.querySelector('main'); return m.scrollWidth <= m.clientWidth; })()"


def _acme(hostname: str, **fields: object) -> Certificate:
    """A certificate stored as if an ACME CA had issued it (the page reads rows; no CA is asked)."""
    entry = certificate_create_self_signed(hostname=hostname, key_type="ec256", days=45)
    account, _ = AcmeAccount.objects.get_or_create(
        name="Let's Encrypt", defaults={"directory_url": "https://ca.invalid/dir", "key": key_store(ec_key())}
    )
    Certificate.objects.filter(pk=entry.pk).update(source="acme", auto_renew=True, acme_account=account, **fields)
    return Certificate.objects.get(pk=entry.pk)


def test_the_renewal_plan_names_its_source_window_and_next_check_at_both_widths(page) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    now = timezone.now().replace(second=0, microsecond=0)
    ari = _acme(
        "mail.example.com",
        renewal_source="ari",
        ari_window_start=now + timedelta(days=29),
        ari_window_end=now + timedelta(days=31),
        renew_at=now + timedelta(days=30),
        renewal_rule="ARI window from the CA",
        ari_next_check=now + timedelta(hours=6),
    )
    fallback = _acme(
        "mx.example.com",
        renewal_source="lifetime",
        renew_at=now + timedelta(days=30),
        renewal_rule="lifetime: renew with 1/3 of 45 days left",
        ari_next_check=now + timedelta(hours=12),
        ari_error="The CA rejected a request as malformed: the CA's renewal information is not JSON",
    )
    page.set_viewport_size({"width": 1366, "height": 900})
    _login(page)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/certificates/{ari.pk}/")
        plan = page.inner_text("#renewal-plan")
        assert "CA's ARI window" in plan, plan
        assert f"{ari.ari_window_start:%Y-%m-%d %H:%M} – {ari.ari_window_end:%Y-%m-%d %H:%M} UTC" in plan  # noqa: RUF001
        assert f"Next ARI check\n{ari.ari_next_check:%Y-%m-%d %H:%M} UTC" in plan.replace("\t", "\n")
        assert page.evaluate(FITS), f"the ARI plan sticks out at {width} px"
        save_screenshot(page, "renewal-plan-ari")

        page.goto(f"/certificates/{fallback.pk}/")
        plan = page.inner_text("#renewal-plan")
        assert "lifetime rule" in plan and "renew with 1/3 of 45 days left" in plan
        assert "renewal information is not JSON" in plan and "The lifetime rule decides until the CA answers" in plan
        assert page.evaluate(FITS), f"the lifetime plan sticks out at {width} px"
        # Prose wraps at spaces: no word of the reason is broken across lines.
        words = page.locator("#next-ari-check .muted").evaluate("el => getComputedStyle(el.parentElement).wordBreak")
        assert words == "normal"
        save_screenshot(page, "renewal-plan-lifetime")
