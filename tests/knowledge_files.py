"""Knowledge test files made by the tests themselves: text files and a one-page PDF."""

from __future__ import annotations

from pathlib import Path


def tiny_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF whose text layer holds `lines` (Helvetica, one per line), written
    out by hand: what a word processor's "save as PDF" gives, with nothing else in it."""
    escaped = [s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for s in lines]
    text_ops = " ".join(f"({s}) Tj 0 -16 Td" for s in escaped)
    stream = f"BT /F1 12 Tf 72 720 Td {text_ops} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def write_pdf(path: Path, lines: list[str]) -> Path:
    """`tiny_pdf(lines)` written to `path`."""
    path.write_bytes(tiny_pdf(lines))
    return path


def long_text(fact: str, paragraphs: int = 8) -> str:
    """A document of several fragments with `fact` in its middle paragraph (filler around it)."""
    filler = [
        f"Paragraph {i} is about the harbour's ordinary days: boats, nets, weather and the gulls "
        f"that follow the trawlers home. " * 6
        for i in range(paragraphs)
    ]
    filler[paragraphs // 2] = fact
    return "\n\n".join(filler)
