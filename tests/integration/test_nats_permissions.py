"""NATS users and permissions by role, on a real nats-server started as `elizabus up` starts it.

Each role can do its job (positive controls, so a refusal below is not a broken connection), and a
stolen worker's or adapter's credentials cannot read prompts they do not serve, speak as the bot,
read other roles' replies, or touch the streams and the models bucket. A refusal is observed as
nats-server's "Permissions Violation" error on the offending connection, and, where something
could have leaked, as nothing arriving where it would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from services.model_worker.announce import Announcer
from shared import subjects
from shared.bus import nats_permissions as roles
from shared.bus.models_bucket import announcement_key, open_models_bucket
from shared.bus.nats_bus import ensure_streams
from shared.bus.nats_connect import NatsAuth, connect_nats
from shared.bus.nats_permissions import RoleSet
from shared.bus.request_server import Endpoint, RequestServer
from shared.embedded import EmbeddedNats
from shared.embedded.nats_auth import NatsCredentials
from shared.errors import ConfigurationError

pytestmark = pytest.mark.integration

WORKER = roles.model_worker_user("scripted")
OTHER_WORKER = roles.model_worker_user("openai")
ADAPTER = roles.adapter_user("telegram")
DEADLINE = 10.0


async def until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.02)


@dataclass
class Login:
    """A connection of one role, with the errors the server sent it."""

    nc: Client
    errors: list[str] = field(default_factory=list)

    def refused(self, subject: str) -> Callable[[], bool]:
        """Whether the server refused this connection something on `subject`."""
        wanted = subject.lower()  # the errors are kept lowercased
        return lambda: any("permissions violation" in e and wanted in e for e in self.errors)


@pytest_asyncio.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedNats]:
    """A nats-server with the users of a deployment with two worker providers and a Telegram
    adapter, its streams and models bucket set up by the orchestrator."""
    role_set = RoleSet.of(
        worker_providers=["scripted", "openai"], model_timeout_seconds=5, adapters=["telegram"]
    )
    async with EmbeddedNats(tmp_path_factory.mktemp("nats-auth"), roles=role_set) as server:
        nc = await login(server, roles.ORCHESTRATOR)
        js = nc.nc.jetstream()
        await ensure_streams(js, 60.0)
        await open_models_bucket(js)
        await nc.nc.close()
        yield server


async def login(server: EmbeddedNats, user: str) -> Login:
    """Connect as `user` (its password and inbox prefix), recording the server's errors."""
    auth = server.login(user)
    assert auth is not None
    found = Login(nc=None)  # type: ignore[arg-type]

    async def on_error(exc: Exception) -> None:
        found.errors.append(str(exc).lower())

    found.nc = await nats.connect(
        server.url, allow_reconnect=False, error_cb=on_error, **auth.connect_options()
    )
    return found


@pytest_asyncio.fixture
async def connections(server: EmbeddedNats) -> AsyncIterator[dict[str, Login]]:
    """One fresh connection per role used below."""
    users = [roles.ORCHESTRATOR, WORKER, OTHER_WORKER, ADAPTER, roles.CLI, roles.ADMIN]
    made = {user: await login(server, user) for user in users}
    yield made
    for conn in made.values():
        with contextlib.suppress(Exception):
            await conn.nc.close()


def collect(into: list[Msg]) -> Callable[[Msg], object]:
    async def on_msg(msg: Msg) -> None:
        into.append(msg)

    return on_msg


async def test_a_client_without_credentials_is_refused(server: EmbeddedNats) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(server.url, allow_reconnect=False, connect_timeout=2)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            server.url, user=WORKER, password="guessed", allow_reconnect=False, connect_timeout=2
        )
    # the services' own connect says what to do rather than waiting forever
    with pytest.raises(ConfigurationError, match="refused the login"):
        await connect_nats(server.url, "no-login", first_connect_timeout=2)
    with pytest.raises(ConfigurationError, match="not accepted"):
        await connect_nats(
            server.url, "bad-login", first_connect_timeout=2, auth=NatsAuth(WORKER, "guessed")
        )


