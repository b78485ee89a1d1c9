"""State composition, as ElizaOS's `composeState`: providers chosen, run, merged and cached.

`StateComposer.compose_state` picks providers (the public, non-dynamic ones by default; an include
list adds private or dynamic ones; `only_include` restricts to the list), runs them concurrently
with a timeout each, and merges what they return into the state cached for the message: fresh
results replace the cached result of the same provider, cached results of providers not run this
time are kept (and, as in ElizaOS, their values win on a key collision). A provider that raises
or times out contributes an empty result and a
`provider.failed` event; the others still count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from shared.errors import ConfigurationError
from shared.events import ProviderFailed, now_ms
from shared.plugin import Memory, Provider, ProviderResult, Runtime, State
from shared.runtime.run_scope import current_run_id
from shared.runtime.sinks import EventSink

log = logging.getLogger(__name__)

__all__ = ["StateComposer", "choose_providers", "provider_entry"]

TEXT_SEPARATOR = "\n"
"""Provider texts are joined by a newline in the composed state's `text` (as ElizaOS 1.x)."""


def provider_entry(result: ProviderResult) -> dict[str, Any]:
    """The form a provider's result takes in `state.data["providers"][name]`."""
    return {"text": result.text, "values": dict(result.values), "data": dict(result.data)}


def choose_providers(
    providers: list[Provider], include_list: list[str] | None, only_include: bool
) -> list[Provider]:
    """The providers `compose_state` runs, sorted by `position` (ties: registration order).

    With `only_include` and a non-empty list, exactly the listed providers; otherwise every
    provider that is neither private nor dynamic, plus the listed ones. Unknown names are ignored
    and a name registered twice runs once (the first registration).
    """
    names: set[str] = set()
    wanted = list(include_list or [])
    if only_include and wanted:
        names.update(wanted)
    else:
        names.update(p.name for p in providers if not p.private and not p.dynamic)
        names.update(wanted)
    chosen: list[Provider] = []
    seen: set[str] = set()
    for provider in providers:
        if provider.name in names and provider.name not in seen:
            seen.add(provider.name)
            chosen.append(provider)
    missing = [name for name in wanted if name not in seen]
    if missing:
        log.debug("compose_state: no provider registered as %s; ignored", ", ".join(missing))
    return sorted(chosen, key=lambda p: p.position)  # sorted() is stable: ties keep order


class StateComposer:
    """Composes and caches the state of messages from a runtime's providers.

    `providers` is the runtime's own list, read at every call, so providers registered later are
    seen. The cache holds at most `cache_size` states (least recently used dropped first); the
    returned State is the cached object itself, as in ElizaOS, so what a caller adds to it is
    there for the next `compose_state` of the same message.
    """

    def __init__(
        self,
        runtime: Runtime,
        providers: list[Provider],
        sink: EventSink,
        timeout: float = 10.0,
        cache_size: int = 1000,
    ) -> None:
        if timeout <= 0:
            raise ConfigurationError(
                f"provider timeout must be positive, got {timeout!r}: pass seconds, e.g. 10.0"
            )
        if cache_size < 0:
            raise ConfigurationError(
                f"state cache size must be 0 or more, got {cache_size!r}: pass e.g. 1000 "
                "(0 disables the cache)"
            )
        self.runtime = runtime
        self.providers = providers
        self.sink = sink
        self.timeout = timeout
        self.cache_size = cache_size
        self._cache: OrderedDict[str, State] = OrderedDict()

    # --- the cache ------------------------------------------------------------------------------

    def get_cached(self, key: object) -> State | None:
        """The state cached under `key` (a message id, or e.g. f"{id}_action_results")."""
        state = self._cache.get(str(key))
        if state is not None:
            self._cache.move_to_end(str(key))
        return state

    def set_cached(self, key: object, state: State) -> None:
        """Cache `state` under `key`, dropping the least recently used beyond `cache_size`."""
        if self.cache_size == 0:
            return
        self._cache[str(key)] = state
        self._cache.move_to_end(str(key))
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        """Forget every cached state (when the runtime stops)."""
        self._cache.clear()

    def __len__(self) -> int:
        """How many states are cached."""
        return len(self._cache)

    # --- composing ------------------------------------------------------------------------------

    async def compose_state(
        self,
        message: Memory,
        include_list: list[str] | None = None,
        only_include: bool = False,
        skip_cache: bool = False,
    ) -> State:
        """Run the chosen providers concurrently and merge them into the message's cached state.

        Returns State(values, data, text), byte for byte as ElizaOS 1.x composes it: `text` is
        the texts of the providers run now, in position order, joined by newlines (also
        `values["providers"]`); `values` merges the cached values, then the fresh providers'
        values in position order, then the values of cached providers not run now (later wins);
        `data["providers"]` maps each provider name to its {text, values, data}. `skip_cache`
        starts from an empty state instead of the cached one.
        """
        cached = None if skip_cache else self.get_cached(message.id)
        base = cached or State()
        chosen = choose_providers(self.providers, include_list, only_include)
        results = await asyncio.gather(*(self._run(p, message, base) for p in chosen))

        cached_entries: dict[str, Any] = dict(base.data.get("providers") or {})
        entries = dict(cached_entries)
        for provider, result in zip(chosen, results, strict=True):
            entries[provider.name] = provider_entry(result)

        texts = [r.text for r in results if r.text and r.text.strip()]
        text = TEXT_SEPARATOR.join(texts)
        values: dict[str, Any] = dict(base.values)
        for result in results:
            values.update(result.values)
        fresh = {p.name for p in chosen}
        for name, entry in cached_entries.items():  # as ElizaOS: these are merged last and win
            if name not in fresh and isinstance(entry, dict):
                values.update(entry.get("values") or {})
        values["providers"] = text

        state = State(values=values, data={**base.data, "providers": entries}, text=text)
        self.set_cached(message.id, state)
        return state

    async def _run(self, provider: Provider, message: Memory, state: State) -> ProviderResult:
        """One provider's result; empty (and a ProviderFailed event) when it raises or is slow."""
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(
                provider.get(self.runtime, message, state), self.timeout
            )
        except TimeoutError:
            error = (
                f"provider {provider.name} gave no result within {self.timeout:g}s: make it "
                "faster or raise the provider timeout"
            )
        except Exception as exc:
            log.exception("provider %s failed; its part of the state is empty", provider.name)
            error = f"provider {provider.name} raised {type(exc).__name__}: {exc}"
        else:
            if isinstance(result, ProviderResult):
                log.debug(
                    "provider %s took %.1f ms",
                    provider.name,
                    (time.perf_counter() - started) * 1000.0,
                )
                return result
            error = (
                f"provider {provider.name} returned {type(result).__name__}, not a "
                "ProviderResult: return ProviderResult(text=..., values=..., data=...)"
            )
        log.warning("%s", error)
        await self._record_failure(provider.name, message, error)
        return ProviderResult()

    async def _record_failure(self, name: str, message: Memory, error: str) -> None:
        """Record a `provider.failed` event for the current run."""
        event = ProviderFailed(
            agent_id=self.runtime.agent_id,
            run_id=current_run_id(),
            provider=name,
            message_id=message.id,
            error=error,
            at=now_ms(),
        )
        await self.sink.record(event)
