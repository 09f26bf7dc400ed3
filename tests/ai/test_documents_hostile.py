"""XML entities and ZIP bombs in the documents analysts upload: refused, quickly, with field 'file'.

Office files are the only archives and the only XML the platform reads (ai/documents.py).
"""

from __future__ import annotations

import io
import struct
import time
import zipfile

import pytest

from cyberfusion.ai.documents import MAX_UNZIPPED, read_bytes
from cyberfusion.errors import InvalidInput

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx(document: bytes | str, *, extra: dict[str, bytes] | None = None,
         method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr("word/document.xml", document)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def refused(data: bytes, name: str = "a.docx") -> InvalidInput:
    started = time.monotonic()
    with pytest.raises(InvalidInput) as caught:
        read_bytes(data, name=name)
    assert time.monotonic() - started < 5  # refused, not expanded first
    assert caught.value.field == "file"
    return caught.value


def test_a_plain_docx_is_read() -> None:
    text = read_bytes(docx(f"<w:document {W}><w:body><w:p><w:r><w:t>C2 at 198.51.100.7</w:t></w:r></w:p>"
                           "</w:body></w:document>"), name="a.docx").text
    assert text == "C2 at 198.51.100.7"


def test_external_entities_are_not_resolved() -> None:
    xxe = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           f"<w:document {W}><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>")
    err = refused(docx(xxe))
    assert "root:" not in str(err.detail) and "unsafe or malformed XML" in err.detail


def test_entity_expansion_billion_laughs_is_refused() -> None:
    lol = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE d [{lol}]><w:document {W}><w:t>&a9;</w:t></w:document>'
    refused(docx(bomb))


def test_a_highly_compressed_part_is_refused_as_a_zip_bomb() -> None:
    body = f"<w:document {W}><w:t>" + " " * (20 * 1024 * 1024) + "</w:t></w:document>"
    data = docx(body)
    assert len(data) < 100_000  # 20 MB of spaces in a few kB
    assert "ZIP bomb" in refused(data).detail


def test_parts_declaring_more_than_the_unpacked_limit_are_refused_before_reading() -> None:
    many = docx(f"<w:document {W}/>", extra={f"word/header{i}.xml": f"<w:hdr {W}/>" for i in range(1, 5)})
    assert "ZIP bomb" in refused(_lie_about_size(many, MAX_UNZIPPED // 4 + 1)).detail


def _lie_about_size(data: bytes, size: int) -> bytes:
    """The archive with every entry's declared uncompressed size replaced (local and central headers)."""
    out = bytearray(data)
    pos = 0
    while (pos := out.find(b"PK\x03\x04", pos)) != -1:
        out[pos + 22:pos + 26] = struct.pack("<I", size)
        pos += 4
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) != -1:
        out[pos + 24:pos + 28] = struct.pack("<I", size)
        pos += 4
    return bytes(out)


def test_a_part_that_understates_its_size_is_refused() -> None:
    # Regression: the declared size passed the checks and zipfile then failed with BadZipFile
    # (a 500) when the data ran past it.
    honest = docx(f"<w:document {W}><w:t>" + "x" * 50_000 + "</w:t></w:document>")
    assert "damaged or unreadable" in refused(_lie_about_size(honest, 10)).detail


@pytest.mark.parametrize("garbage", [b"PK\x03\x04" + b"\x00" * 40, b"PK\x05\x06" + b"\x00" * 18])
def test_a_broken_archive_is_refused(garbage: bytes) -> None:
    refused(garbage)
