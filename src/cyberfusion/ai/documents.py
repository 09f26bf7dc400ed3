"""Plain text out of the documents analysts receive: text, HTML, PDF, e-mail (.eml), office files.

Extraction positions refer to the text returned here. Office files are ZIP archives of
XML: they are read with ``defusedxml`` (no DTDs, no entity expansion) and with a cap on
what may be decompressed, so a crafted document cannot blow up memory. Nothing here
fetches anything: links are listed, never followed.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from cyberfusion.errors import InvalidInput

MAX_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED = 200 * 1024 * 1024
FORMATS = ("text", "html", "pdf", "eml", "docx", "pptx", "xlsx", "odt")
_EXTENSIONS = {
    ".txt": "text", ".md": "text", ".csv": "text", ".log": "text", ".json": "text", ".ioc": "text",
    ".html": "html", ".htm": "html", ".xhtml": "html", ".pdf": "pdf", ".eml": "eml",
    ".docx": "docx", ".docm": "docx", ".pptx": "pptx", ".pptm": "pptx", ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".odt": "odt", ".ods": "odt", ".odp": "odt",
}


@dataclass(frozen=True, slots=True)
class Document:
    name: str
    format: str
    sha256: str
    text: str

    def source(self) -> dict[str, object]:
        return {"file": self.name, "format": self.format, "sha256": self.sha256, "characters": len(self.text)}


def sniff(name: str, data: bytes) -> str:
    fmt = _EXTENSIONS.get(Path(name).suffix.lower())
    if fmt:
        return fmt
    head = data[:1024].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "pdf"
    if head.startswith(b"pk\x03\x04"):
        return "docx"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "html"
    if re.match(rb"(?:received|from|return-path|message-id|mime-version|subject|date|to):", head):
        return "eml"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidInput("legacy binary Office files (.doc, .xls, .ppt) are not supported: save as .docx "
                           "or PDF", field="file")
    return "text"


def read_path(path: Path, *, fmt: str | None = None) -> Document:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="file")
    if path.stat().st_size > MAX_BYTES:
        raise InvalidInput(f"larger than {MAX_BYTES // (1024 * 1024)} MB", field="file")
    return read_bytes(path.read_bytes(), name=path.name, fmt=fmt)


def read_bytes(data: bytes, *, name: str, fmt: str | None = None) -> Document:
    """The document's text; ``fmt`` overrides what the name and the first bytes suggest."""
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"larger than {MAX_BYTES // (1024 * 1024)} MB", field="file")
    fmt = fmt or sniff(name, data)
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown document format {fmt!r}; one of: {', '.join(FORMATS)}", field="format")
    reader = {"text": _text, "html": _html_bytes, "pdf": _pdf, "eml": _eml, "docx": _office,
              "pptx": _office, "xlsx": _office, "odt": _office}[fmt]
    return Document(name, fmt, hashlib.sha256(data).hexdigest(), reader(data))


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def _text(data: bytes) -> str:
    return _decode(data)


# --- HTML ----------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
                         "table", "section", "article", "header", "footer", "blockquote", "dt", "dd", "hr"})


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "td":
            self.parts.append("\t")
        if tag == "a":
            href = dict(attrs).get("href")
            if href and not href.startswith(("#", "javascript:", "mailto:")):
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """Visible text of an HTML page; link targets not shown in the text follow under 'Links:'."""
    parser = _TextParser()
    parser.feed(markup)
    parser.close()
    text = re.sub(r"[ \t]*\n[ \t\n]*", "\n", "".join(parser.parts)).strip()
    hidden = [link for link in dict.fromkeys(parser.links) if link not in text]
    return text + ("\n\nLinks:\n" + "\n".join(hidden) if hidden else "")


def _html_bytes(data: bytes) -> str:
    return html_text(_decode(data))


# --- PDF -----------------------------------------------------------------------------------

def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InvalidInput("the PDF is encrypted", field="file")
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError) as exc:
        raise InvalidInput(f"not a readable PDF: {exc}", field="file") from None


# --- e-mail --------------------------------------------------------------------------------

_HEADERS = ("From", "Reply-To", "Return-Path", "Sender", "To", "Cc", "Subject", "Date", "X-Originating-IP",
            "Received")


def _part_text(part: email.message.EmailMessage) -> str:
    """A text part's content; an unknown or lying charset falls back to the raw bytes' best decoding."""
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError, ValueError):
        return _decode(part.get_payload(decode=True) or b"")


