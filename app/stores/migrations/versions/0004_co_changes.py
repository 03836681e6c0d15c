"""Co-change pairs: which files changed together in the history read at ingest, how often, when last.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.stores.tables import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Repositories ingested before this revision have no pairs until their next ingest.
    op.create_table(
        "co_changes",
        sa.Column("repository_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("a", sa.Text(), nullable=False),
        sa.Column("b", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_changed_at", UtcDateTime(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id", "a"], ["files.repository_id", "files.path"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["repository_id", "b"], ["files.repository_id", "files.path"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repository_id", "a", "b"),
    )
    op.create_index("co_changes_by_b", "co_changes", ["repository_id", "b"])


def downgrade() -> None:
    op.drop_index("co_changes_by_b", table_name="co_changes")
    op.drop_table("co_changes")
