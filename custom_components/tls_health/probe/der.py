"""The little of DER the probe writes and reads itself: a definite-length element, an INTEGER."""

from __future__ import annotations

from typing import Final

LONG_FORM: Final = 0x80
INTEGER: Final = 0x02
SEQUENCE: Final = 0x30


def element(tag: int, value: bytes) -> bytes:
    """Encode an element with a short or long definite length."""
    size = len(value)
    if size < LONG_FORM:
        return bytes([tag, size]) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, LONG_FORM | len(length)]) + length + value


def integer(value: int) -> bytes:
    """Encode a non-negative INTEGER (minimal, as a CRL entry holds a serial)."""
    return element(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def header(data: bytes, at: int, max_length_octets: int) -> tuple[int, int] | None:
    """Return where the content of the element at `at` starts, and its length.

    None when the length takes more than `max_length_octets` octets or runs past `data`.
    """
    if at + 2 > len(data):
        return None
    first, start = data[at + 1], at + 2
    length = first
    if first & LONG_FORM:
        count = first & ~LONG_FORM
        if not 1 <= count <= max_length_octets or start + count > len(data):
            return None
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return (start, length) if start + length <= len(data) else None
