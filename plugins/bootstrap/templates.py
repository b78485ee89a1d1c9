"""Prompt templates of the bootstrap plugin, written for elizabus, rendered as ElizaOS renders its.

A character may override any of them through its `templates` (ElizaOS's key names, e.g.
`messageHandlerTemplate`); `template_for` picks the override when there is one. `render` is
ElizaOS 1.x's `composePromptFromState`: the template is Handlebars (`{{#if}}`, `{{#each}}`,
`{{{raw}}}`, helpers; rendered by pybars3, a Python Handlebars implementation), `{{value}}` is not
HTML-escaped (ElizaOS turns double braces into triple ones), and `{{name1}}` / `{{user2}}` left
in the result (from character examples) become example names.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

import pybars

from shared.plugin import ConfigurationError

log = logging.getLogger(__name__)

__all__ = [
    "CHOOSE_OPTION_TEMPLATE",
    "IMAGE_PROMPT_TEMPLATE",
    "MESSAGE_HANDLER_TEMPLATE",
    "POST_TEMPLATE",
    "REFLECTION_TEMPLATE",
    "REPLY_TEMPLATE",
    "SEND_MESSAGE_TEMPLATE",
    "SHOULD_RESPOND_TEMPLATE",
    "UPDATE_CONTACT_TEMPLATE",
    "UPDATE_ROLE_TEMPLATE",
    "UPDATE_SETTINGS_TEMPLATE",
    "compose_random_user",
    "render",
    "template_for",
]

MESSAGE_HANDLER_TEMPLATE = """\
# Task: decide what {{agentName}} does next in this conversation, and write it.

{{providers}}

# How to answer
Read the latest message and the conversation so far. Decide which actions {{agentName}} takes:
- REPLY: answer with a message
- IGNORE: say nothing (the message is not for {{agentName}}, or needs no answer)
- NONE: take no action but still write nothing
{{actionNames}}
Several actions may be listed, comma separated, in the order they should run (REPLY first when
{{agentName}} also answers). If more context would help, name extra providers in <providers>
(for example FACTS, ENTITIES, RELATIONSHIPS, WORLD, SETTINGS, ROLES, ATTACHMENTS); otherwise
leave it empty. Stay in character and keep the reply in the style described above.

Answer with exactly one XML block, and nothing before or after it:
<response>
    <thought>one or two sentences of private reasoning</thought>
    <actions>REPLY</actions>
    <providers></providers>
    <text>the message {{agentName}} sends</text>
</response>
"""

SHOULD_RESPOND_TEMPLATE = """\
# Task: decide whether {{agentName}} should take part in this conversation now.

{{providers}}

# Rules
- RESPOND when someone speaks to {{agentName}} by name, asks {{agentName}} something, or the
  conversation clearly expects {{agentName}} to say something.
- IGNORE when the message is for someone else, is small talk between other people, or when
  {{agentName}} has nothing useful to add.
- STOP when someone asks {{agentName}} to be quiet, stop talking or leave the conversation.
When unsure, prefer IGNORE: it is better to miss a message than to interrupt.

Answer with exactly one XML block:
<response>
    <name>{{agentName}}</name>
    <reasoning>why, in one sentence</reasoning>
    <action>RESPOND | IGNORE | STOP</action>
</response>
"""

REPLY_TEMPLATE = """\
# Task: write {{agentName}}'s next message in this conversation.

{{providers}}

Write only what {{agentName}} says next, in character and in the style above. Answer with:
<response>
    <thought>what {{agentName}} is trying to say, in a sentence</thought>
    <text>the message</text>
</response>
"""

REFLECTION_TEMPLATE = """\
# Task: review the conversation as {{agentName}} and note what is worth remembering.

# People in the room
{{entitiesInRoom}}

# Facts already known
{{knownFacts}}

# Relationships already known
{{existingRelationships}}

# Recent conversation
{{recentMessages}}

# What to write
1. thought: a short reflection, in {{agentName}}'s own voice, on how the conversation is going.
2. facts: new, lasting facts about people or the world stated in the conversation. Leave out
   anything already listed above, greetings, and guesses. Each fact has a "claim" (one sentence),
   a "type" ("fact", "opinion" or "status"), and the "entity" it is about (a name or id from the
   people above).
