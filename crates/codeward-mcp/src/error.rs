//! The crate's one error type, with the server, command or config location in each variant.
//! Converted into `codeward_core::Error` at the `ToolInvoker` seam.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias of this crate.
pub type Result<T, E = McpError> = std::result::Result<T, E>;

/// What went wrong configuring, starting or calling MCP servers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The config file cannot be read.
    #[error("cannot read MCP config {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The config is not valid JSON.
    #[error("MCP config {origin}:{line}:{column}: invalid JSON: {message}")]
    ConfigSyntax {
        /// The file (or `<string>`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The config is valid JSON but not in the expected shape.
    #[error(
        "MCP config {origin}: {problem}; expected {{\"mcpServers\": {{\"name\": {{\"command\": \"...\", \"args\": [...]}}}}}}"
    )]
    ConfigShape {
        /// The file (or `<string>`).
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// One server entry is wrong.
    #[error("MCP config {origin}: server {server:?}: {problem}")]
    ConfigEntry {
        /// The file (or `<string>`).
        origin: String,
        /// The server's name.
        server: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// No server of that name is configured.
    #[error("no MCP server named {server:?} is configured (configured: {known})")]
    UnknownServer {
        /// The name asked for.
        server: String,
        /// The configured names, comma separated.
        known: String,
    },
    /// A tool name without the `server.` prefix.
    #[error("tool name {tool:?} has no server prefix; call it as \"server.tool\"")]
    UnqualifiedTool {
        /// The name given.
        tool: String,
    },
    /// Tool arguments that are not a JSON object.
    #[error("arguments for {tool} must be a JSON object, got {got}")]
    InvalidArguments {
        /// The qualified tool name.
        tool: String,
        /// The JSON type that was given.
        got: &'static str,
    },
    /// The server could not be started or did not complete the MCP handshake.
    #[error("MCP server {server:?} failed to start (command: {command}): {reason}{}", stderr_suffix(.stderr_tail))]
    StartFailed {
        /// The server's name.
        server: String,
        /// The command line.
        command: String,
        /// Why (not found, exited, protocol violation, no answer).
        reason: String,
        /// The last lines the server wrote to stderr.
        stderr_tail: String,
    },
    /// A remote (HTTP) server could not be reached or did not complete the MCP handshake.
    #[error("MCP server {server:?} at {url} could not be connected: {reason}")]
    ConnectFailed {
        /// The server's name.
        server: String,
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server broke the connection during a request (it exited, or wrote something that
    /// is not JSON-RPC on stdout).
    #[error(
        "MCP server {server:?} lost the connection during {operation}: {reason}; it will be restarted on the next call"
    )]
    ConnectionLost {
        /// The server's name.
        server: String,
        /// What was running (`tools/call files_read`).
        operation: String,
        /// Why the connection ended.
        reason: String,
    },
    /// The server is down and the restart budget is spent.
    #[error(
        "MCP server {server:?} is unavailable after {attempts} start attempts: {reason}; fix the server and call McpPool::reset"
    )]
    Unavailable {
        /// The server's name.
        server: String,
        /// Start attempts made since the last successful request.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The server answered with a JSON-RPC error.
    #[error("MCP server {server:?} rejected {operation}: {message} (code {code})")]
    Rejected {
        /// The server's name.
        server: String,
        /// What was asked (`tools/call notes_get`).
        operation: String,
        /// JSON-RPC error code.
        code: i32,
        /// The server's message.
        message: String,
    },
    /// The server sent something this client did not expect for the request.
    #[error("MCP server {server:?} answered {operation} unexpectedly: {problem}")]
    Protocol {
        /// The server's name.
        server: String,
        /// What was asked.
        operation: String,
        /// What was wrong.
        problem: String,
    },
    /// A request took longer than its deadline; it was cancelled.
    #[error(
        "MCP server {server:?}: {operation} timed out after {after:?} (the request was cancelled)"
    )]
    Timeout {
        /// The server's name.
        server: String,
        /// What was asked.
        operation: String,
        /// The deadline.
        after: Duration,
    },
    /// The transport is not compiled into this build.
    #[error(
        "MCP server {server:?}: {transport} servers are not supported in this build of codeward-mcp (streamable HTTP needs the \"http\" feature; legacy SSE is not supported: use the server's streamable HTTP endpoint or stdio)"
    )]
    UnsupportedTransport {
        /// The server's name.
        server: String,
        /// `streamable HTTP`, `legacy SSE`.
        transport: &'static str,
    },
    /// The pool was shut down.
    #[error("the MCP pool is shut down; build a new McpPool")]
    ShutDown,
}

