"""Attachments are typed by their content: the name and the claimed type do not count."""

from __future__ import annotations

import struct
import zlib

import pytest

from hub.attachments.service import (
    EmptyFile,
    TooLarge,
    UnsupportedType,
    check_upload,
)
from hub.attachments.sniff import content_type


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"\x00" * 64 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.mark.parametrize(
    ("data", "mime"),
    [(JPEG, "image/jpeg"), (png_bytes(), "image/png"), (PDF, "application/pdf")],
)
def test_the_three_accepted_kinds_are_known_by_their_first_bytes(data: bytes, mime: str) -> None:
    assert content_type(data) == mime
    assert check_upload(data) == mime


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 40,  # a real image kind, but not one the contract accepts
        b"PK\x03\x04" + b"\x00" * 40,  # a zip (or docx) named photo.jpg
        b"<html><body>not a photo</body></html>",
        b"MZ\x90\x00" + b"\x00" * 60,  # a Windows program
        b"hello, world",
        b"\xff\xd8",  # too short to be a JPEG's signature
    ],
)
def test_anything_else_is_refused_whatever_it_is_called(data: bytes) -> None:
    assert content_type(data) is None
    with pytest.raises(UnsupportedType) as refused:
        check_upload(data)
    assert refused.value.field == "file"
    assert "JPEG" in refused.value.message


def test_size_is_checked_before_type_and_the_limit_is_named() -> None:
    with pytest.raises(TooLarge) as refused:
        check_upload(JPEG + b"\x00" * 2048, max_bytes=2048)
    assert refused.value.limit == 2048
    assert "2 KiB" in refused.value.message
    assert check_upload(JPEG, max_bytes=len(JPEG)) == "image/jpeg"


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(EmptyFile):
        check_upload(b"")
