"""One delivery of `message.received`, start to ack: validate, run, reply, or dead-letter.

Kept apart from FastStream so the same logic runs under the real broker, TestBroker, or a test.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
from dataclasses import dataclass, field

from pydantic import ValidationError
from pydantic_core import to_json

from services.orchestrator.faults import CRASH_BEFORE_ACK, crash_at
from services.orchestrator.message_run import AgentHost, MessageRunner, RunOutcome
from shared import subjects
from shared.bus import Bus
from shared.events import EventMetadata, MessageRejected, NewEvent, now_ms
from shared.eventstore import EventStore
from shared.ids import string_to_uuid
from shared.messages import DeadLetter, MessageReceived
from shared.secrets import Scrubber
from shared.settings import MAX_DELIVER

log = logging.getLogger(__name__)

FAULT_CRASH_BEFORE_ACK = CRASH_BEFORE_ACK  # the setting's value; see services.orchestrator.faults

FIRST_RETRY_DELAY_SECONDS = 1.0
MAX_RETRY_DELAY_SECONDS = 30.0


def retry_delay(
    num_delivered: int,
    first: float = FIRST_RETRY_DELAY_SECONDS,
    ceiling: float = MAX_RETRY_DELAY_SECONDS,
) -> float:
    """Seconds before redelivering a failed message: `first`, then doubling, up to `ceiling`
    (1, 2, 4, ... 30 by default), so a short outage of the database or a model worker is ridden
    out instead of dead-lettering the message."""
    return min(first * 2.0 ** max(num_delivered - 1, 0), ceiling)


class Disposition(enum.Enum):
    """What to tell JetStream about a delivery."""

    ACK = "ack"
    NAK = "nak"


@dataclass(frozen=True)
class Delivery:
    """A message as JetStream delivered it."""

    body: bytes
    subject: str = subjects.MESSAGE_RECEIVED
    headers: dict[str, str] = field(default_factory=dict)
    stream_sequence: int | None = None
    num_delivered: int = 1


class Orchestrator:
    """Turns deliveries into runs and replies; every effect happens once across redeliveries."""

    def __init__(
        self,
        agents: AgentHost,
        runner: MessageRunner,
        bus: Bus,
        store: EventStore,
        max_deliver: int = MAX_DELIVER,
        fault: str | None = None,
        scrubber: Scrubber | None = None,
    ) -> None:
        self.scrubber = scrubber or Scrubber()
        self.agents = agents
        self.runner = runner
        self.bus = bus
        self.store = store
        self.max_deliver = max_deliver
        self.fault = fault

    async def process(self, d: Delivery) -> Disposition:
        """Handle one delivery; ACK once its effects are recorded and its reply sent."""
        try:
            inbound = MessageReceived.model_validate_json(d.body)
        except ValidationError as exc:
            await self.reject(d, f"invalid message.received body: {_summary(exc)}")
            return Disposition.ACK
        runtime = self.agents.get(inbound.agent_id)
        if runtime is None:
            hosted = ", ".join(str(a) for a in self.agents.by_id)
            await self.reject(
                d, f"unknown agent_id {inbound.agent_id}: this orchestrator hosts {hosted}"
            )
            return Disposition.ACK
        try:
            outcome = await self.runner.handle(inbound, runtime)
        except Exception as exc:
            if d.num_delivered >= self.max_deliver:
                log.exception("giving up on message %s", inbound.id)
                await self.reject(d, f"failed {d.num_delivered} times, last error: {exc!r}")
                return Disposition.ACK
            log.warning(
                "message %s failed (delivery %d), will retry: %r", inbound.id, d.num_delivered, exc
            )
            return Disposition.NAK
        if outcome.duplicate:
            log.info("message %s was handled before (a redelivery): re-sending its outbox",
                     inbound.id)  # fmt: skip
        try:
            await self.publish_outbox(outcome)
        except Exception as exc:  # committed: the redelivery re-sends the stored outbox
            log.warning("publishing the outbox of message %s failed, will retry: %r",
                        inbound.id, exc)  # fmt: skip
            return Disposition.NAK
        crash_at(CRASH_BEFORE_ACK, self.fault, f"before the ack of {inbound.id}")
        return Disposition.ACK

    async def publish_outbox(self, outcome: RunOutcome) -> None:
        """Publish the run's replies, then its runtime events (the person waits for the reply,
        not for the fan-out); JetStream drops any whose `Nats-Msg-Id` it has already stored (a
        redelivery re-sending a committed outbox). Returns once all are stored."""
        fan_out = f"{subjects.EVENT_PREFIX}."
        replies = [m for m in outcome.outbox if not m.subject.startswith(fan_out)]
        events = [m for m in outcome.outbox if m.subject.startswith(fan_out)]
        for batch in (replies, events):
            if batch:
                await asyncio.gather(
                    *(
                        self.bus.publish_durable(m.subject, to_json(m.body), msg_id=m.msg_id)
                        for m in batch
                    )
                )

    async def reject(self, d: Delivery, reason: str) -> None:
        """Record `message.rejected` and move the body to `message.dlq`, each once."""
        key = f"{d.subject}:{d.stream_sequence}" if d.stream_sequence else None
        key = key or hashlib.sha256(d.body).hexdigest()
        event_id = string_to_uuid(f"message.rejected:{key}")
        body = self.scrubber.text(d.body.decode("utf-8", errors="replace"))
        reason = self.scrubber.text(reason)
        headers = {k: self.scrubber.text(v) for k, v in d.headers.items()}
        log.warning("rejected a message to %s: %s", subjects.MESSAGE_DLQ, reason)
        rejected = MessageRejected(
            reason=reason,
            subject=d.subject,
            body=body,
            headers=headers,
            stream_sequence=d.stream_sequence,
            rejected_at=now_ms(),
        )
        await self.store.append(
            [
                NewEvent.of(
                    rejected,
                    event_id=event_id,
                    stream_id="dead-letters",
                    metadata=EventMetadata(correlation_id=event_id),
                )
            ]
        )
        letter = DeadLetter(
            reason=reason,
            subject=d.subject,
            body=body,
            headers=headers,
            stream_sequence=d.stream_sequence,
        )
        await self.bus.publish_durable(
            subjects.MESSAGE_DLQ, letter.model_dump_json().encode(), msg_id=str(event_id)
        )


def _summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}" for e in exc.errors()
    )
