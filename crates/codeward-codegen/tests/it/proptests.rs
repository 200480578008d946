//! Property test: random schemas (weird names, recursion, unions, unsupported keywords,
//! comment-breaking descriptions) always produce code that compiles in both languages.

use std::path::PathBuf;

use codeward_core::{Language, ToolSchema};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

use crate::common::{generate, py_compile, py_import, ts_parse, tsc_check};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        1 => "[a-z]{1,4}[-. ][a-z]{1,4}",
        1 => prop::sample::select(vec![
            "class", "from", "2fa", "a-b", "a_b", "__proto__", "日本", "None", "*/", "\"\"\"",
            "self", "constructor", "Promise", "ToolError", "", "$ref", "type", "import",
            "Connection", "fs", "send", "Pending", "tools",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z .,]{0,30}",
        1 => prop::sample::select(vec![
            "ends with */", "\"\"\" breaks docstrings", "back\\slash \\n \\u", "line\u{2028}sep",
            "quote at the end\"", "cr\rlf\r\n", "@param x", "nul\u{0}byte",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,20}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        name().prop_map(Value::String),
        any::<i32>().prop_map(|n| json!(n)),
        (-1000.0f64..1000.0).prop_map(|f| json!(f)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "string"})),
        Just(json!({"type": "number", "default": 1.5})),
        Just(json!({"type": "integer", "format": "int64"})),
        Just(json!({"type": "boolean"})),
        Just(json!({"type": "null"})),
        Just(json!({})),
        Just(json!(true)),
        Just(json!({"type": ["string", "null"]})),
        Just(json!({"type": "integer", "nullable": true})),
        prop::collection::vec(scalar(), 1..4).prop_map(|v| json!({"enum": v})),
        scalar().prop_map(|v| json!({"const": v})),
        Just(json!({"$ref": "#/$defs/Node"})),
        Just(json!({"$ref": "#/$defs/Alias"})),
        Just(json!({"$ref": "#/$defs/Missing"})),
        Just(json!({"$ref": "#"})),
        Just(json!({"not": {"type": "string"}})),
        Just(json!({"enum": [{"a": 1}]})),
        (text(), scalar())
            .prop_map(|(d, v)| json!({"type": "string", "description": d, "default": v})),
    ]
}

fn schema() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            (
                prop::collection::btree_map(name(), inner.clone(), 0..4),
                any::<u8>(),
                prop::option::of(inner.clone()),
                text(),
            )
                .prop_map(|(props, mask, extra, description)| {
                    let required: Vec<&String> = props
                        .keys()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, k)| k)
                        .collect();
                    let mut schema = json!({"type": "object", "properties": props, "required": required, "description": description});
                    if let Some(extra) = extra {
                        schema["additionalProperties"] = extra;
                    }
                    schema
                }),
            inner.clone().prop_map(|items| json!({"type": "array", "items": items})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"anyOf": v})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"oneOf": v, "nullable": true})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"type": "array", "prefixItems": v})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"allOf": v})),
            inner.prop_map(|i| json!({"type": "object", "additionalProperties": i})),
        ]
    })
}

fn tool() -> impl Strategy<Value = ToolSchema> {
    (
        name(),
        prop::option::of(name()),
        text(),
        prop::collection::btree_map(name(), schema(), 0..5),
        prop::option::of(schema()),
        prop::collection::vec(prop::collection::btree_map(name(), scalar(), 0..3), 0..2),
    )
        .prop_map(|(tool_name, server, description, props, output, examples)| {
            let required: Vec<&String> = props.keys().take(2).collect();
            let input = json!({
                "type": "object",
                "properties": props,
                "required": required,
                "$defs": {
                    "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}, "v": {"type": "string"}}},
                    "Alias": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/$defs/Alias"}}]}
                }
            });
            // The generator refuses nameless tools; the property is about what it accepts.
            let tool_name = if tool_name.trim().is_empty() { "t".to_owned() } else { tool_name };
            let mut tool = ToolSchema::new(tool_name, description, input);
            tool.server = server;
            tool.output_schema = output;
            tool.examples = examples
                .into_iter()
                .map(|e| Value::Object(e.into_iter().collect::<Map<String, Value>>()))
                .collect();
            tool
        })
}

fn tools() -> impl Strategy<Value = Vec<ToolSchema>> {
    prop::collection::vec(tool(), 1..4).prop_map(|mut tools| {
        // Qualified names must be distinct (duplicates are refused, tested elsewhere).
        let mut seen = std::collections::BTreeSet::new();
        tools.retain(|t| seen.insert(t.qualified_name()));
        tools
    })
}

#[test]
fn random_schemas_compile_in_both_languages() {
    let root = tempfile::tempdir().expect("temp dir");
    let ts_files: std::cell::RefCell<Vec<PathBuf>> = Default::default();
    let case = std::cell::Cell::new(0usize);
    let config = Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    };
    // A fixed seed keeps CI reproducible; set CODEWARD_PROPTEST_RANDOM=1 to explore new cases.
    let mut runner = if std::env::var_os("CODEWARD_PROPTEST_RANDOM").is_some() {
        TestRunner::new(config)
    } else {
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    };
    let result = runner.run(&tools(), |tools| {
        case.set(case.get() + 1);
        let dir = root.path().join(format!("case{}", case.get()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ts = generate(&tools, Language::TypeScript);
        if let Err(e) = ts_parse(&ts.module) {
            return Err(TestCaseError::fail(format!(
                "TS module does not parse: {e}\n{}",
                ts.module
            )));
        }
        if let Err(e) = ts_parse(&ts.summary) {
            return Err(TestCaseError::fail(format!(
                "TS summary does not parse: {e}\n{}",
                ts.summary
            )));
        }
        std::fs::write(dir.join("codeward_api.ts"), &ts.module).expect("write");
        std::fs::write(dir.join("summary.ts"), &ts.summary).expect("write");
        let py = generate(&tools, Language::Python);
        std::fs::write(dir.join("codeward_api.py"), &py.module).expect("write");
        std::fs::write(dir.join("summary.py"), &py.summary).expect("write");
        let compiled = std::panic::catch_unwind(|| {
            py_compile(&[dir.join("codeward_api.py"), dir.join("summary.py")]);
            py_import(&dir);
        });
        if compiled.is_err() {
            return Err(TestCaseError::fail(format!(
                "Python does not compile:\n{}",
                py.module
            )));
        }
        ts_files.borrow_mut().push(dir.join("codeward_api.ts"));
        ts_files.borrow_mut().push(dir.join("summary.ts"));
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    // One tsc run over every case: a start per case would cost minutes.
    tsc_check(&ts_files.borrow());
}
