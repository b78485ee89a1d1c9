"""Embedded nats-server and Postgres as child processes: `elizabus up` and the tests, no Docker."""

from shared.embedded.nats_cluster import EmbeddedNatsCluster
from shared.embedded.nats_server import EmbeddedNats, find_nats_server
from shared.embedded.ports import free_port
from shared.embedded.postgres import EmbeddedPostgres, postgres_bin_dir

__all__ = [
    "EmbeddedNats",
    "EmbeddedNatsCluster",
    "EmbeddedPostgres",
    "find_nats_server",
    "free_port",
    "postgres_bin_dir",
]
