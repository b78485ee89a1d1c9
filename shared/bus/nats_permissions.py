"""Who may publish and subscribe what on NATS: one user per role, least privilege.

Each role gets the subjects its code uses and nothing more (docs/security.md, "NATS users and
permissions", says why each grant is there and what a stolen credential still allows):

- `orchestrator`: the bus's owner. Publishes replies (`message.sent.>`), dead letters, partition
  copies, runtime events and requests to models, remote actions and providers; sets up and pulls
  its streams, consumers and the `elizabus_models` bucket through the named JetStream API
  subjects only (no stream delete or purge).
- `model-worker-<provider>`: answers `model.<TYPE>` and `model.<TYPE>.<provider>` only as a
  member of the workers' queue groups (a plain subscription that would copy every prompt, or one
  on another provider's subjects, is refused), replies only to the requests it was given
  (`allow_responses`, several messages each for the keep-alives), and puts only its own
  provider's keys in `elizabus_models`.
- `adapter-<source>` (and `cli`, the adapter of `elizabus send`/`chat`): publishes
  `message.received`; reads only `message.sent.<source>`, as a core subscription or through its
  own JetStream consumer `sent-<source>` filtered to that subject.
- `actions` / `providers` (remote action and provider servers): answer `action.<NAME>` /
  `provider.<NAME>` in their queue group, only by reply.
- `admin`: everything, for the operator's tools (whoever can read the credentials file can read
  every password anyway).

Every role but `admin` subscribes to its own inbox prefix only (`_INBOX.<user>.>`, set with
nats-py's `connect(inbox_prefix=...)`): with the usual `_INBOX.>` any role could read every
reply on the bus, the model answers included.

The same `Permissions` render as a nats-server `authorization` block (embedded server, or a
fragment for an external one: `elizabus nats config`) or as `nsc` commands (JWT accounts).
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shared import subjects
from shared.errors import ConfigurationError
from shared.model_types import ModelType

ORCHESTRATOR = "orchestrator"
MODEL_WORKER = "model-worker"
CLI = "cli"
ACTIONS = "actions"
PROVIDERS = "providers"
ADMIN = "admin"
ADAPTER_PREFIX = "adapter-"
INBOX_ROOT = "_INBOX"

JS_API = "$JS.API"
KV_PREFIX = f"$KV.{subjects.MODELS_BUCKET}"
KV_STREAM = f"KV_{subjects.MODELS_BUCKET}"

RESPONSE_MESSAGES_PER_SECOND = 4
"""Replies (the answer and its keep-alives) a responder may send per second of the response
window: keep-alives come about once a second."""


def inbox_prefix(user: str) -> str:
    """The inbox prefix of `user`'s connections (`_INBOX.<user>`): its replies arrive under it,
    and only it may subscribe there."""
    return f"{INBOX_ROOT}.{subjects.token(user, ascii_only=True)}"


def adapter_user(source: str) -> str:
    """The user name of the platform adapter of `source` (`adapter-telegram`)."""
    return f"{ADAPTER_PREFIX}{subjects.token(source, ascii_only=True)}"


def sent_consumer(source: str) -> str:
    """The JetStream consumer an adapter of `source` may create on ELIZABUS_MESSAGES to read its
    replies durably (filtered to `message.sent.<source>`)."""
    return f"sent-{subjects.token(source, ascii_only=True)}"


@dataclass(frozen=True)
class ResponseWindow:
    """How a responder may answer a request it received: up to `max_messages` messages (the
    answer and its keep-alives) within `expires_seconds` of the request."""

    max_messages: int
    expires_seconds: float

    @classmethod
    def for_calls_of(cls, seconds: float) -> ResponseWindow:
        """A window for calls lasting up to `seconds` (plus a minute of slack), answered with a
        keep-alive about every second."""
        window = math.ceil(seconds) + 60
        return cls(window * RESPONSE_MESSAGES_PER_SECOND + 1, float(window))

    def as_config(self) -> dict[str, object]:
        """The nats-server `allow_responses` map."""
        return {"max": self.max_messages, "expires": f"{math.ceil(self.expires_seconds)}s"}


@dataclass(frozen=True)
class Permissions:
    """One user's grants: subjects (optionally `"<subject> <queue>"` for subscriptions) it may
    publish and subscribe to, explicit denials (they win over allows), and whether it may
    answer the requests it receives."""

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    deny_publish: tuple[str, ...] = ()
    deny_subscribe: tuple[str, ...] = ()
    responses: ResponseWindow | None = None

    def as_config(self) -> dict[str, object]:
        """The nats-server `permissions` map of this user."""
        config: dict[str, object] = {
            "publish": _rule(self.publish, self.deny_publish),
            "subscribe": _rule(self.subscribe, self.deny_subscribe),
        }
        if self.responses is not None:
            config["allow_responses"] = self.responses.as_config()
        return config


def _rule(allow: Sequence[str], deny: Sequence[str]) -> dict[str, list[str]]:
    rule = {"allow": list(allow)}
    if deny:
        rule["deny"] = list(deny)
    return rule


@dataclass(frozen=True)
class Role:
    """A NATS user: its name, its permissions and its connections' inbox prefix."""

    user: str
    permissions: Permissions
    inbox: str = field(default="")

    def __post_init__(self) -> None:
        if not self.inbox:
            object.__setattr__(self, "inbox", inbox_prefix(self.user))


