"""`POST /chat`: stream a reply as the AI SDK UI message stream."""

from __future__ import annotations

from quart import Blueprint

blueprint = Blueprint("chat", __name__)
