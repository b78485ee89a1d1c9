"""The state as it travels to a remote action or provider, shared by both kinds of request."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from shared.plugin import State


class RemoteState(BaseModel):
    """The composed state a remote action or provider is given: values, data and text."""

    values: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    text: str = ""

    @classmethod
    def of(cls, state: State) -> RemoteState:
        """A local State as it is sent (not validated: values may hold any object)."""
        return cls.model_construct(values=state.values, data=state.data, text=state.text)

    def to_state(self) -> State:
        """The received state as a local State."""
        return State(self.values, self.data, self.text)


def str_fallback(value: Any) -> Any:
    """JSON fallback for objects pydantic cannot serialise: their str()."""
    return str(value)
