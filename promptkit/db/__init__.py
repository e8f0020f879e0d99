"""The data layer: owner-scoped query functions over SQLAlchemy Core tables.

Every function takes the caller as an `owners.Owner` (user, active organization, role) and never
returns another tenant's row: the one rule is in `owners.py`.
"""

from .engine import Database, new_id, now

__all__ = ["Database", "new_id", "now"]
