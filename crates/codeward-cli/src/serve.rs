//! `codeward serve`: codeward as an MCP server over stdio, so any MCP client (Claude Desktop,
//! Claude Code, Cursor...) can use code mode over every configured server. Three tools:
//! `search_tools`, `get_tool_api`, `execute_code`. Approvals stay with operators (the CLI).

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelledNotificationParam,
    ContentBlock, Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, ServerInitializeError};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

use codeward::{Config, Orchestrator};
use codeward_core::{
    ExecutionFailure, ExecutionRequest, ExitState, Language, SearchQuery, ToolSchema,
};

use crate::setup;

/// The largest program `execute_code` accepts. Validation and risk scoring walk the whole
/// program: a 10 MB one took 30 s and 700 MB. The agent's programs are short glue code.
const MAX_CODE_BYTES: usize = 256 * 1024;

/// `search_tools`' `limit`: its default and the accepted range.
const DEFAULT_LIMIT: u64 = 5;
const MAX_LIMIT: u64 = 50;

const INSTRUCTIONS: &str = "codeward gives you code mode over many MCP tools. Instead of calling tools one \
by one, (1) call search_tools with what you need, (2) call get_tool_api for the tools you picked to get a \
typed Python or TypeScript API, (3) write one short program against that API and run it with \
execute_code. The program runs in an isolated sandbox; every tool call is relayed to the real server and \
audited; personal data in results comes back as tokens like [EMAIL_1]. High-risk programs are held for an \
operator's approval: execute_code then answers with an approval id.";

fn tool_definitions() -> Result<Vec<Tool>> {
    let tools = json!([
        {
            "name": "search_tools",
            "title": "Search the tool catalogue",
            "description": "Find the tools for a task. Describe the task in plain words (for example 'read a file and count its words'); you get the best matching tools with their qualified names (server.tool), descriptions and whether they are read-only or destructive. Use the names with get_tool_api.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What you want to do, in words."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT, "description": "How many tools to return."}
                },
                "required": ["query"]
            },
            "annotations": {"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false}
        },
        {
            "name": "get_tool_api",
            "title": "Get a typed API for tools",
            "description": "Get the typed code API for the tools you will use, as a Python or TypeScript module. Your program imports it: Python `from codeward_api import <server>, set_result`, TypeScript `import { <server>, setResult } from \"./codeward_api\"`. Functions are grouped by server (demo.notes_add in Python, demo.notesAdd in TypeScript; TypeScript functions are async). Call set_result/setResult with the value you want back.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "tools": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Qualified tool names from search_tools, e.g. demo.notes_add."},
                    "language": {"type": "string", "enum": ["python", "typescript"], "default": "python"},
                    "signatures_only": {"type": "boolean", "default": false, "description": "Only the signatures (fewer tokens)."}
                },
                "required": ["tools"]
            },
            "annotations": {"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false}
        },
        {
            "name": "execute_code",
            "title": "Run a program against the tool API",
            "description": "Run a short Python or TypeScript program that uses the API from get_tool_api. It runs in an isolated sandbox without network or file access; only the tools are reachable. Pass the tools you got the API for in `tools` (else say what the program is for in `intent` so the right tools are found). You get the program's result (set_result / setResult, else its printed output), or the error. If the answer says approval required, an operator must approve the id; then call again with the same code and approval_id.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": format!("The program (at most {} KiB).", MAX_CODE_BYTES / 1024)},
                    "language": {"type": "string", "enum": ["python", "typescript"], "default": "python"},
                    "tools": {"type": "array", "items": {"type": "string"}, "description": "The qualified tool names the program calls, as passed to get_tool_api; the program gets exactly their API."},
                    "intent": {"type": "string", "description": "What the program does, in words (drives which tools it may call when `tools` is not given)."},
                    "approval_id": {"type": "string", "description": "The approval id an operator approved for exactly this code."}
                },
                "required": ["code"]
            },
            "annotations": {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true}
        }
    ]);
    serde_json::from_value(tools).context("the serve tool definitions")
}

