"""The runtime's services: registered by plugins, started once, found by type, stopped."""

from __future__ import annotations

import logging

from shared.plugin import Runtime, Service

log = logging.getLogger(__name__)


class ServiceRegistry:
    """Services by `service_type`. Before the runtime is initialised they wait in a queue."""

    def __init__(self) -> None:
        self._services: dict[str, Service] = {}
        self._types: dict[str, type[Service]] = {}
        self._queue: list[type[Service]] = []

    def queue(self, service: type[Service]) -> None:
        """Remember a service class to start when the runtime initialises."""
        self._queue.append(service)

    async def start_queued(self, runtime: Runtime) -> None:
        """Start every queued service, in the order they were queued."""
        queued, self._queue = self._queue, []
        for service in queued:
            await self.register(service, runtime)

    async def register(self, service: type[Service], runtime: Runtime) -> None:
        """Start a service and make it findable by type; a second one of a type is skipped."""
        service_type = service.service_type
        if not service_type:
            log.warning("service %s has no service_type: not started", service.__name__)
            return
        if service_type in self._services:
            log.warning("service %s already registered: %s skipped", service_type,
                        service.__name__)  # fmt: skip
            return
        instance = await service.start(runtime)
        self._services[service_type] = instance
        self._types[service_type] = service
        log.debug("service %s started", service_type)

    def get(self, service_type: str) -> Service | None:
        """The running service of a type, or None."""
        return self._services.get(service_type)

    def has(self, service_type: str) -> bool:
        """Whether a service of this type runs."""
        return service_type in self._services

    def types(self) -> list[str]:
        """The types of the running services, in start order."""
        return list(self._services)

    def all(self) -> dict[str, Service]:
        """Every running service by type."""
        return dict(self._services)

    async def stop_all(self) -> None:
        """Stop every service (errors logged, the others still stopped), newest first."""
        for service_type, service in reversed(list(self._services.items())):
            try:
                await service.stop()
            except Exception:
                log.exception("error stopping service %s", service_type)
        self._services.clear()
        self._types.clear()