fn stderr_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        "; the server wrote nothing to stderr".to_owned()
    } else {
        format!("; last stderr lines:\n{tail}")
    }
}

impl McpError {
    /// The server the error is about, if any.
    pub fn server(&self) -> Option<&str> {
        match self {
            McpError::ConfigEntry { server, .. }
            | McpError::UnknownServer { server, .. }
            | McpError::StartFailed { server, .. }
            | McpError::ConnectFailed { server, .. }
            | McpError::ConnectionLost { server, .. }
            | McpError::Unavailable { server, .. }
            | McpError::Rejected { server, .. }
            | McpError::Protocol { server, .. }
            | McpError::Timeout { server, .. }
            | McpError::UnsupportedTransport { server, .. } => Some(server),
            _ => None,
        }
    }

    /// A copy for each caller that waited on the same server start. Every variant is copied
    /// exactly except the I/O error inside `ConfigRead` (never a start's error), which keeps
    /// its OS error code, or else its kind and message.
    pub(crate) fn copy(&self) -> McpError {
        use McpError as E;
        match self {
            E::ConfigRead { path, source } => E::ConfigRead {
                path: path.clone(),
                source: match source.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(source.kind(), source.to_string()),
                },
            },
            E::ConfigSyntax {
                origin,
                line,
                column,
                message,
            } => E::ConfigSyntax {
                origin: origin.clone(),
                line: *line,
                column: *column,
                message: message.clone(),
            },
            E::ConfigShape { origin, problem } => E::ConfigShape {
                origin: origin.clone(),
                problem: problem.clone(),
            },
            E::ConfigEntry {
                origin,
                server,
                problem,
            } => E::ConfigEntry {
                origin: origin.clone(),
                server: server.clone(),
                problem: problem.clone(),
            },
            E::UnknownServer { server, known } => E::UnknownServer {
                server: server.clone(),
                known: known.clone(),
            },
            E::UnqualifiedTool { tool } => E::UnqualifiedTool { tool: tool.clone() },
            E::InvalidArguments { tool, got } => E::InvalidArguments {
                tool: tool.clone(),
                got,
            },
            E::StartFailed {
                server,
                command,
                reason,
                stderr_tail,
            } => E::StartFailed {
                server: server.clone(),
                command: command.clone(),
                reason: reason.clone(),
                stderr_tail: stderr_tail.clone(),
            },
            E::ConnectFailed {
                server,
                url,
                reason,
            } => E::ConnectFailed {
                server: server.clone(),
                url: url.clone(),
                reason: reason.clone(),
            },
            E::ConnectionLost {
                server,
                operation,
                reason,
            } => E::ConnectionLost {
                server: server.clone(),
                operation: operation.clone(),
                reason: reason.clone(),
            },
            E::Unavailable {
                server,
                attempts,
                reason,
            } => E::Unavailable {
                server: server.clone(),
                attempts: *attempts,
                reason: reason.clone(),
            },
            E::Rejected {
                server,
                operation,
                code,
                message,
            } => E::Rejected {
                server: server.clone(),
                operation: operation.clone(),
                code: *code,
                message: message.clone(),
            },
            E::Protocol {
                server,
                operation,
                problem,
            } => E::Protocol {
                server: server.clone(),
                operation: operation.clone(),
                problem: problem.clone(),
            },
            E::Timeout {
                server,
                operation,
                after,
            } => E::Timeout {
                server: server.clone(),
                operation: operation.clone(),
                after: *after,
            },
            E::UnsupportedTransport { server, transport } => E::UnsupportedTransport {
                server: server.clone(),
                transport,
            },
            E::ShutDown => E::ShutDown,
        }
    }

    /// Converts into the seam error for a call of the qualified `tool`.
    pub fn into_core(self, tool: &str) -> codeward_core::Error {
        use codeward_core::Error;
        match self {
            McpError::Timeout {
                operation, after, ..
            } => Error::Timeout {
                operation: format!("{operation} ({tool})"),
                after,
            },
            McpError::UnknownServer { server, .. } => Error::NotFound {
                kind: "MCP server",
                name: server,
            },
            e @ (McpError::UnqualifiedTool { .. } | McpError::InvalidArguments { .. }) => {
                Error::invalid(format!("tool call {tool}"), e.to_string())
            }
            e @ McpError::UnsupportedTransport { .. } => Error::Unsupported(e.to_string()),
            other => Error::Tool {
                tool: tool.to_owned(),
                message: other.to_string(),
            },
        }
    }
}
