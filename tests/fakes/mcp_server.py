"""A small MCP server for the tests, written with the official ``mcp`` package.

Run over stdio (``python tests/fakes/mcp_server.py``), as Hearth starts servers from
``tools.mcp.<name>.command``, or over streamable HTTP
(``python tests/fakes/mcp_server.py --http PORT``, endpoint ``http://127.0.0.1:PORT/mcp``).

Tools: ``add`` (integers), ``shout`` (echoes ``FAKE_MCP_SUFFIX`` from its environment, which tests
that ``env`` reaches the server), ``fail`` (an error result), ``sleep`` (for timeouts) and
``notes.search`` (a name the model APIs do not accept as it is).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("hearth-test")


@server.tool()
async def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
async def shout(text: str) -> str:
    """Upper-case the text and append the server's suffix."""
    return text.upper() + os.environ.get("FAKE_MCP_SUFFIX", "")


@server.tool()
async def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ToolError(reason)


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then say so."""
    await asyncio.sleep(seconds)
    return "slept"


@server.tool(name="notes.search")
async def notes_search(query: str) -> str:
    """Search the notes."""
    return f"1 note matches {query!r}"


def main() -> None:
    """Serve over stdio, or over streamable HTTP with ``--http PORT``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT")
    args = parser.parse_args()
    if args.http is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
