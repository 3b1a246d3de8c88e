"""The Repository list as an admin uses it: sorted by what needs attention, told apart, exported and pruned in bulk."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pytest
from cryptography import x509
from django.db import DatabaseError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from repository.actions import certificate_create_self_signed, certificate_import, certificates_delete_unused
from repository.models import Certificate, PrivateKey
from services.models import Listener, SniCertificate
from tests.support.factories import CA, ec_key, key_pem, pem

pytestmark = pytest.mark.django_db


def _entry(name: str, days: float | None, **fields: object) -> Certificate:
    """A stored row (no PEM parsing on the list page, so none is needed); ``days`` None is a pending CSR."""
    now = timezone.now()
    pending = days is None
    values: dict[str, object] = {
        "name": name,
        "source": "imported",
        "common_name": name,
        "sans": [name],
        "issuer": "Example CA",
        "fingerprint_sha256": "" if pending else f"{abs(hash((name, days))):064x}"[:64],
        "certificate_pem": "" if pending else "stored",
        "not_before": None if pending else now - timedelta(days=30),
        "not_after": None if pending else now + timedelta(days=days, hours=1),  # type: ignore[arg-type]
        "search_text": name,
    }
    return Certificate.objects.create(**{**values, **fields})


def _names(page: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/certificates/\d+/">([^<]+)</a>', page)


@pytest.fixture
def four() -> None:
    _entry("aaa.example.com", 80)
    _entry("mmm.example.com", 10)
    _entry("zzz.example.com", -3)
    _entry("ccc.example.com", None, source="csr")


@pytest.mark.usefixtures("four")
@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("", ["zzz", "mmm", "aaa", "ccc"]),  # default: days left, the expired and expiring on top, CSRs last
        ("?sort=days&dir=desc", ["aaa", "mmm", "zzz", "ccc"]),
        ("?sort=expiry&dir=asc", ["zzz", "mmm", "aaa", "ccc"]),
        ("?sort=name&dir=asc", ["aaa", "ccc", "mmm", "zzz"]),
        ("?sort=name&dir=desc", ["zzz", "mmm", "ccc", "aaa"]),
        ("?sort=status&dir=asc", ["zzz", "mmm", "aaa", "ccc"]),
        ("?sort=source&dir=asc", ["ccc", "aaa", "mmm", "zzz"]),
        ("?sort=nonsense", ["zzz", "mmm", "aaa", "ccc"]),
    ],
)
def test_list_sorts_by_each_column(staff_client: Client, query: str, order: list[str]) -> None:
    page = staff_client.get(f"/certificates/{query}").content.decode()
    assert [name.split(".")[0] for name in _names(page)] == order


@pytest.mark.usefixtures("four")
def test_active_header_has_aria_sort_and_flips_direction_and_days_left_reads_as_days(staff_client: Client) -> None:
    page = staff_client.get("/certificates/?q=example&sort=days&dir=asc").content.decode()
    assert re.search(r'<th scope="col" aria-sort="ascending"><a href="\?q=example&amp;sort=days&amp;dir=desc">', page)
    assert page.count("aria-sort=") == 1
    assert '<a href="?q=example&amp;sort=name&amp;dir=asc">Name</a>' in page
    assert ">10 days<" in page and ">80 days<" in page and "expired 3 days ago" in page
    assert 'class="nowrap">' in page  # expiry dates never wrap
    assert "All <strong>4</strong>" in page and "Expiring soon <strong>1</strong>" in page
    assert "Expired <strong>1</strong>" in page and "Pending CSR <strong>1</strong>" in page


def test_search_and_pages_keep_the_sort(staff_client: Client) -> None:
    for n in range(60):
        _entry(f"host{n:02d}.example.com", 100 - n)
    first = staff_client.get("/certificates/?sort=days&dir=asc").content.decode()
    assert _names(first)[0] == "host59.example.com"
    assert 'href="?sort=days&amp;dir=asc&amp;page=2"' in first
    second = staff_client.get("/certificates/?sort=days&dir=asc&page=2").content.decode()
    assert _names(second) == [f"host{n:02d}.example.com" for n in range(9, -1, -1)]
    found = staff_client.get("/certificates/?q=host0&sort=name&dir=desc").content.decode()
    assert _names(found)[0] == "host09.example.com" and 'name="sort" value="name"' in found


def test_self_signed_issuer_and_same_named_entries_are_told_apart(staff_client: Client, ca: CA) -> None:
    first = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    second = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["www.example.com"])
    certificate_import(certificate_data=pem(leaf, ca.intermediate), key_data=key_pem(key))
    page = staff_client.get("/certificates/?sort=name").content.decode()
    rows = {row.split("</th>")[0]: row for row in page.split('<th scope="row">')[1:]}
    assert sum("mail.example.com" in head for head in rows) == 2
    for entry in (first, second):
        assert f"#{entry.pk} · " in page and entry.fingerprint_sha256[:8] in page
    assert page.count(">self-signed</td>") == 2
    assert "<td>Test Intermediate CA</td>" in next(row for head, row in rows.items() if "www.example.com" in head)


def _page_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/certificates/").status_code == 200
    return len(queries)


def _used(count: int) -> None:
    for n in range(count):
        entry = _entry(f"bench{n:03d}.example.com", n - 5)
        listener = Listener.objects.create(name=f"listener-{n}", protocol="imaps", port=2000 + n, certificate=entry)
        SniCertificate.objects.create(listener=listener, server_name=f"sni{n}.example.com", certificate=entry)


def test_list_query_count_is_the_same_for_10_and_50_certificates(
    staff_client: Client, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    _used(10)
    _page_queries(staff_client)  # a fresh install's first page creates its settings row
    with_ten = _page_queries(staff_client)
    Listener.objects.all().delete()
    Certificate.objects.all().delete()
    _used(50)
    with django_assert_max_num_queries(with_ten):
        page = staff_client.get("/certificates/").content.decode()
    assert "listener-49 (sni49.example.com)" in page


def test_bulk_export_is_one_zip_of_certificates_and_chains_without_keys(viewer_client: Client, ca: CA) -> None:
    own = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256", passphrase=b"secret")
    key = ec_key()
    issued = ca.issue(key.public_key(), ["www.example.com"])
    imported = certificate_import(certificate_data=pem(issued, ca.intermediate), key_data=key_pem(key)).certificate
    pending = _entry("csr.example.com", None, source="csr")
    response = viewer_client.post(
        "/certificates/export/", {"ids": [own.pk, imported.pk, pending.pk], "query": "sort=name"}
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="certificates.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == [
        f"mail.example.com-{own.pk}.crt",
        f"www.example.com-{imported.pk}-chain.pem",
        f"www.example.com-{imported.pk}.crt",
    ]
    for member in archive.namelist():
        data = archive.read(member)
        assert b"PRIVATE KEY" not in data and b"ENCRYPTED" not in data
        assert all(isinstance(cert, x509.Certificate) for cert in x509.load_pem_x509_certificates(data))
    nothing = viewer_client.post("/certificates/export/", {"query": "sort=name&evil=1"})
    assert nothing.status_code == 302 and nothing["Location"] == "/certificates/?sort=name"
    assert viewer_client.get("/certificates/export/").status_code == 302


def test_bulk_delete_confirms_then_deletes_only_unused_entries(staff_client: Client, viewer_client: Client) -> None:
    unused = certificate_create_self_signed(hostname="old.example.com", key_type="ec256")
    spare = _entry("spare.example.com", 40)
    served = _entry("served.example.com", 40)
    by_sni = _entry("sni.example.com", 40)
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, certificate=served)
    SniCertificate.objects.create(listener=listener, server_name="sni.example.com", certificate=by_sni)
    ids = [unused.pk, spare.pk, served.pk, by_sni.pk]

    asked = staff_client.post("/certificates/delete-unused/", {"ids": ids, "query": "sort=name"})
    assert asked.status_code == 302 and asked["Location"].startswith("/certificates/delete-unused/?ids=")
    page = staff_client.get(asked["Location"]).content.decode()
    doomed, kept = page.split('id="doomed"')[1].split("</ul>")[0], page.split('id="kept"')[1].split("</ul>")[0]
    assert "old.example.com" in doomed and "spare.example.com" in doomed and "served" not in doomed
    assert "served.example.com" in kept and "IMAPS" in kept and "IMAPS (sni.example.com)" in kept
    assert viewer_client.get(asked["Location"]).status_code == 403

    form = {"ids": ids, "query": "sort=name", "confirm_page": "1"}
    unconfirmed = staff_client.post("/certificates/delete-unused/", form)
    assert unconfirmed.status_code == 400 and Certificate.objects.count() == 4
    done = staff_client.post("/certificates/delete-unused/", {**form, "confirm": "on"}, follow=True)
    assert done.redirect_chain == [("/certificates/?sort=name", 302)]
    assert set(Certificate.objects.values_list("name", flat=True)) == {"served.example.com", "sni.example.com"}
    assert not PrivateKey.objects.exists(), "the deleted entry's key went with it"
    text = done.content.decode()
    assert "Deleted 2:" in text and "Kept because services use them: " in text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the refusing trigger is PL/pgSQL")
def test_bulk_delete_is_all_or_nothing(db: None) -> None:
    entries = [_entry(f"gone{n}.example.com", 40) for n in range(3)]
    stuck = _entry("stuck.example.com", 40)
    with connection.cursor() as cursor:  # the database refuses one row's deletion, as a lock timeout would
        cursor.execute(
            "CREATE FUNCTION refuse_stuck() RETURNS trigger AS $$ BEGIN IF OLD.name = 'stuck.example.com' THEN "
            "RAISE EXCEPTION 'refused'; END IF; RETURN OLD; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_stuck BEFORE DELETE ON repository_certificate "
            "FOR EACH ROW EXECUTE FUNCTION refuse_stuck()"
        )
    with pytest.raises(DatabaseError):
        certificates_delete_unused(certificate_ids=[entry.pk for entry in [*entries, stuck]])
    assert Certificate.objects.count() == 4


def test_renewal_failing_filters_across_statuses(staff_client: Client) -> None:
    _entry("ok.example.com", 40)
    _entry("failing.example.com", 40, renewal_failures=2)
    _entry("late.example.com", 5, renewal_failures=1)
    page = staff_client.get("/certificates/?status=failing").content.decode()
    assert "failing.example.com" in page and "late.example.com" in page and "ok.example.com" not in page
    assert '<option value="failing" selected>Renewal failing</option>' in page
