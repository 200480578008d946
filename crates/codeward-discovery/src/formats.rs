//! Parsers for the two catalogue file formats, normalizing both to `ToolSchema`.
//! Seed format: `{name, description, parameters, returns, examples}`; MCP: `tools/list` output.

use std::collections::BTreeSet;

use codeward_core::{ToolAnnotations, ToolSchema};
use serde_json::{Map, Value, json};

use crate::report::{LoadProblem, LoadReport, LoadedTool, ProblemKind};

/// `_meta` key (MCP allows vendor keys there) under which a tool may name its category.
pub const CATEGORY_META_KEY: &str = "codeward/category";

const MAX_NAME_CHARS: usize = 128;

/// Parses JSON text, or reports it as malformed with line and column.
fn parse_json(text: &str, origin: &str, report: &mut LoadReport) -> Option<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Some(value),
        Err(e) => {
            report.problems.push(
                LoadProblem::new(
                    origin,
                    ProblemKind::Malformed,
                    format!("not valid JSON: {e}; fix the file, the other files still load"),
                )
                .at(e.line(), e.column()),
            );
            None
        }
    }
}

/// Checks a server (namespace) name: non-empty, no `.` (it separates server and tool), no
/// whitespace or control characters.
pub(crate) fn check_server_name(server: &str) -> Result<(), String> {
    if server.is_empty() {
        return Err("the server name is empty".into());
    }
    if server.contains('.') {
        return Err(format!(
            "the server name {server:?} contains '.', which separates server and tool; rename it"
        ));
    }
    if server.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the server name {server:?} contains whitespace or control characters"
        ));
    }
    Ok(())
}

/// Checks a tool name as MCP recommends: 1 to 128 characters, no whitespace or control chars.
pub(crate) fn check_tool_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the tool name is empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "the tool name is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the tool name {name:?} contains whitespace or control characters"
        ));
    }
    Ok(())
}

/// Checks a whole tool before it enters the index.
pub(crate) fn check_tool(tool: &ToolSchema) -> Result<(), String> {
    check_tool_name(&tool.name)?;
    if let Some(server) = &tool.server {
        check_server_name(server)?;
    }
    if !tool.input_schema.is_object() {
        return Err("the input schema is not a JSON object; give an object schema".into());
    }
    Ok(())
}

/// Collects tools of one source, reporting names that repeat within it.
struct Collector<'a> {
    report: &'a mut LoadReport,
    seen: BTreeSet<String>,
}

impl<'a> Collector<'a> {
    fn new(report: &'a mut LoadReport) -> Self {
        let seen = report
            .tools
            .iter()
            .map(|t| t.tool.qualified_name())
            .collect();
        Collector { report, seen }
    }

    fn push(&mut self, tool: ToolSchema, origin: &str) {
        let qualified = tool.qualified_name();
        if !self.seen.insert(qualified.clone()) {
            let first = self
                .report
                .tools
                .iter()
                .find(|t| t.tool.qualified_name() == qualified)
                .map(|t| t.origin.clone())
                .unwrap_or_default();
            self.report.problems.push(
                LoadProblem::new(
                    origin,
                    ProblemKind::Duplicate,
                    format!("defined twice in this source (first in {first}); the first one is kept, rename or remove the other"),
                )
                .tool(qualified),
            );
            return;
        }
        self.report.tools.push(LoadedTool::new(tool, origin));
    }
}

fn string_field<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    object.get(key).and_then(Value::as_str)
}

