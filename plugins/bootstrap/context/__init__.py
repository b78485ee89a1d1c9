"""The bootstrap plugin's providers: the context ElizaOS agents compose their prompts from."""

from plugins.bootstrap.context.action_state import ACTION_STATE
from plugins.bootstrap.context.anxiety import ANXIETY
from plugins.bootstrap.context.attachments import ATTACHMENTS
from plugins.bootstrap.context.character import CHARACTER
from plugins.bootstrap.context.choice import CHOICE
from plugins.bootstrap.context.clock import TIME
from plugins.bootstrap.context.facts import FACTS
from plugins.bootstrap.context.people import ENTITIES, RELATIONSHIPS
from plugins.bootstrap.context.recent_messages import RECENT_MESSAGES
from plugins.bootstrap.context.registry import ACTIONS, CAPABILITIES, EVALUATORS, PROVIDERS
from plugins.bootstrap.context.roles import ROLES
from plugins.bootstrap.context.settings import SETTINGS
from plugins.bootstrap.context.world import WORLD
from shared.plugin import Provider

BOOTSTRAP_PROVIDERS: list[Provider] = [
    CHARACTER,
    RECENT_MESSAGES,
    ACTIONS,
    ACTION_STATE,
    TIME,
    ENTITIES,
    FACTS,
    RELATIONSHIPS,
    WORLD,
    ROLES,
    SETTINGS,
    ANXIETY,
    ATTACHMENTS,
    CAPABILITIES,
    PROVIDERS,
    EVALUATORS,
    CHOICE,
]
"""Every bootstrap provider, in ElizaOS's registration order."""

__all__ = [
    "ACTIONS",
    "ACTION_STATE",
    "ANXIETY",
    "ATTACHMENTS",
    "BOOTSTRAP_PROVIDERS",
    "CAPABILITIES",
    "CHARACTER",
    "CHOICE",
    "ENTITIES",
    "EVALUATORS",
    "FACTS",
    "PROVIDERS",
    "RECENT_MESSAGES",
    "RELATIONSHIPS",
    "ROLES",
    "SETTINGS",
    "TIME",
    "WORLD",
]
