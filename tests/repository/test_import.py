"""Import: every format an admin brings, and every way it can be wrong (message shown, nothing stored)."""

import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from repository.models import Certificate, PrivateKey
from tests.support.factories import CA, der, ec_key, key_pem, pem, rsa_key

MB = 1024 * 1024


@pytest.fixture(scope="module")
def pair(ca: CA) -> dict[str, object]:
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["mail.example.com", "imap.example.com"])
    return {"key": key, "leaf": leaf}


def _p12(pair: dict, ca: CA, password: bytes | None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"mail", pair["key"], pair["leaf"], [ca.intermediate], encryption)


def _post(client: Client, **fields: object) -> object:
    return client.post("/certificates/import/", fields, follow=True)


def test_import_separate_pem_files(staff_client: Client, pair: dict, ca: CA) -> None:
    response = _post(
        staff_client,
        certificate_file=SimpleUploadedFile("c.crt", pem(pair["leaf"])),
        key_file=SimpleUploadedFile("k.key", key_pem(pair["key"])),
        chain_file=SimpleUploadedFile("b.pem", pem(ca.intermediate)),
    )
    assert "Imported mail.example.com" in response.content.decode()
    entry = Certificate.objects.get()
    assert entry.source == "imported" and entry.key is not None and entry.chain_pem.encode() == pem(ca.intermediate)


def test_import_one_combined_pem_with_crlf_and_bom(staff_client: Client, pair: dict, ca: CA) -> None:
    combined = b"\xef\xbb\xbf" + (key_pem(pair["key"]) + pem(ca.intermediate, pair["leaf"])).replace(b"\n", b"\r\n")
    _post(staff_client, certificate_file=SimpleUploadedFile("all.pem", combined))
    entry = Certificate.objects.get()
    assert entry.certificate_pem.encode() == pem(pair["leaf"]) and entry.key is not None


def test_import_der_certificate_and_encrypted_key(staff_client: Client, pair: dict) -> None:
    _post(
        staff_client,
        certificate_file=SimpleUploadedFile("c.der", der(pair["leaf"])),
        key_text=key_pem(pair["key"], b"sesame").decode(),
        passphrase="sesame",
        name="Mail (2026)",
    )
    entry = Certificate.objects.get()
    assert entry.name == "Mail (2026)" and entry.key is not None
    # The import passphrase only opened the file: the stored key is under the panel's encryption alone.
    assert not entry.key.has_passphrase


@pytest.mark.parametrize("password", [b"pfx-secret", None])
def test_import_pkcs12(staff_client: Client, pair: dict, ca: CA, password: bytes | None) -> None:
    fields = {"pkcs12_file": SimpleUploadedFile("mail.pfx", _p12(pair, ca, password))}
    if password:
        fields["passphrase"] = password.decode()
    _post(staff_client, **fields)
    entry = Certificate.objects.get()
    assert entry.fingerprint_sha256 == pair["leaf"].fingerprint(hashes.SHA256()).hex()
    assert entry.chain_pem.encode() == pem(ca.intermediate)


def test_import_certificate_without_key_warns(staff_client: Client, pair: dict) -> None:
    response = _post(staff_client, certificate_text=pem(pair["leaf"]).decode())
    assert "No private key was imported" in response.content.decode()
    assert Certificate.objects.get().key is None


def _bad_inputs(pair: dict, ca: CA) -> list[tuple[str, dict[str, object], str]]:
    leaf_pem, good_key = pem(pair["leaf"]).decode(), key_pem(pair["key"]).decode()
    other_key = key_pem(rsa_key()).decode()
    encrypted = key_pem(pair["key"], b"right").decode()
    lines = leaf_pem.splitlines()
    damaged = "\n".join([lines[0], lines[1][:10] + "!!!!" + lines[1][14:], *lines[2:]])
    csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
    big = b"-----BEGIN CERTIFICATE-----\n" + b"A" * MB + b"\n-----END CERTIFICATE-----\n"
    return [
        ("nothing", {}, "Upload a certificate"),
        ("garbage", {"certificate_text": "hello, I am not a certificate"}, "not a certificate"),
        ("truncated pem", {"certificate_text": "\n".join(lines[:5])}, "truncated"),
        ("damaged base64", {"certificate_text": damaged}, "damaged"),
        ("key as certificate", {"certificate_text": good_key}, "private key, not a certificate"),
        ("csr as certificate", {"certificate_text": csr_pem}, "not a certificate"),
        ("truncated der", {"certificate_file": SimpleUploadedFile("c.der", der(pair["leaf"])[:200])}, "certificate"),
        (
            "random binary",
            {"certificate_file": SimpleUploadedFile("c.bin", bytes(range(256)) * 4)},
            "not a certificate",
        ),
        ("mismatched key", {"certificate_text": leaf_pem, "key_text": other_key}, "does not match the certificate"),
        ("encrypted key, no passphrase", {"certificate_text": leaf_pem, "key_text": encrypted}, "enter its passphrase"),
        (
            "encrypted key, wrong passphrase",
            {"certificate_text": leaf_pem, "key_text": encrypted, "passphrase": "nope"},
            "Wrong passphrase",
        ),
        ("garbage key", {"certificate_text": leaf_pem, "key_text": "not a key"}, "No private key found"),
        ("csr as key", {"certificate_text": leaf_pem, "key_text": csr_pem}, "No private key found"),
        ("garbage chain", {"certificate_text": leaf_pem, "chain_text": "junk chain"}, "not a certificate"),
        (
            "pkcs12 wrong password",
            {"pkcs12_file": SimpleUploadedFile("m.pfx", _p12(pair, ca, b"right")), "passphrase": "wrong"},
            "Wrong password for the PKCS#12 file",
        ),
        (
            "pkcs12 missing password",
            {"pkcs12_file": SimpleUploadedFile("m.pfx", _p12(pair, ca, b"right"))},
            "password-protected",
        ),
        ("pem as pkcs12", {"pkcs12_file": SimpleUploadedFile("m.pfx", pem(pair["leaf"]))}, "not a PKCS#12"),
        (
            "pkcs12 and pem together",
            {"pkcs12_file": SimpleUploadedFile("m.pfx", _p12(pair, ca, None)), "certificate_text": leaf_pem},
            "either a PKCS#12 file or certificate",
        ),
        ("oversized file", {"certificate_file": SimpleUploadedFile("big.pem", big)}, "larger than 1 MB"),
        ("oversized paste", {"certificate_text": leaf_pem, "key_text": "A" * (MB + 1)}, "larger than 1 MB"),
        ("empty file", {"certificate_file": SimpleUploadedFile("empty.pem", b"")}, "empty"),
        (
            "combined pem with another key",
            {"certificate_text": leaf_pem + other_key, "key_text": good_key},
            "differs from the key file",
        ),
    ]