/// The name of a tool object, or the problem to report.
fn tool_name(
    object: &Map<String, Value>,
    origin: &str,
    position: usize,
) -> Result<String, LoadProblem> {
    match object.get("name") {
        None | Some(Value::Null) => Err(LoadProblem::new(
            origin,
            ProblemKind::MissingName,
            "has no \"name\"; every tool needs one",
        )
        .tool(format!("#{position}"))),
        Some(Value::String(name)) => check_tool_name(name).map(|()| name.clone()).map_err(|p| {
            LoadProblem::new(origin, ProblemKind::InvalidName, p).tool(format!("#{position}"))
        }),
        Some(other) => Err(LoadProblem::new(
            origin,
            ProblemKind::InvalidName,
            format!("\"name\" must be a string, found {}", kind_of(other)),
        )
        .tool(format!("#{position}"))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A parsed tool and the warnings it raised, or the problem that left it out.
type Parsed = Result<(ToolSchema, Vec<LoadProblem>), LoadProblem>;

/// Parses each item of a file with `parse`, collecting tools, warnings and problems.
fn collect_tools(
    report: &mut LoadReport,
    origin: &str,
    items: Vec<Value>,
    parse: impl Fn(Value, usize) -> Parsed,
) {
    let mut collector = Collector::new(report);
    for (position, item) in items.into_iter().enumerate() {
        match parse(item, position) {
            Ok((tool, warnings)) => {
                collector.report.problems.extend(warnings);
                collector.push(tool, origin);
            }
            Err(problem) => collector.report.problems.push(problem),
        }
    }
}

/// A tool item as an object, with its name and qualified name.
fn tool_object(
    item: Value,
    origin: &str,
    position: usize,
    server: &str,
) -> Result<(Map<String, Value>, String, String), LoadProblem> {
    let Value::Object(object) = item else {
        return Err(LoadProblem::new(
            origin,
            ProblemKind::UnexpectedShape,
            format!("tool #{position} is {}, not an object", kind_of(&item)),
        ));
    };
    let name = tool_name(&object, origin, position)?;
    let qualified = format!("{server}.{name}");
    Ok((object, name, qualified))
}

// ---------------------------------------------------------------- seed format

/// Parses one seed-format file: an array of tools, or one tool object.
/// `category` comes from the directory, `server` from the file name.
pub fn parse_seed(
    text: &str,
    origin: &str,
    server: &str,
    category: Option<&str>,
    report: &mut LoadReport,
) {
    report.files += 1;
    let Some(value) = parse_json(text, origin, report) else {
        return;
    };
    if let Err(problem) = check_server_name(server) {
        report
            .problems
            .push(LoadProblem::new(origin, ProblemKind::InvalidName, problem));
        return;
    }
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        other => {
            report.problems.push(LoadProblem::new(
                origin,
                ProblemKind::UnexpectedShape,
                format!(
                    "expected an array of tools or one tool object, found {}",
                    kind_of(&other)
                ),
            ));
            return;
        }
    };
    collect_tools(report, origin, items, |item, position| {
        seed_tool(item, origin, position, server, category)
    });
}

fn seed_tool(
    item: Value,
    origin: &str,
    position: usize,
    server: &str,
    category: Option<&str>,
) -> Parsed {
    let (object, name, qualified) = tool_object(item, origin, position, server)?;
    let mut warnings = Vec::new();
    let description = string_field(&object, "description").unwrap_or_default();
    let input_schema =
        seed_parameters(object.get("parameters"), origin, &qualified, &mut warnings)?;
    let category = string_field(&object, "category").or(category);
    let mut tool = ToolSchema::new(name, description, input_schema).with_server(server);
    if let Some(category) = category {
        tool = tool.with_category(category);
    }
    match object.get("returns") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => tool = tool.with_output_schema(json!({"description": text})),
        Some(Value::Object(schema)) => {
            let mut schema = schema.clone();
            normalize_type(&mut schema);
            tool = tool.with_output_schema(Value::Object(schema));
        }
        Some(other) => warnings.push(
            LoadProblem::new(
                origin,
                ProblemKind::InvalidSchema,
                format!(
                    "\"returns\" is {}, expected a string or an object; ignored",
                    kind_of(other)
                ),
            )
            .tool(&qualified)
            .kept(),
        ),
    }
    if let Some(examples) = object.get("examples") {
        match examples {
            Value::Array(items) => tool.examples = items.iter().map(seed_example).collect(),
            other => warnings.push(
                LoadProblem::new(
                    origin,
                    ProblemKind::InvalidSchema,
                    format!(
                        "\"examples\" is {}, expected an array; ignored",
                        kind_of(other)
                    ),
                )
                .tool(&qualified)
                .kept(),
            ),
        }
    }
    Ok((tool, warnings))
}

/// Seed examples are argument objects, or `{input|arguments|args: {...}, output: ...}`.
fn seed_example(example: &Value) -> Value {
    ["input", "arguments", "args"]
        .iter()
        .find_map(|key| example.get(key).filter(|v| v.is_object()))
        .unwrap_or(example)
        .clone()
}

/// Maps seed type names to JSON Schema types.
fn json_schema_type(seed_type: &str) -> Option<&'static str> {
    Some(match seed_type.to_ascii_lowercase().as_str() {
        "string" | "str" | "text" | "date" | "datetime" | "date-time" => "string",
        "number" | "float" | "double" | "decimal" => "number",
        "integer" | "int" | "long" => "integer",
        "boolean" | "bool" => "boolean",
        "array" | "list" => "array",
        "object" | "dict" | "map" | "json" => "object",
        "null" => "null",
        _ => return None,
    })
}

