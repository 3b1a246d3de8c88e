"""Reading DER (and the BER that Java and Windows exports use) just far enough to look before ``cryptography`` does:
the raw names and key algorithm inside a certificate, the key-derivation costs inside a PKCS#12 or an encrypted key.

Bounded on purpose: at most ``MAX_DEPTH`` levels and ``MAX_ELEMENTS`` elements, so hostile input costs linear time.
Every failure is a ``DerError`` (a ``ValueError``); callers turn it into their own message. Only the stdlib.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAX_DEPTH = 32
MAX_ELEMENTS = 50_000

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
OCTET_STRING_CONSTRUCTED = 0x24
OID = 0x06


class DerError(ValueError):
    """Not DER/BER, or deeper or larger than the bounds."""


@dataclass(frozen=True)
class Element:
    """One element: its tag, where its content lies in ``source`` (``start``..``end``) and where its whole
    encoding does (``head``..``after``), and its children when it is constructed."""

    tag: int
    source: bytes
    start: int
    end: int
    children: tuple[Element, ...] = ()
    head: int = 0
    after: int = 0

    @property
    def content(self) -> bytes:
        return self.source[self.start : self.end]

    @property
    def encoding(self) -> bytes:
        """The element as it was encoded: tag, length and content."""
        return self.source[self.head : self.after]

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)


def _length(data: bytes, pos: int, stop: int) -> tuple[int | None, int]:
    """(length or None for BER's indefinite form, position after the length octets)."""
    if pos >= stop:
        raise DerError("truncated length")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    if first == 0x80:
        return None, pos + 1
    count = first & 0x7F
    if count > 4 or pos + 1 + count > stop:
        raise DerError("bad length")
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


@dataclass
class Budget:
    """Elements left to read; one budget shared by several ``parse`` calls bounds them all together."""

    left: int = MAX_ELEMENTS


class _Reader:
    def __init__(self, data: bytes, levels: int, budget: Budget | None) -> None:
        self.data = data
        self.budget = budget or Budget()
        self.levels = levels  # how deep children are read; below that, only the content's place is kept

    def element(self, pos: int, stop: int, depth: int) -> tuple[Element, int]:
        """The element at ``pos`` (ending by ``stop``) and the position after it."""
        self.budget.left -= 1
        if self.budget.left < 0 or depth > MAX_DEPTH:
            raise DerError("too deeply nested or too many elements")
        if pos >= stop:
            raise DerError("truncated")
        tag = self.data[pos]
        if tag & 0x1F == 0x1F:
            raise DerError("high tag numbers are not used here")
        length, start = _length(self.data, pos + 1, stop)
        if length is None:
            if not tag & 0x20:
                raise DerError("indefinite length on a primitive element")
            return self._indefinite(tag, pos, start, stop, depth)
        end = start + length
        if end > stop:
            raise DerError("truncated")
        children: list[Element] = []
        if tag & 0x20 and depth < self.levels:
            child_pos = start
            while child_pos < end:
                child, child_pos = self.element(child_pos, end, depth + 1)
                children.append(child)
        return Element(tag, self.data, start, end, tuple(children), pos, end), end

    def _indefinite(self, tag: int, head: int, start: int, stop: int, depth: int) -> tuple[Element, int]:
        children: list[Element] = []
        pos = start
        while True:
            if pos + 2 > stop:
                raise DerError("missing end-of-contents")
            if self.data[pos] == 0 and self.data[pos + 1] == 0:
                return Element(tag, self.data, start, pos, tuple(children), head, pos + 2), pos + 2
            child, pos = self.element(pos, stop, depth + 1)
            children.append(child)


def parse(data: bytes, *, levels: int = MAX_DEPTH, budget: Budget | None = None) -> Element:
    """The one element ``data`` holds (nothing may follow it), its children read ``levels`` deep."""
    element, end = _Reader(data, levels, budget).element(0, len(data), 0)
    if end != len(data):
        raise DerError("data after the element")
    return element


def parse_prefix(data: bytes, *, levels: int = MAX_DEPTH, budget: Budget | None = None) -> Element:
    """The element ``data`` starts with, its children read ``levels`` deep; whatever follows it is ignored."""
    return _Reader(data, levels, budget).element(0, len(data), 0)[0]


def walk(element: Element) -> Iterator[Element]:
    """The element and everything inside it, depth first."""
    yield element
    for child in element.children:
        yield from walk(child)


def octets(element: Element) -> bytes:
    """The bytes of an OCTET STRING, also of BER's constructed form (chunks joined)."""
    if not element.constructed:
        return element.content
    return b"".join(octets(child) for child in element.children)


def integer(element: Element) -> int:
    if element.tag != INTEGER or not element.content:
        raise DerError("expected an INTEGER")
    return int.from_bytes(element.content, "big", signed=True)


def oid_text(element: Element) -> str:
    """The dotted form of an OBJECT IDENTIFIER."""
    content = element.content
    if element.tag != OID or not content or content[-1] & 0x80:
        raise DerError("expected an OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def algorithm_oid(element: Element) -> str | None:
    """The OID of an AlgorithmIdentifier (a SEQUENCE that starts with one), else None."""
    if element.tag != SEQUENCE or not element.children or element.children[0].tag != OID:
        return None
    return oid_text(element.children[0])
