"""One delivery of `message.received`, start to ack: validate, run, reply, or dead-letter.

Kept apart from FastStream so the same logic runs under the real broker, TestBroker, or a test.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import logging
from dataclasses import dataclass, field

from pydantic_core import to_json

from services.orchestrator.faults import CRASH_BEFORE_ACK, crash_at
from services.orchestrator.message_run import AgentHost, MessageRunner, RunOutcome
from shared import subjects
from shared.bus import Bus
from shared.bus.jetstream_retry import PUBLISH_PATIENCE_SECONDS, retry_while_unavailable
from shared.errors import InvalidInputError, PermanentError
from shared.events import EventMetadata, MessageRejected, NewEvent, now_ms
from shared.eventstore import EventStore
from shared.ids import create_unique_uuid, string_to_uuid
from shared.inbound import InboundLimits, parse_inbound
from shared.messages import DeadLetter
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
        limits: InboundLimits | None = None,
    ) -> None:
        self.scrubber = scrubber or Scrubber()
        self.limits = limits or InboundLimits()
        self.agents = agents
        self.runner = runner
        self.bus = bus
        self.store = store
        self.max_deliver = max_deliver
        self.fault = fault

    async def process(self, d: Delivery) -> Disposition:
        """Handle one delivery; ACK once its effects are recorded and its reply sent."""
        try:
            inbound = parse_inbound(d.body, self.limits)
        except InvalidInputError as exc:
            await self.reject(d, str(exc))
            return Disposition.ACK
        if d.num_delivered > self.max_deliver:  # the process running it died every time
            await self.reject(
                d,
                f"delivered {d.num_delivered} times without an outcome: the process running "
                "it stopped each time (look for a crash in the orchestrators' logs)",
            )
            return Disposition.ACK
        runtime = self.agents.get(inbound.agent_id)
        if runtime is None:
            hosted = ", ".join(str(a) for a in self.agents.by_id)
            await self.reject(
                d, f"unknown agent_id {inbound.agent_id}: this orchestrator hosts {hosted}"
            )
            return Disposition.ACK
        if create_unique_uuid(runtime.agent_id, inbound.entity.id) == runtime.agent_id:
            await self.reject(
                d,
                f"the sender's platform id {inbound.entity.id} is the agent's own id: a message "
                "cannot speak as the agent (the adapter must not relay the agent's own messages, "
                "nor let a user take its id)",
            )
            return Disposition.ACK
        try:
            outcome = await self.runner.handle(inbound, runtime)
        except Exception as exc:
            if is_permanent(exc):
                log.warning("message %s failed for good, dead-lettered: %r", inbound.id, exc)
                await self.runner.record_failed(inbound, runtime, repr(exc))
                await self.reject(d, f"failed for good (trying again cannot help): {exc!r}")
                return Disposition.ACK
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
        except Exception as exc:  # committed: the retry re-sends the stored outbox
            if d.num_delivered >= self.max_deliver:
                log.error("giving up publishing the outbox of message %s: %r", inbound.id, exc)
                await self.reject(
                    d,
                    f"its run {outcome.run_id} committed but its outbox could not be published "
                    f"after {d.num_delivered} attempts ({exc!r}): the replies are in the log "
                    "(`elizabus events --run`), check NATS",
                )
                return Disposition.ACK
            log.warning("publishing the outbox of message %s failed, will retry: %r",
                        inbound.id, exc)  # fmt: skip
            return Disposition.NAK
        crash_at(CRASH_BEFORE_ACK, self.fault, f"before the ack of {inbound.id}")
        return Disposition.ACK

    async def publish_outbox(self, outcome: RunOutcome) -> None:
        """Publish the run's replies and its runtime events at once, the replies written first
        (the person waits for the reply, not for the fan-out); JetStream drops any whose
        `Nats-Msg-Id` it has already stored (a redelivery re-sending a committed outbox).
        Returns once all are stored: the conversation's next message waits for that (the ack),
        so one round of acknowledgements is waited for, not one per kind."""
        fan_out = f"{subjects.EVENT_PREFIX}."
        replies = [m for m in outcome.outbox if not m.subject.startswith(fan_out)]
        events = [m for m in outcome.outbox if m.subject.startswith(fan_out)]
        await asyncio.gather(
            *(self.publish_durable(m.subject, to_json(m.body), m.msg_id) for m in replies + events)
        )

    async def publish_durable(self, subject: str, body: bytes, msg_id: str) -> None:
        """`bus.publish_durable`, retried in place while JetStream is briefly unavailable (a
        cluster electing a stream leader after a node died): the message stays held meanwhile,
        and the msg_id makes a retried publish that was in fact stored count once."""
        await retry_while_unavailable(
            lambda: self.bus.publish_durable(subject, body, msg_id=msg_id),
            f"publishing to {subject}",
            PUBLISH_PATIENCE_SECONDS,
        )

    async def reject(self, d: Delivery, reason: str) -> None:
        """Record `message.rejected` and move the body to `message.dlq`, each once."""
        key = f"{d.subject}:{d.stream_sequence}" if d.stream_sequence else None
        key = key or hashlib.sha256(d.body).hexdigest()
        event_id = string_to_uuid(f"message.rejected:{key}")
        body, body_base64, body_size = storable_body(d.body, self.scrubber)
        reason = self.scrubber.text(reason).replace("\x00", "\\u0000")
        headers = {k: self.scrubber.text(v).replace("\x00", "") for k, v in d.headers.items()}
        log.warning("rejected a message to %s: %s", subjects.MESSAGE_DLQ, reason)
        rejected = MessageRejected(
            reason=reason,
            subject=d.subject,
            body=body,
            body_base64=body_base64,
            body_size=body_size,
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
            body_base64=body_base64,
            body_size=body_size,
            headers=headers,
            stream_sequence=d.stream_sequence,
        )
        await self.publish_durable(
            subjects.MESSAGE_DLQ, letter.model_dump_json().encode(), str(event_id)
        )


MAX_STORED_BODY_BYTES = 64 * 1024
"""How much of a rejected body the log and the dead-letter subject keep."""


def storable_body(raw: bytes, scrubber: Scrubber) -> tuple[str, str | None, int | None]:
    """A rejected body as the log can store it, whatever its bytes: (text, base64, full size).
    UTF-8 text free of NUL is kept as text; anything else as base64 (Postgres text and jsonb
    hold neither NUL nor broken UTF-8); only the first MAX_STORED_BODY_BYTES are kept, the full
    size is given when cut. Secrets are scrubbed from both forms."""
    size = len(raw) if len(raw) > MAX_STORED_BODY_BYTES else None
    kept = scrubber.raw(raw[:MAX_STORED_BODY_BYTES])
    try:
        text = kept.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text and size is None:
        return scrubber.text(text), None, None
    return "", base64.b64encode(kept).decode("ascii"), size


def is_permanent(exc: BaseException) -> bool:
    """Whether trying again cannot mend `exc`: a PermanentError, or a group of errors (every model
    candidate failed) that all are, or an error caused by one."""
    if isinstance(exc, PermanentError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(is_permanent(e) for e in exc.exceptions)
    return exc.__cause__ is not None and is_permanent(exc.__cause__)
