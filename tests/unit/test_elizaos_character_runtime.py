"""An ElizaOS character file, unchanged, runs an agent: its plugin names, settings, secrets and
templates mean what they mean in ElizaOS, and its secrets stay out of the log and the logs."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from services.orchestrator.delivery import Delivery, Orchestrator
from services.orchestrator.message_run import AgentHost, MessageRunner
from shared.character import load_character
from shared.runtime.agent_runtime import AgentRuntime
from shared.secrets import REDACTED, Scrubber
from shared.testing import InMemoryAgentReadModel, InMemoryBus, InMemoryEventStore, ScriptedModel

CHARACTER = Path(__file__).parents[1] / "fixtures" / "elizaos_character.json"
SECRETS = ("dc-top-secret-token-7788", "hb-nested-secret-0042")


async def test_an_elizaos_character_file_runs_an_agent_unchanged() -> None:
    character = load_character(CHARACTER)
    store = InMemoryEventStore()
    runtime = AgentRuntime(
        character, store, db=InMemoryAgentReadModel(store, character.agent_id),
        plugins=[ScriptedModel().as_plugin()],
    )  # fmt: skip
    host = AgentHost([runtime])
    await host.initialize()
    # @elizaos/plugin-bootstrap is ours; sql is built in; openai is served by model workers;
    # discord (Node.js, no port) is skipped with a warning
    assert [p.name for p in runtime.plugins] == ["scripted-models", "bootstrap"]
    assert runtime.get_setting("HARBOUR_API_KEY") == SECRETS[1]  # settings.secrets
    assert runtime.get_setting("model") == "gpt-4o-mini"

    bus = InMemoryBus()
    orch = Orchestrator(host, MessageRunner(store),
                        bus, store)  # fmt: skip
    body = {
        "id": str(uuid.uuid4()), "source": "discord",
        "entity": {"id": "u1", "name": "Skipper"}, "room": {"id": "dm", "type": "DM"},
        # a user pasting a secret into chat: it is scrubbed from what is stored and sent
        "content": {"text": f"when is high tide? my token is {SECRETS[0]}"},
    }  # fmt: skip
    await orch.process(Delivery(json.dumps(body).encode()))
    large = next(e.data for e in store.events
                 if e.type == "model.used" and e.data["model_type"] == "TEXT_LARGE")  # fmt: skip
    assert large["params"]["prompt"].startswith("MARLOWE-TEMPLATE for Marlowe")
    assert large["params"]["system"] == character.system
    assert any(p.subject == "message.sent.discord" for p in bus.published)
    for event in store.events:
        assert not any(s in event.model_dump_json() for s in SECRETS), event.type
    assert REDACTED in next(e.data["content"]["text"] for e in store.events
                            if e.type == "memory.created")  # fmt: skip
    for published in bus.published:
        assert not any(s.encode() in published.body for s in SECRETS), published.subject


def test_the_log_scrubber_hides_secrets_in_messages_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scrubber = Scrubber([*SECRETS, "short"])  # values under 6 characters are not scrubbed
    caplog.handler.addFilter(scrubber.log_filter())
    log = logging.getLogger("test.secrets")
    log.warning("calling with token %s", SECRETS[0])
    try:
        raise RuntimeError(f"bad key {SECRETS[1]}")
    except RuntimeError:
        log.exception("it failed")
    text = caplog.text
    assert SECRETS[0] not in text and SECRETS[1] not in text
    assert text.count(REDACTED) == 2 and scrubber.text("short") == "short"


def test_the_scrubber_cleans_a_json_body_and_keeps_it_json() -> None:
    scrubber = Scrubber(SECRETS)
    body = json.dumps({"text": f"key {SECRETS[0]}", "n": 1, "list": [SECRETS[1]]}).encode()
    assert json.loads(scrubber.json_bytes(body)) == {
        "text": f"key {REDACTED}",
        "n": 1,
        "list": [REDACTED],
    }
    assert Scrubber().json_bytes(body) is body  # nothing to scrub: not even parsed
