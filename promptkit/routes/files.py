"""Files: `/projects/{id}/files` and `/files/{id}`."""

from __future__ import annotations

from quart import Blueprint

blueprint = Blueprint("files", __name__)
