"""Export the JSON Schema of every bus message and event payload to schemas/json."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from shared.events import EVENT_TYPES, EventMetadata
from shared.messages import BUS_MESSAGES

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas" / "json"


def schema_documents() -> dict[str, str]:
    """File name -> JSON text of every exported schema, deterministic for a given code version."""
    models: dict[str, type[BaseModel]] = {f"bus/{m.__name__}.json": m for m in BUS_MESSAGES}
    models |= {f"events/{t}.json": m for t, m in EVENT_TYPES.items()}
    models["events/EventMetadata.json"] = EventMetadata
    return {
        name: json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in sorted(models.items())
    }


def export_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema under `directory`, removing stale files; returns the files written."""
    documents = schema_documents()
    written: list[Path] = []
    for name, text in documents.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    for old in directory.rglob("*.json"):
        if str(old.relative_to(directory)) not in documents:
            old.unlink()
    return written
