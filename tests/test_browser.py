"""The admin's path in a real browser (Debian's chromium driven by Playwright): log in, create, find, inspect."""

import os
import shutil
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; Django's ORM then refuses to run
    # from it unless told this is intended (the test's own DB calls run outside Playwright calls).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: `make test` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _login(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "browser-pass-1")
    page.click("button:has-text('Log in')")


@pytest.fixture
def page(browser, live_server, transactional_db):  # type: ignore[no-untyped-def]
    get_user_model().objects.create_user("alice", password="browser-pass-1", is_staff=True, is_superuser=True)
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_admin_logs_in_creates_a_self_signed_certificate_and_finds_it(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/certificates/")
    assert "/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", "browser-pass-1")
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/certificates/")
    page.click("text=Create Self-signed Certificate")
    page.fill("#id_hostname", "bad host")
    page.click("button:has-text('Create Self-Signed Certificate')")
    assert "is not a valid hostname" in page.inner_text(".has-error")
    page.fill("#id_hostname", "mail.example.com")
    page.fill("#id_sans", "imap.example.com")
    page.select_option("#id_key_type", "ec256")
    page.click("button:has-text('Create Self-Signed Certificate')")
    page.wait_for_url("**/certificates/*/")
    assert "Created the self-signed certificate mail.example.com" in page.inner_text(".messages")
    assert "imap.example.com" in page.inner_text("table.fields")
    page.click("text=← Certificates")
    page.fill("input[name=q]", "imap.example")
    page.click("button:has-text('Search')")
    row = page.locator("table.list tbody tr")
    assert row.count() == 1 and "Valid" in row.inner_text()
    with page.expect_download() as download:
        row.locator("a").click()
        page.select_option("#id_export_format", "fullchain")
        page.click("button:has-text('Download')")
    assert download.value.suggested_filename == "mail.example.com-fullchain.pem"