def _eml(data: bytes) -> str:
    try:
        return _eml_text(data)
    except (LookupError, UnicodeError, ValueError, IndexError, AttributeError, TypeError) as exc:
        # The stdlib parser is lenient but its header objects can still fail on crafted input.
        raise InvalidInput(f"not a readable e-mail message: {exc}", field="file") from None


def _eml_text(data: bytes) -> str:
    message = email.message_from_bytes(data, policy=email.policy.default)
    lines = [f"{name}: {value}" for name in _HEADERS for value in message.get_all(name, [])]
    body: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        ctype = part.get_content_type()
        payload = part.get_payload(decode=True) or b""
        if filename:
            lines.append(f"Attachment: {filename} ({ctype}, {len(payload)} bytes, "
                         f"SHA256 {hashlib.sha256(payload).hexdigest()})")
            fmt = _EXTENSIONS.get(Path(filename).suffix.lower())
            if fmt and fmt != "eml" and payload:
                try:
                    body.append(f"--- attachment {filename} ---\n" + read_bytes(payload, name=filename).text)
                except InvalidInput:
                    pass
        elif ctype == "text/plain":
            body.append(_part_text(part))
        elif ctype == "text/html" and not any(p.get_content_type() == "text/plain" for p in message.walk()):
            body.append(html_text(_part_text(part)))
    return "\n".join(lines) + "\n\n" + "\n\n".join(body)


# --- office documents ------------------------------------------------------------------------

_OFFICE_PARTS = re.compile(r"(?:word/(?:document|header\d*|footer\d*|footnotes|endnotes|comments)"
                           r"|ppt/slides/slide\d+|ppt/notesSlides/notesSlide\d+|xl/sharedStrings|content)\.xml\Z")
_RELS = re.compile(r"(?:word|ppt/slides|xl/worksheets)/_rels/[^/]+\.rels\Z")
_PARAGRAPH_TAGS = frozenset({"p", "h", "br", "tab", "si", "row", "tr", "cr", "line-break"})


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_text(xml: bytes) -> str:
    from defusedxml import ElementTree as SafeTree
    from defusedxml.common import DefusedXmlException

    try:
        root = SafeTree.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SafeTree.ParseError) as exc:
        raise InvalidInput(f"unsafe or malformed XML inside the document: {exc}", field="file") from None
    out: list[str] = []

    def walk(element) -> None:  # type: ignore[no-untyped-def]
        name = _local(element.tag)
        if element.text and name not in ("rPr", "pPr", "instrText"):
            out.append(element.text)
        for child in element:
            walk(child)
        if name in _PARAGRAPH_TAGS:
            out.append("\n")
        elif name in ("c", "tc", "table-cell"):
            out.append("\t")
        if element.tail and element.tail.strip():
            out.append(element.tail)

    walk(root)
    return "".join(out)


def _office(data: bytes) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = [info for info in sorted(archive.infolist(), key=lambda i: _natural(i.filename))
                 if _OFFICE_PARTS.search(info.filename) or _RELS.search(info.filename)]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise InvalidInput("not an Office Open XML or OpenDocument file", field="file") from None
    bomb = InvalidInput("the document expands too much when unpacked (a ZIP bomb?)", field="file")
    # Declared sizes first (nothing is unpacked for a bomb that admits it), then the bytes really
    # read, so a part that understates its size cannot get past the limit either.
    if sum(info.file_size for info in parts) > MAX_UNZIPPED or any(
            info.compress_size and info.file_size / info.compress_size > 200 for info in parts):
        raise bomb
    budget = MAX_UNZIPPED
    texts: list[str] = []
    links: list[str] = []
    for info in parts:
        try:
            with archive.open(info) as member:
                xml = member.read(budget + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, ValueError) as exc:
            # A bad CRC or a size that lies, an unsupported compression method, an encrypted part.
            raise InvalidInput(f"a damaged or unreadable part in the document: {exc}", field="file") from None
        budget -= len(xml)
        if budget < 0:
            raise bomb
        if _RELS.search(info.filename):
            links += re.findall(rb'Target="([^"]+)"[^>]*TargetMode="External"', xml)  # type: ignore[arg-type]
        else:
            texts.append(_xml_text(xml))
    if not texts:
        raise InvalidInput("no text parts found (not a .docx, .pptx, .xlsx or OpenDocument file?)", field="file")
    text = "\n".join(t.strip() for t in texts if t.strip())
    hidden = [link.decode("utf-8", "replace") for link in dict.fromkeys(links)]
    hidden = [link for link in hidden if link not in text]
    return text + ("\n\nLinks:\n" + "\n".join(hidden) if hidden else "")


def _natural(name: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


__all__ = ["Document", "read_path", "read_bytes", "html_text", "sniff", "FORMATS"]
