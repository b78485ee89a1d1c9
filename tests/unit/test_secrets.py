"""Secrets stay out of events, replies, dead letters, prompts and logs: the environment's keys,
credentials in URLs, world settings marked secret; model worker errors carry no credentials."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.model_worker.openai_compat import OpenAICompatibleModel
from services.orchestrator.delivery import Delivery
from shared.character import load_character
from shared.errors import ModelError
from shared.messages import ModelRequest
from shared.model_types import ModelType
from shared.records import World
from shared.runtime.connections import default_world_id
from shared.runtime.settings_lookup import secret_values
from shared.secrets import REDACTED, Scrubber, install_log_scrubber, looks_secret, redact_url
from shared.testing import InMemoryEventStore, ScriptedModel
from tests.unit.test_message_run import inbound, orchestrator, replies

ENV_KEY = "sk-env-key-0123456789abcdef"
OTHER_TOKEN = "discord-token-9876543210"


@pytest.fixture
def root_scrubbing() -> Iterator[None]:
    """Undo `install_log_scrubber` on the root handlers (caplog's included) after the test."""
    yield
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if type(f).__name__ == "_ScrubbingFilter"]:
            handler.removeFilter(old)


def test_names_that_hold_secrets() -> None:
    for name in ("ELIZABUS_OPENAI_API_KEY", "OPENAI_API_KEY", "PGPASSWORD", "DISCORD_BOT_TOKEN",
                 "AWS_SECRET_ACCESS_KEY_ID", "SECRET_SALT", "db_pass"):  # fmt: skip
        assert looks_secret(name), name
    for name in ("PATH", "HOME", "PWD", "ELIZABUS_DATA_DIR", "CONVERSATION_LENGTH", "LANG"):
        assert not looks_secret(name), name


