"""promptkit tools from MCP servers, through the official `mcp` SDK.

`PROMPTKIT_MCP_SERVERS` lists the servers, `;`-separated, each `name=how`: `how` is a
streamable HTTP URL (`http://...`, `https://...`) or a command line that starts a stdio
server. Every tool of server `name` is registered as `name_<tool>` with its input schema, so
two servers never clash. A server that goes away is reconnected (a stdio server is started
again) when a call finds it gone; the call is then tried once more.

    PROMPTKIT_MCP_SERVERS="files=python -m my_files_server;search=https://mcp.example.com/mcp"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptkit import Host, Tool, ToolContext, hookimpl

if TYPE_CHECKING:
    from .connection import Server

SERVERS = "servers"  # the key of the started servers in `host.state`
SETTING = "PROMPTKIT_MCP_SERVERS"


def parse_servers(value: str) -> dict[str, str]:
    """`name=how;...` as {name: how}; ValueError naming the setting when it is malformed."""
    servers: dict[str, str] = {}
    for entry in filter(None, (item.strip() for item in value.split(";"))):
        name, equals, how = entry.partition("=")
        name, how = name.strip(), how.strip()
        if not equals or not name or not how or not name.replace("_", "").isalnum():
            raise ValueError(f"{SETTING}: {entry!r} is not name=command or name=URL")
        if name in servers:
            raise ValueError(f"{SETTING} names the server {name!r} twice")
        servers[name] = how
    return servers


@hookimpl
async def register_tools(register: Any, host: Host) -> None:
    servers = parse_servers(host.setting(SETTING, ""))
    if not servers:
        return
    from .connection import Server

    started: list[Server] = []
    host.state[SERVERS] = started
    for name, how in servers.items():
        server = Server(name, how)
        started.append(server)
        try:
            tools = await server.start()
        except Exception as error:
            raise RuntimeError(f"the MCP server {name!r} did not answer: {error}") from error
        for tool in tools:
            register(_tool(server, tool.name, tool.description or "", tool.input_schema))


def _tool(server: Server, remote: str, description: str, schema: dict[str, Any]) -> Tool:
    async def call(arguments: dict[str, Any], context: ToolContext) -> Any:
        return await server.call(remote, arguments)

    name = f"{server.name}_{remote}"[:64]
    return Tool(name, description or f"{remote} on the MCP server {server.name}", schema, call)


@hookimpl
async def shutdown(host: Host) -> None:
    for server in host.state.pop(SERVERS, []):
        await server.stop()
