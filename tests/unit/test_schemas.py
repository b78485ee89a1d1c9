"""The JSON Schemas checked in under schemas/json match the code: run `make schemas` if not."""

from __future__ import annotations

from shared.schema_export import SCHEMA_DIR, schema_documents


def test_exported_schemas_are_current() -> None:
    documents = schema_documents()
    on_disk = {str(p.relative_to(SCHEMA_DIR)): p.read_text() for p in SCHEMA_DIR.rglob("*.json")}
    assert set(on_disk) == set(documents), "schema files added or removed: run `make schemas`"
    stale = [name for name, text in documents.items() if on_disk[name] != text]
    assert not stale, f"stale schemas {stale}: run `make schemas` and commit schemas/json"


def test_every_event_and_bus_message_is_exported() -> None:
    names = set(schema_documents())
    assert "bus/MessageReceived.json" in names and "bus/MessageSent.json" in names
    assert "events/memory.created.json" in names and "events/message.rejected.json" in names
    assert "bus/EmittedEvent.json" in names and "bus/RemoteActionRequest.json" in names
    assert "bus/ModelAnnouncement.json" in names and "bus/RemoteProviderReply.json" in names
