//! Loading tool schemas from files and the errors a bad file or tool set produces.

use codeward_codegen::{CodegenError, generate_from_file, load_tools, module_file_name};
use codeward_core::{ApiGenerator, Language, ToolSchema};
use serde_json::json;

use crate::common::fixture_path;

#[test]
fn generates_from_a_schema_file() {
    let api = generate_from_file(fixture_path("everything"), Language::Python).expect("api");
    assert!(api.module.contains("class everything:"));
    assert!(
        api.module
            .contains(r#"_invoke("everything.echo", {"message": message}, {})"#)
    );
    assert_eq!(module_file_name(Language::Python), "codeward_api.py");
    assert_eq!(module_file_name(Language::TypeScript), "codeward_api.ts");
}

#[test]
fn accepts_an_array_or_one_tool_and_names_the_server_after_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let one = dir.path().join("weather.json");
    std::fs::write(
        &one,
        json!({"name": "forecast", "inputSchema": {"type": "object"}}).to_string(),
    )
    .expect("write");
    let tools = load_tools(&one).expect("tools");
    assert_eq!(tools[0].qualified_name(), "weather.forecast");
}

#[test]
fn bad_files_say_where_and_what() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"tools\": [\n    {\"name\": }\n]}").expect("write");
    match load_tools(&bad) {
        Err(CodegenError::Parse { line, column, .. }) => assert_eq!((line, column), (3, 14)),
        other => panic!("expected a parse error, got {other:?}"),
    }
    let message = load_tools(dir.path().join("missing.json"))
        .expect_err("missing")
        .to_string();
    assert!(
        message.contains("missing.json") && message.contains("check the path"),
        "{message}"
    );
    let shape = dir.path().join("shape.json");
    std::fs::write(&shape, r#"{"tools": [{"description": "no name"}]}"#).expect("write");
    let message = load_tools(&shape).expect_err("no name").to_string();
    assert!(
        message.contains("tool #1") && message.contains("name"),
        "{message}"
    );
}

#[test]
fn duplicate_and_nameless_tools_are_refused() {
    let tool = ToolSchema::new("a", "", json!({})).with_server("s");
    let error = codeward_codegen::CodeGenerator::new()
        .generate(&[tool.clone(), tool], Language::TypeScript)
        .expect_err("duplicate");
    assert!(error.to_string().contains("s.a"), "{error}");
    let nameless = ToolSchema::new(" ", "", json!({}));
    assert!(
        codeward_codegen::CodeGenerator::new()
            .generate(&[nameless], Language::Python)
            .is_err()
    );
}