/// The MCP server handler.
#[derive(Clone)]
struct CodewardServer {
    orchestrator: Orchestrator,
    tools: Arc<Vec<Tool>>,
    session: Arc<Session>,
    /// The approval store's absolute path: an operator's `codeward approvals` must use the
    /// same one, which a relative data directory would not give them from another directory.
    approvals_file: String,
}

/// What the exit status needs to know about the session's executions.
#[derive(Default)]
struct Session {
    /// Requests the client cancelled (`notifications/cancelled`).
    cancelled_by_client: Mutex<HashSet<String>>,
    /// `execute_code` requests whose execution ended cancelled: by the client, or by the end
    /// of the session (rmcp cancels the requests still running when the client goes away).
    ended_cancelled: Mutex<Vec<String>>,
}

impl Session {
    /// Executions stopped because the session ended, not because the client asked.
    fn cut_short(&self) -> usize {
        let by_client = self
            .cancelled_by_client
            .lock()
            .map(|ids| ids.clone())
            .unwrap_or_default();
        self.ended_cancelled
            .lock()
            .map(|ids| ids.iter().filter(|id| !by_client.contains(*id)).count())
            .unwrap_or_default()
    }
}

/// A JSON value as an error message shows it: its type, and short values themselves.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    let text = if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    };
    let kind = match value {
        Value::Null => return "null".into(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{kind}, {text}")
}

/// A string argument: `None` when absent or null, an error naming it when it is not a string.
fn arg_str<'a>(args: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!("`{key}` must be a string, got {}", shown(other))),
    }
}

fn language(args: &Map<String, Value>) -> Result<Language, String> {
    arg_str(args, "language")?
        .unwrap_or("python")
        .parse::<Language>()
        .map_err(|e| format!("`language`: {e}"))
}

fn tool_error(message: impl Into<String>) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message.into())]).into()
}

