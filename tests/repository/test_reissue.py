"""Certificates from a commercial CA: the CA/B Forum's maximum validity by date (SC-081), and the "re-issue at your
CA" reminder on the certificate page, on the dashboard and in the first expiry warning (once, never beside it)."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography import x509
from django.test import Client
from django.utils import timezone

from certpanel.notifications import notifications_deliver_pending
from repository.actions import certificate_create_self_signed, certificate_import
from repository.expiry import certificates_warn_expiring
from repository.models import Certificate
from repository.pki.dates import (
    public_ca_max_validity,
    public_ca_next_step,
    public_ca_validity_note,
    reissue_reminder,
)
from tests.repository.acme.builders import stored_certificate
from tests.support.factories import CA, ec_key, key_pem, pem
from tests.support.smtp import SmtpSink


@pytest.mark.parametrize(
    ("today", "days", "step"),
    [
        (date(2025, 6, 1), 398, (date(2026, 3, 15), 200)),
        (date(2026, 3, 14), 398, (date(2026, 3, 15), 200)),
        (date(2026, 3, 15), 200, (date(2027, 3, 15), 100)),
        (date(2027, 3, 14), 200, (date(2027, 3, 15), 100)),
        (date(2027, 3, 15), 100, (date(2029, 3, 15), 47)),
        (date(2029, 3, 14), 100, (date(2029, 3, 15), 47)),
        (date(2029, 3, 15), 47, None),
        (date(2040, 1, 1), 47, None),
    ],
)
def test_the_maximum_validity_follows_sc081_by_date(today: date, days: int, step: tuple[date, int] | None) -> None:
    assert public_ca_max_validity(today) == days
    assert public_ca_next_step(today) == step


def test_the_reminder_names_the_date_to_act_by_and_the_cas_current_maximum() -> None:
    text = reissue_reminder(date(2026, 12, 3), not_after=date(2026, 12, 31))
    assert text == (
        "Ask your CA for its next certificate before 2026-12-31. Public CAs may now issue at most 200 days of "
        "validity (100 days from 2027-03-15): expect to do this again in at most 200 days."
    )
    late = reissue_reminder(date(2029, 4, 1), not_after=date(2029, 3, 30))
    assert late.startswith("It has expired: ask your CA for a new certificate now. ")
    assert late.endswith("at most 47 days of validity: expect to do this again in at most 47 days.")


def _from_a_ca(ca: CA, name: str, *, days_left: int) -> Certificate:
    key = ec_key()
    start = datetime.now(UTC) - timedelta(days=200 - days_left) + timedelta(hours=1)  # whole days left
    leaf = ca.issue(key.public_key(), [name], days=200, not_before=start)
    return certificate_import(certificate_data=pem(leaf, ca.intermediate), key_data=key_pem(key)).certificate


def _section(page: str, section_id: str) -> str:
    marker = f'id="{section_id}"'
    return page.split(marker, 1)[1].split("</section>", 1)[0] if marker in page else ""


@pytest.mark.django_db
def test_the_page_reminds_to_reissue_and_the_new_csr_is_two_clicks_then_the_cas_answer(
    staff_client: Client, viewer_client: Client, ca: CA
) -> None:
    entry = _from_a_ca(ca, "mail.example.com", days_left=20)
    page = html.unescape(staff_client.get(f"/certificates/{entry.pk}/").content.decode())
    reminder = _section(page, "reissue")
    assert "Re-issue at your CA" in reminder
    assert public_ca_validity_note(timezone.now().date())[:-1] in reminder
    new_csr = f"/certificates/{entry.pk}/new-csr/"
    assert f'href="{new_csr}"' in reminder and page.count(f'href="{new_csr}"') == 1
    viewer_page = viewer_client.get(f"/certificates/{entry.pk}/").content.decode()
    assert "Re-issue at your CA" in viewer_page and new_csr not in viewer_page, "read-only: the reminder, no button"

    assert staff_client.get(new_csr).status_code == 200  # click one
    response = staff_client.post(new_csr, {})  # click two
    pending = Certificate.objects.get(renewed_from=entry)
    assert response["Location"] == f"/certificates/{pending.pk}/"
    csr = x509.load_pem_x509_csr(pending.csr_pem.encode())
    answer = pem(ca.sign_csr(csr, days=200), ca.intermediate).decode()  # the CA's answer, uploaded
    done = staff_client.post(f"/certificates/{pending.pk}/", {"form": "complete", "certificate_text": answer})
    assert done.status_code == 302
    assert not Certificate.objects.get(pk=pending.pk).is_pending
    assert "Re-issue at your CA" not in staff_client.get(f"/certificates/{entry.pk}/").content.decode()


@pytest.mark.django_db
def test_only_ca_issued_certificates_in_the_window_get_the_reminder(staff_client: Client, ca: CA) -> None:
    later = _from_a_ca(ca, "later.example.com", days_left=90)
    self_signed = certificate_create_self_signed(hostname="self.example.com", key_type="ec256", days=10)
    acme = stored_certificate("acme.example.com", not_after=timezone.now() + timedelta(days=5))
    for entry in (later, self_signed, acme):
        assert "Re-issue at your CA" not in staff_client.get(f"/certificates/{entry.pk}/").content.decode()
    page = staff_client.get(f"/certificates/{later.pk}/").content.decode()
    assert f'href="/certificates/{later.pk}/new-csr/"' in _section(page, "successor"), "the button stays available"


@pytest.mark.django_db
def test_the_dashboard_lists_what_to_reissue_with_the_new_csr_link(staff_client: Client, ca: CA) -> None:
    due = _from_a_ca(ca, "due.example.com", days_left=12)
    _from_a_ca(ca, "fine.example.com", days_left=120)
    certificate_create_self_signed(hostname="self.example.com", key_type="ec256", days=5)
    reminder = _section(html.unescape(staff_client.get("/").content.decode()), "reissue")
    assert "due.example.com" in reminder and f'href="/certificates/{due.pk}/new-csr/"' in reminder
    assert "fine.example.com" not in reminder and "self.example.com" not in reminder
    assert public_ca_validity_note(timezone.now().date()) in reminder


@pytest.mark.django_db(transaction=True)
def test_the_first_expiry_warning_carries_the_reminder_once_and_never_a_second_email(smtp: SmtpSink, ca: CA) -> None:
    now = timezone.now()
    entry = _from_a_ca(ca, "ca.example.com", days_left=25)
    self_signed = certificate_create_self_signed(hostname="self.example.com", key_type="ec256", days=25)
    assert sorted(certificates_warn_expiring(now=now)) == sorted([entry.pk, self_signed.pk])
    assert certificates_warn_expiring(now=now) == []
    entry.refresh_from_db()
    assert entry.reissue_reminded_at == now and entry.expiry_warned_days == 30
    assert sorted(certificates_warn_expiring(now=now + timedelta(days=12))) == sorted([entry.pk, self_signed.pk])
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"] * 4
    messages = smtp.wait_for(4)
    by_subject = {m["Subject"]: m.get_body(("plain",)).get_content() for m in messages}
    reminded = [subject for subject in by_subject if subject.endswith("re-issue it at your CA")]
    assert reminded == ["[certpanel] ca.example.com expires in 25 days: re-issue it at your CA"], list(by_subject)
    body = by_subject[reminded[0]]
    assert "Re-issue at your CA: Ask your CA for its next certificate before" in body
    assert f"/certificates/{entry.pk}/new-csr/" in body
    assert "[certpanel] ca.example.com expires in 13 days" in by_subject, "later levels: the plain warning"
    assert "Re-issue at your CA" not in by_subject["[certpanel] ca.example.com expires in 13 days"]
    assert not any("re-issue" in subject for subject in by_subject if "self.example.com" in subject)
