"""Extraction and chunking of text, Markdown, HTML and PDF files, and ingestion into a collection."""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidRequest
from shipyard.vectors.ingest import chunk_text, extract, file_documents
from shipyard.vectors.service import VectorService
from tests.vectors.files import HTML, MARKDOWN, pdf_bytes


def test_chunks_respect_sentences_headings_size_and_overlap() -> None:
    body = " ".join(f"Sentence number {i} talks about topic {i % 3}." for i in range(40))
    text = f"# Alpha\n\n{body}\n\n# Beta\n\nA short closing section."
    chunks = chunk_text(text, size=200, overlap=60)
    assert all(len(c.text) <= 200 for c in chunks)
    assert all(c.text.rstrip().endswith(".") for c in chunks if c.heading == "Alpha")  # whole sentences
    assert chunks[-1].heading == "Beta" and chunks[-1].text.startswith("# Beta")
    assert not any("Beta" in c.text for c in chunks[:-1])  # no chunk spans two sections
    alpha = [c for c in chunks if c.heading == "Alpha"]
    for prev, nxt in zip(alpha, alpha[1:], strict=False):
        first_sentence = nxt.text.split(". ")[0] + "."
        assert first_sentence in prev.text  # overlap carries whole sentences
        assert text[nxt.start:nxt.end].strip() == nxt.text
    assert [c.position for c in chunks] == list(range(len(chunks)))
    long_word_run = "word " * 300
    assert all(len(c.text) <= 100 for c in chunk_text(long_word_run, size=100, overlap=0))
    with pytest.raises(InvalidRequest):
        chunk_text("x", size=100, overlap=100)


def test_markdown_html_and_pdf_extraction() -> None:
    md = file_documents("guide.md", MARKDOWN.encode(), size=200, overlap=0)
    assert [d["metadata"]["heading"] for d in md] == ["Shipyard guide", "Installing", "Vector search"]
    assert md[1]["id"] == "guide.md#1" and md[1]["metadata"]["source"] == "guide.md"
    text, _, meta = extract("rules.html", HTML.encode())
    assert "eastern pier" in text and "twelve euros per night & payable" in text
    assert "tracking" not in text and "color:red" not in text and meta["title"] == "Harbour rules"
    docs = file_documents("manual.pdf", pdf_bytes(["Page one is about anchors.", "Page two is about sails."]),
                          size=50, overlap=0)
    assert [(d["text"], d["metadata"]["page"]) for d in docs] == [("Page one is about anchors.", 1),
                                                                  ("Page two is about sails.", 2)]


@pytest.mark.parametrize("name,data,code", [
    ("empty.txt", b"", "empty_file"),
    ("blank.md", b"  \n\n ", "empty_file"),
    ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "unreadable_file"),
    ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "unreadable_file"),
    ("image.png", b"\x89PNG....", "unsupported_file"),
])
def test_bad_files_are_clear_errors(name: str, data: bytes, code: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        file_documents(name, data)
    assert err.value.code == code and name in err.value.message


async def test_ingest_is_idempotent_and_syncs_changed_files(vectors: VectorService) -> None:
    await vectors.create("guide")
    files = [("guide.md", MARKDOWN.encode()), ("rules.html", HTML.encode()),
             ("manual.pdf", pdf_bytes(["Anchors hold the boat.", "Sails catch the wind."]))]
    first = await vectors.ingest_files("guide", files, chunk_size=200, overlap=0)
    assert first["upserted"] == first["chunks"] >= 6
    again = await vectors.ingest_files("guide", files, chunk_size=200, overlap=0)
    assert again["upserted"] == 0 and sum(f["unchanged"] for f in again["files"]) == first["chunks"]
    shorter = await vectors.ingest_files("guide", [("guide.md", b"# Shipyard guide\n\nNow just one line.")],
                                         chunk_size=200, overlap=0)
    assert shorter["files"][0]["deleted"] == 2
    hits = await vectors.search("guide", "mooring fee per night", top_k=1)
    assert hits[0].metadata["source"] == "rules.html" and hits[0].metadata["heading"] == "Fees"
    with pytest.raises(InvalidRequest):  # one bad file: nothing of the request is written
        await vectors.ingest_files("guide", [("new.md", b"# New\n\nFresh text."), ("empty.txt", b"")])
    assert not await vectors.search("guide", "Fresh text", mode="keyword")
