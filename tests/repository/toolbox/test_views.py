"""The toolbox page: decode, match, verify, convert — and nothing pasted is kept."""

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from repository.models import Certificate, PrivateKey
from tests.support.factories import CA, der, ec_key, key_pem, pem, rsa_key


def _tool(client: Client, tool: str, **fields: object):  # type: ignore[no-untyped-def]
    return client.post("/toolbox/", {"tool": tool, **{f"{tool}-{k}": v for k, v in fields.items()}})


def test_decode_certificate_shows_fields(viewer_client: Client, ca: CA) -> None:
    leaf = ca.issue(ec_key().public_key(), ["mail.example.com"])
    body = _tool(viewer_client, "decode", data_text=pem(leaf).decode()).content.decode()
    assert "mail.example.com" in body and leaf.fingerprint(hashes.SHA256()).hex() in body
    assert "serverAuth" in body


def test_decode_csr_key_and_pkcs12(viewer_client: Client, ca: CA) -> None:
    key = rsa_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "req.example.com")]))
        .sign(key, hashes.SHA256())
    )
    body = _tool(viewer_client, "decode", data_text=csr.public_bytes(serialization.Encoding.PEM).decode())
    assert "Certificate signing request" in body.content.decode() and "valid" in body.content.decode()
    body = _tool(viewer_client, "decode", data_text=key_pem(key).decode()).content.decode()
    assert "RSA 2048" in body and "BEGIN" not in body  # key material is never echoed back
    leaf = ca.issue(key.public_key(), ["p12.example.com"])
    p12 = pkcs12.serialize_key_and_certificates(b"x", key, leaf, None, serialization.BestAvailableEncryption(b"pw"))
    body = _tool(viewer_client, "decode", data_file=SimpleUploadedFile("x.p12", p12), password="pw")
    assert "p12.example.com" in body.content.decode()
    wrong = _tool(viewer_client, "decode", data_file=SimpleUploadedFile("x.p12", p12), password="nope")
    assert wrong.status_code == 400 and "Wrong password" in wrong.content.decode()


def test_match_says_yes_and_no(viewer_client: Client, ca: CA) -> None:
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["mail.example.com"])
    yes = _tool(viewer_client, "match", key_text=key_pem(key).decode(), other_text=pem(leaf).decode())
    assert "The private key matches the certificate." in yes.content.decode()
    no = _tool(viewer_client, "match", key_text=key_pem(ec_key()).decode(), other_text=pem(leaf).decode())
    assert "does NOT match" in no.content.decode()
    missing = _tool(viewer_client, "match", key_text=key_pem(key).decode())
    assert missing.status_code == 400 and "Provide: Certificate or CSR" in missing.content.decode()


def test_verify_orders_and_reports_problems(viewer_client: Client, ca: CA) -> None:
    leaf = ca.issue(ec_key().public_key(), ["mail.example.com"])
    ok = _tool(viewer_client, "verify", data_text=pem(ca.root, leaf, ca.intermediate).decode()).content.decode()
    assert "The chain is in order" in ok
    assert ok.index("CN=mail.example.com") < ok.index("CN=Test Intermediate CA") < ok.index("CN=Test Root CA")
    lonely = _tool(viewer_client, "verify", data_text=pem(leaf).decode()).content.decode()
    assert "The chain has problems" in lonely and "is missing" in lonely


def test_convert_pem_to_der_and_pkcs12(viewer_client: Client, ca: CA) -> None:
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["mail.example.com"])
    response = _tool(viewer_client, "convert", data_text=pem(leaf).decode(), to="der")
    assert response.status_code == 200 and response.content == der(leaf)
    response = _tool(
        viewer_client, "convert", data_text=(pem(leaf) + key_pem(key)).decode(), to="pkcs12", password="pw"
    )
    loaded = pkcs12.load_pkcs12(response.content, b"pw")
    assert loaded.cert is not None and loaded.cert.certificate == leaf
    response = _tool(viewer_client, "convert", data_file=SimpleUploadedFile("c.der", der(leaf)), to="pem")
    assert response.content == pem(leaf)


def test_toolbox_rejects_garbage_and_stores_nothing(viewer_client: Client) -> None:
    for tool, fields in [
        ("decode", {"data_text": "garbage"}),
        ("verify", {"data_text": "junk"}),
        ("convert", {"data_text": "nope", "to": "der"}),
        ("match", {"key_text": "x", "other_text": "y"}),
    ]:
        response = _tool(viewer_client, tool, **fields)
        assert response.status_code == 400, tool
        assert 'class="errors"' in response.content.decode()
    assert not Certificate.objects.exists() and not PrivateKey.objects.exists()
