"""What can be ingested: .md, .txt and .pdf files, folders of them, and a character's `knowledge`.

Each becomes a `KnowledgeSource`: its text, where it came from, and the SHA-256 of its content,
from which the document's id is derived (`ingest.document_id`), so an unchanged file is
recognised without reading the log, and a changed one gets a new document that replaces the old.

A character's `knowledge` entries take ElizaOS's three shapes (its character schema's
`knowledgeItemSchema`): a string is knowledge itself (as plugin-knowledge's
`processCharacterKnowledge`, including its "Path: <file>" first line, kept as metadata);
`{"path": "file"}` is one file; `{"directory": "folder"}` is every supported file under a folder.
Relative paths are read from the folder of the character file (`Character.source_dir`), or the
current directory for a character that did not come from a file. PDFs are read with pypdf.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.character import Character
from shared.errors import KnowledgeError

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
}
"""The file types ingested, by extension (lower case)."""

CHARACTER_ORIGIN = "character"
"""`metadata.source` of documents that come from the character's `knowledge`: the agent's start
keeps exactly those in step with the character (`ingest.remove_documents`)."""

ADDED_ORIGIN = "knowledge-add"
"""`metadata.source` of documents added with `elizabus knowledge add`."""

_PATH_LINE = re.compile(r"^Path: (.+?)\r?\n")


@dataclass(frozen=True)
class KnowledgeSource:
    """One document to ingest: its text, its origin and identity, and its metadata.

    `path` is the file's absolute path (None for inline text): a later version of the same path
    replaces this one. `content_hash` is the SHA-256 of the file's bytes (of the text for inline
    knowledge). `metadata` goes onto the document and its fragments (filename, title, fileExt,
    contentType, fileSize)."""

    text: str
    origin: str
    content_hash: str
    path: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def source_from_text(text: str, origin: str = CHARACTER_ORIGIN) -> KnowledgeSource:
    """Inline knowledge (a character's string entry). A first line "Path: <file>" (ElizaOS's
    convention for knowledge loaded from files) becomes its path/filename/title metadata."""
    if not text.strip():
        raise KnowledgeError("a knowledge entry is empty: remove it from the character's knowledge")
    metadata: dict[str, Any] = {"contentType": "text/plain", "fileSize": len(text.encode())}
    match = _PATH_LINE.match(text)
    if match:
        named = Path(match.group(1).strip())
        metadata |= {"filename": named.name, "title": named.stem, "fileExt": named.suffix[1:]}
        metadata["originalPath"] = str(named)
    return KnowledgeSource(
        text=text, origin=origin, content_hash=_sha256(text.encode()), metadata=metadata
    )


def source_from_file(path: Path, origin: str = ADDED_ORIGIN) -> KnowledgeSource:
    """A .md, .txt or .pdf file as a source (KnowledgeError when it cannot be read, its type is
    not supported, or it holds no text)."""
    path = path.expanduser().resolve()
    content_type = CONTENT_TYPES.get(path.suffix.lower())
    if content_type is None:
        raise KnowledgeError(
            f"{path}: {path.suffix or 'no extension'} files are not ingested; give .md, .txt or "
            ".pdf files (convert other formats to one of them first)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(f"cannot read {path}: {exc}") from exc
    text = _pdf_text(data, path) if content_type == "application/pdf" else _decoded(data, path)
    if not text.strip():
        raise KnowledgeError(
            f"{path} holds no text"
            + (" (a scanned PDF has none: run OCR on it first)" if path.suffix == ".pdf" else "")
        )
    metadata = {
        "filename": path.name,
        "title": path.stem,
        "fileExt": path.suffix[1:].lower(),
        "contentType": content_type,
        "fileSize": len(data),
    }
    return KnowledgeSource(
        text=text, origin=origin, content_hash=_sha256(data), path=str(path), metadata=metadata
    )


def sources_from_paths(
    paths: Iterable[Path], origin: str = ADDED_ORIGIN, *, base: Path | None = None
) -> list[KnowledgeSource]:
    """The sources of files and folders (folders: every supported file under them, in name
    order, hidden ones skipped). Relative paths are taken from `base` (default: the current
    directory). A path that does not exist is a KnowledgeError; in a folder, files of other
    types are skipped with a log line."""
    sources: list[KnowledgeSource] = []
    for given in paths:
        path = given.expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if path.is_dir():
            sources += [source_from_file(f, origin) for f in _files_under(path)]
        elif path.exists():
            sources.append(source_from_file(path, origin))
        else:
            raise KnowledgeError(f"{path} does not exist: check the path")
    return sources


def character_sources(character: Character) -> list[KnowledgeSource]:
    """The sources of the character's `knowledge` entries (see the module docstring). An entry
    that cannot be read is logged and skipped, so one bad file does not stop the agent."""
    base = character.source_dir or Path.cwd()
    sources: list[KnowledgeSource] = []
    for entry in character.knowledge:
        try:
            sources += _entry_sources(entry, base)
        except KnowledgeError as exc:
            log.error("agent %s: knowledge entry skipped: %s", character.name, exc)
    return sources


def _entry_sources(entry: Any, base: Path) -> Sequence[KnowledgeSource]:
    if isinstance(entry, str):
        return [source_from_text(entry)]
    if isinstance(entry, dict) and isinstance(entry.get("path"), str):
        return sources_from_paths([Path(entry["path"])], CHARACTER_ORIGIN, base=base)
    if isinstance(entry, dict) and isinstance(entry.get("directory"), str):
        folder = Path(entry["directory"]).expanduser()
        folder = folder if folder.is_absolute() else base / folder
        if not folder.is_dir():
            raise KnowledgeError(f"knowledge directory {folder} does not exist: check the path")
        return sources_from_paths([folder], CHARACTER_ORIGIN)
    raise KnowledgeError(
        f'knowledge entry {str(entry)[:80]!r} is not a string, {{"path": ...}} or '
        '{"directory": ...}: write it in one of ElizaOS\'s three shapes'
    )


def _files_under(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.suffix.lower() in CONTENT_TYPES:
            files.append(path)
        else:
            log.info("knowledge: %s skipped (only .md, .txt and .pdf are ingested)", path)
    return files


def _decoded(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8"
        ) from exc


def _pdf_text(data: bytes, path: Path) -> str:
    """The text of every page, pages separated by a blank line (pypdf's text extraction)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise KnowledgeError(f"{path} is encrypted: save a copy without a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise KnowledgeError(f"{path} is not a readable PDF ({exc}): check the file") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
