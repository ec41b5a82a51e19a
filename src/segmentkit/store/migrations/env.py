"""Alembic environment of the segmentkit store (used when it is migrated on its own).

The connection comes from ``config.attributes["connection"]`` (see
:func:`segmentkit.store.migrations.upgrade`) or from ``sqlalchemy.url``. The version
table is ``{prefix}alembic_version`` so it never collides with a host's own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from segmentkit.store.migrations import settings
from segmentkit.store.tables import make_tables

config = context.config
prefix, key_type = settings()
target_metadata = make_tables(prefix, key_type).metadata
version_table = f"{prefix}alembic_version"


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        version_table=version_table,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, version_table=version_table
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