def test_import_rejects_each_bad_input_with_a_message_and_stores_nothing(
    staff_client: Client, pair: dict, ca: CA
) -> None:
    cases = _bad_inputs(pair, ca)
    assert len(cases) >= 20
    failures = []
    for label, fields, message in cases:
        response = staff_client.post("/certificates/import/", fields)
        body = response.content.decode()
        if response.status_code != 200 or message not in body or "Traceback" in body:
            failures.append(f"{label}: status {response.status_code}, expected {message!r}")
        if Certificate.objects.exists() or PrivateKey.objects.exists():
            failures.append(f"{label}: something was stored")
    assert not failures, "\n".join(failures)


def test_import_refuses_a_duplicate(staff_client: Client, pair: dict) -> None:
    fields = {"certificate_text": pem(pair["leaf"]).decode(), "key_text": key_pem(pair["key"]).decode()}
    _post(staff_client, **fields)
    response = staff_client.post("/certificates/import/", fields)
    assert "already in the repository as #" in response.content.decode()
    assert Certificate.objects.count() == 1 and PrivateKey.objects.count() == 1


def test_cli_import_files_and_pkcs12(cli, write_file, pair: dict, ca: CA) -> None:
    result = cli(
        "certs",
        "import",
        "--cert",
        write_file("c.pem", pem(pair["leaf"])),
        "--key",
        write_file("k.pem", key_pem(pair["key"])),
        "--chain",
        write_file("ch.pem", pem(ca.intermediate)),
        "--name",
        "mx",
        "--json",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["name"] == "mx"
    Certificate.objects.all().delete()
    p12 = write_file("m.p12", _p12(pair, ca, b"pw"))
    result = cli("certs", "import", "--pkcs12", p12, "--passphrase-file", write_file("pw", b"pw\n"), "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["source"] == "imported"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pkcs12", "P12", "--passphrase-file", "BADPW"], "error: Wrong password for the PKCS#12 file."),
        (["--cert", "/nonexistent.pem"], "error: cannot read certificate file /nonexistent.pem: No such file"),
        (["--cert", "CERT", "--key", "OTHERKEY"], "error: The private key does not match the certificate"),
        ([], "error: give either --cert"),
        (["--cert", "BIG"], "is larger than 1024 KB"),
    ],
)
def test_cli_import_errors_are_one_line(cli, write_file, pair: dict, ca: CA, args: list[str], message: str) -> None:
    files = {
        "P12": write_file("m.p12", _p12(pair, ca, b"pw")),
        "BADPW": write_file("bad", b"nope"),
        "CERT": write_file("c.pem", pem(pair["leaf"])),
        "OTHERKEY": write_file("o.key", key_pem(rsa_key())),
        "BIG": write_file("big.pem", b"x" * (MB + 10)),
    }
    result = cli("certs", "import", *[files.get(arg, arg) for arg in args])
    assert result.code == 1
    assert result.err.count("\n") == 1 and message in result.err
    assert not Certificate.objects.exists() and not PrivateKey.objects.exists()


def test_a_request_body_over_the_limit_gets_the_friendly_413_page(staff_client: Client) -> None:
    response = staff_client.post("/certificates/import/", {"certificate_text": "A" * (5 * MB)})
    assert response.status_code == 413  # refused from its Content-Length (certpanel/middleware.py)
    assert "too large" in response.content.decode() and "1 MB" in response.content.decode()
    assert not Certificate.objects.exists()
