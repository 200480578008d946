//! An MCP client pool for codeward: tool calls and live tool catalogues from real MCP servers,
//! through the official Rust SDK (rmcp).
//!
//! Servers are configured in the ecosystem's format (`{"mcpServers": {"name": {"command": ...}}}`,
//! as in Claude Desktop and `.mcp.json`), started as child processes on the host, and called
//! as `server.tool`. A server that crashes is restarted with bounded, exponentially spaced
//! attempts; one that hangs times out and is cancelled; one that writes garbage on stdout is
//! marked unhealthy while the others keep working. Server stderr and MCP log messages go to
//! `tracing` under the target [`SERVER_LOG_TARGET`]; tool-list changes are counted
//! ([`McpPool::tool_changes`]).
//!
//! # Brief overview
//!
//! - [`McpConfig`] with [`ServerConfig`] ([`StdioServer`], [`HttpServer`]): parsing with errors
//!   that name the file and line, or the server; `${VAR}` / `${VAR:-default}` from the host env.
//! - [`McpPool`]: [`McpPool::load_tools`] (every server's tools as `codeward_core::ToolSchema`
//!   plus a [`ServerLoad`] report each), [`McpPool::call_tool`], health ([`ServerHealth`]),
//!   counters ([`ServerStats`]), [`McpPool::shutdown`]. It implements
//!   `codeward_core::ToolInvoker`.
//! - [`PoolOptions`] and [`RestartPolicy`]: deadlines, restarts, shutdown grace.
//! - [`McpError`]: every failure, naming the server (and the command and stderr tail when a
//!   server fails to start).
//!
//! Secrets: a server's `env` (and HTTP `headers`) reach only that server's process on the
//! host. Agent programs run elsewhere (codeward's sandbox) and see tool results only.
//! Streamable HTTP servers (`{"url": ..., "headers": {...}}`) are reached through rmcp's
//! reqwest client (TLS by rustls) when the default `http` feature is on; without it, and for
//! legacy SSE servers, using one gives [`McpError::UnsupportedTransport`].
//!
//! # Example
//!
//! ```
//! use codeward_mcp::{McpConfig, McpPool, PoolOptions};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A tiny stdio MCP server written in Python stands in for a real one here.
//! let script = r#"
//! import json, sys
//! for line in sys.stdin:
//!     msg = json.loads(line)
//!     if "id" not in msg: continue
//!     if msg["method"] == "initialize":
//!         result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
//!                   "serverInfo": {"name": "echo", "version": "1"}}
//!     elif msg["method"] == "tools/list":
//!         result = {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}
//!     else:
//!         result = {"content": [{"type": "text", "text": json.dumps(msg["params"]["arguments"])}]}
//!     print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)
//! "#;
//! let config = McpConfig::parse(
//!     &json!({"mcpServers": {"echo": {"command": "python3", "args": ["-c", script]}}}).to_string(),
//!     "example",
//! )?;
//! let pool = McpPool::new(config, PoolOptions::default());
//!
//! let load = pool.load_tools().await;
//! assert_eq!(load.tools[0].qualified_name(), "echo.echo");
//!
//! let result = pool.call_tool("echo.echo", json!({"say": "hi"})).await?;
//! assert_eq!(result.value, json!({"say": "hi"}));
//! assert!(pool.health("echo")?.is_healthy());
//!
//! pool.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod convert;
mod error;
mod handler;
mod options;
mod pool;
mod process;

pub use config::{HttpServer, McpConfig, ServerConfig, StdioServer};
pub use convert::{tool_result, tool_schema};
pub use error::{McpError, Result};
pub use options::{PoolOptions, RestartPolicy};
pub use pool::{
    LoadOutcome, McpPool, ServerHealth, ServerLoad, ServerStats, ServerStatus, ToolLoad,
};
pub use process::SERVER_LOG_TARGET;
