"""StateComposer on doubles: provider choice, ordering, merging, failures, and the state cache."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shared.character import Character, load_character
from shared.errors import ConfigurationError, ElizabusError
from shared.events import ProviderFailed
from shared.messages import RemoteProviderRequest
from shared.plugin import Memory, Provider, ProviderResult, Runtime, Service, State
from shared.runtime.remote_providers import (
    answer_request,
    decode_reply,
    encode_provider_request,
)
from shared.runtime.run_scope import in_run
from shared.runtime.state import StateComposer, choose_providers
from shared.testing import ListSink


class FakeRuntime:
    """The Runtime protocol, enough for providers: an agent id and a character."""

    def __init__(self) -> None:
        self._agent_id = uuid.uuid4()
        self._character = load_character(None)

    @property
    def agent_id(self) -> uuid.UUID:
        return self._agent_id

    @property
    def character(self) -> Character:
        return self._character

    def get_setting(self, key: str) -> Any:
        return None

    def get_service(self, service_type: str) -> Service | None:
        return None

    async def use_model(
        self, model_type: str, params: dict[str, Any], provider: str | None = None
    ) -> Any:
        raise NotImplementedError

    async def compose_state(
        self,
        message: Memory,
        include_list: list[str] | None = None,
        only_include: bool = False,
        skip_cache: bool = False,
    ) -> State:
        raise NotImplementedError

    async def emit_event(self, event: str | list[str], params: dict[str, Any]) -> None:
        return None

    async def create_memory(self, memory: Memory, table_name: str = "messages") -> uuid.UUID:
        return memory.id


class Calls:
    """Which providers were called, in call order, with the state each was given."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.states: list[State] = []


