//! Mapping between rmcp's wire types and codeward's vocabulary: tool definitions to
//! `ToolSchema`, `CallToolResult` to `ToolResult`.

use codeward_core::{ToolAnnotations, ToolResult, ToolSchema};
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::Value;

/// The `_meta` key a catalogue uses to file a tool under a category.
const CATEGORY_META_KEY: &str = "codeward/category";

/// A server's tool as a `ToolSchema` in the namespace `server`.
pub fn tool_schema(server: &str, tool: &Tool) -> ToolSchema {
    let mut schema = ToolSchema::new(
        tool.name.to_string(),
        tool.description.as_deref().unwrap_or_default(),
        Value::Object((*tool.input_schema).clone()),
    )
    .with_server(server);
    schema.title = tool
        .title
        .clone()
        .or_else(|| tool.annotations.as_ref().and_then(|a| a.title.clone()));
    schema.output_schema = tool
        .output_schema
        .as_ref()
        .map(|s| Value::Object((**s).clone()));
    if let Some(hints) = &tool.annotations {
        let mut annotations = ToolAnnotations::default();
        annotations.read_only_hint = hints.read_only_hint;
        annotations.destructive_hint = hints.destructive_hint;
        annotations.idempotent_hint = hints.idempotent_hint;
        annotations.open_world_hint = hints.open_world_hint;
        schema.annotations = annotations;
    }
    schema.category = tool
        .meta
        .as_ref()
        .and_then(|meta| meta.get(CATEGORY_META_KEY))
        .and_then(Value::as_str)
        .map(str::to_owned);
    schema
}

/// The value a program sees: `structuredContent` when given, else the text content joined
/// with `\n` (parsed when it is JSON), else `null`. `isError` gives the message as a string.
pub fn tool_result(result: CallToolResult) -> ToolResult {
    let text = joined_text(&result.content);
    if result.is_error == Some(true) {
        let message = match (text, &result.structured_content) {
            (Some(text), _) if !text.trim().is_empty() => text,
            (_, Some(value)) if !value.is_null() => value.to_string(),
            _ => "the tool reported an error without a message".to_owned(),
        };
        return ToolResult::error(message);
    }
    if let Some(value) = result.structured_content.filter(|v| !v.is_null()) {
        return ToolResult::ok(value);
    }
    match text {
        Some(text) => ToolResult::ok(serde_json::from_str(&text).unwrap_or(Value::String(text))),
        None => ToolResult::ok(Value::Null),
    }
}

fn joined_text(content: &[ContentBlock]) -> Option<String> {
    let texts: Vec<&str> = content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(value: Value) -> CallToolResult {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn results_map_as_the_bridge_protocol_says() {
        let cases = [
            (
                json!({"content": [{"type": "text", "text": "x"}], "structuredContent": {"a": 1}}),
                ToolResult::ok(json!({"a": 1})),
            ),
            (
                json!({"content": [{"type": "text", "text": "{\"b\":"}, {"type": "text", "text": "2}"}]}),
                ToolResult::ok(json!({"b": 2})),
            ),
            (
                json!({"content": [{"type": "text", "text": "hello"}]}),
                ToolResult::ok(json!("hello")),
            ),
            (
                json!({"content": [{"type": "image", "data": "AA==", "mimeType": "image/png"}]}),
                ToolResult::ok(Value::Null),
            ),
            (
                json!({"content": [{"type": "text", "text": "boom"}], "isError": true}),
                ToolResult::error("boom"),
            ),
            (
                json!({"content": [], "structuredContent": {"code": 7}, "isError": true}),
                ToolResult::error("{\"code\":7}"),
            ),
            (
                json!({"content": [], "isError": true}),
                ToolResult::error("the tool reported an error without a message"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(tool_result(result(input.clone())), expected, "{input}");
        }
    }

    #[test]
    fn tools_keep_their_hints_title_output_schema_and_category() {
        let tool: Tool = serde_json::from_value(json!({
            "name": "notes_get",
            "description": "Get one note",
            "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object", "properties": {"id": {"type": "string"}}},
            "annotations": {"title": "Get note", "readOnlyHint": true, "openWorldHint": false},
            "_meta": {"codeward/category": "notes"}
        }))
        .unwrap();
        let schema = tool_schema("demo", &tool);
        assert_eq!(schema.qualified_name(), "demo.notes_get");
        assert_eq!(schema.title.as_deref(), Some("Get note"));
        assert_eq!(schema.category.as_deref(), Some("notes"));
        assert!(schema.annotations.is_read_only() && !schema.annotations.is_open_world());
        assert_eq!(
            schema.output_schema.unwrap()["properties"]["id"]["type"],
            "string"
        );
    }
}
