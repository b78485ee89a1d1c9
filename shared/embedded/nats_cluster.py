"""An embedded NATS cluster: several nats-server nodes on loopback, routed to each other.

Each node is an `EmbeddedNats` with its own client port, route port, JetStream store and server
name (`n1`, `n2`, ...); every node lists the routes of all. `start()` returns once every node
answers JetStream requests, which means the cluster has elected its JetStream meta leader and
every node is routed to it. Streams created with `num_replicas=3` (`ELIZABUS_STREAM_REPLICAS`)
then survive the loss of one node: `kill(i)` crashes a node, `restart(i)` brings it back on its
store. Used by the cluster failover test; also a quick way to try elizabus on a cluster.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType
from typing import Self

from shared.bus.nats_connect import NatsAuth
from shared.bus.nats_permissions import RoleSet
from shared.embedded.nats_server import ClusterMembership, EmbeddedNats
from shared.embedded.ports import LOOPBACK, free_port, log_tail
from shared.errors import EmbeddedServerError

log = logging.getLogger(__name__)

START_ATTEMPTS = 3
"""Times `start` tries fresh ports when a node did not come up (another process took a port)."""


class EmbeddedNatsCluster:
    """`size` nats-server nodes with JetStream forming one cluster, data under `data_dir/n<i>`.

    `await EmbeddedNatsCluster(data_dir).start()` returns once the cluster has a JetStream meta
    leader; `.urls` is then the client URLs, comma-separated (the form ELIZABUS_NATS_URL takes).
    With `roles`, every node has the same users, their passwords kept in `data_dir`
    (`login(user)`). Also an async context manager.
    """

    def __init__(
        self,
        data_dir: Path,
        size: int = 3,
        *,
        name: str = "elizabus",
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        roles: RoleSet | None = None,
    ) -> None:
        if size < 1:
            raise EmbeddedServerError(f"a cluster needs at least one node, not {size}")
        self.data_dir = Path(data_dir)
        self.size = size
        self.name = name
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.roles = roles
        self.nodes: list[EmbeddedNats] = []

    @property
    def url_list(self) -> list[str]:
        """Every node's client URL, in node order; only valid after `start()`."""
        if not self.nodes:
            raise EmbeddedServerError(
                "EmbeddedNatsCluster.urls read before start(): await start() first"
            )
        return [node.url for node in self.nodes]

    @property
    def urls(self) -> str:
        """Every node's client URL, comma-separated: a value for ELIZABUS_NATS_URL."""
        return ",".join(self.url_list)

    def login(self, user: str) -> NatsAuth | None:
        """How a client logs in as `user` on any node (None for a cluster without users)."""
        if not self.nodes:
            raise EmbeddedServerError("EmbeddedNatsCluster.login before start(): await start()")
        return self.nodes[0].login(user)

    def server_name(self, index: int) -> str:
        """The server name of node `index` (`n1` for 0), as stream and consumer infos name it."""
        return f"n{index + 1}"

    def index_of(self, server_name: str) -> int:
        """The index of the node named `server_name` (e.g. a stream's leader)."""
        for index in range(len(self.nodes)):
            if self.server_name(index) == server_name:
                return index
        raise EmbeddedServerError(f"no node named {server_name!r} in this cluster")

    def is_running(self, index: int) -> bool:
        """Whether node `index` runs (it was not killed or stopped)."""
        return self.nodes[index].pid is not None

    async def start(self) -> Self:
        """Start every node and wait until the cluster has a meta leader that every node reaches;
        retried on fresh ports when a node does not come up."""
        if self.nodes:
            return self
        for attempt in range(1, START_ATTEMPTS + 1):
            self.nodes = self._configure()
            for index, node in enumerate(self.nodes):
                node.launch(node.requested_port)
                log.debug("nats node %s launched on %s", self.server_name(index), node.url)
            ready = await asyncio.gather(*(node.wait_ready() for node in self.nodes))
            if all(ready):
                log.info("nats cluster of %d nodes ready at %s", self.size, self.urls)
                return self
            failed = [n for n, ok in zip(self.nodes, ready, strict=True) if not ok]
            await self.stop()
            if attempt == START_ATTEMPTS:
                where = ", ".join(str(n.log_file) for n in failed)
                raise EmbeddedServerError(
                    f"the nats cluster did not form: read {where}{log_tail(failed[0].log_file)}"
                )
            log.warning("the nats cluster did not form, retrying on other ports")
        raise AssertionError("unreachable")  # pragma: no cover

    async def kill(self, index: int) -> None:
        """SIGKILL node `index`: a crash, nothing flushed. `restart(index)` brings it back."""
        await self.nodes[index].kill()
        log.info("nats node %s killed", self.server_name(index))

    async def restart(self, index: int) -> None:
        """Start node `index` again on its ports and store, and wait until JetStream answers."""
        node = self.nodes[index]
        if node.pid is not None:
            return
        node.launch(node.requested_port)
        if not await node.wait_ready():
            raise EmbeddedServerError(
                f"nats node {self.server_name(index)} did not come back: read {node.log_file}"
                f"{log_tail(node.log_file)}"
            )

    async def stop(self) -> None:
        """Stop every node (SIGTERM, SIGKILL after `stop_timeout`)."""
        await asyncio.gather(*(node.stop() for node in self.nodes))
        self.nodes = []

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _configure(self) -> list[EmbeddedNats]:
        """One node per index on fresh loopback ports, each routing to all."""
        client_ports = [free_port() for _ in range(self.size)]
        cluster_ports = [free_port() for _ in range(self.size)]
        routes = tuple(f"nats-route://{LOOPBACK}:{port}" for port in cluster_ports)
        return [
            EmbeddedNats(
                self.data_dir / self.server_name(index),
                client_ports[index],
                start_timeout=self.start_timeout,
                stop_timeout=self.stop_timeout,
                cluster=ClusterMembership(
                    server_name=self.server_name(index),
                    cluster_name=self.name,
                    cluster_port=cluster_ports[index],
                    routes=routes,
                ),
                roles=self.roles,
                credentials_dir=self.data_dir,
            )
            for index in range(self.size)
        ]
