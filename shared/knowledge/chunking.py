"""Splitting a document into overlapping fragments, sized as ElizaOS's knowledge plugin sizes them.

ElizaOS's plugin-knowledge splits with `splitChunks(text, 500, 100)`: 500 "tokens" per fragment
and 100 of overlap, counted as 3.5 characters each (1,750 and 350 characters), by a recursive
character splitter that cuts at paragraph breaks first, then lines, then words, then characters.
`split_chunks` does the same with its own code: each fragment is at most `chunk_tokens * 3.5`
characters, and each starts with up to `overlap_tokens * 3.5` characters of the end of the one
before, so a sentence cut at a boundary is whole in one of the two. As in the splitter ElizaOS
uses, the overlap is made of whole pieces at the level the cut was made: where a fragment ends
at a paragraph break and the paragraphs are longer than the overlap, the next one starts fresh.
"""

from __future__ import annotations

from collections import deque

CHARS_PER_TOKEN = 3.5
DEFAULT_CHUNK_TOKENS = 500
DEFAULT_OVERLAP_TOKENS = 100
SEPARATORS = ("\n\n", "\n", " ", "")
"""Where to cut, most preferred first: paragraphs, lines, words, anywhere."""


def split_chunks(
    text: str,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[str]:
    """The fragments of `text` (stripped, none empty), in order; [] for blank text.

    A ValueError when the sizes make no sense (a fragment of no characters, or an overlap as long
    as a fragment)."""
    size = int(chunk_tokens * CHARS_PER_TOKEN)
    overlap = int(overlap_tokens * CHARS_PER_TOKEN)
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(
            f"fragments of {chunk_tokens} tokens with {overlap_tokens} of overlap: the size must "
            "be positive and the overlap smaller than it"
        )
    if not text.strip():
        return []
    return [c for c in _split(text, SEPARATORS, size, overlap) if c]


def _split(text: str, separators: tuple[str, ...], size: int, overlap: int) -> list[str]:
    """Cut at the first separator `text` contains; pieces still too long are cut again at the
    next separators, and neighbouring short pieces are merged back up to `size`."""
    separator = ""
    finer: tuple[str, ...] = ()
    for i, candidate in enumerate(separators):
        if candidate == "" or candidate in text:
            separator, finer = candidate, separators[i + 1 :]
            break
    pieces = list(text) if separator == "" else text.split(separator)
    chunks: list[str] = []
    short: list[str] = []
    for piece in pieces:
        if not piece.strip() and separator != "":
            continue
        if len(piece) <= size:
            short.append(piece)
            continue
        if short:
            chunks += _merge(short, separator, size, overlap)
            short = []
        chunks += _split(piece, finer, size, overlap) if finer else [piece[:size]]
    if short:
        chunks += _merge(short, separator, size, overlap)
    return chunks


def _merge(pieces: list[str], separator: str, size: int, overlap: int) -> list[str]:
    """Join pieces (each at most `size`) into fragments of at most `size` characters; each new
    fragment starts with the last pieces of the previous one, up to `overlap` characters."""
    gap = len(separator)
    out: list[str] = []
    window: deque[str] = deque()
    length = 0  # len(separator.join(window))
    for piece in pieces:
        if window and length + gap + len(piece) > size:
            out.append(separator.join(window).strip())
            while window and (length > overlap or length + gap + len(piece) > size):
                length -= len(window[0]) + (gap if len(window) > 1 else 0)
                window.popleft()
        length += len(piece) + (gap if window else 0)
        window.append(piece)
    if window:
        out.append(separator.join(window).strip())
    return [c for c in out if c]