@pytest.mark.integration
def test_new_certificate_shows_live_progress_until_issued(page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.acme_stack import acme_stack

    with acme_stack(tmp_path) as stack:
        stack.account()
        _login(page)
        page.goto("/certificates/")
        page.click("text=Let's Encrypt")
        page.click("text=New Certificate")
        page.fill("#id_hostnames", "*.example.com")
        page.click("button:has-text('Request certificate')")
        assert "HTTP-01 cannot validate wildcards" in page.inner_text(".has-error")
        page.fill("#id_hostnames", "webmail.example.com\nmail.example.com")
        page.click("button:has-text('Request certificate')")
        page.wait_for_url("**/certificates/orders/*/")
        # The page polls and reloads itself when the order is final: no manual refresh.
        page.wait_for_selector("text=Issued:", timeout=60_000)
        steps = page.inner_text("#steps")
        for label in ("Queued", "Order created", "Challenges published", "Validating", "Finalizing", "Issued"):
            assert label in steps
        page.click("#result a")
        assert "webmail.example.com" in page.inner_text("h1")
        assert "Renews at" in page.inner_text("body")


def test_change_select_from_repository_passphrase_save(page) -> None:  # type: ignore[no-untyped-def]
    from repository.actions import certificate_create_self_signed
    from services.models import Listener

    certificate_create_self_signed(hostname="mail.example.com", key_type="ec256", passphrase=b"open sesame")
    Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot")
    _login(page)
    page.click("nav >> text=Services")
    page.click("tr:has-text('IMAPS') >> text=Change")
    page.click("tr:has-text('mail.example.com') >> text=Select")
    assert "Daemons cannot ask for it" in page.inner_text("form.card")
    page.fill("#id_passphrase", "wrong")
    page.click("button:has-text('Save')")
    assert "Wrong passphrase" in page.inner_text(".errors")
    page.fill("#id_passphrase", "open sesame")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/services/*/")
    assert "assigned to IMAPS" in page.inner_text(".messages")
    assert "mail.example.com" in page.inner_text("section.card")
    assert Listener.objects.get(name="IMAPS").certificate is not None


def test_the_services_page_follows_a_deployment_to_its_end_without_a_reload(page, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    from repository.actions import certificate_create_self_signed
    from services.deployments import deployment_run
    from services.models import Deployment, Listener

    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path)
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    listener = Listener.objects.create(name="Files", protocol="imaps", port=1, daemon="files", certificate=entry)
    _login(page)
    page.goto(f"/services/{listener.pk}/")
    page.click("button:has-text('Deploy')")
    assert "Deployment of Files queued" in page.inner_text(".messages")
    assert "Queued…" in page.inner_text("#deployments")
    deployment_run(Deployment.objects.get(listener=listener).pk)  # the worker's part, here
    page.wait_for_selector("#deployments >> text=Rolled back", timeout=20_000)
    assert "the port does not serve the assigned certificate" in page.inner_text("#deployments")
    assert "Deployment of Files queued" in page.inner_text(".messages"), "updated in place, not reloaded"


@pytest.mark.integration
def test_the_settings_page_follows_an_account_registration_and_links_only_http_terms(page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The worker asks Pebble (whose Terms of Service is a data: URL, shown as text); the page updates itself."""
    from repository.models import AcmeAccount
    from tests.support.acme_stack import acme_stack

    with acme_stack(tmp_path) as stack:
        _login(page)

        def register(*, agree: bool) -> None:
            page.goto("/settings/")
            page.select_option("#id_preset", "custom")
            page.fill("#id_directory_url", stack.pebble.directory_url)
            page.fill("#id_ca_bundle", stack.pebble.ca_bundle_path.read_text())
            page.fill("#id_name", "Pebble")
            if agree:
                page.check("#id_agree_tos")
            page.click("button:has-text('Register')")
            assert "queued: a worker asks the CA" in page.inner_text(".messages")

        register(agree=False)
        page.wait_for_selector("#acme-registrations >> text=waiting for your agreement", timeout=30_000)
        assert "data:text/plain" in page.inner_text("#acme-registrations")
        assert page.locator("a[href^='data:'], a[href^='javascript:']").count() == 0
        page.click("#acme-registrations >> button:has-text('I agree and register')")
        assert "queued: a worker asks the CA" in page.inner_text(".messages")
        page.wait_for_selector("#acme-registrations >> text=registered", timeout=30_000)
        assert "Pebble" in page.inner_text("#acme-accounts table.list")
        assert "queued: a worker asks the CA" in page.inner_text(".messages"), "updated in place, not reloaded"
    assert AcmeAccount.objects.get().name == "Pebble"


def test_a_javascript_terms_of_service_does_not_run(page) -> None:  # type: ignore[no-untyped-def]
    from repository.keystore import key_store
    from repository.models import AcmeAccount
    from tests.support.factories import ec_key

    AcmeAccount.objects.create(
        name="evil",
        directory_url="https://ca.example/dir",
        key=key_store(ec_key()),
        terms_of_service="javascript:alert(1)",
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _login(page)
    page.goto("/settings/")
    cell = page.locator("#acme-accounts td:has-text('javascript:alert(1)')")
    assert cell.count() == 1 and cell.locator("a").count() == 0
    cell.click()
    page.wait_for_timeout(300)
    assert dialogs == [] and page.url.endswith("/settings/")


def test_removing_a_per_domain_certificate_asks_first(page) -> None:  # type: ignore[no-untyped-def]
    from repository.actions import certificate_create_self_signed
    from services.models import Listener, SniCertificate

    entry = certificate_create_self_signed(hostname="mail.customer.example", key_type="ec256")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="files")
    SniCertificate.objects.create(listener=listener, server_name="mail.customer.example", certificate=entry)
    answers, asked = [False, True], []  # first "Cancel", then "OK"

    def answer(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", answer)
    _login(page)
    page.goto(f"/services/{listener.pk}/")
    page.click("button:has-text('Remove')")
    page.wait_for_timeout(300)
    assert "Remove the certificate for mail.customer.example from IMAPS?" in asked[0]
    assert SniCertificate.objects.filter(listener=listener).exists(), "Cancel removes nothing"
    page.click("button:has-text('Remove')")
    page.wait_for_selector(".messages")
    assert not SniCertificate.objects.filter(listener=listener).exists()
