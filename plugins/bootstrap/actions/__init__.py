"""The bootstrap plugin's actions: what an ElizaOS agent can do in answer to a message."""

from plugins.bootstrap.actions.choose_option import CHOOSE_OPTION
from plugins.bootstrap.actions.contact import UPDATE_CONTACT
from plugins.bootstrap.actions.image import GENERATE_IMAGE
from plugins.bootstrap.actions.reply import IGNORE, NONE, REPLY
from plugins.bootstrap.actions.roles import UPDATE_ROLE
from plugins.bootstrap.actions.room_state import FOLLOW_ROOM, MUTE_ROOM, UNFOLLOW_ROOM, UNMUTE_ROOM
from plugins.bootstrap.actions.send_message import SEND_MESSAGE
from plugins.bootstrap.actions.settings import UPDATE_SETTINGS
from shared.plugin import Action

BOOTSTRAP_ACTIONS: list[Action] = [
    REPLY,
    FOLLOW_ROOM,
    UNFOLLOW_ROOM,
    IGNORE,
    NONE,
    MUTE_ROOM,
    UNMUTE_ROOM,
    SEND_MESSAGE,
    UPDATE_ROLE,
    CHOOSE_OPTION,
    UPDATE_SETTINGS,
    UPDATE_CONTACT,
    GENERATE_IMAGE,
]
"""Every bootstrap action, in ElizaOS's registration order."""

__all__ = [
    "BOOTSTRAP_ACTIONS",
    "CHOOSE_OPTION",
    "FOLLOW_ROOM",
    "GENERATE_IMAGE",
    "IGNORE",
    "MUTE_ROOM",
    "NONE",
    "REPLY",
    "SEND_MESSAGE",
    "UNFOLLOW_ROOM",
    "UNMUTE_ROOM",
    "UPDATE_CONTACT",
    "UPDATE_ROLE",
    "UPDATE_SETTINGS",
]
