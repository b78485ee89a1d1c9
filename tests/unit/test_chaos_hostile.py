"""The chaos harness's hostile bodies are what they claim: every body built to be refused is
refused by the inbound rules, every valid hostile message is accepted with its text intact."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from shared.errors import InvalidInputError
from shared.inbound import InboundLimits, parse_inbound
from tests.chaos import hostile

ROOMS = 10
SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@SETTINGS
@given(hostile.refused(ROOMS))
def test_every_body_built_to_be_refused_is_refused(body: hostile.Refused) -> None:
    with pytest.raises(InvalidInputError):
        parse_inbound(body.body, InboundLimits())


@SETTINGS
@given(hostile.valid_hostile(ROOMS))
def test_every_valid_hostile_message_is_accepted_verbatim(valid: hostile.HostileValid) -> None:
    message = valid.message()
    parsed = parse_inbound(message.model_dump_json().encode(), InboundLimits())
    assert parsed.content.text == valid.text
    assert parsed.entity.name == valid.user_name and parsed.room.name == valid.room_title
    assert any(p in valid.text for p in hostile.PAYLOADS)


def test_the_examples_cover_every_kind_of_refusal_and_repeat_for_a_seed() -> None:
    bodies = hostile.examples(hostile.refused(ROOMS), 60, seed_value=0)
    kinds = {b.kind.split(":")[0] for b in bodies}
    assert {"wrong-type", "huge", "nul", "surrogate", "deep"} <= kinds
    assert [b.body for b in hostile.examples(hostile.refused(ROOMS), 60, seed_value=0)] == [
        b.body for b in bodies
    ]
