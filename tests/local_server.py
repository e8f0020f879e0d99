"""`LocalServer` lives in `promptkit.testing`; the project's other fakes import it from here."""

from promptkit.testing.local_server import LocalServer

__all__ = ["LocalServer"]
