"""certbot import: a real /etc/letsencrypt-shaped tree, built at test time (no key material is committed)."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import josepy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from repository.acme import schedule
from repository.acme.certbot_import import certbot_import, parse_renewal_conf
from repository.acme.client import AcmeSession
from repository.errors import RepositoryError
from repository.keystore import key_load
from repository.models import AcmeAccount, Certificate, PrivateKey
from tests.conftest import CliResult
from tests.support.acme_stack import acme_stack
from tests.support.factories import CA, ec_key, key_pem, pem, rsa_key

LE = "https://acme-v02.api.letsencrypt.org/directory"
PEBBLE = "https://127.0.0.1:14000/dir"

# Exactly what certbot 2.9.0 writes (storage.py + renewal params of `certbot certonly --standalone`).
CONF = """\
# renew_before_expiry = 30 days
version = 2.9.0
archive_dir = {prefix}/archive/{name}
cert = {prefix}/live/{name}/cert.pem
privkey = {prefix}/live/{name}/privkey.pem
chain = {prefix}/live/{name}/chain.pem
fullchain = {prefix}/live/{name}/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = {account}
authenticator = standalone
server = {server}
key_type = ecdsa
"""
LIVE_README = "This directory contains your keys and certificates.\n"


@dataclass
class Account:
    id: str
    server: str
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    uri: str

    @property
    def directory(self) -> Path:
        """certbot's layout: accounts/<host[:port]>/<server path>/<id>."""
        parts = urlsplit(self.server)
        return Path("accounts", parts.netloc, *parts.path.strip("/").split("/"), self.id)


@dataclass
class Tree:
    """A certbot config dir; `prefix` is where its confs say it lives (certbot writes absolute paths)."""

    root: Path
    ca: CA
    prefix: str
    accounts: dict[str, Account] = field(default_factory=dict)

    def add_account(
        self,
        server: str = LE,
        *,
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
        regr: dict[str, object] | None = None,
    ) -> Account:
        key = key or rsa_key()  # certbot's default account key
        uri = f"https://{urlsplit(server).netloc}/acme/acct/{secrets.randbelow(10**9)}"
        account = Account(secrets.token_hex(16), server, key, uri)
        folder = self.root / account.directory
        folder.mkdir(parents=True)
        jwk = josepy.JWKRSA(key=key) if isinstance(key, rsa.RSAPrivateKey) else josepy.JWKEC(key=key)
        (folder / "private_key.json").write_text(jwk.json_dumps())
        # certbot >= 0.x saves an empty body (no contact) next to the account URL.
        (folder / "regr.json").write_text(json.dumps(regr if regr is not None else {"body": {}, "uri": account.uri}))
        meta = {"creation_dt": "2024-03-01T10:00:00Z", "creation_host": "mail.example.com", "register_to_eff": None}
        (folder / "meta.json").write_text(json.dumps(meta))
        self.accounts[account.id] = account
        return account

    def add_lineage(
        self,
        name: str,
        account: Account,
        *,
        hostnames: list[str] | None = None,
        days: int = 90,
        versions: int = 1,
        conf: str | None = None,
    ) -> x509.Certificate:
        """archive/<name>/{cert,chain,fullchain,privkey}N.pem for N in 1..versions; live/ points at the last."""
        archive, live = self.root / "archive" / name, self.root / "live" / name
        archive.mkdir(parents=True, exist_ok=True)
        live.mkdir(parents=True, exist_ok=True)
        leaves = []
        for version in range(1, versions + 1):
            key = ec_key()
            leaf = self.ca.issue(key.public_key(), hostnames or [name], days=days)
            leaves.append(leaf)
            files = {"cert": pem(leaf), "chain": pem(self.ca.intermediate), "privkey": key_pem(key)}
            files["fullchain"] = pem(leaf, self.ca.intermediate)
            for kind, data in files.items():
                (archive / f"{kind}{version}.pem").write_bytes(data)
        for kind in ("cert", "chain", "fullchain", "privkey"):
            link = live / f"{kind}.pem"
            link.unlink(missing_ok=True)
            link.symlink_to(f"../../archive/{name}/{kind}{versions}.pem")  # relative, as certbot does
        (live / "README").write_text(LIVE_README)
        text = conf or CONF.format(prefix=self.prefix, name=name, account=account.id, server=account.server)
        (self.root / "renewal").mkdir(exist_ok=True)
        (self.root / "renewal" / f"{name}.conf").write_text(text)
        return leaves[-1]


