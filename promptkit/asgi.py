"""The ASGI app for a server that imports one: `hypercorn promptkit.asgi:app`."""

from .app import create_app

app = create_app()
