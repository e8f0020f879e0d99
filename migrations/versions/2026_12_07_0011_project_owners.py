"""Projects gain `owner_kind`: "user" (personal, as every existing project stays) or
"organization" (`owner_id` then names the organization). The owner index leads with the kind.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("owner_kind", sa.String(16), nullable=False, server_default="user"),
    )
    op.drop_index("ix_projects_owner_created", table_name="projects")
    op.create_index(
        "ix_projects_owner_created", "projects", ["owner_kind", "owner_id", "created_at", "id"]
    )


def downgrade() -> None:
    # Organization projects cannot be given back to a user: a downgrade drops them (and, by
    # cascade, their prompts, conversations and files).
    op.execute("DELETE FROM projects WHERE owner_kind <> 'user'")
    op.drop_index("ix_projects_owner_created", table_name="projects")
    op.create_index("ix_projects_owner_created", "projects", ["owner_id", "created_at", "id"])
    op.drop_column("projects", "owner_kind")
