//! Tool descriptions as MCP servers publish them, normalized for every layer.
//! `ToolSchema` is what discovery finds, codegen turns into code and the sandbox allows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// MCP tool annotations (hints, not guarantees: a server may lie).
///
/// Absent hints take the MCP defaults: not read-only, destructive, not idempotent, open world.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolAnnotations {
    /// The tool does not modify its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// The tool may perform destructive updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Calling the tool twice with the same arguments has no further effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// The tool talks to an open world of external entities (the web, email...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    /// Hints for a read-only, closed-world tool.
    pub fn read_only() -> Self {
        ToolAnnotations {
            read_only_hint: Some(true),
            destructive_hint: Some(false),
            idempotent_hint: Some(true),
            open_world_hint: Some(false),
        }
    }

    /// Whether the tool is read-only (MCP default: false).
    pub fn is_read_only(&self) -> bool {
        self.read_only_hint.unwrap_or(false)
    }

    /// Whether the tool may destroy data (MCP default: true unless read-only).
    pub fn is_destructive(&self) -> bool {
        !self.is_read_only() && self.destructive_hint.unwrap_or(true)
    }

    /// Whether repeated calls are harmless (MCP default: false; read-only implies it).
    pub fn is_idempotent(&self) -> bool {
        self.is_read_only() || self.idempotent_hint.unwrap_or(false)
    }

    /// Whether the tool reaches outside systems (MCP default: true).
    pub fn is_open_world(&self) -> bool {
        self.open_world_hint.unwrap_or(true)
    }
}

/// One tool: its identity, its contract and its hints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolSchema {
    /// The tool's name on the wire, exactly as its server spells it.
    pub name: String,
    /// The server (or catalogue source) that provides it; the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// A human title, if the server gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Value,
    /// JSON Schema of the structured result, if declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// MCP behaviour hints.
    #[serde(default)]
    pub annotations: ToolAnnotations,
    /// A catalogue category (`filesystem`, `notes`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Example invocations (argument objects), used in generated docs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Value>,
}

impl ToolSchema {
    /// A tool with a name, a description and an input schema; everything else empty.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
    ) -> Self {
        ToolSchema {
            name: name.into(),
            server: None,
            title: None,
            description: description.into(),
            input_schema,
            output_schema: None,
            annotations: ToolAnnotations::default(),
            category: None,
            examples: Vec::new(),
        }
    }

    /// Sets the providing server (the namespace).
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// Sets the category.
    pub fn with_category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }

    /// Sets the annotations.
    pub fn with_annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.annotations = annotations;
        self
    }

    /// Sets the output schema.
    pub fn with_output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// `server.tool`, or the bare name when the tool has no server.
    pub fn qualified_name(&self) -> String {
        match &self.server {
            Some(server) => format!("{server}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A tool call as the program asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The execution the call belongs to.
    pub execution_id: String,
    /// Call number within the execution, from 1.
    pub index: u32,
    /// Qualified tool name (`server.tool`).
    pub tool: String,
    /// Arguments as sent.
    pub arguments: Value,
}

impl ToolCall {
    /// A call of `tool` with `arguments`, number `index` in `execution_id`.
    pub fn new(
        execution_id: impl Into<String>,
        index: u32,
        tool: impl Into<String>,
        arguments: Value,
    ) -> Self {
        ToolCall {
            execution_id: execution_id.into(),
            index,
            tool: tool.into(),
            arguments,
        }
    }
}

/// The result of a tool call, mapped from MCP `CallToolResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolResult {
    /// The value handed to the program: structured content when the server gave it,
    /// otherwise the text (parsed when it is JSON).
    pub value: Value,
    /// The server flagged the result as an error (`isError`).
    pub is_error: bool,
}

impl ToolResult {
    /// A successful result.
    pub fn ok(value: Value) -> Self {
        ToolResult {
            value,
            is_error: false,
        }
    }

    /// An error result carrying the server's message.
    pub fn error(message: impl Into<String>) -> Self {
        ToolResult {
            value: Value::String(message.into()),
            is_error: true,
        }
    }
}