fn normalize_type(schema: &mut Map<String, Value>) {
    if let Some(Value::String(t)) = schema.get("type")
        && let Some(mapped) = json_schema_type(t)
    {
        schema.insert("type".into(), Value::String(mapped.into()));
    }
}

/// Builds an object input schema from seed `parameters`.
fn seed_parameters(
    parameters: Option<&Value>,
    origin: &str,
    qualified: &str,
    warnings: &mut Vec<LoadProblem>,
) -> Result<Value, LoadProblem> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let params = match parameters {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(params)) => params,
        // Some catalogues already give a JSON Schema here: take it as the input schema.
        Some(Value::Object(schema))
            if schema.get("type").and_then(Value::as_str) == Some("object") =>
        {
            return Ok(Value::Object(schema.clone()));
        }
        Some(other) => {
            return Err(LoadProblem::new(
                origin,
                ProblemKind::InvalidSchema,
                format!(
                    "\"parameters\" is {}, expected an array of {{name, type, description, required, default}}",
                    kind_of(other)
                ),
            )
            .tool(qualified));
        }
    };
    for (position, param) in params.iter().enumerate() {
        let Some(object) = param.as_object() else {
            return Err(LoadProblem::new(
                origin,
                ProblemKind::InvalidSchema,
                format!("parameter #{position} is {}, not an object", kind_of(param)),
            )
            .tool(qualified));
        };
        let Some(name) = string_field(object, "name").filter(|n| !n.is_empty()) else {
            return Err(LoadProblem::new(
                origin,
                ProblemKind::InvalidSchema,
                format!("parameter #{position} has no \"name\""),
            )
            .tool(qualified));
        };
        let mut property = Map::new();
        match object.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) => match json_schema_type(t) {
                Some(mapped) => {
                    property.insert("type".into(), Value::String(mapped.into()));
                }
                None => warnings.push(
                    LoadProblem::new(
                        origin,
                        ProblemKind::InvalidSchema,
                        format!("parameter {name} has unknown type {t:?}; it accepts any value"),
                    )
                    .tool(qualified)
                    .kept(),
                ),
            },
            Some(other) => warnings.push(
                LoadProblem::new(
                    origin,
                    ProblemKind::InvalidSchema,
                    format!("parameter {name} has a type that is {}, not a string; it accepts any value", kind_of(other)),
                )
                .tool(qualified)
                .kept(),
            ),
        }
        if let Some(description) = string_field(object, "description") {
            property.insert("description".into(), Value::String(description.into()));
        }
        for key in ["default", "enum", "items", "properties", "format"] {
            if let Some(value) = object.get(key) {
                property.insert(key.into(), value.clone());
            }
        }
        if object.get("required").and_then(Value::as_bool) == Some(true) {
            required.push(Value::String(name.into()));
        }
        if properties
            .insert(name.to_owned(), Value::Object(property))
            .is_some()
        {
            return Err(LoadProblem::new(
                origin,
                ProblemKind::InvalidSchema,
                format!("parameter {name} is declared twice"),
            )
            .tool(qualified));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    Ok(Value::Object(schema))
}

// ---------------------------------------------------------------- MCP format

/// Parses MCP `tools/list` output: `{"tools": [...]}`, a bare array of tools, or a whole
/// JSON-RPC response `{"result": {"tools": [...]}}`. Every tool is put under `server`.
pub fn parse_mcp(text: &str, origin: &str, server: &str, report: &mut LoadReport) {
    report.files += 1;
    let Some(value) = parse_json(text, origin, report) else {
        return;
    };
    parse_mcp_value(value, origin, server, report);
}

/// Like [`parse_mcp`], for an already parsed value (a live server's `tools/list` result).
pub fn parse_mcp_value(value: Value, origin: &str, server: &str, report: &mut LoadReport) {
    if let Err(problem) = check_server_name(server) {
        report
            .problems
            .push(LoadProblem::new(origin, ProblemKind::InvalidName, problem));
        return;
    }
    let (items, file_category) = match value {
        Value::Array(items) => (items, None),
        Value::Object(mut object) => {
            let category = string_field(&object, "category").map(str::to_owned);
            let tools = match object.remove("result") {
                Some(Value::Object(mut result)) => result.remove("tools"),
                _ => object.remove("tools"),
            };
            match tools {
                Some(Value::Array(items)) => (items, category),
                _ => {
                    report.problems.push(LoadProblem::new(
                        origin,
                        ProblemKind::UnexpectedShape,
                        "expected {\"tools\": [...]}, a JSON-RPC tools/list response or an array of tools",
                    ));
                    return;
                }
            }
        }
        other => {
            report.problems.push(LoadProblem::new(
                origin,
                ProblemKind::UnexpectedShape,
                format!("expected a tools/list result, found {}", kind_of(&other)),
            ));
            return;
        }
    };
    collect_tools(report, origin, items, |item, position| {
        mcp_tool(item, origin, position, server, file_category.as_deref())
    });
}

