"""Hostile input for text extraction: documents of every format and the observable extractor.

Any bytes under any name give a Document or a located InvalidInput (field "file"); any
text gives an Extraction whose spans point into that text.
"""

from __future__ import annotations

import io
import zipfile

from hostile import result_or_located, text_lines
from hypothesis import example, given
from hypothesis import strategies as st

from cyberfusion.ai.documents import FORMATS, read_bytes
from cyberfusion.ai.extract import extract
from cyberfusion.errors import InvalidInput

_NAMES = st.sampled_from(["a.txt", "a.html", "a.pdf", "a.eml", "a.docx", "a.pptx", "a.xlsx", "a.odt", "a.bin",
                          "noext", "a.doc"])
_XML = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["<w:p>", "</w:p>", "<w:t>", "</w:t>", "1.2.3.4", "evil[.]example", "<![CDATA[",
                              "]]>", "&amp;", "&x;", "<!DOCTYPE d [<!ENTITY x 'y'>]>", "<?xml version='1.0'?>",
                              "<a xmlns:w='urn:w'>", "</a>", "<a>", "\x00"]), max_size=20).map("".join),
)
_PARTS = st.sampled_from(["word/document.xml", "word/_rels/document.xml.rels", "ppt/slides/slide1.xml",
                          "xl/sharedStrings.xml", "content.xml", "other.xml", "word/header1.xml"])


@st.composite
def office_files(draw: st.DrawFn) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in draw(st.lists(_PARTS, max_size=4, unique=True)):
            z.writestr(name, draw(_XML).encode("utf-8", "surrogatepass"))
    data = buf.getvalue()
    cut = draw(st.integers(0, len(data)))  # sometimes a truncated archive
    return data if draw(st.booleans()) else data[:cut]


_EML = st.lists(st.one_of(
    st.sampled_from(["From: a@b.example", "To: c@d.example", "Subject: =?utf-8?b?w6k=?=",
                     "Content-Type: multipart/mixed; boundary=X", "--X", "--X--",
                     "Content-Type: text/html", "Content-Transfer-Encoding: base64",
                     "Content-Disposition: attachment; filename=a.docx", "Content-Type: text/plain; charset=bogus",
                     "", "hxxp://evil[.]example/x", "UEsDBA=="]),
    st.text(max_size=40)), max_size=15).map("\n".join)


@given(st.one_of(st.binary(max_size=800), office_files(), _EML.map(lambda s: s.encode("utf-8", "surrogatepass"))),
       _NAMES, st.one_of(st.none(), st.sampled_from(FORMATS)))
@example(b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj trailer<</Root 1 0 R>>", "a.pdf", None)
@example(b"ContenT-type:charset\n\x00", "a.eml", None)  # regression: empty charset raised LookupError
@example(b"Content-Type: text/plain; charset=x-no-such\n\nbody 1.2.3.4", "a.eml", None)
def test_any_document_gives_text_or_located_error(data: bytes, name: str, fmt: str | None) -> None:
    out = result_or_located(lambda: read_bytes(data, name=name, fmt=fmt))
    if isinstance(out, InvalidInput):
        assert out.problems[0].field == "file" or out.problems[0].field == "format"
    else:
        assert isinstance(out.text, str) and out.format in FORMATS


@given(st.one_of(text_lines, st.text(max_size=500)), st.booleans())
@example("a" * 20_000 + "@" + "b." * 5_000, False)
@example("1." * 10_000, False)
def test_extract_any_text_gives_spans_inside_the_text(text: str, keep_reserved: bool) -> None:
    result = extract(text, keep_reserved=keep_reserved)
    for found in result.found:
        assert 0 <= found.start <= found.end <= len(text)
        assert 0 <= found.confidence <= 1
