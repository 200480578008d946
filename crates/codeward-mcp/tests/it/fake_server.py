"""A scriptable stdio MCP server for codeward-mcp's tests.

Usage: fake_server.py MODE [STATE_DIR]
Modes: ok, garbage-at-start, garbage-on-call, hang-on-call, hang-init, crash-once,
exit-at-start, stubborn, spawns-child, progress.

With a STATE_DIR, in every mode: each start appends the server's pid to STATE_DIR/starts, and
`initialize` is not answered while the file STATE_DIR/hold exists (a start the test holds
open for as long as it likes, then lets finish by deleting the file).
"""
import json
import os
import signal
import subprocess
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
state_dir = sys.argv[2] if len(sys.argv) > 2 else None
cancelled = []


def state_file(name):
    return os.path.join(state_dir, name) if state_dir else None


if state_dir:
    with open(state_file("starts"), "a") as starts:
        starts.write(f"{os.getpid()}\n")

TOOLS = [
    {"name": "echo", "description": "Echo the arguments as JSON text",
     "inputSchema": {"type": "object"}},
    {"name": "add", "title": "Add", "description": "Add two numbers",
     "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                     "required": ["a", "b"]},
     "outputSchema": {"type": "object", "properties": {"sum": {"type": "number"}}},
     "annotations": {"readOnlyHint": True, "openWorldHint": False}},
    {"name": "fail", "description": "Always fails", "inputSchema": {"type": "object"}},
    {"name": "crash", "description": "Exits the server", "inputSchema": {"type": "object"}},
    {"name": "hang", "description": "Never answers", "inputSchema": {"type": "object"}},
    {"name": "cancelled", "description": "Request ids cancelled so far", "inputSchema": {"type": "object"}},
    {"name": "announce", "description": "Logs a warning, then says the tool list changed",
     "inputSchema": {"type": "object"}},
]


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def text(value):
    return {"content": [{"type": "text", "text": value}]}


if mode == "exit-at-start":
    log("fatal: FAKE_API_KEY is not set")
    sys.exit(2)
if mode == "garbage-at-start":
    print("Starting fake server v1.0 on stdio...", flush=True)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "spawns-child":
    child = subprocess.Popen(["sleep", "1000"])
    log(f"grandchild pid {child.pid}")
    if state_dir:
        with open(state_file("grandchild"), "w") as grandchild:
            grandchild.write(str(child.pid))
if mode == "progress":
    # A progress bar: updates ended by "\r" and never a newline, then one enormous line.
    for percent in range(200):
        sys.stderr.write(f"downloading {percent}%\r")
    sys.stderr.write("x" * 100_000 + "\r\n")
    sys.stderr.flush()

log(f"fake server ready (mode {mode})")

for line in sys.stdin:
    msg = json.loads(line)
    method = msg.get("method")
    if method == "notifications/cancelled":
        cancelled.append(msg["params"].get("requestId"))
        continue
    if "id" not in msg:
        continue
    rid = msg["id"]
    if method == "initialize":
        if mode == "hang-init":
            continue
        while state_dir and os.path.exists(state_file("hold")):
            time.sleep(0.01)
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake", "version": "1.0"}}})
    elif method == "tools/list":
        # Two pages, to exercise pagination.
        cursor = (msg.get("params") or {}).get("cursor")
        if cursor is None:
            send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS[:3], "nextCursor": "page2"}})
        else:
            send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS[3:]}})
    elif method == "tools/call":
        name = msg["params"]["name"]
        args = msg["params"].get("arguments") or {}
        if mode == "garbage-on-call":
            print("DEBUG: handling call", flush=True)
            continue
        if mode == "hang-on-call" or name == "hang":
            continue
        if name == "crash" or (mode == "crash-once" and name == "echo"):
            marker = os.path.join(state_dir or ".", "crashed")
            if mode != "crash-once" or not os.path.exists(marker):
                open(marker, "w").close()
                log("crashing on purpose")
                sys.exit(3)
        if name == "echo":
            send({"jsonrpc": "2.0", "id": rid, "result": text(json.dumps(args))})
        elif name == "add":
            total = args["a"] + args["b"]
            result = text(str(total))
            result["structuredContent"] = {"sum": total}
            send({"jsonrpc": "2.0", "id": rid, "result": result})
        elif name == "fail":
            result = text("the fake tool failed")
            result["isError"] = True
            send({"jsonrpc": "2.0", "id": rid, "result": result})
        elif name == "announce":
            send({"jsonrpc": "2.0", "method": "notifications/message",
                  "params": {"level": "warning", "logger": "disk", "data": "disk almost full"}})
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            send({"jsonrpc": "2.0", "id": rid, "result": text("announced")})
        elif name == "cancelled":
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": [], "structuredContent": {"ids": cancelled}}})
        else:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": f"unknown tool {name}"}})
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "method not found"}})

if mode == "stubborn":
    # Ignores both the closed stdin and SIGTERM: only SIGKILL ends it.
    while True:
        time.sleep(3600)