3. relationships: pairs of people who interacted, by name or id from the people above, with
   tags describing the link (for example "friend", "colleague", "dm_interaction").

Answer with one JSON object and nothing else:
{
  "thought": "...",
  "facts": [{"claim": "...", "type": "fact", "entity": "..."}],
  "relationships": [{"source": "...", "target": "...", "tags": ["..."]}]
}
"""

CHOOSE_OPTION_TEMPLATE = """\
# Task: work out which option {{senderName}} picked for a pending decision.

# Pending decisions
{{tasks}}

# Recent conversation
{{recentMessages}}

Pick the decision the latest message answers and the option it chooses, using the exact task id
and option name listed above. If the person wants to cancel, choose ABORT. If no option is
clearly chosen, leave selectedOption empty.

Answer with one XML block:
<response>
    <taskId>task id</taskId>
    <selectedOption>option name</selectedOption>
</response>
"""

UPDATE_SETTINGS_TEMPLATE = """\
# Task: find the settings {{senderName}} wants to change.

# Settings of this world
{{settings}}

# Recent conversation
{{recentMessages}}

List only settings named above whose new value the latest message gives. Use the key exactly as
listed. Answer with one JSON array and nothing else, [] when there is nothing to change:
[{"key": "SETTING_KEY", "value": "new value"}]
"""

UPDATE_ROLE_TEMPLATE = """\
# Task: find the role changes {{senderName}} asks for.

# People in this world and their roles
{{entitiesWithRoles}}

# Recent conversation
{{recentMessages}}

Roles are OWNER, ADMIN and NONE. Name each person whose role should change by the id or name
listed above. Answer with one JSON array and nothing else, [] when no change is asked for:
[{"entity": "name or id", "role": "ADMIN"}]
"""

UPDATE_CONTACT_TEMPLATE = """\
# Task: extract contact details to save about a person.

# People in the room
{{entitiesInRoom}}

# Contact details already saved about that person
{{currentContact}}

# Recent conversation
{{recentMessages}}

From the latest message, work out whose details are given (a name or id from the people above,
or "sender" for {{senderName}} themself), the fields to save (for example email, phone, website,
twitter, discord, notes, birthday) and whether to add them to what is saved ("merge"), replace
everything ("replace"), or delete the named fields ("remove").

Answer with one JSON object and nothing else:
{"entity": "sender", "operation": "merge", "fields": {"email": "..."}}
"""

SEND_MESSAGE_TEMPLATE = """\
# Task: work out where {{senderName}} wants {{agentName}} to send a message, and what it says.

# Rooms {{agentName}} is in
{{rooms}}

# People {{agentName}} knows here
{{entitiesInRoom}}

# Recent conversation
{{recentMessages}}

The target is a person ("user") or a room ("room"), named as listed above. Answer with one XML
block:
<response>
    <targetType>user | room</targetType>
    <target>name or id</target>
    <source>platform, when one is named</source>
    <text>the message to send</text>
</response>
"""

POST_TEMPLATE = """\
# Task: write a new social media post as {{agentName}}.

{{providers}}

Write one post in {{agentName}}'s voice about something {{agentName}} cares about. Keep it short
(under 280 characters), with no hashtags unless they are part of the style, and do not repeat
recent posts. Answer with:
<response>
    <thought>what the post is about</thought>
    <post>the post</post>
    <imagePrompt>an image to go with it, or empty</imagePrompt>
</response>
"""

IMAGE_PROMPT_TEMPLATE = """\
# Task: write a prompt for an image generator from what {{senderName}} asked {{agentName}} for.

# Recent conversation
{{recentMessages}}

Describe the picture concretely: the subject, setting, style, lighting and mood, in one or two
sentences. Do not include any text to be drawn unless it was asked for. Answer with:
<response>
    <prompt>the image prompt</prompt>
