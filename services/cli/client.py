"""The `send` and `chat` commands: talk to an agent through the bus, as a platform adapter would."""

from __future__ import annotations

import asyncio
import uuid

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import subjects
from shared.bus.nats_connect import NatsAuth, connect_nats
from shared.errors import ElizabusError
from shared.messages import (
    EntityRef,
    InboundContent,
    MessageReceived,
    MessageSent,
    RoomRef,
)
from shared.records import ChannelType

CLI_SOURCE = "cli"

FIRST_CONNECT_TIMEOUT_SECONDS = 10.0
"""How long a command waits for a first connection to NATS before it says none answers."""


class NoReplyError(ElizabusError):
    """No reply came in time: check `elizabus up` is running and see `elizabus events --run`."""


class BusClient:
    """A minimal platform adapter: publishes `message.received`, waits on `message.sent.<src>`."""

    def __init__(self, nc: NatsClient, source: str = CLI_SOURCE) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.source = source
        self._replies: dict[uuid.UUID, asyncio.Future[MessageSent]] = {}
        self._sub: Subscription | None = None

    @classmethod
    async def connect(
        cls, url: str, source: str = CLI_SOURCE, auth: NatsAuth | None = None
    ) -> BusClient:
        """Connect to the NATS server(s) in `url` (comma-separated for a cluster; reconnecting
        forever once connected), logged in with `auth`, and start listening for replies on this
        source's subject."""
        nc = await connect_nats(
            url,
            "elizabus-client",
            first_connect_timeout=FIRST_CONNECT_TIMEOUT_SECONDS,
            auth=auth,
        )
        client = cls(nc, source)
        client._sub = await client.nc.subscribe(subjects.message_sent(source), cb=client._on_reply)
        return client

    async def _on_reply(self, msg: Msg) -> None:
        reply = MessageSent.model_validate_json(msg.data)
        future = self._replies.pop(reply.in_reply_to, None)
        if future is not None and not future.done():
            future.set_result(reply)

    async def send(
        self,
        text: str,
        *,
        user: str = "cli-user",
        user_name: str = "You",
        room: str = "cli-room",
        room_type: ChannelType = ChannelType.DM,
        server_id: str | None = None,
        agent_id: uuid.UUID | None = None,
        message_id: uuid.UUID | None = None,
        timeout: float = 30.0,
    ) -> MessageSent:
        """Publish one message and wait for the agent's reply to it."""
        message = MessageReceived(
            id=message_id or uuid.uuid4(),
            source=self.source,
            entity=EntityRef(id=user, name=user_name, username=user),
            room=RoomRef(id=room, name=room, type=room_type, server_id=server_id),
            content=InboundContent(text=text),
            agent_id=agent_id,
        )
        future: asyncio.Future[MessageSent] = asyncio.get_running_loop().create_future()
        self._replies[message.id] = future
        await self.publish(message)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            self._replies.pop(message.id, None)
            raise NoReplyError(
                f"no reply to message {message.id} within {timeout:.0f}s: is `elizabus up` "
                "running? The agent may also have chosen not to answer (see `elizabus events`)."
            ) from exc

    async def publish(self, message: MessageReceived) -> None:
        """Publish to JetStream `message.received`, deduplicated by the message id."""
        await self.js.publish(
            subjects.MESSAGE_RECEIVED,
            message.model_dump_json(exclude_none=True).encode(),
            headers={"Nats-Msg-Id": str(message.id)},
        )

    async def close(self) -> None:
        """Close the connection."""
        await self.nc.drain()
