"""Prompt templates of the orchestrator, written for elizabus, with `{{name}}` placeholders."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MESSAGE_HANDLER_TEMPLATE = """\
# Task: decide what {{agentName}} does next in this conversation, and write it.

{{providers}}

# How to answer
Read the latest message and the conversation so far. Decide which actions {{agentName}} takes:
- REPLY: answer with a message
- IGNORE: say nothing (the message is not for {{agentName}}, or needs no answer)
- NONE: take no action but still write nothing
Stay in character. Keep the reply in the style described above.

Answer with exactly one XML block, and nothing before or after it:
<response>
    <thought>one or two sentences of private reasoning</thought>
    <actions>REPLY</actions>
    <providers></providers>
    <text>the message {{agentName}} sends</text>
</response>
"""

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\s*\}\}")


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill `{{name}}` placeholders from `values`; unknown names are left empty."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), template)