</response>
"""

_CHARACTER_KEYS = {
    "MESSAGE_HANDLER_TEMPLATE": "messageHandlerTemplate",
    "SHOULD_RESPOND_TEMPLATE": "shouldRespondTemplate",
    "REPLY_TEMPLATE": "replyTemplate",
    "REFLECTION_TEMPLATE": "reflectionTemplate",
    "CHOOSE_OPTION_TEMPLATE": "chooseOptionTemplate",
    "UPDATE_SETTINGS_TEMPLATE": "updateSettingsTemplate",
    "UPDATE_ROLE_TEMPLATE": "updateRoleTemplate",
    "UPDATE_CONTACT_TEMPLATE": "updateContactTemplate",
    "SEND_MESSAGE_TEMPLATE": "sendMessageTemplate",
    "POST_TEMPLATE": "postCreationTemplate",
    "IMAGE_PROMPT_TEMPLATE": "imagePromptTemplate",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\s*\}\}")
_DOUBLE = re.compile(r"(?<!\{)\{\{(?![{#/!>])([\s\S]*?)\}\}")
_EXAMPLE_NAME = re.compile(r"\{\{(name|user)(\d+)\}\}")
_COMPILER = pybars.Compiler()

EXAMPLE_NAMES = (
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
    "Charlie", "Dana", "Robin", "Kai", "Noah", "Emma", "Liam", "Olivia", "Mia", "Lucas",
    "Sofia", "Leo", "Nora", "Ethan", "Ava", "Mason", "Zoe", "Elena", "Hugo", "Iris",
)  # fmt: skip
"""Names given to `{{name1}}`, `{{user2}}`... in rendered prompts (ElizaOS draws random ones)."""


def _upgrade_double_to_triple(template: str) -> str:
    """`{{x}}` -> `{{{x}}}` (no HTML escaping), leaving blocks, partials, comments, `{{else}}`
    and triple braces alone: ElizaOS's `upgradeDoubleToTriple`."""

    def one(match: re.Match[str]) -> str:
        inner = match.group(1)
        return match.group(0) if inner.strip() == "else" else "{{{" + inner + "}}}"

    return _DOUBLE.sub(one, template)


@functools.lru_cache(maxsize=256)
def _compiled(template: str) -> Callable[[Mapping[str, Any]], str] | None:
    """The compiled template (cached, as ElizaOS caches 256); None when it does not parse."""
    try:
        return _COMPILER.compile(_upgrade_double_to_triple(template))  # type: ignore[no-any-return]
    except Exception:
        log.exception(
            "prompt template does not parse as Handlebars: its {{placeholders}} are filled "
            "without blocks; fix the character's template"
        )
        return None


def compose_random_user(text: str) -> str:
    """Replace `{{nameN}}` / `{{userN}}` with example names, the same name for the same N (as
    ElizaOS's `composeRandomUser`); names are chosen from the text, so a prompt renders the same
    on every run."""
    if "{{name" not in text and "{{user" not in text:
        return text
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    names = rng.sample(EXAMPLE_NAMES, len(EXAMPLE_NAMES))
    return _EXAMPLE_NAME.sub(lambda m: names[(int(m.group(2)) - 1) % len(names)], text)


def render(template: str, values: Mapping[str, Any]) -> str:
    """Render a prompt template with state values, as ElizaOS's `composePromptFromState`.

    Handlebars blocks and triple braces work; values are not HTML-escaped; unknown names render
    empty; `{{nameN}}`/`{{userN}}` in the result become example names. A template that does not
    parse as Handlebars falls back to plain `{{name}}` filling (and an error in the log).
    """
    compiled = _compiled(template)
    if compiled is None:
        text = _PLACEHOLDER.sub(lambda m: _plain(values.get(m.group(1))), template)
    else:
        text = str(compiled(dict(values)))
    return compose_random_user(text)


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def template_for(templates: Mapping[str, Any], name: str) -> str:
    """The template called `name` (e.g. "REPLY_TEMPLATE"), or the character's override of it.

    `templates` is the character's `templates` mapping; its ElizaOS key ("replyTemplate") or the
    constant's name may be used. An unknown `name` is a ConfigurationError (a plugin bug).
    """
    default = globals()[name] if name in _CHARACTER_KEYS else None
    if default is None:
        raise ConfigurationError(
            f"no template {name!r}: use one of {', '.join(sorted(_CHARACTER_KEYS))}"
        )
    override = templates.get(_CHARACTER_KEYS[name]) or templates.get(name)
    return override if isinstance(override, str) and override.strip() else str(default)
