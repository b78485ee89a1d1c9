"""Every bus message the services define beyond shared/messages.py, for the schema export."""

from __future__ import annotations

from pydantic import BaseModel

from services.model_worker.announce import ModelAnnouncement
from services.orchestrator.runtime.events import EmittedEvent
from services.orchestrator.runtime.remote_actions import RemoteActionReply, RemoteActionRequest
from services.orchestrator.runtime.remote_providers import (
    RemoteProviderReply,
    RemoteProviderRequest,
)

SERVICE_BUS_MESSAGES: tuple[type[BaseModel], ...] = (
    EmittedEvent,
    ModelAnnouncement,
    RemoteActionRequest,
    RemoteActionReply,
    RemoteProviderRequest,
    RemoteProviderReply,
)