/// The `tools` argument: qualified tool names (none when absent).
fn tool_names(args: &Map<String, Value>) -> Result<Vec<String>, String> {
    let items = match args.get("tools") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "`tools` must be an array of qualified tool names, got {}",
                shown(other)
            ));
        }
    };
    if items.len() > MAX_LIMIT as usize {
        return Err(format!(
            "`tools` lists {} names; at most {MAX_LIMIT} (as many as search_tools returns)",
            items.len()
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = item.as_str().ok_or_else(|| {
            format!(
                "`tools[{i}]` must be a qualified tool name (a string), got {}",
                shown(item)
            )
        })?;
        if names.iter().any(|n| n == name) {
            return Err(format!(
                "`tools[{i}]`: `{name}` is listed twice; list each tool once"
            ));
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

impl CodewardServer {
    /// The catalogue's tool `name`, if a configured server serves it.
    fn served_tool(&self, name: &str) -> Result<ToolSchema, String> {
        self.orchestrator
            .served_tool(name)
            .map_err(|e| format!("{e}; use search_tools to find tools that can"))
    }

    fn search(&self, args: &Map<String, Value>) -> Result<Value, String> {
        let query =
            arg_str(args, "query")?.ok_or("`query` is required: describe the task in words")?;
        let limit = match args.get("limit") {
            None | Some(Value::Null) => DEFAULT_LIMIT,
            Some(value) => value
                .as_u64()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    format!(
                        "`limit` must be an integer from 1 to {MAX_LIMIT}, got {}",
                        shown(value)
                    )
                })?,
        } as usize;
        // Only tools a configured server serves: the others could only fail when called.
        let hits = self
            .orchestrator
            .discover(&SearchQuery::new(query, limit))
            .map_err(|e| e.to_string())?;
        let tools: Vec<Value> = hits
            .iter()
            .map(|h| {
                json!({
                    "name": h.tool.qualified_name(),
                    "description": h.tool.description,
                    "score": h.score,
                    "read_only": h.tool.annotations.is_read_only(),
                    "destructive": h.tool.annotations.is_destructive(),
                })
            })
            .collect();
        Ok(json!({"tools": tools}))
    }

    fn api(&self, args: &Map<String, Value>) -> Result<Value, String> {
        let language = language(args)?;
        let names = tool_names(args)?;
        if names.is_empty() {
            return Err(
                "`tools` must list at least one qualified tool name from search_tools".into(),
            );
        }
        let mut tools = Vec::new();
        for name in &names {
            tools.push(self.served_tool(name)?);
        }
        let api = self
            .orchestrator
            .generator()
            .generate(&tools, language)
            .map_err(|e| e.to_string())?;
        let signatures_only = match args.get("signatures_only") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(only)) => *only,
            Some(other) => {
                return Err(format!(
                    "`signatures_only` must be true or false, got {}",
                    shown(other)
                ));
            }
        };
        Ok(json!({
            "language": language,
            "module": if signatures_only { api.summary.clone() } else { api.module.clone() },
            "tokens": if signatures_only { api.summary_tokens } else { api.module_tokens },
            "warnings": api.warnings,
        }))
    }

    /// Runs the program; `cancelled` completing (the client cancelled the request, or left)
    /// stops it: the orchestrator kills it and records the cancellation.
    async fn execute(
        &self,
        args: &Map<String, Value>,
        cancelled: impl Future<Output = ()> + Send,
        request_id: String,
    ) -> Result<(bool, Value), String> {
        let code = arg_str(args, "code")?.ok_or("`code` is required")?;
        if code.len() > MAX_CODE_BYTES {
            return Err(format!(
                "`code` is {} bytes; execute_code accepts at most {MAX_CODE_BYTES} bytes ({} KiB): \
                 split the work into smaller programs",
                code.len(),
                MAX_CODE_BYTES / 1024
            ));
        }
        let language = language(args)?;
        // Without an intent the program text itself drives discovery: tool names in the code
        // (demo.notes_add) match the catalogue's name field.
        let intent = arg_str(args, "intent")?
            .map(str::to_owned)
            .unwrap_or_else(|| code.to_owned());
        let approval_id = arg_str(args, "approval_id")?;
        // Tools the model picked (from search_tools / get_tool_api) replace discovery, so the
        // program gets exactly the API it was written against.
        let chosen = tool_names(args)?;
        for name in &chosen {
            self.served_tool(name)?;
        }
        let mut request = ExecutionRequest::new(intent, language)
            .with_program(code)
            .with_principal("mcp-client")
            .with_tool_limit(10)
            .with_tools(chosen);
        if let Some(id) = approval_id {
            request = request.with_approval(id);
        }
        let outcome = self
            .orchestrator
            .execute_cancellable(request, cancelled)
            .await;
        if Orchestrator::was_cancelled(&outcome)
            && let Ok(mut ended) = self.session.ended_cancelled.lock()
        {
            ended.push(request_id);
        }
        let mut value = json!({
            "execution_id": outcome.execution_id,
            "success": outcome.success,
            "result": outcome.output,
            "tools": outcome.summary.tools,
            "tool_calls": outcome.metrics.tool_calls,
            "pii_tokenized": outcome.pii_tokenized,
            // A cached answer repeats an earlier run's result (and its tool_calls).
            "cached": outcome.cached,
        });
        if let Some(failure) = &outcome.error {
            value["error"] = json!(failure.to_string());
            // How a program that ran ended (exit status or signal, the limit it hit).
            if outcome.metrics.exit != ExitState::Unknown {
                value["exit"] = json!(outcome.metrics.exit);
                value["limit_hit"] = json!(outcome.metrics.limit_hit);
            }
            if let ExecutionFailure::ApprovalRequired { approval_id } = failure {
                value["approval_required"] = json!(approval_id);
                value["next_step"] = json!(format!(
                    "approval required: an operator must run `codeward approvals approve {approval_id}`; then call execute_code again with the same code and approval_id"
                ));
                // Where the request is goes to the operator (stderr), not to the model: an
                // agent with a shell should not be handed the recipe to approve itself.
                eprintln!(
                    "codeward serve: approval {approval_id} is waiting in {}: review it with \
                     `codeward approvals show {approval_id}` using that store (the same data \
                     directory)",
                    self.approvals_file
                );
            }
        }
        Ok((outcome.success, value))
    }
}

