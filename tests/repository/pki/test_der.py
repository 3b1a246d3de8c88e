"""Tests for repository.pki.der: the bounded DER/BER reader."""

from __future__ import annotations

import time

import pytest

from repository.pki import der
from tests.support.hostile import integer, oid, tlv


def test_reads_nested_definite_elements() -> None:
    data = tlv(0x30, oid("1.2.840.113549.1.5.12") + tlv(0x30, tlv(0x04, b"salt") + integer(2048)))
    root = der.parse(data)
    assert der.algorithm_oid(root) == "1.2.840.113549.1.5.12"
    salt, iterations = root.children[1].children
    assert der.octets(salt) == b"salt" and der.integer(iterations) == 2048


def test_reads_ber_indefinite_lengths_and_constructed_octet_strings() -> None:
    chunks = tlv(0x04, b"ab") + tlv(0x04, b"cd")
    data = b"\x30\x80" + b"\x24\x80" + chunks + b"\x00\x00" + integer(7) + b"\x00\x00"
    root = der.parse(data)
    assert der.octets(root.children[0]) == b"abcd" and der.integer(root.children[1]) == 7


def test_oid_text_handles_large_arcs() -> None:
    assert der.oid_text(der.parse(oid("1.3.6.1.4.1.11591.4.11"))) == "1.3.6.1.4.1.11591.4.11"
    assert der.oid_text(der.parse(oid("2.16.840.1.101.3.4.3.17"))) == "2.16.840.1.101.3.4.3.17"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x05\x02\x01",  # truncated content
        b"\x02\x01\x01\x00",  # data after the element
        b"\x04\x80\x00\x00",  # indefinite length on a primitive
        b"\x30\x80\x02\x01\x01",  # no end-of-contents
        b"\x1f\x81\x01\x00",  # high tag number
        b"\x30\x85\x01\x00\x00\x00\x00",  # length of more than four octets
    ],
)
def test_refuses_malformed_input(data: bytes) -> None:
    with pytest.raises(der.DerError):
        der.parse(data)


def test_deep_nesting_is_refused_not_recursed() -> None:
    data = b"\x30\x80" * 10_000 + b"\x00\x00" * 10_000
    with pytest.raises(der.DerError):
        der.parse(data)


def test_a_megabyte_of_tiny_elements_is_refused_quickly() -> None:
    body = b"\x05\x00" * 500_000
    data = b"\x30\x84" + len(body).to_bytes(4, "big") + body
    started = time.process_time()
    with pytest.raises(der.DerError):
        der.parse(data)
    assert time.process_time() - started < 1.0


def test_levels_limits_how_deep_children_are_read() -> None:
    data = tlv(0x30, tlv(0x30, integer(1)) + integer(2))
    root = der.parse(data, levels=1)
    assert [child.tag for child in root.children] == [0x30, 0x02] and root.children[0].children == ()