@pytest.fixture
def make_tree(tmp_path: Path, ca: CA) -> Callable[..., Tree]:
    def make(folder: str = "letsencrypt", prefix: str | None = None) -> Tree:
        root = tmp_path / folder
        root.mkdir()
        return Tree(root, ca, prefix or str(root))

    return make


@pytest.fixture
def tree(make_tree: Callable[..., Tree]) -> Tree:
    return make_tree()


def _fingerprint(cert: x509.Certificate) -> str:
    from repository.pki.describe import fingerprint_sha256

    return fingerprint_sha256(cert)


def _public_der(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- the happy path ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_two_lineages_sharing_one_account_become_two_certificates_and_one_account(tree: Tree, ca: CA) -> None:
    account = tree.add_account()
    mail = tree.add_lineage("mail.example.com", account, hostnames=["mail.example.com", "imap.example.com"])
    web = tree.add_lineage("www.example.com", account)

    result = certbot_import(tree.root)

    assert result.skipped == []
    assert [c.name for c in result.certificates] == ["mail.example.com", "www.example.com"]
    assert AcmeAccount.objects.count() == 1 and [a.pk for a in result.accounts] == [AcmeAccount.objects.get().pk]
    stored = AcmeAccount.objects.get()
    assert stored.name == "certbot acme-v02.api.letsencrypt.org"
    assert (stored.directory_url, stored.uri, stored.email) == (LE, account.uri, "")
    assert _public_der(key_load(stored.key)) == _public_der(account.key)
    for entry, leaf in [
        (Certificate.objects.get(name="mail.example.com"), mail),
        (Certificate.objects.get(name="www.example.com"), web),
    ]:
        assert entry.source == "acme" and entry.auto_renew and entry.acme_account_id == stored.pk
        assert entry.fingerprint_sha256 == _fingerprint(leaf)
        assert entry.chain_pem.encode() == pem(ca.intermediate)
        assert entry.renew_at is not None and entry.ari_next_check is not None and entry.renewal_rule
        assert _public_der(key_load(entry.key)) == _public_der(leaf)  # type: ignore[arg-type]
    assert Certificate.objects.get(name="mail.example.com").sans == ["mail.example.com", "imap.example.com"]


@pytest.mark.django_db
@pytest.mark.parametrize(("days", "fraction_left", "rule"), [(90, 1 / 3, "1/3"), (6, 1 / 2, "1/2")])
def test_renew_at_follows_the_lifetime_rule(tree: Tree, days: int, fraction_left: float, rule: str) -> None:
    tree.add_lineage("mail.example.com", tree.add_account(), days=days)

    entry = certbot_import(tree.root).certificates[0]

    lifetime = entry.not_after - entry.not_before  # type: ignore[operator]
    assert lifetime == timedelta(days=days)
    left = entry.not_after - entry.renew_at  # type: ignore[operator]
    jitter = min(lifetime * schedule.JITTER_FRACTION, schedule.MAX_JITTER)
    assert lifetime * fraction_left <= left <= lifetime * fraction_left + jitter
    assert rule in entry.renewal_rule


@pytest.mark.django_db
def test_only_the_current_certificate_of_a_lineage_is_imported(tree: Tree) -> None:
    current = tree.add_lineage("mail.example.com", tree.add_account(), versions=3)

    result = certbot_import(tree.root)

    assert [c.fingerprint_sha256 for c in result.certificates] == [_fingerprint(current)]
    assert Certificate.objects.count() == 1


@pytest.mark.django_db
def test_cert_and_chain_are_enough_without_fullchain(tree: Tree, ca: CA) -> None:
    leaf = tree.add_lineage("mail.example.com", tree.add_account())
    (tree.root / "live/mail.example.com/fullchain.pem").unlink()

    entry = certbot_import(tree.root).certificates[0]

    assert entry.fingerprint_sha256 == _fingerprint(leaf) and entry.chain_pem.encode() == pem(ca.intermediate)


@pytest.mark.django_db
def test_a_server_with_a_port_finds_its_account_under_host_colon_port(tree: Tree) -> None:
    account = tree.add_account(PEBBLE, key=ec_key())
    assert (tree.root / "accounts/127.0.0.1:14000/dir" / account.id / "private_key.json").is_file()
    tree.add_lineage("mail.example.com", account)

    result = certbot_import(tree.root)

    assert result.skipped == []
    stored = result.accounts[0]
    assert (stored.name, stored.directory_url, stored.uri) == ("certbot 127.0.0.1:14000", PEBBLE, account.uri)
    assert _public_der(key_load(stored.key)) == _public_der(account.key)


@pytest.mark.django_db
def test_an_old_certbot_regr_gives_the_contact_and_terms(tree: Tree) -> None:
    account = tree.add_account(
        regr={
            "body": {"contact": ["tel:+100", "mailto:admin@example.com"], "agreement": "https://le.example/tos.pdf"},
            "uri": "https://acme-v02.api.letsencrypt.org/acme/acct/42",
            "new_authzr_uri": "https://acme-v01.api.letsencrypt.org/acme/new-authz",
            "terms_of_service": "https://le.example/tos.pdf",
        }
    )
    tree.add_lineage("mail.example.com", account)

    stored = certbot_import(tree.root).accounts[0]

    assert stored.email == "admin@example.com"
    assert stored.terms_of_service == "https://le.example/tos.pdf"
    assert stored.uri == "https://acme-v02.api.letsencrypt.org/acme/acct/42"


# --- running it again ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_running_twice_imports_nothing_new_and_a_new_lineage_reuses_the_account(tree: Tree) -> None:
    account = tree.add_account()
    tree.add_lineage("mail.example.com", account)
    first = certbot_import(tree.root)

    again = certbot_import(tree.root)

    assert again.certificates == [] and again.accounts == []
    assert again.skipped == [
        f"lineage mail.example.com: the certificate is already in the repository as "
        f"#{first.certificates[0].pk} (mail.example.com)"
    ]
    assert (Certificate.objects.count(), AcmeAccount.objects.count(), PrivateKey.objects.count()) == (1, 1, 2)

    tree.add_lineage("smtp.example.com", account)
    third = certbot_import(tree.root)

    assert [c.name for c in third.certificates] == ["smtp.example.com"]
    assert [a.pk for a in third.accounts] == [first.accounts[0].pk]
    assert AcmeAccount.objects.count() == 1


# --- one broken lineage, the others still import -------------------------------------------------


@pytest.mark.django_db
def test_a_lineage_whose_key_does_not_match_is_skipped_and_the_other_imported(tree: Tree) -> None:
    account = tree.add_account()
    tree.add_lineage("broken.example.com", account)
    tree.add_lineage("mail.example.com", account)
    (tree.root / "archive/broken.example.com/privkey1.pem").write_bytes(key_pem(ec_key()))

    result = certbot_import(tree.root)

    assert result.skipped == ["lineage broken.example.com: privkey.pem does not match the certificate"]
    assert [c.name for c in result.certificates] == ["mail.example.com"]


@pytest.mark.django_db
def test_a_missing_account_skips_the_lineage_and_stores_nothing(tree: Tree) -> None:
    account = tree.add_account()
    tree.add_lineage("mail.example.com", account)
    shutil.rmtree(tree.root / account.directory)

    result = certbot_import(tree.root)

    assert result.certificates == [] and result.accounts == []
    assert result.skipped == [
        f"lineage mail.example.com: the ACME account accounts/acme-v02.api.letsencrypt.org/directory/{account.id}"
        " is missing"
    ]
    assert (Certificate.objects.count(), AcmeAccount.objects.count(), PrivateKey.objects.count()) == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda t: (t.root / "archive/a.example.com/privkey1.pem").unlink(), "privkey.pem is missing"),
        (lambda t: (t.root / "archive/a.example.com/fullchain1.pem").write_text("junk"), "fullchain.pem: This is not"),
        (lambda t: _account_file(t, "private_key.json").write_text("{"), "private_key.json is not valid JSON"),
        (lambda t: _account_file(t, "private_key.json").write_text('{"kty": "oct"}'), "not a private JWK"),
        (lambda t: _account_file(t, "regr.json").write_text('{"body": {}}'), "regr.json holds no account URL"),
        (lambda t: _conf(t).write_text(_conf(t).read_text() + "nonsense\n"), "line 15: expected 'key = value'"),
        (lambda t: _conf(t).write_bytes(b"\xff\xfe"), "renewal/a.example.com.conf is not UTF-8 text"),
        (lambda t: _replace_in_conf(t, "account = ", "account = ../../x"), "is not a certbot account id"),
        (lambda t: _replace_in_conf(t, "server = https://", "server = ftp://"), "is not an http(s) URL"),
        (lambda t: _replace_in_conf(t, "[renewalparams]", "[other]"), "names no ACME account or server"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_parse_problem_is_a_reason_and_the_other_lineage_still_imports(
    tree: Tree, damage: Callable[[Tree], object], reason: str
) -> None:
    tree.add_lineage("a.example.com", tree.add_account())
    tree.add_lineage("b.example.com", tree.add_account(PEBBLE))  # its own account: damage to a's is a's alone
    damage(tree)

    result = certbot_import(tree.root)

    assert len(result.skipped) == 1 and result.skipped[0].startswith("lineage a.example.com: ")
    assert reason in result.skipped[0]
    assert [c.name for c in result.certificates] == ["b.example.com"]


def _account_file(tree: Tree, name: str) -> Path:
    return tree.root / next(a for a in tree.accounts.values() if a.server == LE).directory / name


def _conf(tree: Tree) -> Path:
    return tree.root / "renewal/a.example.com.conf"


def _replace_in_conf(tree: Tree, old: str, new: str) -> None:
    _conf(tree).write_text(_conf(tree).read_text().replace(old, new))


@pytest.mark.django_db
def test_an_unreadable_file_says_to_run_as_root(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.add_lineage("mail.example.com", tree.add_account())
    read_bytes = Path.read_bytes

    def denied(path: Path) -> bytes:
        if path.name == "privkey.pem":  # the tests run as root, where chmod would not deny anything
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", denied)

    result = certbot_import(tree.root)

    assert result.skipped == [
        "lineage mail.example.com: cannot read privkey.pem: permission denied (run the import as root)"
    ]


@pytest.mark.django_db
def test_a_directory_that_is_not_a_certbot_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "notes.txt").write_text("not a conf")
    for directory in (tmp_path, tmp_path / "absent", tmp_path / "renewal" / "notes.txt"):
        with pytest.raises(RepositoryError) as caught:
            certbot_import(directory)
        assert str(caught.value) == (
            f"'{directory}' is not a certbot directory (expected renewal/*.conf, live/ and accounts/)"
        )


# --- a copied tree --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_copied_tree_imports_its_own_files_not_those_its_confs_name(make_tree: Callable[..., Tree]) -> None:
    original = make_tree("original")
    account = original.add_account()
    copied_leaf = original.add_lineage("mail.example.com", account)
    copy = original.root.parent / "copy"
    shutil.copytree(original.root, copy, symlinks=True)
    # The original lives on (certbot renewed it since): its confs' absolute paths must not be followed.
    renewed = original.add_lineage("mail.example.com", account, versions=2)

    result = certbot_import(copy)

    assert result.skipped == []
    assert [c.fingerprint_sha256 for c in result.certificates] == [_fingerprint(copied_leaf)]
    assert _fingerprint(renewed) != _fingerprint(copied_leaf)


@pytest.mark.django_db
def test_a_tree_copied_from_etc_letsencrypt_imports(make_tree: Callable[..., Tree]) -> None:
    tree = make_tree(prefix="/etc/letsencrypt")  # what the confs of a real host say
    leaf = tree.add_lineage("mail.example.com", tree.add_account())

    result = certbot_import(tree.root)

    assert result.skipped == [] and result.certificates[0].fingerprint_sha256 == _fingerprint(leaf)


# --- secrets ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_private_key_is_stored_or_logged_in_plaintext(tree: Tree, caplog: pytest.LogCaptureFixture) -> None:
    account = tree.add_account()
    tree.add_lineage("mail.example.com", account)
    tree.add_lineage("www.example.com", account)

    with caplog.at_level(logging.INFO, logger="repository.acme.certbot_import"):
        result = certbot_import(tree.root)

    for row in PrivateKey.objects.all():
        assert b"PRIVATE KEY" not in bytes(row.sealed_pem)
    assert PrivateKey.objects.count() == 3  # the account key and one key per certificate
    lines = [r.getMessage() for r in caplog.records if r.name == "repository.acme.certbot_import"]
    assert len(lines) == 2 and all(line.startswith("imported certbot lineage ") for line in lines)
    jwk = json.loads((tree.root / account.directory / "private_key.json").read_text())
    for line in lines:
        assert "PRIVATE KEY" not in line and jwk["d"] not in line
    assert len(result.certificates) == 2


# --- the renewal conf parser ----------------------------------------------------------------------


def test_the_conf_parser_reads_what_configobj_writes() -> None:
    conf = parse_renewal_conf(
        "# renew_before_expiry = 30 days\n"
        "version = 2.9.0\n"
        'cert = "/etc/le/live/a#b/cert.pem"\n'
        "privkey = /etc/le/live/a/privkey.pem  # trailing comment\n"
        "\n"
        "[renewalparams]\n"
        "account = 0123\n"
        "webroot_path = /var/www/html,\n"
        "  [[webroot_map]]\n"
        "  example.com = /var/www/html\n"
    )
    assert conf[""] == {
        "version": "2.9.0",
        "cert": "/etc/le/live/a#b/cert.pem",
        "privkey": "/etc/le/live/a/privkey.pem",
    }
    assert conf["renewalparams"] == {"account": "0123", "webroot_path": "/var/www/html,"}
    assert conf["renewalparams.webroot_map"] == {"example.com": "/var/www/html"}
    for bad in ("[renewalparams\n", "[[nested]]\n", "no equals sign\n", "= value\n"):
        with pytest.raises(RepositoryError, match="line 1: "):
            parse_renewal_conf(bad)


# --- the CLI ---------------------------------------------------------------------------------------


def test_cli_imports_and_prints_json(cli: Callable[..., CliResult], tree: Tree) -> None:
    account = tree.add_account()
    tree.add_lineage("mail.example.com", account)
    tree.add_lineage("www.example.com", account)

    result = cli("certs", "import-certbot", str(tree.root), "--json")

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [c["name"] for c in data["certificates"]] == ["mail.example.com", "www.example.com"]
    assert {c["source"] for c in data["certificates"]} == {"acme"}
    assert data["accounts"] == [AcmeAccount.objects.get().pk] and data["skipped"] == []


def test_cli_refuses_a_directory_that_is_not_certbot(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    result = cli("certs", "import-certbot", str(tmp_path), "--json")

    assert result.code == 1 and result.out == ""
    assert result.err.strip().splitlines() == [
        f"error: '{tmp_path}' is not a certbot directory (expected renewal/*.conf, live/ and accounts/)"
    ]


def test_cli_text_lists_imports_and_warns_about_skipped_lineages(cli: Callable[..., CliResult], tree: Tree) -> None:
    account = tree.add_account()
    tree.add_lineage("mail.example.com", account)
    tree.add_lineage("broken.example.com", account)
    (tree.root / "archive/broken.example.com/privkey1.pem").unlink()

    result = cli("certs", "import-certbot", str(tree.root))

    assert result.code == 0, result.err
    assert result.out.startswith("Imported #") and "mail.example.com, renews at " in result.out
    assert "warning: lineage broken.example.com: privkey.pem is missing" in result.err


# ---------------------------------------------------------------- then renewed by the panel, against Pebble


@pytest.mark.integration
def test_a_certbot_lineage_imported_is_then_renewed_by_the_panel(cli, tmp_path: Path, ca) -> None:  # type: ignore[no-untyped-def]
    with acme_stack(tmp_path) as stack:
        key = rsa_key()  # certbot's default account key type
        session = AcmeSession(
            directory_url=stack.pebble.directory_url,
            account_key=key,
            ca_bundle_pem=stack.pebble.ca_bundle_path.read_text(),
            bundle_dir=tmp_path,
        )
        uri = session.register(email="")
        tree = Tree(tmp_path / "letsencrypt", ca, str(tmp_path / "letsencrypt"))
        tree.root.mkdir()
        account = tree.add_account(stack.pebble.directory_url, key=key, regr={"body": {}, "uri": uri})
        tree.add_lineage("mail.example.com", account, hostnames=["mail.example.com", "smtp.example.com"])
        imported = cli("certs", "import-certbot", str(tree.root), "--json")
        assert imported.code == 0, imported.err
        (entry,) = json.loads(imported.out)["certificates"]
        # The account's CA bundle is not in certbot's tree: a private CA needs it added once.
        AcmeAccount.objects.update(ca_bundle_pem=stack.pebble.ca_bundle_path.read_text())
        renewed = cli("certs", "renew", "--id", str(entry["id"]), "--wait", "--json")
        assert renewed.code == 0, renewed.err + stack.worker_log()
        new = json.loads(renewed.out)
        assert new["sans"] == ["mail.example.com", "smtp.example.com"] and new["source"] == "acme"
        assert Certificate.objects.get(pk=new["id"]).renewed_from_id == entry["id"]
