"""The first-start name when CERTPANEL_HOSTNAME is unset: /etc/mailname, `hostname -f`, then getfqdn()."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from certpanel.hostname import HostnameChoice, first_start_note, hostname_choose, is_usable


def _says(text: str) -> Callable[[], str]:
    return lambda: text


def _fails(exc: BaseException) -> Callable[[], str]:
    def read() -> str:
        raise exc

    return read


def _choose(*, configured: str = "", mailname: Callable[[], str], hostname_f: Callable[[], str], fqdn: str = "x"):
    return hostname_choose(configured=configured, read_mailname=mailname, hostname_f=hostname_f, getfqdn=_says(fqdn))


def test_getfqdn_saying_localhost_loses_to_hostname_f() -> None:
    # The machine of the issue: no /etc/mailname, `hostname -f` is vm, getfqdn() said localhost.
    choice = _choose(mailname=_fails(FileNotFoundError()), hostname_f=_says("vm\n"), fqdn="localhost")
    assert choice == HostnameChoice("vm", "`hostname -f`")


def test_mailname_comes_first_and_is_cleaned() -> None:
    choice = _choose(mailname=_says("  Mail.Example.COM.\nignored second line\n"), hostname_f=_says("vm"))
    assert choice == HostnameChoice("mail.example.com", "/etc/mailname")


def test_configured_name_wins_over_everything_and_is_kept_as_given() -> None:
    choice = _choose(configured=" Panel.Example.org ", mailname=_says("mail.example.com"), hostname_f=_says("vm"))
    assert choice == HostnameChoice("Panel.Example.org", "CERTPANEL_HOSTNAME")


@pytest.mark.parametrize("mailname", ["", "\n", "localhost", "localhost.localdomain", "LOCALHOST.", "two words"])
def test_an_empty_or_loopback_mailname_is_skipped(mailname: str) -> None:
    assert _choose(mailname=_says(mailname), hostname_f=_says("mx1.example.net")).source == "`hostname -f`"


@pytest.mark.parametrize(
    "failure",
    [
        subprocess.TimeoutExpired(["hostname", "-f"], 5),
        subprocess.CalledProcessError(1, ["hostname", "-f"]),
        FileNotFoundError("hostname"),
    ],
)
def test_a_failing_hostname_command_falls_back_to_getfqdn(failure: BaseException) -> None:
    choice = _choose(mailname=_says("localhost"), hostname_f=_fails(failure), fqdn="host.example.net")
    assert choice == HostnameChoice("host.example.net", "socket.getfqdn()")


def test_getfqdn_is_the_last_resort_even_when_it_says_localhost() -> None:
    choice = _choose(mailname=_says(""), hostname_f=_says("localhost.localdomain"), fqdn="localhost")
    assert choice == HostnameChoice("localhost", "socket.getfqdn()")


def test_loopback_names_are_not_usable_but_real_names_are() -> None:
    assert [is_usable(n) for n in ("localhost", "ip6-localhost", "localhost.example", "vm", "mail.example.com")] == [
        False,
        False,
        False,
        True,
        True,
    ]


def test_first_start_note_says_which_name_where_from_and_how_to_change_it() -> None:
    note = first_start_note(HostnameChoice("vm", "`hostname -f`"))
    assert "vm comes from `hostname -f`" in note and "CERTPANEL_HOSTNAME is not set" in note
    assert "set CERTPANEL_HOSTNAME=" in note
    assert first_start_note(HostnameChoice("mail.example.com", "CERTPANEL_HOSTNAME")) == (
        "The name mail.example.com comes from CERTPANEL_HOSTNAME."
    )


def test_bootstrap_output_names_the_first_start_certificate_and_its_source(cli, settings) -> None:
    settings.CERTPANEL_HOSTNAME, settings.CERTPANEL_HOSTNAME_SOURCE = "vm", "`hostname -f`"
    result = cli("bootstrap")
    assert result.code == 0, result.err
    assert "self-signed certificate #" in result.out and "for vm," in result.out
    assert "comes from `hostname -f` (CERTPANEL_HOSTNAME is not set)" in result.out
