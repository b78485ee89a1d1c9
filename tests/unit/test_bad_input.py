"""Bad input is refused at once with a reason, permanent failures are not retried, and the
dead-letter record stores any bytes at all (on the doubles; tests/integration/test_bad_input.py
runs the same bodies through a real stack)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from services.orchestrator.delivery import Delivery, Disposition, is_permanent, storable_body
from shared import subjects
from shared.errors import (
    AllModelsFailedError,
    InvalidInputError,
    ModelError,
    ModelRejectedError,
    PromptTooLargeError,
)
from shared.inbound import InboundLimits, parse_inbound
from shared.messages import DeadLetter
from shared.model_types import ModelType
from shared.secrets import Scrubber
from tests.unit.test_message_run import inbound, make

LIMITS = InboundLimits(max_body_bytes=4096, max_text_chars=100, max_attachments=2,
                       max_field_chars=64)  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (inbound("nul\x00here"), r"content\.text contains NUL \(U\+0000\)"),
        (inbound("hi", room={"id": "r\x001", "type": "DM"}), r"room\.id contains NUL"),
        (b"x" * 5000, "5000 bytes is over the limit of 4096"),
        (inbound("y" * 101), "101 characters, over the limit of 100"),
        (inbound("hi", source="s" * 65), "source has 65 characters, over the limit of 64"),
        (inbound("hi", content={"text": "a", "attachments": [{}, {}, {}]}), "3 attachments"),
        (inbound("hi").replace(b'"hi"', b'"\\ud800"'), "invalid message.received body"),
        (b"\xff\xfe not utf-8", "invalid message.received body"),
        (b'{"id": 1}', "invalid message.received body"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        parse_inbound(raw, LIMITS)


def test_a_body_within_the_limits_parses() -> None:
    message = parse_inbound(
        inbound("hello", content={"text": "hello", "attachments": [{}]}), LIMITS
    )
    assert message.content.text == "hello" and len(message.content.attachments) == 1


def test_any_bytes_are_stored_text_when_they_can_be_and_base64_otherwise() -> None:
    scrubber = Scrubber(["sk-secret-123456"])
    assert storable_body(b'{"text": "plain"}', scrubber) == ('{"text": "plain"}', None, None)
    raw = b"\x00\xff binary sk-secret-123456"
    text, encoded, size = storable_body(raw, scrubber)
    assert text == "" and size is None and encoded is not None
    assert base64.b64decode(encoded) == b"\x00\xff binary [REDACTED]"
    big = b"a" * (70 * 1024)
    text, encoded, size = storable_body(big, scrubber)
    assert size == len(big) and encoded and len(base64.b64decode(encoded)) == 64 * 1024


def test_permanent_failures_are_told_from_transient_ones() -> None:
    assert is_permanent(InvalidInputError("x")) and is_permanent(PromptTooLargeError("x"))
    assert not is_permanent(ModelError("a 503")) and not is_permanent(RuntimeError("bug"))
    rejected_everywhere = AllModelsFailedError(
        "all failed", [ModelRejectedError("400"), PromptTooLargeError("big")]
    )
    assert is_permanent(rejected_everywhere)
    assert not is_permanent(AllModelsFailedError("all failed", [ModelRejectedError("400"),
                                                                ModelError("503")]))  # fmt: skip
    try:
        raise RuntimeError("wrapped") from ModelRejectedError("400")
    except RuntimeError as exc:
        assert is_permanent(exc)


async def test_a_nul_body_goes_to_the_dead_letters_at_once_with_its_bytes() -> None:
    orch, store, bus, _ = await make()
    raw = b'{"id": "\x00", "junk": "\xff"}'
    assert await orch.process(Delivery(raw, stream_sequence=7)) is Disposition.ACK
    [letter] = [p for p in bus.published if p.subject == subjects.MESSAGE_DLQ]
    dead = DeadLetter.model_validate_json(letter.body)
    assert dead.body == "" and dead.body_base64 and base64.b64decode(dead.body_base64) == raw
    rejected = store.events[-1]
    assert rejected.type == "message.rejected" and rejected.data["body_base64"] == dead.body_base64
    json.dumps(rejected.data).encode().decode("utf-8")  # storable: no NUL, valid text


async def test_a_permanent_model_failure_is_dead_lettered_on_the_first_delivery() -> None:
    orch, store, bus, _ = await make({ModelType.TEXT_LARGE: [ModelRejectedError("HTTP 400: bad")]})
    message_id = uuid.uuid4()
    raw = inbound("Eliza, hello", msg_id=message_id, room={"id": "dm", "type": "DM"})
    assert await orch.process(Delivery(raw, stream_sequence=3)) is Disposition.ACK  # no retry
    [letter] = [p for p in bus.published if p.subject == subjects.MESSAGE_DLQ]
    assert "failed for good" in DeadLetter.model_validate_json(letter.body).reason
    ended = [e for e in store.events if e.type == "run.ended"]
    assert [e.data["status"] for e in ended] == ["error"]
    assert "HTTP 400" in ended[0].data["error"]
    # a redelivery finds the run ended: nothing runs again, nothing is sent
    before = len(store.events)
    assert await orch.process(Delivery(raw, stream_sequence=3, num_delivered=2)) is Disposition.ACK
    assert len(store.events) == before
    assert not [p for p in bus.published if p.subject.startswith("message.sent.")]


async def test_a_transient_model_failure_is_retried() -> None:
    orch, _, _, _ = await make({ModelType.TEXT_LARGE: [ModelError("HTTP 503: busy")]})
    raw = inbound("Eliza, hello", room={"id": "dm", "type": "DM"})
    assert await orch.process(Delivery(raw, stream_sequence=4)) is Disposition.NAK