def _own_inbox(user: str) -> str:
    return f"{inbox_prefix(user)}.>"


def _stream_admin(stream: str) -> list[str]:
    return [f"{JS_API}.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]


def orchestrator() -> Role:
    """The orchestrator: runs the agents, owns the streams, consumers and the models bucket."""
    streams = (subjects.MESSAGES_STREAM, subjects.PARTITIONS_STREAM, subjects.EVENTS_STREAM)
    jetstream = [
        f"{JS_API}.INFO",
        *(s for stream in streams for s in _stream_admin(stream)),
        f"{JS_API}.STREAM.INFO.{KV_STREAM}",
        f"{JS_API}.STREAM.CREATE.{KV_STREAM}",
        # the router's and the partitions' durable pull consumers (nats-py creates a durable
        # without a name on the legacy subject; the named form is allowed for newer clients)
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{subjects.MESSAGES_STREAM}.{subjects.ROUTER_DURABLE}",
        f"{JS_API}.CONSUMER.CREATE.{subjects.MESSAGES_STREAM}.{subjects.ROUTER_DURABLE}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{subjects.PARTITIONS_STREAM}.*",
        f"{JS_API}.CONSUMER.CREATE.{subjects.PARTITIONS_STREAM}.*.>",
        f"{JS_API}.CONSUMER.INFO.{subjects.MESSAGES_STREAM}.*",
        f"{JS_API}.CONSUMER.INFO.{subjects.PARTITIONS_STREAM}.*",
        f"{JS_API}.CONSUMER.LIST.{subjects.PARTITIONS_STREAM}",
        f"{JS_API}.CONSUMER.NAMES.{subjects.PARTITIONS_STREAM}",
        # the push consumer of elizabus before partitions, deleted at start
        f"{JS_API}.CONSUMER.DELETE.{subjects.MESSAGES_STREAM}.{subjects.ORCHESTRATOR_DURABLE}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{subjects.MESSAGES_STREAM}.{subjects.ROUTER_DURABLE}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{subjects.PARTITIONS_STREAM}.*",
        f"$JS.ACK.{subjects.MESSAGES_STREAM}.{subjects.ROUTER_DURABLE}.>",
        f"$JS.ACK.{subjects.PARTITIONS_STREAM}.>",
        # watching the models bucket: an ordered (ephemeral) consumer, recreated after a gap
        f"{JS_API}.CONSUMER.CREATE.{KV_STREAM}",
        f"{JS_API}.CONSUMER.CREATE.{KV_STREAM}.>",
        f"{JS_API}.CONSUMER.DELETE.{KV_STREAM}.*",
        f"{JS_API}.CONSUMER.INFO.{KV_STREAM}.*",
        f"$JS.FC.{KV_STREAM}.>",
    ]
    publish = [
        f"{subjects.MESSAGE_SENT_PREFIX}.>",
        subjects.MESSAGE_DLQ,
        f"{subjects.PARTITION_PREFIX}.*",
        f"{subjects.EVENT_PREFIX}.>",
        f"{subjects.MODEL_PREFIX}.>",
        f"{subjects.ACTION_PREFIX}.>",
        f"{subjects.PROVIDER_PREFIX}.>",
        *jetstream,
    ]
    return Role(ORCHESTRATOR, Permissions(tuple(publish), (_own_inbox(ORCHESTRATOR),)))


def model_worker_user(provider: str) -> str:
    """The user name of the model workers of `provider` (`model-worker-openai`)."""
    return f"{MODEL_WORKER}-{subjects.token(provider, ascii_only=True)}"


def model_worker(
    provider: str,
    responses: ResponseWindow,
    user: str | None = None,
    model_types: Iterable[str] | None = None,
) -> Role:
    """A model worker of `provider` serving `model_types` (default: every ElizaOS type): answers
    their requests in the workers' queue groups and announces its own provider's keys in
    `elizabus_models`.

    The types are listed one by one, never as `model.*`: nats-server matches a subscription's
    subject against the allowed ones token by token, so an allowed `model.*` would also let a
    worker subscribe `model.>` (its `>` taken as one token), which receives every provider's
    requests."""
    name = subjects.token(provider, ascii_only=True)
    user = user or model_worker_user(provider)
    types = list(dict.fromkeys(model_types or [t.value for t in ModelType]))
    provider_queue = subjects.model_provider_queue(name)
    publish = (
        # <MODEL_TYPE>.<provider>.<worker_id>: its own provider's keys only
        *(f"{KV_PREFIX}.{subjects.token(t, ascii_only=True)}.{name}.*" for t in types),
        f"{JS_API}.STREAM.INFO.{KV_STREAM}",
        # when it starts before any orchestrator: nats-py reads the account's limits first
        f"{JS_API}.STREAM.CREATE.{KV_STREAM}",
        f"{JS_API}.INFO",
    )
    subscribe = (
        *(f"{subjects.model(t)} {subjects.MODEL_WORKERS_QUEUE}" for t in types),
        *(f"{subjects.model_provider(t, name)} {provider_queue}" for t in types),
        _own_inbox(user),
    )
    return Role(user, Permissions(publish, subscribe, responses=responses))


def adapter(source: str, user: str | None = None) -> Role:
    """The platform adapter of `source`: reports inbound messages, reads its own replies."""
    user = user or adapter_user(source)
    sent = subjects.message_sent(source)
    consumer = sent_consumer(source)
    stream = subjects.MESSAGES_STREAM
    publish = (
        subjects.MESSAGE_RECEIVED,
        f"{JS_API}.CONSUMER.CREATE.{stream}.{consumer}.{sent}",
        f"{JS_API}.CONSUMER.INFO.{stream}.{consumer}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        f"$JS.ACK.{stream}.{consumer}.>",
    )
    return Role(user, Permissions(publish, (sent, _own_inbox(user))))


def request_server(user: str, prefix: str, queue: str, names: Iterable[str] = ()) -> Role:
    """A remote action or provider server: answers `<prefix>.<NAME>` (each of `names`, or any
    name) in queue group `queue`, by reply only."""
    tokens = [subjects.token(n) for n in names] or ["*"]
    subscribe = (*(f"{prefix}.{t} {queue}" for t in tokens), _own_inbox(user))
    return Role(user, Permissions((), subscribe, responses=ResponseWindow(1, 120.0)))


def action_server(names: Iterable[str] = (), user: str = ACTIONS) -> Role:
    """A remote action server (`shared.runtime.remote_actions`)."""
    return request_server(user, subjects.ACTION_PREFIX, subjects.ACTIONS_QUEUE, names)


def provider_server(names: Iterable[str] = (), user: str = PROVIDERS) -> Role:
    """A remote provider server (`shared.runtime.remote_providers`)."""
    return request_server(user, subjects.PROVIDER_PREFIX, subjects.PROVIDERS_QUEUE, names)


def admin() -> Role:
    """The operator's tools: everything."""
    return Role(ADMIN, Permissions((">",), (">",)))


@dataclass(frozen=True)
class RoleSet:
    """The roles of one deployment (an embedded stack, or what `elizabus nats config` writes)."""

    roles: tuple[Role, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for role in self.roles:
            if role.user in seen:
                raise ConfigurationError(
                    f"two NATS users are named {role.user!r}: give each adapter source and each "
                    "worker provider once"
                )
            seen.add(role.user)

    @classmethod
    def of(
        cls,
        *,
        worker_providers: Iterable[str],
        model_timeout_seconds: float,
        adapters: Iterable[str] = (),
        actions: Iterable[str] = (),
        providers: Iterable[str] = (),
    ) -> RoleSet:
        """orchestrator, cli, actions, providers and admin, plus one worker user per provider
        and one adapter user per source."""
        window = ResponseWindow.for_calls_of(model_timeout_seconds)
        roles = [
            orchestrator(),
            *(model_worker(p, window) for p in dict.fromkeys(worker_providers)),
            adapter("cli", user=CLI),
            *(adapter(s) for s in dict.fromkeys(adapters)),
            action_server(actions),
            provider_server(providers),
            admin(),
        ]
        return cls(tuple(roles))

    def get(self, user: str) -> Role:
        """The role named `user` (KeyError when there is none)."""
        for role in self.roles:
            if role.user == user:
                return role
        raise KeyError(user)

    @property
    def users(self) -> list[str]:
        """Every user name, in order."""
        return [r.user for r in self.roles]

    def authorization(self, passwords: dict[str, str]) -> str:
        """The nats-server `authorization` block, each user with its password from
        `passwords` (nats-server reads JSON values in its config)."""
        users = [
            {
                "user": role.user,
                "password": passwords[role.user],
                "permissions": role.permissions.as_config(),
            }
            for role in self.roles
        ]
        return "authorization " + json.dumps({"users": users}, indent=2) + "\n"

    def nkey_authorization(self, public_keys: dict[str, str]) -> str:
        """The nats-server `authorization` block of an nkeys deployment: each role's user is the
        public key (`U...`) in `public_keys`; the seed stays with the service."""
        users = [
            {"nkey": public_keys[role.user], "permissions": role.permissions.as_config()}
            for role in self.roles
        ]
        return "authorization " + json.dumps({"users": users}, indent=2) + "\n"

    def nsc_commands(self, account: str = "ELIZABUS") -> list[str]:
        """`nsc add user` commands giving each role its permissions in a JWT account."""
        lines = []
        for role in self.roles:
            perms = role.permissions
            args = ["nsc", "add", "user", "--account", account, "--name", role.user]
            if perms.publish:
                args += ["--allow-pub", ",".join(perms.publish)]
            if perms.subscribe:
                args += ["--allow-sub", ",".join(perms.subscribe)]
            if perms.responses is not None:
                args += [
                    f"--allow-pub-response={perms.responses.max_messages}",
                    "--response-ttl",
                    f"{math.ceil(perms.responses.expires_seconds)}s",
                ]
            lines.append(shlex.join(args))
        return lines
