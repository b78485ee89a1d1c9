"""Test doubles for plugins and services, shipped as public, named implementations (as
pydantic-ai ships `TestModel`): each stands in for one boundary of elizabus in unit tests."""

from __future__ import annotations

from shared.testing.list_sink import ListSink

__all__ = ["ListSink"]