impl ServerHandler for CodewardServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("codeward", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        _context: NotificationContext<RoleServer>,
    ) {
        // rmcp has already cancelled the request's token; this only tells the exit status
        // that the client asked for it.
        if let (Some(id), Ok(mut ids)) = (
            notification.request_id,
            self.session.cancelled_by_client.lock(),
        ) {
            ids.insert(id.to_string());
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "search_tools" => self.search(&args).map(|v| (true, v)),
            "get_tool_api" => self.api(&args).map(|v| (true, v)),
            "execute_code" => {
                let ct = context.ct.clone();
                let cancelled = async move { ct.cancelled().await };
                self.execute(&args, cancelled, context.id.to_string()).await
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool `{other}`"),
                    None,
                ));
            }
        };
        Ok(match result {
            Ok((true, value)) => CallToolResult::structured(value).into(),
            Ok((false, value)) => {
                let mut r = CallToolResult::structured(value);
                r.is_error = Some(true);
                r.into()
            }
            Err(message) => tool_error(message),
        })
    }
}

/// Serves over stdin/stdout until the client disconnects, then shuts down cleanly.
pub async fn serve(config: &Config) -> Result<crate::exit::Exit> {
    let pool = setup::mcp_pool(config)?;
    let orchestrator = setup::orchestrator(config, &pool).await?;
    let stale = Duration::from_secs(config.workspaces.stale_after_secs);
    let janitor = orchestrator.spawn_janitor(stale.max(Duration::from_secs(60)), stale);
    let server = CodewardServer {
        orchestrator: orchestrator.clone(),
        tools: Arc::new(tool_definitions()?),
        session: Arc::default(),
        approvals_file: std::path::absolute(config.approvals_file())
            .unwrap_or_else(|_| config.approvals_file())
            .display()
            .to_string(),
    };
    let session = server.session.clone();
    // SIGTERM, SIGINT or SIGHUP (a client stopping its server, an operator's Ctrl-C) end the
    // session like the client leaving, but without waiting for runs: they are cancelled at
    // once and recorded before the process exits (a signal's default action lost them).
    let mut signalled = None;
    match server.serve(rmcp::transport::stdio()).await {
        // The client closing stdin ends the session; a transport error ends it the same way.
        Ok(running) => {
            let token = running.cancellation_token();
            let waiting = running.waiting();
            tokio::pin!(waiting);
            let ended = tokio::select! {
                ended = &mut waiting => ended,
                name = crate::exit::stop_signal() => {
                    signalled = Some(name);
                    token.cancel();
                    waiting.await
                }
            };
            if let Err(e) = ended {
                tracing::warn!(error = %e, "the MCP session ended with an error");
            }
        }
        // A client that goes away before initializing (stdin at its end) is not our failure:
        // there was no session, so nothing ran.
        Err(ServerInitializeError::ConnectionClosed(during)) => {
            eprintln!(
                "codeward serve: the client closed the connection before initializing ({during}); \
                 no session was served"
            );
        }
        Err(e) => {
            janitor.abort();
            let _ = orchestrator.shutdown(Duration::from_secs(10)).await;
            pool.shutdown().await;
            return Err(anyhow::Error::new(e).context("starting the MCP server on stdio"));
        }
    }
    // When the client leaves, rmcp cancels the requests still running (after a few seconds
    // to let them answer): their programs are stopped and recorded as cancelled. Anything
    // else still running gets as long as a run may take, then shutdown cancels it too.
    let deadline = match signalled {
        Some(name) => {
            eprintln!("codeward serve: {name} received; stopping the runs still going");
            Duration::ZERO
        }
        None => config.limits.to_limits().timeout + Duration::from_secs(5),
    };
    let closed = orchestrator.shutdown(deadline).await;
    janitor.abort();
    pool.shutdown().await;
    // Programs may have run in this session: a failure closing the log is internal, not 4.
    let cancelled_at_shutdown = closed.map_err(|e| crate::exit::Failure::after_run(e.into()))?;
    let cut_short = cancelled_at_shutdown + session.cut_short();
    if cut_short > 0 {
        return Err(crate::exit::Failure::after_run(anyhow::anyhow!(
            "{cut_short} execution(s) were still running when the client closed the session; \
             they were stopped and recorded as cancelled (see `codeward audit tail`)"
        )));
    }
    Ok(crate::exit::Exit::Success)
}
