"""ElizaOS's model types: what `Runtime.use_model` is asked for and what model workers serve."""

from __future__ import annotations

from enum import StrEnum


class ModelType(StrEnum):
    """Every ElizaOS model type; each is served on subject `model.<value>`."""

    TEXT_SMALL = "TEXT_SMALL"
    TEXT_LARGE = "TEXT_LARGE"
    TEXT_EMBEDDING = "TEXT_EMBEDDING"
    TEXT_TOKENIZER_ENCODE = "TEXT_TOKENIZER_ENCODE"
    TEXT_TOKENIZER_DECODE = "TEXT_TOKENIZER_DECODE"
    TEXT_REASONING_SMALL = "TEXT_REASONING_SMALL"
    TEXT_REASONING_LARGE = "TEXT_REASONING_LARGE"
    TEXT_COMPLETION = "TEXT_COMPLETION"
    OBJECT_SMALL = "OBJECT_SMALL"
    OBJECT_LARGE = "OBJECT_LARGE"
    IMAGE = "IMAGE"
    IMAGE_DESCRIPTION = "IMAGE_DESCRIPTION"
    TRANSCRIPTION = "TRANSCRIPTION"
    TEXT_TO_SPEECH = "TEXT_TO_SPEECH"
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"