fn mcp_tool(
    item: Value,
    origin: &str,
    position: usize,
    server: &str,
    file_category: Option<&str>,
) -> Parsed {
    let (object, name, qualified) = tool_object(item, origin, position, server)?;
    let mut warnings = Vec::new();
    let input_schema = match object.get("inputSchema") {
        Some(schema @ Value::Object(_)) => schema.clone(),
        None | Some(Value::Null) => {
            return Err(LoadProblem::new(
                origin,
                ProblemKind::InvalidSchema,
                "has no \"inputSchema\"; MCP requires one (use {\"type\": \"object\"} for no arguments)",
            )
            .tool(qualified));
        }
        Some(other) => {
            return Err(LoadProblem::new(
                origin,
                ProblemKind::InvalidSchema,
                format!(
                    "\"inputSchema\" is {}, expected an object schema",
                    kind_of(other)
                ),
            )
            .tool(qualified));
        }
    };
    let description = string_field(&object, "description").unwrap_or_default();
    let mut tool = ToolSchema::new(name, description, input_schema).with_server(server);
    let annotations = object.get("annotations");
    tool.title = string_field(&object, "title")
        .or_else(|| {
            annotations
                .and_then(|a| a.get("title"))
                .and_then(Value::as_str)
        })
        .map(str::to_owned);
    match object.get("outputSchema") {
        None | Some(Value::Null) => {}
        Some(schema @ Value::Object(_)) => tool.output_schema = Some(schema.clone()),
        Some(other) => warnings.push(
            LoadProblem::new(
                origin,
                ProblemKind::InvalidSchema,
                format!(
                    "\"outputSchema\" is {}, expected an object; ignored",
                    kind_of(other)
                ),
            )
            .tool(&qualified)
            .kept(),
        ),
    }
    if let Some(value) = annotations {
        match serde_json::from_value::<ToolAnnotations>(value.clone()) {
            Ok(parsed) => tool.annotations = parsed,
            Err(e) => warnings.push(
                LoadProblem::new(
                    origin,
                    ProblemKind::InvalidSchema,
                    format!("annotations cannot be read ({e}); the MCP defaults apply (may be destructive)"),
                )
                .tool(&qualified)
                .kept(),
            ),
        }
    }
    let category = string_field(&object, "category")
        .or_else(|| {
            object
                .get("_meta")
                .and_then(|m| m.get(CATEGORY_META_KEY))
                .and_then(Value::as_str)
        })
        .or(file_category);
    if let Some(category) = category {
        tool = tool.with_category(category);
    }
    Ok((tool, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_parameters_become_an_object_schema() {
        let mut report = LoadReport::new();
        let text = r#"[{"name": "q", "description": "Run", "parameters": [
            {"name": "sql", "type": "str", "description": "SQL", "required": true},
            {"name": "limit", "type": "int", "default": 10}
        ], "returns": "rows", "examples": [{"input": {"sql": "SELECT 1"}}]}]"#;
        parse_seed(text, "db.json", "db", Some("database"), &mut report);
        assert!(report.is_clean(), "{report}");
        let tool = &report.tools[0].tool;
        assert_eq!(
            tool.input_schema,
            json!({"type": "object", "properties": {
                "sql": {"type": "string", "description": "SQL"},
                "limit": {"type": "integer", "default": 10}
            }, "required": ["sql"]})
        );
        assert_eq!(tool.output_schema, Some(json!({"description": "rows"})));
        assert_eq!(tool.examples, vec![json!({"sql": "SELECT 1"})]);
        assert_eq!(tool.qualified_name(), "db.q");
        assert_eq!(tool.category.as_deref(), Some("database"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_tool_name("notes_add").is_ok());
        assert!(check_tool_name("get-sum").is_ok());
        assert!(check_tool_name("").is_err());
        assert!(check_tool_name("two words").is_err());
        assert!(check_tool_name(&"x".repeat(129)).is_err());
        assert!(check_server_name("demo").is_ok());
        assert!(check_server_name("a.b").is_err());
        assert!(check_server_name("").is_err());
    }
}