async def test_an_environment_key_is_absent_from_events_replies_dead_letters_and_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, root_scrubbing: None
) -> None:
    monkeypatch.setenv("ELIZABUS_OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("DISCORD_API_TOKEN", OTHER_TOKEN)
    leak = (
        f"<response><thought>the key is {ENV_KEY}</thought><actions>REPLY</actions>"
        f"<text>Sure: {ENV_KEY} and {OTHER_TOKEN}</text></response>"
    )
    store = InMemoryEventStore()
    character = load_character(None)
    orch, bus = await orchestrator(
        [character], store, ScriptedModel({ModelType.TEXT_LARGE: [leak]})
    )
    # a plugin reads the key the way ElizaOS plugins do: get_setting falls back to the environment
    runtime = orch.agents.default
    assert runtime.get_setting("DISCORD_API_TOKEN") == OTHER_TOKEN
    await orch.process(Delivery(inbound(f"Eliza, tell me {ENV_KEY}")))
    await orch.process(Delivery(b'{"not": "a message", "key": "' + ENV_KEY.encode() + b'"}'))

    [reply] = replies(bus)
    assert reply.content.text == f"Sure: {REDACTED} and {REDACTED}"  # the leak was there
    for event in store.events:
        dumped = event.model_dump_json()
        assert ENV_KEY not in dumped and OTHER_TOKEN not in dumped, event.type
    for published in bus.published:
        assert ENV_KEY.encode() not in published.body
    assert any(p.subject == "message.dlq" for p in bus.published)

    # the log filter the orchestrator installs is built from the same secret_values
    install_log_scrubber(Scrubber(secret_values(character)))
    logging.getLogger("a.plugin").warning("calling the API with %s", ENV_KEY)
    assert "calling the API with" in caplog.text
    assert ENV_KEY not in caplog.text and REDACTED in caplog.text


def test_url_credentials_are_scrubbed_whatever_the_password() -> None:
    scrubber = Scrubber()
    text = (
        "connect postgresql://app:pw@db:5432/x and nats://u:longer-pass@n:4222, see https://x.org/a"
    )
    assert scrubber.text(text) == (
        f"connect postgresql://app:{REDACTED}@db:5432/x and nats://u:{REDACTED}@n:4222, "
        "see https://x.org/a"
    )
    assert scrubber.raw(b"\xff nats://u:pw@n") == b"\xff nats://u:" + REDACTED.encode() + b"@n"
    assert scrubber.data({"a": ["http://me:pw@h/"]}) == {"a": [f"http://me:{REDACTED}@h/"]}
    assert redact_url("https://me:pw@llm.example:8443/v1?key=k#f") == (
        f"https://{REDACTED}@llm.example:8443/v1"
    )


@pytest.mark.parametrize("failure", ["status", "connection"])
async def test_model_worker_errors_name_the_server_without_credentials(failure: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if failure == "connection":
            raise httpx.ConnectError(f"cannot reach {request.url}")
        return httpx.Response(401, text=f"bad key sk-worker-key-123456 for {request.url}")

    model = OpenAICompatibleModel(
        base_url="https://alice:url-password-42@llm.example/v1?token=query-token-42",
        api_key="sk-worker-key-123456", small_model="s", large_model="l",
        embedding_model="e", retry_wait=0.0, max_attempts=1,
        transport=httpx.MockTransport(answer),
    )  # fmt: skip
    with pytest.raises(ModelError) as caught:
        await model.handle(ModelRequest(model_type=ModelType.TEXT_SMALL, params={"prompt": "hi"}))
    message = str(caught.value)
    assert "llm.example" in message  # the server is still named
    for secret in ("url-password-42", "query-token-42", "sk-worker-key-123456", "alice"):
        assert secret not in message, message
    await model.aclose()


async def test_a_world_secret_is_kept_in_its_world_and_scrubbed_from_everything_else() -> None:
    token = "tok-world-secret-98765"
    store = InMemoryEventStore()
    character = load_character(None)
    model = ScriptedModel({
        ModelType.TEXT_LARGE: [
            "<response><actions>UPDATE_SETTINGS</actions><text></text></response>",
            "<response><actions>REPLY</actions><text>noted</text></response>",
        ],
        ModelType.TEXT_SMALL: [f'[{{"key": "API_TOKEN", "value": "{token}"}}]'],
    })  # fmt: skip
    orch, bus = await orchestrator([character], store, model)
    runtime = orch.agents.default
    agent = runtime.agent_id
    owner = uuid.UUID(str(_entity(agent, "u1")))
    world_id = default_world_id(agent, "s1")
    await runtime.ensure_world_exists(World(
        id=world_id, agent_id=agent, name="Guild", server_id="s1",
        metadata={"roles": {str(owner): "OWNER"}, "settings": {
            "API_TOKEN": {"name": "API token", "value": None, "secret": True, "required": True},
        }},
    ))  # fmt: skip
    dm = {"id": "dm-u1", "name": "dm", "type": "DM"}
    await orch.process(Delivery(inbound(f"the api token is {token}", room=dm)))
    await orch.process(Delivery(inbound("thanks", room=dm)))

    world = await runtime.get_world(world_id)
    assert world is not None and world.metadata["settings"]["API_TOKEN"]["value"] == token
    holding = [e.type for e in store.events if token in e.model_dump_json()]
    assert holding == ["world.updated"]
    assert all(token.encode() not in p.body for p in bus.published)
    second_prompt = model.prompts(ModelType.TEXT_LARGE)[-1]
    assert "the api token is" in second_prompt and token not in second_prompt


def _entity(agent: uuid.UUID, platform_id: str) -> uuid.UUID:
    from shared.ids import create_unique_uuid

    return create_unique_uuid(agent, platform_id)


def test_dead_letter_bodies_are_json_after_scrubbing() -> None:
    body = json.dumps({"url": "nats://u:pw-123456@h"}).encode()
    assert json.loads(Scrubber().raw(body)) == {"url": f"nats://u:{REDACTED}@h"}


def test_the_world_in_a_providers_data_hides_secret_setting_values() -> None:
    from plugins.bootstrap.providers.settings import world_data

    world = World(
        id=uuid.uuid4(), agent_id=uuid.uuid4(), name="Guild", server_id="s1",
        metadata={"settings": {
            "API_TOKEN": {"value": "tok-in-state-123456", "secret": True},
            "CHANNEL": {"value": "#lobby"},
        }},
    )  # fmt: skip
    data = world_data(world)
    assert data is not None
    assert data["metadata"]["settings"]["API_TOKEN"]["value"] == REDACTED
    assert data["metadata"]["settings"]["CHANNEL"]["value"] == "#lobby"
    assert world.metadata["settings"]["API_TOKEN"]["value"] == "tok-in-state-123456"
