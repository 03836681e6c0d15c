"""Edges say whether only types are imported: version 2 of the previous release's schema.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Edges recorded before this revision were all plain imports.
    op.add_column(
        "edges", sa.Column("type_only", sa.Boolean(), nullable=False, server_default=sa.text("FALSE"))
    )


def downgrade() -> None:
    # SQLite drops a column by rebuilding the table; batch mode does that there and a plain ALTER elsewhere.
    with op.batch_alter_table("edges") as batch:
        batch.drop_column("type_only")
