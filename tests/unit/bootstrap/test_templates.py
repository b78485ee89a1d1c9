"""The bootstrap templates: placeholders, rendering and character overrides."""

from __future__ import annotations

import re

import pytest

from plugins.bootstrap import templates
from plugins.bootstrap.parsing import parse_json_block, parse_key_values
from plugins.bootstrap.templates import render, template_for
from shared.errors import ConfigurationError

NAMES = [n for n in templates.__all__ if n.endswith("_TEMPLATE")]


def test_every_template_renders_without_leftover_placeholders() -> None:
    for name in NAMES:
        text = getattr(templates, name)
        keys = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))
        assert keys & {"providers", "recentMessages"}, f"{name} shows no conversation"
        rendered = render(text, {k: f"<{k}>" for k in keys})
        assert "{{" not in rendered, name


def test_message_handler_lists_actions_and_providers_and_asks_for_xml() -> None:
    text = render(
        templates.MESSAGE_HANDLER_TEMPLATE,
        {"agentName": "Ada", "providers": "# Context", "actionNames": "Possible: MUTE_ROOM"},
    )
    assert "# Context" in text and "Possible: MUTE_ROOM" in text
    example = parse_key_values(text[text.index("<response>") :])
    assert set(example) == {"thought", "actions", "providers", "text"}


def test_json_templates_show_parseable_examples() -> None:
    for name in ("REFLECTION_TEMPLATE", "UPDATE_CONTACT_TEMPLATE"):
        text = getattr(templates, name)
        assert isinstance(parse_json_block(text[text.rindex("\n{") :]), dict), name


def test_render_leaves_unknown_names_empty() -> None:
    assert render("Hi {{ name }}, {{missing}}!", {"name": "Ann"}) == "Hi Ann, !"


def test_template_for_prefers_the_characters_override() -> None:
    assert template_for({}, "REPLY_TEMPLATE") == templates.REPLY_TEMPLATE
    assert template_for({"replyTemplate": "mine {{agentName}}"}, "REPLY_TEMPLATE") == (
        "mine {{agentName}}"
    )
    assert template_for({"REPLY_TEMPLATE": "by constant"}, "REPLY_TEMPLATE") == "by constant"
    assert template_for({"replyTemplate": "  "}, "REPLY_TEMPLATE") == templates.REPLY_TEMPLATE
    with pytest.raises(ConfigurationError, match="no template"):
        template_for({}, "NOPE_TEMPLATE")
