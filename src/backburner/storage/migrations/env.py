"""Internal: Alembic's environment; backburner always hands it a connection in a transaction."""

from __future__ import annotations

from alembic import context

from backburner.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
