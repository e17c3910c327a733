"""Files to chunks: text, Markdown, HTML and PDF, split by size with overlap at sentence and heading
boundaries. Used by the server's upload endpoint and by the CLI (which chunks locally and sends
batches), so both make exactly the same chunks and ids: `<source>#<position>`.

A chunk never spans two sections (a Markdown or HTML heading starts a new one) and breaks between
sentences where it can; only a single sentence longer than the chunk size is cut inside, at a space.
Each chunk keeps its source, position, character offsets, heading and (for PDFs) page.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidRequest

EXTENSIONS = {".txt": "text", ".text": "text", ".rst": "text", ".md": "markdown", ".markdown": "markdown",
              ".html": "html", ".htm": "html", ".pdf": "pdf"}
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*+]|\d+\.)[ \t])")


@dataclass
class Chunk:
    text: str
    position: int
    start: int
    end: int
    heading: str | None = None
    page: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def document(self, source: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {**(extra or {}), "source": source, "position": self.position, "start": self.start,
                                "end": self.end}
        if self.heading:
            meta["heading"] = self.heading
        if self.page is not None:
            meta["page"] = self.page
        return {"id": f"{source}#{self.position}", "text": self.text, "metadata": meta}


class _HtmlText(HTMLParser):
    """Visible text, with headings written as Markdown headings so the chunker sees the sections."""

    BLOCKS = {"p", "div", "section", "article", "li", "ul", "ol", "br", "tr", "table", "pre", "blockquote",
              "header", "footer", "main", "nav", "aside", "dd", "dt", "figcaption"}
    SKIP = {"script", "style", "noscript", "template", "head", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.title: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.SKIP:
            self.skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag != "li" else "\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title and self.title is None and data.strip():
            self.title = data.strip()
        if not self.skip:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def _decode(data: bytes, source: str) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidRequest(f"{source}: not UTF-8 text; convert it or give a PDF", param="file", code="unreadable_file")


def extract(source: str, data: bytes, kind: str | None = None) -> tuple[str, list[int], dict[str, Any]]:
    """The text of a file, the offsets where its pages start (PDF), and file-level metadata."""
    kind = kind or EXTENSIONS.get(Path(source).suffix.lower())
    if kind is None:
        raise InvalidRequest(f"{source}: unsupported file type (supported: {', '.join(sorted(EXTENSIONS))})",
                             param="file", code="unsupported_file")
    meta: dict[str, Any] = {}
    pages: list[int] = []
    if kind == "pdf":
        text, pages, meta = _pdf(source, data)
    elif kind == "html":
        parser = _HtmlText()
        parser.feed(_decode(data, source))
        parser.close()
        text = re.sub(r"\n{3,}", "\n\n", "".join(parser.parts))
        text = "\n".join(line.strip() for line in text.split("\n"))
        if parser.title:
            meta["title"] = parser.title
    else:
        text = _decode(data, source).replace("\r\n", "\n")
    if "\x00" in text:
        raise InvalidRequest(f"{source}: looks binary, not {kind}", param="file", code="unreadable_file")
    if not text.strip():
        raise InvalidRequest(f"{source}: no text in the file (empty, or a scanned PDF without a text layer)",
                             param="file", code="empty_file")
    return text, pages, meta


def _pdf(source: str, data: bytes) -> tuple[str, list[int], dict[str, Any]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidRequest(f"{source}: the PDF is encrypted", param="file", code="unreadable_file")
        texts = [page.extract_text() or "" for page in reader.pages]
        meta = {}
        if reader.metadata and reader.metadata.title:
            meta["title"] = str(reader.metadata.title)
    except InvalidRequest:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InvalidRequest(f"{source}: unreadable PDF ({exc})", param="file", code="unreadable_file") from None
    pages, parts, offset = [], [], 0
    for text in texts:
        pages.append(offset)
        parts.append(text)
        offset += len(text) + 2
    return "\n\n".join(parts), pages, meta


def _sections(text: str) -> Iterator[tuple[int, int, str | None]]:
    """(start, end, heading) spans; a heading line begins a section and belongs to it."""
    marks = [(m.start(), m.group(2).strip()) for m in HEADING.finditer(text)]
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0, None))  # type: ignore[arg-type]
    for i, (start, heading) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        yield start, end, heading


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, cursor = [], start
    for m in BOUNDARY.finditer(text, start, end):
        if m.start() > cursor:
            spans.append((cursor, m.start()))
        cursor = m.end()
    if cursor < end:
        spans.append((cursor, end))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _split_long(text: str, a: int, b: int, size: int) -> list[tuple[int, int]]:
    out = []
    while b - a > size:
        cut = text.rfind(" ", a + size // 2, a + size)
        cut = cut if cut > a else a + size
        out.append((a, cut))
        a = cut + 1 if text[cut:cut + 1] == " " else cut
    out.append((a, b))
    return out


def chunk_text(text: str, *, size: int = 1000, overlap: int = 150, pages: list[int] | None = None) -> list[Chunk]:
    """Pack sentences into chunks of at most `size` characters, each repeating up to `overlap`
    characters of whole sentences from the end of the one before (within the same section)."""
    if size < 50:
        raise InvalidRequest("chunk size must be at least 50 characters", param="chunk_size")
    if not 0 <= overlap < size:
        raise InvalidRequest("chunk overlap must be at least 0 and smaller than the chunk size", param="overlap")
    chunks: list[Chunk] = []
    for sec_start, sec_end, heading in _sections(text):
        spans = [piece for a, b in _sentences(text, sec_start, sec_end) for piece in _split_long(text, a, b, size)]
        current: list[tuple[int, int]] = []
        for span in spans:
            if current and span[1] - current[0][0] > size:
                chunks.append(_make(text, current, heading, len(chunks), pages))
                carry: list[tuple[int, int]] = []
                for prev in reversed(current):
                    if current[-1][1] - prev[0] > overlap or span[1] - prev[0] > size:
                        break
                    carry.insert(0, prev)
                current = carry
            current.append(span)
        if current:
            chunks.append(_make(text, current, heading, len(chunks), pages))
    return [c for c in chunks if c.text]


def _make(text: str, spans: list[tuple[int, int]], heading: str | None, position: int,
          pages: list[int] | None) -> Chunk:
    start, end = spans[0][0], spans[-1][1]
    page = bisect.bisect_right(pages, start) if pages else None
    return Chunk(text=text[start:end].strip(), position=position, start=start, end=end, heading=heading, page=page)


def file_documents(source: str, data: bytes, *, size: int = 1000, overlap: int = 150,
                   metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A file as documents ready to upsert (ids `<source>#<position>`)."""
    text, pages, file_meta = extract(source, data)
    extra = {**file_meta, **(metadata or {})}
    return [c.document(source, extra) for c in chunk_text(text, size=size, overlap=overlap, pages=pages or None)]


def walk(root: Path) -> list[Path]:
    """Supported files under a folder (or the file itself), in a stable order; hidden ones skipped."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InvalidRequest(f"{root}: no such file or folder", param="path")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))
