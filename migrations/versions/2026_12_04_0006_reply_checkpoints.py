"""Reply checkpoints: which instance streams a conversation's reply, and what it had produced.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("stream_holder", sa.String(length=64), nullable=True))
    op.add_column("conversations", sa.Column("stream_checkpoint", sa.JSON(), nullable=True))
    # The sweep for replies whose instance died reads the recently expired leases.
    op.create_index(
        "ix_conversations_stream_lease_expires_at", "conversations", ["stream_lease_expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_stream_lease_expires_at", table_name="conversations")
    op.drop_column("conversations", "stream_checkpoint")
    op.drop_column("conversations", "stream_holder")
