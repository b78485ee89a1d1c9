"""The bootstrap plugin's providers: the context ElizaOS agents compose their prompts from."""

from plugins.bootstrap.providers.action_state import ACTION_STATE
from plugins.bootstrap.providers.anxiety import ANXIETY
from plugins.bootstrap.providers.attachments import ATTACHMENTS
from plugins.bootstrap.providers.character import CHARACTER
from plugins.bootstrap.providers.choice import CHOICE
from plugins.bootstrap.providers.clock import TIME
from plugins.bootstrap.providers.facts import FACTS
from plugins.bootstrap.providers.people import ENTITIES, RELATIONSHIPS
from plugins.bootstrap.providers.recent_messages import RECENT_MESSAGES
from plugins.bootstrap.providers.registry import ACTIONS, CAPABILITIES, EVALUATORS, PROVIDERS
from plugins.bootstrap.providers.roles import ROLES
from plugins.bootstrap.providers.settings import SETTINGS
from plugins.bootstrap.providers.world import WORLD
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
