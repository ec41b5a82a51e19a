"""segmentkit store: segment ids and text contact keys compare by code point on MariaDB/MySQL.

The segment id columns, and the contact key columns when keys are text, take a binary,
non-padding utf8mb4 collation there (see ``segmentkit.store.tables.CodePointString``);
SQLite and PostgreSQL already compare text by its bytes, so nothing changes on them.

Revision ID: sk0003
Revises: sk0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from segmentkit.store.migrations import settings
from segmentkit.store.tables import ID_LENGTH, CodePointString, SegmentId

revision = "sk0003"
down_revision = "sk0002"
branch_labels = None
depends_on = None

# (table suffix, column, nullable)
_COLUMNS = (
    ("segments", "id", False),
    ("members", "segment_id", False),
    ("history", "segment_id", False),
    ("runs", "segment_id", False),
    ("outbox", "segment_id", False),
    ("performance", "segment_id", False),
)


def _alter(to_binary: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    p, key = settings()
    for table, column, nullable in _COLUMNS:
        op.alter_column(
            f"{p}{table}",
            column,
            type_=SegmentId() if to_binary else sa.String(ID_LENGTH),
            existing_type=sa.String(ID_LENGTH),
            existing_nullable=nullable,
        )
    if type(key) in (sa.String, sa.VARCHAR, sa.Unicode) and getattr(key, "length", None):
        length = key.length  # type: ignore[attr-defined]
        for table in ("members", "history"):
            op.alter_column(
                f"{p}{table}",
                "contact_key",
                type_=CodePointString(length) if to_binary else sa.String(length),
                existing_type=sa.String(length),
                existing_nullable=False,
            )


def upgrade() -> None:
    _alter(True)


def downgrade() -> None:
    _alter(False)
