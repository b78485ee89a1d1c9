"""A model worker that misbehaves, for the chaos scenarios (test-only).

`python -m tests.chaos.faulty_worker MODE --log FILE` runs a real model worker
(services/model_worker/app.py `build_worker_app`) whose handler misbehaves, announced as provider
`chaos-MODE` with priority 10, so orchestrators try it before the normal worker (priority 0):

- `hang`: every second TEXT_LARGE request is never answered (the handler sleeps for ever); the
  others are answered by the scripted model. The orchestrator's per-attempt model timeout must
  bound the wait and fail over to the normal worker.
- `garbage`: answers TEXT_LARGE and TEXT_SMALL with `ok: true` and nonsense (noise text, empty,
  numbers, JSON of the wrong shape).
- `malformed`: answers TEXT_LARGE with broken LLM output: unclosed or mismatched XML, broken JSON,
  JSON and XML nested thousands deep, a huge answer, an unclosed code fence.

Each request is appended to the `--log` file as `<unix time> <model type> <run id> <answer>`, so
the harness can count how often one run asked (a retry storm shows as many requests per run).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import time
from pathlib import Path
from typing import Any

from services.model_worker.app import build_worker_app
from services.model_worker.latency import WithLatency
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.settings import Settings
from shared.testing import ScriptedModel

PRIORITY = 10
HUGE_CHARS = 200_000
NESTING = 50_000

REPLY_XML = "<response><thought>ok</thought><actions>REPLY</actions><text>{}</text></response>"

MALFORMED: list[tuple[str, str]] = [
    ("unclosed-xml", "<response><thought>thinking<actions>REPLY</actions><text>half a reply"),
    ("mismatched-xml", "<response><text>hi</thought><actions>REPLY</text></response>"),
    ("broken-json", '{"thought": "x", "actions": ["REPLY"], "text": "unterminated'),
    ("nested-json", '{"actions": ["REPLY"], "text": ' + "[" * NESTING + "]" * NESTING + "}"),
    ("open-nested-json", "```json\n" + "[" * NESTING),
    ("nested-xml", "<response>" + "<a>" * 5000 + "deep" + "</a>" * 5000 + "</response>"),
    ("huge", REPLY_XML.format("x" * HUGE_CHARS)),
    ("empty", ""),
    ("wrong-json-types", '{"actions": 5, "text": ["a", {"b": null}], "thought": {"x": 1}}'),
    ("unclosed-fence", '```json\n{"text": "a", "actions": ["REPLY"]'),
    ("tags-only", "<<<>>></></><response/>"),
]

GARBAGE: list[tuple[str, Any]] = [
    ("noise", "ĝ∆ 7f3a %%% ▓▓▓ qwpoeiruty ¿¿ \u200b\u202e reversed"),
    ("empty", ""),
    ("number", 42),
    ("null", None),
    ("object", {"foo": [1, 2, {"bar": None}]}),
    ("list", ["REPLY", 3.5]),
    ("word-salad", "lorem ipsum dolor " * 50),
    ("not-xml", "response thought actions text"),
]


class FaultyModel:
    """A ModelHandler that misbehaves in `mode` (see the module docstring)."""

    def __init__(self, mode: str, log: Path, dimensions: int, latency: float) -> None:
        self.mode = mode
        self.provider = f"chaos-{mode}"
        self.log = log
        scripted = ScriptedModel(dimensions=dimensions, record_calls=False)
        self.normal = WithLatency(scripted, latency) if latency > 0 else scripted
        types = {ModelType.TEXT_LARGE}
        if mode == "garbage":
            types.add(ModelType.TEXT_SMALL)
        self.supported = frozenset(types)
        self.max_concurrency = 64
        self._count = itertools.count()

    def _note(self, request: ModelRequest, answer: str) -> None:
        with self.log.open("a") as out:
            out.write(f"{time.time():.3f} {request.model_type.value} {request.run_id} {answer}\n")

    async def handle(self, request: ModelRequest) -> Any:
        """Misbehave on this request (or answer normally, in `hang` mode half the time)."""
        n = next(self._count)
        if self.mode == "hang":
            if n % 2 == 0:
                self._note(request, "hang")
                await asyncio.Event().wait()  # never answers
            self._note(request, "normal")
            return await self.normal.handle(request)
        if self.mode == "garbage":
            name, result = GARBAGE[n % len(GARBAGE)]
            self._note(request, name)
            return result
        name, text = MALFORMED[n % len(MALFORMED)]
        self._note(request, name)
        return text


def main() -> None:
    """Run the faulty worker until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["hang", "garbage", "malformed"])
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    model = FaultyModel(
        args.mode, args.log, settings.embedding_dimensions, settings.scripted_latency_ms / 1000
    )
    _, app = build_worker_app(
        settings, model, provider_name=model.provider, priority=PRIORITY, max_workers=64
    )
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
