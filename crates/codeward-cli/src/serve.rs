//! `codeward serve`: codeward as an MCP server over stdio, so any MCP client (Claude Desktop,
//! Claude Code, Cursor...) can use code mode over every configured server. Three tools:
//! `search_tools`, `get_tool_api`, `execute_code`. Approvals stay with operators (the CLI).

use std::sync::Arc;

use anyhow::{Context, Result};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer, ServerInitializeError};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

use codeward::{Config, Orchestrator};
use codeward_core::{ExecutionFailure, ExecutionRequest, ExitState, Language, SearchQuery};

use crate::setup;

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
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5, "description": "How many tools to return."}
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
            "description": "Run a short Python or TypeScript program that uses the API from get_tool_api. It runs in an isolated sandbox without network or file access; only the tools are reachable. Say what the program is for in `intent` so the right tools are made available. You get the program's result (set_result / setResult, else its printed output), or the error. If the answer says approval required, an operator must approve the id; then call again with the same code and approval_id.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "The program."},
                    "language": {"type": "string", "enum": ["python", "typescript"], "default": "python"},
                    "intent": {"type": "string", "description": "What the program does, in words (drives which tools it may call)."},
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
}

fn arg_str<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn language(args: &Map<String, Value>) -> Result<Language, String> {
    arg_str(args, "language")
        .unwrap_or("python")
        .parse::<Language>()
        .map_err(|e| e.to_string())
}

fn tool_error(message: impl Into<String>) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message.into())]).into()
}

impl CodewardServer {
    fn search(&self, args: &Map<String, Value>) -> Result<Value, String> {
        let query =
            arg_str(args, "query").ok_or("`query` is required: describe the task in words")?;
        let limit = args
            .get("limit")
            .and_then(Value::as_u64)
            .unwrap_or(5)
            .clamp(1, 50) as usize;
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
        let names: Vec<String> = args
            .get("tools")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            return Err(
                "`tools` must list at least one qualified tool name from search_tools".into(),
            );
        }
        let mut tools = Vec::new();
        for name in &names {
            let tool = self
                .orchestrator
                .index()
                .get(name)
                .ok_or_else(|| format!("no tool `{name}`; use search_tools to find names"))?;
            if !self.orchestrator.serves(&tool) {
                return Err(format!(
                    "`{name}` cannot be called here: no configured MCP server `{}` serves it; \
                     use search_tools to find tools that can",
                    tool.server.as_deref().unwrap_or_default()
                ));
            }
            tools.push(tool);
        }
        let api = self
            .orchestrator
            .generator()
            .generate(&tools, language)
            .map_err(|e| e.to_string())?;
        let signatures_only = args
            .get("signatures_only")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(json!({
            "language": language,
            "module": if signatures_only { api.summary.clone() } else { api.module.clone() },
            "tokens": if signatures_only { api.summary_tokens } else { api.module_tokens },
            "warnings": api.warnings,
        }))
    }

    async fn execute(&self, args: &Map<String, Value>) -> Result<(bool, Value), String> {
        let code = arg_str(args, "code").ok_or("`code` is required")?;
        let language = language(args)?;
        // Without an intent the program text itself drives discovery: tool names in the code
        // (demo.notes_add) match the catalogue's name field.
        let intent = arg_str(args, "intent")
            .map(str::to_owned)
            .unwrap_or_else(|| code.to_owned());
        let mut request = ExecutionRequest::new(intent, language)
            .with_program(code)
            .with_principal("mcp-client")
            .with_tool_limit(10);
        if let Some(id) = arg_str(args, "approval_id") {
            request = request.with_approval(id);
        }
        let outcome = self.orchestrator.execute(request).await;
        let mut value = json!({
            "execution_id": outcome.execution_id,
            "success": outcome.success,
            "result": outcome.output,
            "tools": outcome.summary.tools,
            "tool_calls": outcome.metrics.tool_calls,
            "pii_tokenized": outcome.pii_tokenized,
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

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "search_tools" => self.search(&args).map(|v| (true, v)),
            "get_tool_api" => self.api(&args).map(|v| (true, v)),
            "execute_code" => self.execute(&args).await,
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
    let stale = std::time::Duration::from_secs(config.workspaces.stale_after_secs);
    let janitor = orchestrator.spawn_janitor(stale.max(std::time::Duration::from_secs(60)), stale);
    let server = CodewardServer {
        orchestrator: orchestrator.clone(),
        tools: Arc::new(tool_definitions()?),
    };
    match server.serve(rmcp::transport::stdio()).await {
        // The client closing stdin ends the session; a transport error ends it the same way.
        Ok(running) => {
            if let Err(e) = running.waiting().await {
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
            let _ = orchestrator
                .shutdown(std::time::Duration::from_secs(10))
                .await;
            pool.shutdown().await;
            return Err(anyhow::Error::new(e).context("starting the MCP server on stdio"));
        }
    }
    let closed = orchestrator
        .shutdown(std::time::Duration::from_secs(10))
        .await;
    janitor.abort();
    pool.shutdown().await;
    // Programs may have run in this session: a failure closing the log is internal, not 4.
    closed.map_err(|e| crate::exit::Failure::after_run(e.into()))?;
    Ok(crate::exit::Exit::Success)
}