async def test_the_credentials_are_private_files(server: EmbeddedNats) -> None:
    for path in (NatsCredentials.path(server.data_dir), server.config_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(server.data_dir).st_mode) == 0o700


async def test_a_worker_serves_requests_in_its_queue_groups_with_keep_alives(
    connections: dict[str, Login],
) -> None:
    worker, orchestrator = connections[WORKER], connections[roles.ORCHESTRATOR]

    async def answer(msg: Msg) -> None:
        for part in (b"working", b"working", b"done"):  # keep-alives, then the answer
            await worker.nc.publish(msg.reply, part)

    await worker.nc.subscribe(
        subjects.model("TEXT_SMALL"), queue=subjects.MODEL_WORKERS_QUEUE, cb=answer
    )
    await worker.nc.subscribe(
        subjects.model_provider("TEXT_SMALL", "scripted"),
        queue=subjects.model_provider_queue("scripted"),
        cb=answer,
    )
    await worker.nc.flush()
    for subject in (
        subjects.model("TEXT_SMALL"),
        subjects.model_provider("TEXT_SMALL", "scripted"),
    ):
        inbox = orchestrator.nc.new_inbox()
        assert inbox.startswith("_INBOX.orchestrator.")
        got: list[Msg] = []
        await orchestrator.nc.subscribe(inbox, cb=collect(got))
        await orchestrator.nc.publish(subject, b"prompt", reply=inbox)
        await until(lambda got=got: len(got) == 3, f"three replies on {subject}")  # type: ignore[misc]
        assert [m.data for m in got] == [b"working", b"working", b"done"]
    assert worker.errors == []


async def test_a_worker_cannot_copy_every_prompt(connections: dict[str, Login]) -> None:
    worker, orchestrator = connections[WORKER], connections[roles.ORCHESTRATOR]
    copied: list[Msg] = []
    # a plain subscription would get every request, beside the real workers
    await worker.nc.subscribe(subjects.model("TEXT_LARGE"), cb=collect(copied))
    await until(worker.refused("model.TEXT_LARGE"), "the plain subscription refused")
    # nor through wildcards in its own queue group, which would also match other providers'
    for wildcard in ("model.>", "model.*", "model.*.*"):
        await worker.nc.subscribe(wildcard, queue=subjects.MODEL_WORKERS_QUEUE, cb=collect(copied))
        await until(worker.refused(f'"{wildcard}"'), f"the {wildcard} subscription refused")
    # another provider's requests: not in its queue group
    other = subjects.model_provider("TEXT_LARGE", "openai")
    await worker.nc.subscribe(
        other, queue=subjects.model_provider_queue("openai"), cb=collect(copied)
    )
    await until(worker.refused(other), "another provider's queue group refused")
    for subject in (subjects.model("TEXT_LARGE"), other):
        await orchestrator.nc.publish(subject, b"a prompt of another room")
    await orchestrator.nc.flush()
    await worker.nc.flush()
    assert copied == []


async def test_a_worker_cannot_read_inbound_messages_nor_speak_as_the_bot(
    connections: dict[str, Login],
) -> None:
    worker, admin = connections[WORKER], connections[roles.ADMIN]
    await worker.nc.subscribe(subjects.MESSAGE_RECEIVED)
    await until(worker.refused(subjects.MESSAGE_RECEIVED), "subscribing message.received refused")
    sent: list[Msg] = []
    await admin.nc.subscribe(f"{subjects.MESSAGE_SENT_PREFIX}.>", cb=collect(sent))
    await admin.nc.flush()
    await worker.nc.publish(subjects.message_sent("discord"), b'{"text": "send me your keys"}')
    await until(worker.refused("message.sent.discord"), "publishing message.sent refused")
    await admin.nc.flush()
    assert sent == []


async def test_a_worker_cannot_read_other_roles_replies(connections: dict[str, Login]) -> None:
    worker = connections[WORKER]
    for inbox in ("_INBOX.>", f"{roles.inbox_prefix(roles.ORCHESTRATOR)}.>", "_INBOX.cli.>"):
        await worker.nc.subscribe(inbox)
        await until(worker.refused(f'"{inbox}"'), f"subscribing {inbox} refused")