def static(
    name: str,
    text: str = "",
    values: dict[str, Any] | None = None,
    *,
    calls: Calls | None = None,
    position: int = 0,
    private: bool = False,
    dynamic: bool = False,
) -> Provider:
    """A provider that always returns the same text and values (text defaults to its name)."""

    async def get(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        if calls is not None:
            calls.names.append(name)
            calls.states.append(state)
        return ProviderResult(
            text=text or f"text of {name}", values=dict(values or {}), data={"from": name}
        )

    return Provider(name=name, get=get, position=position, private=private, dynamic=dynamic)


def message(text: str = "hello") -> Memory:
    return Memory(
        entity_id=uuid.uuid4(), agent_id=uuid.uuid4(), room_id=uuid.uuid4(), content={"text": text}
    )


def composer(providers: list[Provider], **kw: Any) -> tuple[StateComposer, ListSink]:
    sink = ListSink()
    return StateComposer(FakeRuntime(), providers, sink, **kw), sink


def mixed(calls: Calls) -> list[Provider]:
    return [
        static("PUBLIC", calls=calls),
        static("SECRET", calls=calls, private=True),
        static("ON_DEMAND", calls=calls, dynamic=True),
        static("OTHER", calls=calls, position=5),
    ]


async def test_default_selection_excludes_private_and_dynamic() -> None:
    calls = Calls()
    c, sink = composer(mixed(calls))
    state = await c.compose_state(message())
    assert sorted(calls.names) == ["OTHER", "PUBLIC"]
    assert set(state.data["providers"]) == {"PUBLIC", "OTHER"}
    assert state.text == "text of PUBLIC\ntext of OTHER"
    assert sink.recorded == []


async def test_include_list_adds_private_and_dynamic_providers() -> None:
    calls = Calls()
    c, _ = composer(mixed(calls))
    state = await c.compose_state(message(), ["SECRET", "ON_DEMAND", "NOT_REGISTERED"])
    assert sorted(calls.names) == ["ON_DEMAND", "OTHER", "PUBLIC", "SECRET"]
    assert set(state.data["providers"]) == {"PUBLIC", "SECRET", "ON_DEMAND", "OTHER"}


async def test_only_include_restricts_to_the_list() -> None:
    calls = Calls()
    c, _ = composer(mixed(calls))
    state = await c.compose_state(message(), ["SECRET", "OTHER"], only_include=True)
    assert sorted(calls.names) == ["OTHER", "SECRET"]
    assert state.text == "text of SECRET\ntext of OTHER"

    calls.names.clear()  # an empty list with only_include means the default selection
    await c.compose_state(message(), [], only_include=True)
    assert sorted(calls.names) == ["OTHER", "PUBLIC"]


def test_choose_providers_sorts_by_position_then_registration_and_dedupes_names() -> None:
    first_b = static("B", position=1)
    providers = [static("C", position=2), first_b, static("A", position=1), static("B")]
    chosen = choose_providers(providers, None, False)
    assert [p.name for p in chosen] == ["B", "A", "C"]
    assert chosen[0] is first_b


async def test_text_in_position_order_and_empty_texts_skipped() -> None:
    async def blank(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        return ProviderResult(text="   ", values={"blank": True})

    providers = [
        static("LATE", "late", position=100),
        Provider(name="BLANK", get=blank, position=0),
        static("EARLY", "early", position=-100),
        static("MIDDLE", "middle"),
    ]
    c, _ = composer(providers)
    state = await c.compose_state(message())
    assert state.text == "early\nmiddle\nlate"
    assert state.values["providers"] == state.text
    assert state.values["blank"] is True
    assert state.data["providers"]["EARLY"] == {
        "text": "early",
        "values": {},
        "data": {"from": "EARLY"},
    }


async def test_values_merge_with_later_position_winning() -> None:
    providers = [
        static("HIGH", values={"shared": "high", "high": 1}, position=10),
        static("LOW", values={"shared": "low", "low": 1}, position=-10),
        static("ZERO", values={"shared": "zero", "zero": 1}),
    ]
    c, _ = composer(providers)
    state = await c.compose_state(message())
    assert state.values == {
        "shared": "high",
        "high": 1,
        "low": 1,
        "zero": 1,
        "providers": state.text,
    }


async def test_raising_and_slow_providers_are_empty_and_recorded() -> None:
    async def boom(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        raise RuntimeError("database is down")

    async def slow(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        await asyncio.sleep(30)
        return ProviderResult(text="too late")

    async def wrong(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        return "not a result"  # type: ignore[return-value]

    providers = [
        static("GOOD", "good", {"good": True}),
        Provider(name="BOOM", get=boom, position=1),
        Provider(name="SLOW", get=slow, position=2),
        Provider(name="WRONG", get=wrong, position=3),
    ]
    c, sink = composer(providers, timeout=0.05)
    msg = message()
    run_id = uuid.uuid4()
    with in_run(run_id):
        state = await c.compose_state(msg)

    assert state.text == "good"
    assert state.values == {"good": True, "providers": "good"}
    for name in ("BOOM", "SLOW", "WRONG"):
        assert state.data["providers"][name] == {"text": "", "values": {}, "data": {}}
    failures = {e.provider: e for e in sink.recorded if isinstance(e, ProviderFailed)}
    assert len(sink.recorded) == 3 and set(failures) == {"BOOM", "SLOW", "WRONG"}
    assert "RuntimeError: database is down" in failures["BOOM"].error
    assert "no result within 0.05s" in failures["SLOW"].error
    assert "not a ProviderResult" in failures["WRONG"].error
    for event in failures.values():
        assert event.run_id == run_id
        assert event.message_id == msg.id
        assert event.agent_id == c.runtime.agent_id


async def test_providers_run_concurrently() -> None:
    started: list[str] = []
    both = asyncio.Event()

    def waiting(name: str) -> Provider:
        async def get(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
            started.append(name)
            if len(started) == 2:
                both.set()
            await both.wait()  # only returns once the other provider has started too
            return ProviderResult(text=name)

        return Provider(name=name, get=get)

    c, sink = composer([waiting("ONE"), waiting("TWO")], timeout=5.0)
    state = await c.compose_state(message())
    assert state.text == "ONE\nTWO" and sink.recorded == []


async def test_cache_keeps_providers_not_run_again_and_reruns_the_chosen() -> None:
    calls = Calls()
    counter = {"n": 0}

    async def counting(runtime: Runtime, message: Memory, state: State) -> ProviderResult:
        counter["n"] += 1
        return ProviderResult(text=f"count {counter['n']}", values={"count": counter["n"]})

    providers = [
        static("FIXED", "fixed", {"fixed": True}, calls=calls, position=-1),
        Provider(name="COUNT", get=counting),
    ]
    c, _ = composer(providers)
    msg = message()
    first = await c.compose_state(msg)
    assert first.values["count"] == 1 and first.text == "fixed\ncount 1"

    second = await c.compose_state(msg, ["COUNT"], only_include=True)
    assert calls.names == ["FIXED"], "FIXED was not chosen the second time, so not called again"
    assert second.data["providers"]["FIXED"] == first.data["providers"]["FIXED"]
    assert second.data["providers"]["COUNT"]["values"] == {"count": 2}
    assert second.values["fixed"] is True and second.values["count"] == 2
    assert second.text == "count 2" and second.values["providers"] == "count 2"
    assert calls.states[0] == State(), "the first call starts from an empty state"

    third = await c.compose_state(msg)  # both again: both re-run, fresh results replace cached
    assert calls.names == ["FIXED", "FIXED"] and third.values["count"] == 3
    assert calls.states[1] is second, "providers are given the cached state"


async def test_skip_cache_starts_from_an_empty_state() -> None:
    calls = Calls()
    providers = [static("A", calls=calls), static("B", values={"b": 1}, calls=calls)]
    c, _ = composer(providers)
    msg = message()
    await c.compose_state(msg)
    state = await c.compose_state(msg, ["A"], only_include=True, skip_cache=True)
    assert set(state.data["providers"]) == {"A"}
    assert "b" not in state.values
    assert calls.states[-1] == State()
    assert c.get_cached(msg.id) is state, "a skip_cache result is still cached"


async def test_cached_state_is_the_returned_object_and_keeps_other_data() -> None:
    c, _ = composer([static("A")])
    msg = message()
    state = await c.compose_state(msg)
    state.data["actionResults"] = ["done"]
    state.values["extra"] = "kept"
    again = await c.compose_state(msg)
    assert again.data["actionResults"] == ["done"] and again.values["extra"] == "kept"
    c.set_cached(f"{msg.id}_action_results", State(values={"x": 1}))
    assert c.get_cached(f"{msg.id}_action_results") == State(values={"x": 1})


async def test_cache_is_a_bounded_lru_and_can_be_cleared() -> None:
    calls = Calls()
    c, _ = composer([static("A", calls=calls)], cache_size=2)
    one, two, three = message("1"), message("2"), message("3")
    await c.compose_state(one)
    await c.compose_state(two)
    assert c.get_cached(one.id) is not None  # touching `one` makes `two` the oldest
    await c.compose_state(three)
    assert len(c) == 2
    assert c.get_cached(two.id) is None
    assert c.get_cached(one.id) is not None and c.get_cached(three.id) is not None
    c.clear_cache()
    assert len(c) == 0 and c.get_cached(one.id) is None


async def test_cache_size_zero_disables_the_cache() -> None:
    c, _ = composer([static("A", values={"a": 1})], cache_size=0)
    msg = message()
    await c.compose_state(msg)
    state = await c.compose_state(msg, ["MISSING"], only_include=True)
    assert len(c) == 0 and state.data["providers"] == {} and "a" not in state.values


async def test_providers_list_is_a_live_reference() -> None:
    providers: list[Provider] = [static("A", "a")]
    c, _ = composer(providers)
    providers.append(static("B", "b", position=1))
    state = await c.compose_state(message())
    assert state.text == "a\nb"


def test_bad_settings_say_what_to_pass() -> None:
    with pytest.raises(ConfigurationError, match="timeout must be positive"):
        composer([], timeout=0)
    with pytest.raises(ConfigurationError, match="0 disables the cache"):
        composer([], cache_size=-1)


async def test_remote_encoding_round_trip_without_a_bus() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque thing"

    got: list[State] = []

    async def echo(runtime: Runtime, msg: Memory, state: State) -> ProviderResult:
        got.append(state)
        return ProviderResult(text=msg.text, values={"n": 1}, data={"msg": msg.model_dump()})

    msg = message("round trip")
    state = State(values={"odd": Opaque()}, data={"memory": msg, "result": ProviderResult("x")})
    body = encode_provider_request("ECHO", FakeRuntime(), msg, state)
    assert RemoteProviderRequest.model_validate_json(body).message == msg
    result = decode_reply("ECHO", await answer_request(static("ECHO"), FakeRuntime(), body))
    assert result.text == "text of ECHO"
    result = decode_reply(
        "ECHO", await answer_request(Provider(name="ECHO", get=echo), FakeRuntime(), body)
    )
    assert result.text == "round trip" and result.values == {"n": 1}
    assert got[0].values == {"odd": "opaque thing"}
    assert got[0].data["result"] == {"text": "x", "values": {}, "data": {}}

    async def unserialisable(runtime: Runtime, msg: Memory, state: State) -> ProviderResult:
        return ProviderResult(values={"bad": Opaque()})

    reply = await answer_request(Provider(name="BAD", get=unserialisable), FakeRuntime(), body)
    with pytest.raises(ElizabusError, match="not a JSON-serialisable ProviderResult"):
        decode_reply("BAD", reply)
    with pytest.raises(ElizabusError, match="not a RemoteProviderReply"):
        decode_reply("BAD", b"[]")
