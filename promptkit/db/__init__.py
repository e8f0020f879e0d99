"""The data layer: owner-scoped query functions over SQLAlchemy Core tables.

Every function takes the owner's user id and never returns another owner's row.
"""

from .engine import Database, new_id, now

__all__ = ["Database", "new_id", "now"]
