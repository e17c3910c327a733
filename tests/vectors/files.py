"""Small real files for ingestion tests (a PDF with a text layer is written by hand: no generator needed)."""

from __future__ import annotations


def pdf_bytes(pages: list[str]) -> bytes:
    """A valid PDF with one text line per page, readable by pypdf."""
    objects: list[bytes] = []
    kids = []
    for i, text in enumerate(pages):
        page_id, content_id = 4 + 2 * i, 5 + 2 * i
        kids.append(f"{page_id} 0 R")
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
                       f"/Resources << /Font << /F1 3 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    head = [b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode(),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    body = b"%PDF-1.4\n"
    offsets = []
    for n, obj in enumerate(head + objects, 1):
        offsets.append(len(body))
        body += f"{n} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body


MARKDOWN = """# Shipyard guide

Shipyard is a self-hosted LLMOps platform. It serves local and hosted models behind one API.

## Installing

Run the setup script once. It creates a virtual environment and compiles llama.cpp.

## Vector search

Collections hold documents with embeddings. Hybrid search fuses keyword and vector rankings.
"""

HTML = """<!doctype html><html><head><title>Harbour rules</title><style>p{color:red}</style>
<script>var tracking = "should never be indexed";</script></head>
<body><h1>Harbour rules</h1><p>Boats must moor at the eastern pier after sunset.</p>
<h2>Fees</h2><p>The mooring fee is twelve euros per night &amp; payable at the office.</p></body></html>"""
