"""Splitting documents into fragments, and reading files and a character's knowledge entries."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from shared.character import Character, load_character
from shared.errors import KnowledgeError
from shared.knowledge import character_sources, source_from_file, sources_from_paths, split_chunks
from shared.knowledge.chunking import CHARS_PER_TOKEN, DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS
from tests.knowledge_files import write_pdf

SIZE = int(DEFAULT_CHUNK_TOKENS * CHARS_PER_TOKEN)  # 1750 characters, as ElizaOS's plugin
OVERLAP = int(DEFAULT_OVERLAP_TOKENS * CHARS_PER_TOKEN)  # 350


def numbered_words(n: int) -> str:
    return " ".join(f"w{i:05d}" for i in range(n))


def test_fragments_are_at_most_the_size_and_cover_the_whole_text_in_order() -> None:
    text = numbered_words(3000)  # 21,000 characters, one paragraph: cut at words
    chunks = split_chunks(text)
    assert len(chunks) > 10
    assert all(len(c) <= SIZE for c in chunks)
    words = [w for c in chunks for w in c.split()]
    assert sorted(set(words)) == text.split()  # nothing lost
    firsts = [int(c.split()[0][1:]) for c in chunks]
    assert firsts == sorted(firsts)


def test_each_fragment_starts_with_the_end_of_the_previous_one() -> None:
    chunks = split_chunks(numbered_words(3000))
    for before, after in itertools.pairwise(chunks):
        shared = set(before.split()) & set(after.split())
        assert shared, "consecutive fragments overlap"
        overlap = " ".join(w for w in after.split() if w in shared)
        assert before.endswith(overlap)
        assert 0 < len(overlap) <= OVERLAP


def test_paragraph_breaks_are_preferred_cuts_and_short_texts_stay_whole() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 150 for i in range(6)]  # ~760 characters each
    chunks = split_chunks("\n\n".join(paragraphs))
    assert all(c.startswith("Paragraph") for c in chunks)
    assert split_chunks("One short fact.") == ["One short fact."]
    assert split_chunks("  \n\n ") == []


def test_sizes_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap smaller"):
        split_chunks("text", chunk_tokens=100, overlap_tokens=100)


def test_md_txt_and_pdf_files_are_read_with_their_metadata(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Notes\n\nThe pier is number 9.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Ferries leave at dawn.", encoding="utf-8")
    write_pdf(tmp_path / "c.pdf", ["The lighthouse is painted blue."])
    (tmp_path / "skipped.docx").write_bytes(b"not read")
    (tmp_path / ".hidden.md").write_text("never read", encoding="utf-8")
    sources = sources_from_paths([tmp_path])
    assert [Path(s.path or "").name for s in sources] == ["a.md", "b.txt", "c.pdf"]
    by_name = {Path(s.path or "").name: s for s in sources}
    assert by_name["c.pdf"].text == "The lighthouse is painted blue."
    assert by_name["c.pdf"].metadata["contentType"] == "application/pdf"
    assert by_name["a.md"].metadata | {"fileSize": 0} == {
        "filename": "a.md", "title": "a", "fileExt": "md", "contentType": "text/markdown",
        "fileSize": 0,
    }  # fmt: skip
    assert len({s.content_hash for s in sources}) == 3


def test_unreadable_files_are_errors_that_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"\.docx files are not ingested"):
        source_from_file(tmp_path / "x.docx")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(KnowledgeError, match="save it as UTF-8"):
        source_from_file(tmp_path / "latin.txt")
    write_pdf(tmp_path / "scan.pdf", [])
    with pytest.raises(KnowledgeError, match="run OCR"):
        source_from_file(tmp_path / "scan.pdf")
    with pytest.raises(KnowledgeError, match="does not exist"):
        sources_from_paths([tmp_path / "missing.md"])


def test_character_entries_take_elizaos_three_shapes_relative_to_the_character_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "kb" / "more").mkdir(parents=True)
    (tmp_path / "kb" / "one.md").write_text("File one.", encoding="utf-8")
    (tmp_path / "kb" / "more" / "two.txt").write_text("File two.", encoding="utf-8")
    (tmp_path / "single.txt").write_text("Single file.", encoding="utf-8")
    raw = {
        "name": "Keeper",
        "bio": "keeps the lighthouse",
        "knowledge": [
            "The keeper's cat is called Fyr.",
            "Path: notes/boats.md\n\nThe red boat is the fastest.",
            {"path": "single.txt", "shared": False},
            {"directory": "kb", "shared": True},
            {"directory": "no-such-folder"},
            42,
        ],
    }
    (tmp_path / "keeper.json").write_text(json.dumps(raw), encoding="utf-8")
    character = load_character(tmp_path / "keeper.json")
    assert character.source_dir == tmp_path
    sources = character_sources(character)  # the two bad entries are logged and skipped
    assert [s.text for s in sources] == [
        "The keeper's cat is called Fyr.",
        "Path: notes/boats.md\n\nThe red boat is the fastest.",
        "Single file.",
        "File two.",  # a folder's files in path order: kb/more/two.txt before kb/one.md
        "File one.",
    ]
    assert {s.origin for s in sources} == {"character"}
    assert sources[1].metadata["filename"] == "boats.md"
    assert sources[0].path is None and sources[2].path == str(tmp_path / "single.txt")


def test_a_character_built_in_code_reads_relative_paths_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fact.md").write_text("A fact.", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    character = Character(name="Coder", knowledge=[{"path": "fact.md"}])
    assert character.source_dir is None
    assert [s.text for s in character_sources(character)] == ["A fact."]
