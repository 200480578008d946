"""A real MCP client (the Python `mcp` SDK) driving `codeward serve` over stdio.

Usage: python3 mcp_client.py <codeward binary> <data dir>
Prints one JSON document with what it saw; the Rust test checks it.
"""
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def attr(obj, snake, camel):
    """mcp 1.x spells fields in camelCase, 2.x in snake_case."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


async def main() -> None:
    binary, data = sys.argv[1], sys.argv[2]
    env = dict(os.environ, CODEWARD_DATA_DIR=data)
    params = StdioServerParameters(command=binary, args=["serve"], env=env)
    seen = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            seen["server"] = attr(init, "server_info", "serverInfo").name
            seen["instructions"] = init.instructions or ""
            tools = await session.list_tools()
            seen["tools"] = sorted(t.name for t in tools.tools)

            found = await session.call_tool("search_tools", {"query": "count the words of a text", "limit": 3})
            seen["search"] = attr(found, "structured_content", "structuredContent")

            api = await session.call_tool("get_tool_api", {"tools": ["demo.text_stats"], "language": "python"})
            seen["api"] = attr(api, "structured_content", "structuredContent")

            code = "from codeward_api import demo, set_result\nset_result(demo.text_stats(text='one two three four'))\n"
            ran = await session.call_tool("execute_code", {"code": code, "language": "python", "intent": "count the words of a text"})
            seen["execute"] = attr(ran, "structured_content", "structuredContent")
            seen["execute_is_error"] = bool(attr(ran, "is_error", "isError"))

            risky = "import os\nos.system('id')\n"
            held = await session.call_tool("execute_code", {"code": risky, "language": "python", "intent": "list my notes"})
            seen["risky"] = attr(held, "structured_content", "structuredContent")
            seen["risky_is_error"] = bool(attr(held, "is_error", "isError"))

            # The catalogue knows gmail, but no configured server serves it.
            mail = await session.call_tool("search_tools", {"query": "gmail labels send email", "limit": 10})
            seen["mail_search"] = attr(mail, "structured_content", "structuredContent")
            unserved = await session.call_tool("get_tool_api", {"tools": ["gmail.send_email"]})
            seen["unserved_is_error"] = bool(attr(unserved, "is_error", "isError"))
            seen["unserved_text"] = unserved.content[0].text if unserved.content else ""

            broken = await session.call_tool("execute_code", {"code": "def f(:", "language": "python"})
            seen["broken"] = attr(broken, "structured_content", "structuredContent")

            silent = await session.call_tool("execute_code", {"code": "raise SystemExit(3)\n", "language": "python", "intent": "count the words of a text"})
            seen["silent"] = attr(silent, "structured_content", "structuredContent")

            bad = await session.call_tool("get_tool_api", {"tools": ["demo.nope"]})
            seen["bad_is_error"] = bool(attr(bad, "is_error", "isError"))
            seen["bad_text"] = bad.content[0].text if bad.content else ""
    print(json.dumps(seen))


asyncio.run(main())
