"""segmentkit store: initial tables (segments, members, history, runs, outbox).

Revision ID: sk0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from segmentkit.store.migrations import settings
from segmentkit.store.tables import UTCDateTime

revision = "sk0001"
down_revision = None
branch_labels = ("segmentkit",)
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    p, key = settings()
    op.create_table(
        f"{p}segments",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("rule_hash", sa.String(64), nullable=True),
        sa.Column("relative_time", sa.Boolean(), nullable=False),
        sa.Column("depends_on", sa.Text(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=False),
        sa.Column("last_calculated_at", UTCDateTime(), nullable=True),
        sa.Column("calculated_hash", sa.String(64), nullable=True),
        sa.Column("last_run_id", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("type IN ('dynamic', 'static', 'hybrid')", name=f"{p}segments_type"),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'archived')", name=f"{p}segments_status"
        ),
    )
    op.create_table(
        f"{p}members",
        sa.Column("segment_id", sa.String(200), primary_key=True),
        sa.Column("contact_key", key, primary_key=True, autoincrement=False),
        sa.Column("member", sa.Boolean(), nullable=False),
        sa.Column("manual", sa.String(8), nullable=True),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.CheckConstraint("manual IN ('include', 'exclude')", name=f"{p}members_manual"),
    )
    op.create_table(
        f"{p}history",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("segment_id", sa.String(200), nullable=False),
        sa.Column("contact_key", key, nullable=False),
        sa.Column("change", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(8), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index(f"{p}history_member", f"{p}history", ["segment_id", "contact_key", "id"])
    op.create_index(f"{p}history_run", f"{p}history", ["run_id", "change"])
    op.create_table(
        f"{p}runs",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("segment_id", sa.String(200), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("rule_hash", sa.String(64), nullable=True),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index(f"{p}runs_segment", f"{p}runs", ["segment_id", "id"])
    op.create_table(
        f"{p}outbox",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("segment_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("keys", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index(f"{p}outbox_pending", f"{p}outbox", ["delivered_at", "id"])


def downgrade() -> None:
    p, _ = settings()
    for name in ("outbox", "runs", "history", "members", "segments"):
        op.drop_table(f"{p}{name}")
