"""ElizaOS 1.x's own test cases, ported to elizabus's runtime on its doubles.

Each case names the ElizaOS test it comes from (packages/core/src/__tests__/*.test.ts, or
packages/plugin-bootstrap/src/__tests__/*.test.ts). Where ElizaOS's test checks only a shape,
the case here also checks exact values computed with ElizaOS's algorithm. Deliberate differences
are listed in DEVELOPERS.md ("Differences from ElizaOS") and are not tested as parity here.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from plugins.bootstrap.parsing import parse_key_value_xml
from plugins.bootstrap.plugin import bootstrap_plugin
from plugins.bootstrap.templates import render, template_for
from shared.character import Character, load_character
from shared.errors import ConfigurationError
from shared.eventstore.memory import InMemoryEventStore
from shared.ids import create_unique_uuid, string_to_uuid
from shared.plugin import Action, ActionResult, Memory, Plugin, Provider, ProviderResult, State
from shared.readmodel.memory import InMemoryAgentReadModel
from shared.runtime.actions import normalize_action_name
from shared.runtime.agent_runtime import AgentRuntime
from shared.runtime.bulk_connections import EntitySpec, RoomSpec, WorldSpec
from shared.runtime.settings_lookup import get_setting

# --- 1. ids (uuid.test.ts, utils.test.ts "stringToUuid", entities.test.ts "createUniqueUuid") ---

# Computed with ElizaOS 1.x's algorithm (SHA-1 of encodeURIComponent(input), the first 16 bytes,
# variant bits 10, version nibble 0), run under Node.js 20 independently of this code base.
STRING_TO_UUID_VECTORS: list[tuple[str | int | float, str]] = [
    ("test-string", "4f49d696-13b1-06e7-9104-c7ca1b26c1e5"),
    ("", "da39a3ee-5e6b-0b0d-b255-bfef95601890"),
    ("123", "40bd0015-6308-0fc3-9165-329ea1ff5c5e"),
    (123, "40bd0015-6308-0fc3-9165-329ea1ff5c5e"),
    (0, "b6589fc6-ab0d-082c-b120-99d1c2d40ab9"),
    (-1, "7984b0a0-e139-0aba-9b5a-fc7756d473fb"),
    (1.5, "aa8f289e-be6d-0db1-b4a1-038b8931ec8c"),
    (1e21, "84d67aae-b82d-0142-a88f-2d6f04eecf9d"),
    (1e-7, "edd591d5-998d-02a0-b9f7-58f40a6dba79"),
    ("Eliza", "b850bc30-45f8-0041-a00a-83df46d8555d"),
    ("hello world", "f0355dd5-2823-054c-ae66-a0b12842c215"),
    ("it's (fine)! *~._-", "3f084b56-d010-05dc-a368-bee10f08f162"),
    ("ü/ä?&=#", "9fe5e9fe-c97c-097c-ab66-c522cef91d30"),
    ("日本語", "783fc0ab-b904-0759-a125-627bcd50aed7"),
    ("😀", "3b1cb9c3-73ce-0f5d-95b7-896b3fd16f69"),
    ("user@example.com", "be14940a-8d93-02cf-ae30-3b5962e968cd"),
    ("80351110224678912", "9df38198-8eb1-0685-a2c7-fbeed1a85ca0"),
    ("  spaced  ", "37b964ca-3a50-0361-a2c9-99715eb69177"),
]

ELIZA = uuid.UUID("b850bc30-45f8-0041-a00a-83df46d8555d")
CREATE_UNIQUE_UUID_VECTORS = [
    ("1234", "10588647-4227-0cfa-9f98-29bbc1ee443b"),
    ("80351110224678912", "eafdf977-7504-0ce4-9e96-6e0906aea4fc"),
    ("general", "3d4dc0ca-9441-0da4-9811-1d81e18afa8a"),
    ("Ünïcode room", "3f99dfb4-bfc1-0cba-95bb-80abd50d6141"),
]


@pytest.mark.parametrize(("text", "expected"), STRING_TO_UUID_VECTORS)
def test_string_to_uuid_gives_elizaos_ids(text: str | int | float, expected: str) -> None:
    # uuid.test.ts "should generate consistent UUIDs for identical inputs", with exact values
    assert str(string_to_uuid(text)) == expected


def test_string_to_uuid_has_version_nibble_0_and_the_rfc4122_variant() -> None:
    # uuid.test.ts "should generate a valid UUID v5 format" (it checks version char "0")
    for text, _ in STRING_TO_UUID_VECTORS:
        value = str(string_to_uuid(text))
        assert value.split("-")[2][0] == "0"
        assert 0x80 <= int(value.split("-")[3][:2], 16) <= 0xBF


def test_string_to_uuid_gives_different_ids_for_different_inputs() -> None:
    # uuid.test.ts "should generate unique UUIDs for different inputs"
    assert string_to_uuid("input1") != string_to_uuid("input2")


def test_a_uuid_comes_back_unchanged() -> None:
    # utils.ts stringToUuid: "If already a UUID, return as-is to avoid re-hashing"
    given = "550e8400-e29b-41d4-a716-446655440000"
    assert str(string_to_uuid(given)) == given
    assert string_to_uuid(given.upper()) == uuid.UUID(given)


def test_string_to_uuid_refuses_what_is_neither_string_nor_number() -> None:
    # utils.test.ts "should throw TypeError for non-string/non-number input"
    for bad in (None, {}, [], True):
        with pytest.raises(TypeError):
            string_to_uuid(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("base", "expected"), CREATE_UNIQUE_UUID_VECTORS)
def test_create_unique_uuid_gives_elizaos_ids(base: str, expected: str) -> None:
    # entities.test.ts "createUniqueUuid": stringToUuid(`${baseUserId}:${agentId}`)
    assert str(create_unique_uuid(ELIZA, base)) == expected


def test_create_unique_uuid_of_the_agent_itself_is_the_agent() -> None:
    # entities.test.ts "should return agentId when baseUserId equals agentId"
    assert create_unique_uuid(ELIZA, str(ELIZA)) == ELIZA


def test_a_character_without_id_gets_elizaos_agent_id() -> None:
    # runtime.ts constructor: character.id ?? stringToUuid(character.name)
    assert load_character(None).agent_id == ELIZA
    assert Character(name="Eliza").agent_id == ELIZA
    own = uuid.uuid4()
    assert Character(name="Eliza", id=own).agent_id == own


# --- shared fixtures for the runtime cases ---------------------------------------------------


def runtime_of(character: Character | None = None, plugins: list[Plugin] | None = None) -> Any:
    """An AgentRuntime on doubles (in-memory log and read model), not initialized."""
    store = InMemoryEventStore()
    c = character or Character(name="Test Character", bio=["Test bio"])
    return AgentRuntime(
        c, store, db=InMemoryAgentReadModel(store, c.agent_id), plugins=plugins or []
    )


def said_by(runtime: Any, text: str = "user message") -> Memory:
    return Memory(entity_id=uuid.uuid4(), agent_id=runtime.agent_id, room_id=uuid.uuid4(),
                  content={"text": text, "source": "test"})  # fmt: skip


def answer(runtime: Any, message: Memory, *actions: str) -> Memory:
    return Memory(entity_id=runtime.agent_id, agent_id=runtime.agent_id, room_id=message.room_id,
                  content={"text": "agent response", "actions": list(actions)})  # fmt: skip


def returning(name: str, value: object, calls: list[str] | None = None) -> Action:
    async def handler(*args: Any) -> Any:
        if calls is not None:
            calls.append(name)
        return value

    return Action(name=name, handler=handler)


async def stored_action_results(runtime: Any, room: uuid.UUID) -> list[Memory]:
    return [
        m for m in await runtime.get_memories(room_id=room, count=100)
        if m.content.get("type") == "action_result"
    ]  # fmt: skip


# --- 2. processActions (runtime.test.ts "Action Processing") ---------------------------------


async def test_the_matching_action_handler_runs_with_elizaos_arguments() -> None:
    # runtime.test.ts "should find and execute the correct action handler"
    seen: list[tuple[Any, ...]] = []

    async def handler(*args: Any) -> None:
        seen.append(args)

    rt = runtime_of()
    rt.register_action(Action(name="TestAction", handler=handler))
    message = said_by(rt)
    response = answer(rt, message, "TestAction")
    await rt.process_actions(message, [response], State(text="composed state text"))
    [(runtime, msg, state, options, callback, responses)] = seen
    assert runtime is rt and msg is message and state.text == "composed state text"
    assert isinstance(options, dict) and callback is None and responses == [response]


async def test_no_handler_runs_when_no_action_name_matches() -> None:
    # runtime.test.ts "should not execute if no action name matches"
    calls: list[str] = []
    rt = runtime_of()
    rt.register_action(returning("TestAction", None, calls))
    message = said_by(rt)
    await rt.process_actions(message, [answer(rt, message, "NonExistentAction")])
    assert calls == []
    [memory] = await stored_action_results(rt, message.room_id)
    assert memory.content["actionStatus"] == "failed"
    assert memory.content["thought"] == "No action found for: NonExistentAction"


async def test_exact_action_names_win_over_fuzzy_matches() -> None:
    # runtime.test.ts "should prioritize exact action name matches over fuzzy matches"
    calls: list[str] = []
    rt = runtime_of()
    rt.register_action(returning("REPLY", None, calls))
    rt.register_action(returning("REPLY_WITH_IMAGE", None, calls))
    message = said_by(rt)
    await rt.process_actions(message, [answer(rt, message, "REPLY")])
    await rt.process_actions(message, [answer(rt, message, "REPLY_WITH_IMAGE")])
    assert calls == ["REPLY", "REPLY_WITH_IMAGE"]


def test_every_underscore_is_removed_when_names_are_compared() -> None:
    # runtime.ts processActions normalizeAction: .toLowerCase().replace(/_/g, '')
    assert normalize_action_name("SEND_A_MESSAGE") == "sendamessage"


@pytest.mark.parametrize(
    ("returned", "status"),
    [
        (None, "completed"),  # "should mark legacy void/undefined returns as completed, not failed"
        (True, "completed"),  # "should mark legacy boolean true returns as completed"
        (
            False,
            "completed",
        ),  # "should mark legacy boolean false returns as completed (not failed)"
        (ActionResult(success=False, text="Operation failed", data={"error": "x"}), "failed"),
        ({"success": False, "text": "Operation failed"}, "failed"),  # a plain ElizaOS-shaped dict
        ({"text": "done"}, "completed"),
    ],
)
async def test_action_result_memories_say_completed_or_failed(
    returned: object, status: str
) -> None:
    # runtime.test.ts "should mark ActionResult with success:false as failed" and the legacy cases
    rt = runtime_of()
    rt.register_action(returning("LEGACY_ACTION", returned))
    message = said_by(rt)
    await rt.process_actions(message, [answer(rt, message, "LEGACY_ACTION")])
    [memory] = await stored_action_results(rt, message.room_id)
    assert memory.content["actionStatus"] == status
    assert memory.content["actionName"] == "LEGACY_ACTION"
    assert memory.entity_id == rt.agent_id and memory.metadata["type"] == "action_result"


async def test_a_failing_action_is_stored_and_the_next_one_runs() -> None:
    # runtime.ts processActions catch: error memory, "only abort on critical errors"
    calls: list[str] = []

    async def broken(*args: Any) -> None:
        raise ValueError("no such widget")

    rt = runtime_of()
    rt.register_action(Action(name="BROKEN", handler=broken))
    rt.register_action(returning("AFTER", ActionResult(text="after ran"), calls))
    message = said_by(rt)
    results = await rt.process_actions(message, [answer(rt, message, "BROKEN", "AFTER")])
    assert calls == ["AFTER"]
    assert [r.success for r in results] == [False, True]
    stored = {m.content["actionName"]: m for m in await stored_action_results(rt, message.room_id)}
    failed, after = stored["BROKEN"], stored["AFTER"]
    assert (
        failed.content["actionStatus"] == "failed" and failed.content["error"] == "no such widget"
    )
    assert failed.metadata["error"] is True
    assert after.content["text"] == "after ran" and after.content["actionStatus"] == "completed"


# --- 6. getActionResults (runtime.test.ts "getActionResults") --------------------------------


async def test_get_action_results_after_process_actions() -> None:
    # runtime.test.ts "should return action results after processActions"
    rt = runtime_of()
    rt.register_action(
        returning(
            "TEST_ACTION",
            ActionResult(
                text="Action completed", data={"result": "test data"}, values={"testValue": 123}
            ),
        )
    )
    message = said_by(rt, "test message")
    await rt.process_actions(message, [answer(rt, message, "TEST_ACTION")])
    [result] = rt.get_action_results(message.id)
    assert result.success is True and result.text == "Action completed"
    assert result.data == {"result": "test data"} and result.values == {"testValue": 123}


async def test_get_action_results_of_an_unknown_message_is_empty() -> None:
    # runtime.test.ts "should return empty array for unknown messageId"
    assert runtime_of().get_action_results(uuid.uuid4()) == []


async def test_get_action_results_when_no_action_ran_is_empty() -> None:
    # runtime.test.ts "should return empty array when no actions were executed"
    rt = runtime_of()
    message = said_by(rt)
    await rt.process_actions(message, [])
    assert rt.get_action_results(message.id) == []


# --- 3. model settings (runtime.test.ts "model settings from character configuration") -------


def capturing(model_type: str = "TEXT_SMALL") -> tuple[Plugin, list[dict[str, Any]]]:
    captured: list[dict[str, Any]] = []

    async def handler(runtime: Any, params: dict[str, Any]) -> Any:
        captured.append(params)
        return [0.1, 0.2] if model_type == "TEXT_EMBEDDING" else "test response"

    return Plugin(name=f"capture-{model_type}", models={model_type: handler}), captured


def with_settings(settings: dict[str, Any]) -> Character:
    return Character(name="Test Character", bio=["Test bio"], settings=settings)


async def test_character_model_settings_are_defaults_that_params_override() -> None:
    # runtime.test.ts "should apply character model settings as defaults and allow overrides"
    rt = runtime_of(with_settings({"MODEL_MAX_TOKEN": 4096, "MODEL_TEMPERATURE": 0.5,
                                   "MODEL_FREQ_PENALTY": 0.8, "MODEL_PRESENCE_PENALTY": 0.9,
                                   "MODEL_INVALID": "not-a-number"}))  # fmt: skip
    plugin, captured = capturing()
    await rt.register_plugin(plugin)
    await rt.use_model("TEXT_SMALL", {"prompt": "test prompt"})
    assert captured[-1] == {"maxTokens": 4096, "temperature": 0.5, "frequencyPenalty": 0.8,
                            "presencePenalty": 0.9, "prompt": "test prompt",
                            "user": "Test Character"}  # fmt: skip
    await rt.use_model("TEXT_SMALL", {"prompt": "p2", "temperature": 0.2, "maxTokens": 2048})
    assert captured[-1]["temperature"] == 0.2 and captured[-1]["maxTokens"] == 2048
    assert captured[-1]["frequencyPenalty"] == 0.8 and captured[-1]["presencePenalty"] == 0.9
    plain = runtime_of(Character(name="TestAgentNoSettings"))
    plugin, captured = capturing()
    await plain.register_plugin(plugin)
    await plain.use_model("TEXT_SMALL", {"prompt": "p3", "temperature": 0.7})
    assert captured[-1] == {"prompt": "p3", "temperature": 0.7, "user": "TestAgentNoSettings"}


async def test_model_settings_fall_back_from_type_to_default_to_legacy() -> None:
    # runtime.test.ts "should support per-model-type configuration with proper fallback chain"
    rt = runtime_of(with_settings({
        "DEFAULT_TEMPERATURE": 0.7, "DEFAULT_MAX_TOKENS": 2048,
        "TEXT_SMALL_TEMPERATURE": 0.5, "TEXT_SMALL_MAX_TOKENS": 1024,
        "TEXT_LARGE_TEMPERATURE": 0.8, "TEXT_LARGE_FREQUENCY_PENALTY": 0.5,
        "OBJECT_SMALL_TEMPERATURE": 0.3, "OBJECT_LARGE_PRESENCE_PENALTY": 0.6,
        "MODEL_TEMPERATURE": 0.9, "MODEL_MAX_TOKEN": 4096,
        "MODEL_FREQ_PENALTY": 0.7, "MODEL_PRESENCE_PENALTY": 0.8,
    }))  # fmt: skip
    seen = {}
    for model_type in ("TEXT_SMALL", "TEXT_LARGE", "OBJECT_SMALL", "OBJECT_LARGE"):
        plugin, captured = capturing(model_type)
        await rt.register_plugin(plugin)
        await rt.use_model(model_type, {"prompt": f"test {model_type}"})
        p = captured[-1]
        seen[model_type] = (p["temperature"], p["maxTokens"], p["frequencyPenalty"],
                            p["presencePenalty"])  # fmt: skip
    assert seen == {
        "TEXT_SMALL": (0.5, 1024, 0.7, 0.8),
        "TEXT_LARGE": (0.8, 2048, 0.5, 0.8),
        "OBJECT_SMALL": (0.3, 2048, 0.7, 0.8),
        "OBJECT_LARGE": (0.7, 2048, 0.7, 0.6),
    }


async def test_direct_params_override_every_configuration_level() -> None:
    # runtime.test.ts "should allow direct params to override all configuration levels"
    rt = runtime_of(with_settings({"DEFAULT_TEMPERATURE": 0.7, "TEXT_SMALL_TEMPERATURE": 0.5,
                                   "MODEL_TEMPERATURE": 0.9}))  # fmt: skip
    plugin, captured = capturing()
    await rt.register_plugin(plugin)
    await rt.use_model("TEXT_SMALL", {"prompt": "test", "temperature": 0.1})
    assert captured[-1]["temperature"] == 0.1


async def test_a_model_type_without_own_settings_uses_the_defaults() -> None:
    # runtime.test.ts "should handle models without specific configuration support"
    rt = runtime_of(with_settings({"DEFAULT_TEMPERATURE": 0.7, "TEXT_SMALL_TEMPERATURE": 0.5}))
    plugin, captured = capturing("TEXT_REASONING_SMALL")
    await rt.register_plugin(plugin)
    await rt.use_model("TEXT_REASONING_SMALL", {"prompt": "test reasoning"})
    assert captured[-1]["temperature"] == 0.7 and "maxTokens" not in captured[-1]


async def test_invalid_numbers_are_ignored_at_every_level() -> None:
    # runtime.test.ts "should validate and ignore invalid numeric values at all configuration
    # levels"
    rt = runtime_of(with_settings({
        "DEFAULT_TEMPERATURE": "not-a-number", "DEFAULT_MAX_TOKENS": 2048,
        "TEXT_SMALL_TEMPERATURE": 0.5, "TEXT_SMALL_MAX_TOKENS": "invalid",
        "TEXT_SMALL_FREQUENCY_PENALTY": 0.5, "MODEL_TEMPERATURE": 0.8,
        "MODEL_PRESENCE_PENALTY": 0.8,
    }))  # fmt: skip
    plugin, captured = capturing()
    await rt.register_plugin(plugin)
    await rt.use_model("TEXT_SMALL", {"prompt": "test invalid"})
    p = captured[-1]
    assert (p["temperature"], p["maxTokens"], p["frequencyPenalty"], p["presencePenalty"]) == (
        0.5, 2048, 0.5, 0.8,
    )  # fmt: skip


@pytest.mark.parametrize("user", ["", None])
async def test_an_explicit_user_is_kept(user: str | None) -> None:
    # runtime.test.ts "should preserve explicitly provided empty string / null for user parameter"
    rt = runtime_of()
    plugin, captured = capturing()
    await rt.register_plugin(plugin)
    await rt.use_model("TEXT_SMALL", {"prompt": "test prompt", "user": user})
    assert captured[-1]["user"] == user and captured[-1]["prompt"] == "test prompt"


async def test_user_is_filled_from_the_character_name() -> None:
    # runtime.test.ts "should auto-populate user from character name when not provided"
    rt = runtime_of()
    plugin, captured = capturing()
    await rt.register_plugin(plugin)
    await rt.use_model("TEXT_SMALL", {"prompt": "test prompt"})
    assert captured[-1]["user"] == "Test Character"


async def test_embedding_prompts_are_not_collected_into_the_action() -> None:
    # runtime.test.ts "should not collect TEXT_EMBEDDING prompts"
    rt = runtime_of()
    for model_type in ("TEXT_EMBEDDING", "TEXT_SMALL"):
        await rt.register_plugin(capturing(model_type)[0])

    async def handler(runtime: Any, *rest: Any) -> ActionResult:
        await runtime.use_model("TEXT_EMBEDDING", {"prompt": "embedding prompt"})
        await runtime.use_model("TEXT_SMALL", {"prompt": "text prompt"})
        return ActionResult(text="completed")

    rt.register_action(Action(name="EMBEDDING_TEST_ACTION", handler=handler))
    message = said_by(rt)
    await rt.process_actions(message, [answer(rt, message, "EMBEDDING_TEST_ACTION")])
    [executed] = [e for e in rt.store.events if e.type == "action.executed"]
    assert [p["prompt"] for p in executed.data["prompts"]] == ["text prompt"]


# --- 4. getSetting (runtime.ts getSetting) ----------------------------------------------------


def test_get_setting_asks_secrets_then_settings_then_nested_secrets_then_the_environment() -> None:
    c = Character(
        name="A",
        secrets={"KEY": "from-secrets", "EMPTY": ""},
        settings={"KEY": "from-settings", "ONLY_SETTINGS": "s", "EMPTY": "from-settings",
                  "secrets": {"NESTED": "n", "ONLY_SETTINGS": "nested"}},
    )  # fmt: skip
    env = {"KEY": "env", "NESTED": "env", "ENV_ONLY": "e"}
    assert get_setting(c, "KEY", env) == "from-secrets"
    assert get_setting(c, "ONLY_SETTINGS", env) == "s"
    assert get_setting(c, "NESTED", env) == "n"
    assert get_setting(c, "ENV_ONLY", env) == "e"
    assert get_setting(c, "EMPTY", env) == "from-settings"  # "" is falsy: the next source counts


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("true", True), ("false", False), ("TRUE", "TRUE"), ("False", "False"), ("", None),
     (0, None), (False, None), (None, None), (1, 1), ("0", "0")],
)  # fmt: skip
def test_get_setting_decodes_only_lowercase_booleans_and_returns_none_for_falsy(
    stored: Any, expected: Any
) -> None:
    c = Character(name="A", settings={"X": stored})
    assert get_setting(c, "X", {}) == expected


# --- 8. composeState (runtime.test.ts "State Composition", runtime.ts composeState) ----------


def provider(name: str, text: str, values: dict[str, Any], position: int = 0) -> Provider:
    async def get(runtime: Any, message: Memory, state: State) -> ProviderResult:
        return ProviderResult(text=text, values=dict(values))

    return Provider(name=name, get=get, position=position)


async def test_compose_state_calls_each_provider_and_joins_texts_by_newline() -> None:
    # runtime.test.ts "should call provider get methods"
    rt = runtime_of()
    rt.register_provider(provider("P1", "p1_text", {"p1_val": 1}))
    rt.register_provider(provider("P2", "p2_text", {"p2_val": 2}))
    state = await rt.compose_state(said_by(rt, "test message"))
    assert state.text == "p1_text\np2_text" and state.values["providers"] == state.text
    assert state.values["p1_val"] == 1 and state.values["p2_val"] == 2
    assert state.data["providers"]["P1"]["values"] == {"p1_val": 1}


async def test_compose_state_filters_providers() -> None:
    # runtime.test.ts "should filter providers"
    rt = runtime_of()
    rt.register_provider(provider("P1", "p1_text", {}))
    rt.register_provider(provider("P2", "p2_text", {}))
    state = await rt.compose_state(said_by(rt), ["P1"], only_include=True)
    assert state.text == "p1_text"


async def test_on_a_key_collision_the_cached_only_provider_wins() -> None:
    # runtime.ts composeState: the values of cached providers not run now are merged last
    rt = runtime_of()
    rt.register_provider(provider("CACHED", "cached", {"mood": "from cached provider"}))
    rt.register_provider(provider("FRESH", "fresh", {"mood": "from fresh provider"}))
    message = said_by(rt)
    await rt.compose_state(message, ["CACHED"], only_include=True)
    state = await rt.compose_state(message, ["FRESH"], only_include=True)
    assert state.values["mood"] == "from cached provider"
    assert state.text == "fresh"


# --- 10. events on/off, character validation -------------------------------------------------


async def test_a_handler_removed_with_off_is_not_called() -> None:
    # runtime.test.ts "should register and emit events" / "should remove event handler with off"
    rt = runtime_of()
    calls: list[dict[str, Any]] = []

    async def handler(params: dict[str, Any]) -> None:
        calls.append(params)

    rt.on("testEvent", handler)
    await rt.emit_event("testEvent", {"info": "data"})
    assert [c["info"] for c in calls] == ["data"]
    rt.off("testEvent", handler)
    await rt.emit_event("testEvent", {"info": "data"})
    assert len(calls) == 1 and rt.get_event("testEvent") == []


def test_a_character_file_without_bio_is_refused(tmp_path: Path) -> None:
    # character-validation.test.ts: name and bio are required
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "NoBio"}))
    with pytest.raises(ConfigurationError, match="bio: ElizaOS requires it"):
        load_character(path)
    path.write_text(json.dumps({"bio": "no name"}))
    with pytest.raises(ConfigurationError, match="name"):
        load_character(path)


def test_unknown_character_keys_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # character-validation.test.ts rejects unknown keys; elizabus keeps them and warns
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "Extra", "bio": "b", "lore": ["x"], "mood": 1}))
    assert load_character(path).name == "Extra"
    assert "lore, mood" in caplog.text and "ElizaOS would reject" in caplog.text


# --- 9. templates (utils.test.ts "composePromptFromState", utils.ts composeRandomUser) ---------


def test_templates_render_handlebars_blocks_and_do_not_escape() -> None:
    template = (
        "{{#if providers}}Context: {{providers}}{{else}}No context{{/if}}\n"
        "{{#each items}}- {{this}}\n{{/each}}"
        "raw {{{html}}} plain {{html}} missing [{{nothing}}]"
    )
    out = render(template, {"providers": "a & b", "items": ["x", "y"], "html": "<b>"})
    assert out == "Context: a & b\n- x\n- y\nraw <b> plain <b> missing []"
    assert render(template, {"items": []}).startswith("No context\nraw  plain  missing []")


def test_example_names_are_filled_consistently() -> None:
    # utils.ts composeRandomUser: {{user1}} / {{name2}} left in the rendered prompt (they come
    # from character examples in the state) become example names, the same one per number
    examples = "{{user1}}: hi\nEliza: hello {{user1}}\n{{name2}}: hey"
    out = render("# Examples\n{{examples}}", {"examples": examples})
    _, first, second, third = out.split("\n")
    user1 = first.split(":")[0]
    assert user1 and "{{" not in out and second == f"Eliza: hello {user1}"
    assert third.split(":")[0] not in ("", user1)
    assert out == render("# Examples\n{{examples}}", {"examples": examples})  # reproducible


def test_a_character_template_override_is_rendered_with_handlebars() -> None:
    templates = {"messageHandlerTemplate": "{{#if agentName}}I am {{agentName}}{{/if}}"}
    assert render(template_for(templates, "MESSAGE_HANDLER_TEMPLATE"), {"agentName": "Eliza"}) == (
        "I am Eliza"
    )


# --- 7. parseKeyValueXml (utils.test.ts "parseKeyValueXml") ----------------------------------


def test_parse_key_value_xml_gives_elizaos_shapes() -> None:
    parsed = parse_key_value_xml(
        "<response><thought>t</thought><actions>REPLY, FOLLOW_ROOM</actions>"
        "<providers>FACTS</providers><evaluators></evaluators><simple>true</simple>"
        "<inReplyTo>abc</inReplyTo><text>a &amp; b</text></response>"
    )
    assert parsed == {
        "thought": "t", "actions": ["REPLY", "FOLLOW_ROOM"], "providers": ["FACTS"],
        "evaluators": [], "simple": True, "inReplyTo": "abc", "text": "a & b",
    }  # fmt: skip


def test_parse_key_value_xml_reads_any_root_tag() -> None:
    assert parse_key_value_xml("prose <output><title>T</title><post>P</post></output>") == {
        "title": "T",
        "post": "P",
    }


@pytest.mark.parametrize("bad", ["", "no xml at all", "   "])
def test_parse_key_value_xml_of_nothing_is_none(bad: str) -> None:
    assert parse_key_value_xml(bad) is None


def test_parse_key_value_xml_survives_broken_llm_output_with_the_same_shapes() -> None:
    parsed = parse_key_value_xml("```xml\n<response><actions>REPLY<text>unclosed")
    assert parsed == {"actions": ["REPLY"], "text": "unclosed"}
    assert parse_key_value_xml('{"actions": "REPLY, IGNORE", "simple": "false"}') == {
        "actions": ["REPLY", "IGNORE"],
        "simple": False,
    }


# --- 5. bootstrap events (plugin-bootstrap __tests__/logic.test.ts, index.ts `events`) --------


def test_bootstrap_registers_elizaos_event_handlers() -> None:
    names = set(bootstrap_plugin().events)
    assert names >= {"MESSAGE_RECEIVED", "VOICE_MESSAGE_RECEIVED", "REACTION_RECEIVED",
                     "MESSAGE_SENT", "WORLD_JOINED", "WORLD_CONNECTED", "ENTITY_JOINED",
                     "ENTITY_LEFT"}  # fmt: skip
    events = bootstrap_plugin().events
    assert events["VOICE_MESSAGE_RECEIVED"] == events["MESSAGE_RECEIVED"]


async def test_a_reaction_is_stored_as_a_memory() -> None:
    # logic.test.ts "Reaction Events": reactionReceivedHandler stores the reaction
    rt = runtime_of(plugins=[bootstrap_plugin()])
    await rt.initialize()
    reaction = said_by(rt, "👍")
    await rt.emit_event("REACTION_RECEIVED", {"runtime": rt, "message": reaction})
    assert [m.text for m in await rt.get_memories(room_id=reaction.room_id)] == ["👍"]


async def test_an_entity_that_joins_is_connected_and_one_that_leaves_is_inactive() -> None:
    # logic.test.ts "Entity Events": ENTITY_JOINED syncs the user, ENTITY_LEFT marks it INACTIVE
    rt = runtime_of(plugins=[bootstrap_plugin()])
    await rt.initialize()
    user = create_unique_uuid(rt.agent_id, "u-42")
    await rt.emit_event("ENTITY_JOINED", {"runtime": rt, "entityId": user, "worldId": "guild-1",
                                          "roomId": "chan-1", "source": "discord",
                                          "metadata": {"type": "GROUP"}})  # fmt: skip
    room = create_unique_uuid(rt.agent_id, "chan-1")
    assert user in await rt.get_participants_for_room(room)
    assert (await rt.get_room(room)).world_id == create_unique_uuid(rt.agent_id, "guild-1")
    await rt.emit_event("ENTITY_LEFT", {"runtime": rt, "entityId": user, "worldId": "guild-1"})
    entity = await rt.get_entity_by_id(user)
    assert entity.metadata["status"] == "INACTIVE" and isinstance(entity.metadata["leftAt"], int)


async def test_an_entity_joined_without_room_type_is_ignored() -> None:
    rt = runtime_of(plugins=[bootstrap_plugin()])
    await rt.initialize()
    user = create_unique_uuid(rt.agent_id, "u-43")
    await rt.emit_event("ENTITY_JOINED", {"runtime": rt, "entityId": user, "worldId": "g",
                                          "roomId": "c", "metadata": {}})  # fmt: skip
    assert await rt.get_entity_by_id(user) is None


async def test_a_joined_world_is_synced_in_bulk() -> None:
    # logic.test.ts "World Events": handleServerSync calls ensureConnections, then onComplete
    calls: list[tuple[Any, ...]] = []
    done: list[bool] = []

    class Recorder:
        async def ensure_connections(self, *args: Any) -> None:
            calls.append(args)

    world = {"id": uuid.uuid4(), "name": "Guild", "serverId": "g-1"}
    rooms = [{"id": uuid.uuid4(), "name": "general", "channelId": "c-1", "type": "GROUP"}]
    entities = [{"id": uuid.uuid4(), "names": ["Ann"]}]
    [handler] = bootstrap_plugin().events["WORLD_JOINED"]
    await handler({"runtime": Recorder(), "world": world, "rooms": rooms, "entities": entities,
                   "source": "discord", "onComplete": lambda: done.append(True)})  # fmt: skip
    [(entity_specs, room_specs, source, world_spec)] = calls
    assert entity_specs == [EntitySpec(id=entities[0]["id"], names=["Ann"])]
    assert room_specs == [
        RoomSpec(id=rooms[0]["id"], name="general", type="GROUP", channel_id="c-1")
    ]
    assert source == "discord" and world_spec == WorldSpec(id=world["id"], name="Guild",
                                                           server_id="g-1")  # fmt: skip
    assert done == [True]
