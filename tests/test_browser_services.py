"""The services journey in a real browser (Debian's chromium): a new certificate replaces the old one on five
listeners in one step, and the progress page follows every deployment and verification to its end without a
reload; then the grouped services list at phone width."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest

from repository.actions import certificate_create_self_signed
from services.deploy import listener_files
from services.deployments import deployment_run
from services.models import Deployment, Listener
from services.tasks import verify_listeners_task
from tests.support.file_tls_port import FileTlsPort
from tests.support.screenshots import save_screenshot
from tests.test_browser import _login, browser, page  # noqa: F401 - the Chromium fixtures

pytestmark = pytest.mark.browser


def test_replace_on_all_moves_five_listeners_in_one_step_and_follows_them_live(
    page: Any,  # noqa: F811 - the fixture imported above
    tmp_path: Any,
    settings: Any,
) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path)
    settings.CERTPANEL_DEPLOY_ROOTS = [str(tmp_path)]
    old = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    new = certificate_create_self_signed(hostname="mail.example.com", sans=["imap.example.com"], key_type="ec256")
    with ExitStack() as ports:
        listeners = []
        for index in range(5):
            listener = Listener.objects.create(
                name=f"Mail {index}",
                protocol="imaps",
                port=1,
                daemon="files",
                server_name="mail.example.com",
                certificate=old,
            )
            files = listener_files(listener).paths
            port = ports.enter_context(FileTlsPort(files["fullchain"], files["key"]))
            Listener.objects.filter(pk=listener.pk).update(port=port.port)
            listeners.append(listener)

        _login(page)
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(f"/services/replace/?from={old.pk}")
        assert page.locator("#targets input[name=targets]:checked").count() == 5
        page.check(f"#new-{new.pk}")
        page.click("button:has-text('Replace on the ticked services')")
        page.wait_for_url("**/services/replace/progress/**")
        assert "5 deployment(s) queued" in page.inner_text(".messages")
        assert page.inner_text("#progress-table").count("Queued…") == 5
        assert Listener.objects.filter(certificate=new).count() == 5

        for deployment in Deployment.objects.filter(trigger="replaced").order_by("pk"):  # the worker's part, here
            deployment_run(deployment.pk)
            verify_listeners_task.apply(args=[[deployment.listener_id]]).get()
        page.wait_for_selector("#progress >> text=All ended.", timeout=20_000)
        table = page.inner_text("#progress-table")
        assert table.count("Succeeded") == 5 and table.count("serves the assigned certificate") == 5, table
        assert [line.strip() for line in table.splitlines()].count("ok") == 5, table
        assert "5 deployment(s) queued" in page.inner_text(".messages"), "updated in place, not reloaded"
        save_screenshot(page, "services-replace-progress")

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/services/")
        group = page.locator("table[data-group=Mail]")
        assert group.locator("tbody tr").count() == 5
        assert group.inner_text().count("implicit TLS") == 5 and "problem" not in group.inner_text()
        # The table scrolls inside its own box; the page around it keeps the phone's width (the header's nav is
        # base.html's, outside this journey).
        box = page.locator("#services-live .table-scroll").first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390, box
        save_screenshot(page, "services-list")
        page.set_viewport_size({"width": 1366, "height": 900})
        save_screenshot(page, "services-list")  # the journey's last page at both widths
