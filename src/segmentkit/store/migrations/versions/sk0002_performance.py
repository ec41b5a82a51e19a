"""segmentkit store: segment performance per period (performance, performance_runs).

Revision ID: sk0002
Revises: sk0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from segmentkit.store.migrations import settings
from segmentkit.store.tables import UTCDateTime

revision = "sk0002"
down_revision = "sk0001"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COUNTS = (
    "members_start",
    "members_end",
    "added",
    "removed",
    "exposed",
    "active",
    "conversions",
    "converting",
    "revenue_units",
    "campaigns",
)


def upgrade() -> None:
    p, _ = settings()
    op.create_table(
        f"{p}performance",
        sa.Column("config", sa.String(64), primary_key=True),
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("grain", sa.String(8), primary_key=True),
        sa.Column("period_start", UTCDateTime(), primary_key=True),
        sa.Column("period_end", UTCDateTime(), nullable=False),
        sa.Column("label", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("config_hash", sa.String(16), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=True) for name in _COUNTS),
        sa.Column("revenue_scale", sa.SmallInteger(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        f"{p}performance_runs",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("config", sa.String(64), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("first_period", UTCDateTime(), nullable=True),
        sa.Column("periods", sa.BigInteger(), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index(f"{p}performance_runs_config", f"{p}performance_runs", ["config", "id"])


def downgrade() -> None:
    p, _ = settings()
    op.drop_table(f"{p}performance_runs")
    op.drop_table(f"{p}performance")
