"""Character files: ElizaOS JSON loads unchanged; errors name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.orchestrator.agents import BOOTSTRAP_PLUGIN, KNOWLEDGE_PLUGIN, default_plugins
from shared.character import Character, load_character
from shared.errors import ConfigurationError


def test_default_character_loads() -> None:
    c = load_character(None)
    assert c.name == "Eliza" and c.bio and c.agent_id == load_character(None).agent_id


def test_elizaos_shape_with_bio_string_and_camel_case(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "name": "Ada",
                "bio": "one line bio",
                "messageExamples": [[{"name": "u", "content": {}}]],
                "postExamples": ["p"],
                "style": {"all": ["terse"], "chat": [], "post": []},
                "clients": ["discord"],
                "settings": {"voice": {"model": "x"}},
            }
        )
    )
    c = load_character(path)
    assert c.bio == ["one line bio"] and c.message_examples and c.post_examples == ["p"]
    assert c.model_extra and c.model_extra["clients"] == ["discord"]


def test_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "", "style": {"all": "not a list"}}))
    with pytest.raises(ConfigurationError) as err:
        load_character(path)
    assert "name" in str(err.value) and "style.all" in str(err.value)


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_character(path)


def test_name_placeholders_in_the_characters_texts_become_its_name() -> None:
    character = Character.model_validate(
        {
            "name": "Ada",
            "bio": ["I am {{name}}.", "{{agentName}} likes {{name1}}"],
            "lore": ["{{ name }} was born in a lab"],
            "system": "You are {{agentName}}.",
            "messageExamples": [[{"name": "{{name1}}", "content": {"text": "hi {{name}}"}}]],
            "style": {"all": ["{{name}} speaks softly"]},
            "templates": {"messageHandlerTemplate": "{{agentName}} answers {{recentMessages}}"},
        }
    )
    assert character.bio == ["I am Ada.", "Ada likes {{name1}}"]  # example speakers stay
    assert character.model_extra and character.model_extra["lore"] == ["Ada was born in a lab"]
    assert character.system == "You are Ada."
    assert character.message_examples[0][0] == {"name": "{{name1}}", "content": {"text": "hi Ada"}}
    assert character.style.all == ["Ada speaks softly"]
    # templates are rendered with the state, not rewritten at load
    assert (
        character.templates["messageHandlerTemplate"] == "{{agentName}} answers {{recentMessages}}"
    )


def test_ignore_bootstrap_is_read_as_any_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IGNORE_BOOTSTRAP", raising=False)
    both = [BOOTSTRAP_PLUGIN, KNOWLEDGE_PLUGIN]
    assert default_plugins(Character(name="A")) == both
    assert default_plugins(Character(name="A", settings={"IGNORE_BOOTSTRAP": "false"})) == both
    assert default_plugins(Character(name="A", settings={"IGNORE_BOOTSTRAP": True})) == [
        KNOWLEDGE_PLUGIN
    ]
    assert default_plugins(Character(name="A", secrets={"IGNORE_BOOTSTRAP": "1"})) == [
        KNOWLEDGE_PLUGIN
    ]
    monkeypatch.setenv("IGNORE_BOOTSTRAP", "true")
    assert default_plugins(Character(name="A")) == [KNOWLEDGE_PLUGIN]


def test_the_knowledge_plugin_is_loaded_once_when_the_character_names_it() -> None:
    for name in ("@elizaos/plugin-knowledge", "knowledge"):
        assert default_plugins(Character(name="A", plugins=[name])) == [BOOTSTRAP_PLUGIN]
