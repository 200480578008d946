//! The MCP side: tool definitions from the bundled catalogue and `tools/call` dispatch.
//! Results carry `structuredContent` (as every tool declares an output schema) plus the same
//! JSON as text for clients that only read text.

use crate::error::{DemoError, Result};
use crate::files::Root;
use crate::notes::NotesStore;
use crate::text::text_stats;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// The tool definitions, byte for byte those of the discovery catalogue (a test checks).
const TOOLS_JSON: &str = include_str!("tools.json");

/// Where the server keeps and finds things.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DemoOptions {
    /// The folder the `files_*` tools are confined to.
    pub root: PathBuf,
    /// The folder holding `notes.json`.
    pub data_dir: PathBuf,
}

impl DemoOptions {
    /// Options with a root folder and a data directory.
    pub fn new(root: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        DemoOptions {
            root: root.into(),
            data_dir: data_dir.into(),
        }
    }
}

/// The tool definitions the server publishes, parsed from the bundled catalogue.
pub fn tools() -> Result<Vec<Tool>> {
    let parse = |e: serde_json::Error| {
        DemoError::io(
            "parsing the bundled tool catalogue",
            std::io::Error::other(e),
        )
    };
    let doc: Value = serde_json::from_str(TOOLS_JSON).map_err(parse)?;
    let list = doc
        .get("tools")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    serde_json::from_value(list).map_err(parse)
}

/// The demo MCP server: notes, files under a root, text statistics.
#[derive(Debug, Clone)]
pub struct DemoServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: Root,
    notes: NotesStore,
    tools: Vec<Tool>,
}

impl DemoServer {
    /// Opens the notes store and checks the root folder.
    pub fn new(options: &DemoOptions) -> Result<Self> {
        Ok(DemoServer {
            inner: Arc::new(Inner {
                root: Root::new(&options.root)?,
                notes: NotesStore::open(&options.data_dir)?,
                tools: tools()?,
            }),
        })
    }

    /// The published tool definitions.
    pub fn tool_definitions(&self) -> &[Tool] {
        &self.inner.tools
    }

    /// Calls a tool directly (no transport): the structured result, or the error the
    /// client would see as an `isError` result.
    pub async fn call(&self, tool: &str, arguments: Map<String, Value>) -> Result<Value> {
        let inner = Arc::clone(&self.inner);
        let tool = tool.to_owned();
        // File walks and fsyncs block; keep them off the thread that answers the protocol.
        tokio::task::spawn_blocking(move || inner.dispatch(&tool, arguments))
            .await
            .map_err(|e| DemoError::io("running the tool", std::io::Error::other(e)))?
    }
}

impl Inner {
    fn dispatch(&self, tool: &str, args: Map<String, Value>) -> Result<Value> {
        match tool {
            "notes_add" => {
                let a: NotesAdd = parse(tool, args)?;
                let len = a.title.chars().count();
                if !(1..=200).contains(&len) {
                    return Err(DemoError::args(
                        tool,
                        format!("title must have 1 to 200 characters, got {len}"),
                    ));
                }
                to_value(self.notes.add(a.title, a.body, a.tags)?)
            }
            "notes_list" => {
                let a: NotesList = parse(tool, args)?;
                let limit = in_range(tool, "limit", a.limit, 1, 100)?;
                let (notes, total) = self.notes.list(a.tag.as_deref(), limit);
                Ok(json!({ "notes": notes, "total": total }))
            }
            "notes_search" => {
                let a: NotesSearch = parse(tool, args)?;
                if a.query.trim().is_empty() {
                    return Err(DemoError::args(
                        tool,
                        "query must contain at least one word",
                    ));
                }
                let limit = in_range(tool, "limit", a.limit, 1, 100)?;
                Ok(json!({ "matches": self.notes.search(&a.query, limit) }))
            }
            "notes_get" => {
                let a: NoteId = parse(tool, args)?;
                to_value(self.notes.get(&a.id)?)
            }
            "notes_delete" => {
                let a: NoteId = parse(tool, args)?;
                let deleted = self.notes.delete(&a.id)?;
                Ok(json!({ "deleted": deleted, "id": a.id }))
            }
            "files_list" => {
                let a: FilesList = parse(tool, args)?;
                Ok(json!({ "entries": self.root.list(&a.path, a.recursive)? }))
            }
            "files_read" => {
                let a: FilesRead = parse(tool, args)?;
                let max = in_range(tool, "max_bytes", a.max_bytes, 1, i64::MAX)?;
                to_value(self.root.read(&a.path, max as u64)?)
            }
            "files_search" => {
                let a: FilesSearch = parse(tool, args)?;
                if a.pattern.is_empty() {
                    return Err(DemoError::args(tool, "pattern must not be empty"));
                }
                let max = in_range(tool, "max_results", a.max_results, 1, i64::MAX)?;
                to_value(self.root.search(&a.pattern, &a.path, a.regex, max)?)
            }
            "text_stats" => {
                let a: TextStatsArgs = parse(tool, args)?;
                let top = in_range(tool, "top", a.top, 0, 50)?;
                to_value(text_stats(&a.text, top))
            }
            other => Err(DemoError::UnknownTool(other.to_owned())),
        }
    }
}

fn parse<T: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(args)).map_err(|e| DemoError::args(tool, e.to_string()))
}

fn in_range(tool: &str, field: &str, value: i64, min: i64, max: i64) -> Result<usize> {
    if value < min || value > max {
        return Err(DemoError::args(
            tool,
            format!("{field} must be between {min} and {max}, got {value}"),
        ));
    }
    usize::try_from(value)
        .map_err(|_| DemoError::args(tool, format!("{field} is too large: {value}")))
}

fn to_value(value: impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| DemoError::io("encoding the result", std::io::Error::other(e)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotesAdd {
    title: String,
    body: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotesList {
    tag: Option<String>,
    #[serde(default = "twenty")]
    limit: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotesSearch {
    query: String,
    #[serde(default = "twenty")]
    limit: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteId {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesList {
    #[serde(default = "dot")]
    path: String,
    #[serde(default)]
    recursive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesRead {
    path: String,
    #[serde(default = "one_mib")]
    max_bytes: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesSearch {
    pattern: String,
    #[serde(default = "dot")]
    path: String,
    #[serde(default)]
    regex: bool,
    #[serde(default = "hundred")]
    max_results: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextStatsArgs {
    text: String,
    #[serde(default = "five")]
    top: i64,
}

fn twenty() -> i64 {
    20
}
fn hundred() -> i64 {
    100
}
fn five() -> i64 {
    5
}
fn one_mib() -> i64 {
    1 << 20
}
fn dot() -> String {
    ".".into()
}

impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "codeward-demo-server",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Offline demo tools: a notes store (notes_*), read-only access to files under \
                 one root folder (files_*), and text statistics (text_stats).",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.inner.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        match self.call(&request.name, arguments).await {
            Ok(value) => Ok(CallToolResult::structured(value).into()),
            // An unknown tool is a protocol-level mistake; everything else is a tool error the
            // model can read and correct (MCP's advice for argument problems too).
            Err(e @ DemoError::UnknownTool(_)) => {
                Err(ErrorData::invalid_params(e.to_string(), None))
            }
            Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into()),
        }
    }
}
