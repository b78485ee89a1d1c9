"""A complete small example plugin: dice rolling (see "Writing a plugin" in the README)."""

from plugins.dice.plugin import dice_plugin

__all__ = ["dice_plugin"]