async def test_a_worker_announces_its_own_provider_only_and_cannot_drop_streams(
    connections: dict[str, Login],
) -> None:
    worker, admin = connections[WORKER], connections[roles.ADMIN]
    js = worker.nc.jetstream(timeout=2)
    kv = await js.key_value(subjects.MODELS_BUCKET)
    own = announcement_key("TEXT_LARGE", "scripted", "w1")
    await kv.put(own, b"{}")  # its own provider's key: allowed
    stolen = announcement_key("TEXT_LARGE", "openai", "w1")
    with pytest.raises(nats.errors.TimeoutError):  # the server drops the put: no ack
        await kv.put(stolen, b'{"priority": 1000000}')
    assert worker.refused(f"$KV.{subjects.MODELS_BUCKET}.{stolen}")()
    admin_kv = await admin.nc.jetstream().key_value(subjects.MODELS_BUCKET)
    assert (await admin_kv.get(own)).value == b"{}"
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await admin_kv.get(stolen)
    for stream in (subjects.MESSAGES_STREAM, f"KV_{subjects.MODELS_BUCKET}"):
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream(stream)
        with pytest.raises(nats.errors.TimeoutError):
            await js.purge_stream(stream)
        assert worker.refused(f"$JS.API.STREAM.DELETE.{stream}")()
        assert (await admin.nc.jetstream().stream_info(stream)).config.name == stream


async def test_an_adapter_reports_messages_and_reads_its_own_replies(
    connections: dict[str, Login],
) -> None:
    adapter, orchestrator = connections[ADAPTER], connections[roles.ORCHESTRATOR]
    js = adapter.nc.jetstream(timeout=2)
    ack = await js.publish(subjects.MESSAGE_RECEIVED, b"{}", headers={"Nats-Msg-Id": "adapter-1"})
    assert ack.stream == subjects.MESSAGES_STREAM
    core: list[Msg] = []
    await adapter.nc.subscribe(subjects.message_sent("telegram"), cb=collect(core))
    await adapter.nc.flush()
    # durably, through its own consumer filtered to its replies
    consumer = roles.sent_consumer("telegram")
    await js.add_consumer(
        subjects.MESSAGES_STREAM,
        ConsumerConfig(
            name=consumer,
            durable_name=consumer,
            filter_subject=subjects.message_sent("telegram"),
        ),
    )
    pull = await js.pull_subscribe_bind(consumer, subjects.MESSAGES_STREAM)
    await orchestrator.nc.jetstream().publish(subjects.message_sent("telegram"), b"reply")
    (msg,) = await pull.fetch(1, timeout=5)
    assert msg.data == b"reply"
    await msg.ack()
    await until(lambda: [m.data for m in core] == [b"reply"], "the core copy of the reply")
    assert adapter.errors == []


async def test_an_adapter_cannot_read_prompts_nor_other_sources_nor_speak_as_the_bot(
    connections: dict[str, Login],
) -> None:
    adapter, admin = connections[ADAPTER], connections[roles.ADMIN]
    for subject in ("model.>", subjects.message_sent("discord"), "message.>", "_INBOX.>"):
        await adapter.nc.subscribe(subject)
        await until(adapter.refused(f'"{subject}"'), f"subscribing {subject} refused")
    sent: list[Msg] = []
    await admin.nc.subscribe(f"{subjects.MESSAGE_SENT_PREFIX}.>", cb=collect(sent))
    await admin.nc.flush()
    await adapter.nc.publish(subjects.message_sent("telegram"), b"spoofed bot message")
    await until(adapter.refused("message.sent.telegram"), "publishing as the bot refused")
    await admin.nc.flush()
    assert sent == []
    # a consumer reading another source's replies (or everything) is refused
    js = adapter.nc.jetstream(timeout=2)
    consumer = roles.sent_consumer("telegram")
    for wanted in (subjects.message_sent("discord"), subjects.MESSAGE_RECEIVED):
        with pytest.raises(nats.errors.TimeoutError):
            await js.add_consumer(
                subjects.MESSAGES_STREAM,
                ConsumerConfig(name=consumer, durable_name=consumer, filter_subject=wanted),
            )
        assert adapter.refused(f"CONSUMER.CREATE.{subjects.MESSAGES_STREAM}.{consumer}.{wanted}")()


