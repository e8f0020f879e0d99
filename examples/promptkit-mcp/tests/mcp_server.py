"""A real MCP server for the tests, made with the same SDK: `python mcp_server.py stdio` or
`python mcp_server.py http PORT`."""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("promptkit-test")


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


@server.tool()
def refuse() -> str:
    """Always fails."""
    raise ToolError("refused on purpose")


@server.tool()
def crash() -> str:
    """Ends the server's process: the client must reconnect."""
    os._exit(3)


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
