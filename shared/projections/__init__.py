"""Read models projected from the event log, and rebuilding them from the log alone."""

from shared.projections.postgres import (
    MAINTENANCE_COLUMNS,
    PROJECTION_TABLES,
    PostgresProjector,
    comparable_rows,
)
from shared.projections.rebuild import rebuild_projections

__all__ = [
    "MAINTENANCE_COLUMNS",
    "PROJECTION_TABLES",
    "PostgresProjector",
    "comparable_rows",
    "rebuild_projections",
]