async def test_the_cli_is_the_adapter_of_its_own_source(connections: dict[str, Login]) -> None:
    cli = connections[roles.CLI]
    await cli.nc.subscribe(subjects.message_sent("cli"))
    await cli.nc.flush()
    await cli.nc.subscribe(subjects.message_sent("telegram"))
    await until(cli.refused("message.sent.telegram"), "the CLI reading telegram's replies")
    await cli.nc.subscribe(f"{subjects.EVENT_PREFIX}.>")
    await until(cli.refused('"event.>"'), "the CLI reading runtime events")


async def test_an_old_data_dir_gets_users_at_its_next_start(tmp_path: Path) -> None:
    """A store made before NATS had users keeps its streams and is closed to anonymous clients
    at the next start."""
    async with EmbeddedNats(tmp_path) as before:
        nc = await nats.connect(before.url)
        await ensure_streams(nc.jetstream(), 60.0)
        await nc.jetstream().publish(subjects.MESSAGE_RECEIVED, b"kept")
        await nc.close()
    assert NatsCredentials.read(tmp_path) is None
    role_set = RoleSet.of(worker_providers=["scripted"], model_timeout_seconds=5)
    async with EmbeddedNats(tmp_path, roles=role_set) as after:
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(after.url, allow_reconnect=False, connect_timeout=2)
        admin = await login(after, roles.ADMIN)
        msg = await admin.nc.jetstream().get_msg(subjects.MESSAGES_STREAM, 1)
        await admin.nc.close()
    assert msg.data == b"kept"
    passwords = NatsCredentials.read(tmp_path)
    assert passwords is not None and set(passwords) == set(role_set.users)
    # the passwords stay across starts (the services and the CLI keep theirs)
    async with EmbeddedNats(tmp_path, roles=role_set):
        assert NatsCredentials.read(tmp_path) == passwords


async def test_a_worker_starting_before_any_orchestrator_creates_the_bucket(
    tmp_path: Path,
) -> None:
    role_set = RoleSet.of(worker_providers=["scripted"], model_timeout_seconds=5)
    async with EmbeddedNats(tmp_path, roles=role_set) as server:
        worker = await login(server, WORKER)
        announcer = Announcer(["TEXT_LARGE"], "scripted", worker_id="w1")
        await announcer.start(worker.nc)
        await announcer.stop()
        assert worker.errors == []
        admin = await login(server, roles.ADMIN)
        info = await admin.nc.jetstream().stream_info(f"KV_{subjects.MODELS_BUCKET}")
        assert info.config.name == f"KV_{subjects.MODELS_BUCKET}"
        for conn in (worker, admin):
            await conn.nc.close()


async def test_an_action_server_answers_its_subjects_only(server: EmbeddedNats) -> None:
    actions, orchestrator = await login(server, roles.ACTIONS), await login(server, "orchestrator")

    async def answer(body: bytes) -> bytes:
        return b"done: " + body

    endpoint = Endpoint(subjects.action("WEATHER"), subjects.ACTIONS_QUEUE, answer, "weather")
    async with await RequestServer(actions.nc, [endpoint]).start():
        reply = await orchestrator.nc.request(subjects.action("WEATHER"), b"Oslo", timeout=5)
        assert reply.data == b"done: Oslo"
        assert actions.errors == []
        for subject, queue in (
            (subjects.action("WEATHER"), ""),  # a copy of every request
            (subjects.model("TEXT_LARGE"), subjects.MODEL_WORKERS_QUEUE),
            (subjects.MESSAGE_RECEIVED, ""),
        ):
            await actions.nc.subscribe(subject, queue=queue)
            await until(actions.refused(f'"{subject}"'), f"subscribing {subject} refused")
        await actions.nc.publish(subjects.message_sent("telegram"), b"spoofed")
        await until(actions.refused("message.sent.telegram"), "publishing as the bot refused")
    for conn in (actions, orchestrator):
        await conn.nc.close()
