"""Read models projected from the event log, and rebuilding them from the log alone."""

from shared.projections.postgres import PROJECTION_TABLES, PostgresProjector
from shared.projections.rebuild import rebuild_projections

__all__ = ["PROJECTION_TABLES", "PostgresProjector", "rebuild_projections"]
