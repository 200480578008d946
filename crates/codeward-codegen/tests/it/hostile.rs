//! Hostile and pathological schemas: text that tries to escape a comment, `$ref` cycles and
//! chains, `allOf` blow-ups, and names that would shadow what the bridge client relies on.
//! Each must give a module that compiles and runs only the code the generator wrote.

use codeward_core::{GeneratedApi, Language, ToolSchema};
use serde_json::{Value, json};

use crate::common::{generate, py_compile, py_run, ts_parse};

fn tool(server: &str, name: &str, input: Value) -> ToolSchema {
    ToolSchema::new(name, "d", input).with_server(server)
}

/// `tool` with an output object whose one property refers to the definition `name`.
fn with_output_type(mut tool: ToolSchema, name: &str) -> ToolSchema {
    tool.output_schema = Some(json!({
        "type": "object",
        "properties": {"field": {"$ref": format!("#/$defs/{name}")}},
        "$defs": {name: {"type": "object", "properties": {"n": {"type": "string"}}}},
    }));
    tool
}

/// Compiles and imports the Python module, then runs `code`; returns what it printed.
fn run_python(api: &GeneratedApi, code: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("codeward_api.py");
    std::fs::write(&file, &api.module).expect("write");
    py_compile(&[file]);
    py_run(dir.path(), code)
}

/// Text that ends a `#` comment or a `/** */` line and then runs code at import.
const PAYLOAD: &str = "date\nprint('PWNED')\r\nprint('PWNED')\nclass _Z:\n #";

#[test]
fn schema_text_cannot_add_code_to_the_module() {
    let hostile = json!({"type": "string", "format": PAYLOAD, "description": PAYLOAD});
    let tools = [tool(
        "evil",
        "t",
        json!({"type": "object", "properties": {
            "opts": {"type": "object", "properties": {"a": {"type": "string"}, "b": hostile}},
            "top": hostile,
        }}),
    )];
    let py = generate(&tools, Language::Python);
    // Importing runs nothing of the payload, and it appears only in comments and docstrings.
    let printed = run_python(
        &py,
        r#"
import tokenize
with open(codeward_api.__file__, "rb") as source:
    for token in tokenize.tokenize(source.readline):
        docstring = token.type == tokenize.STRING and token.string.startswith('"""')
        if "PWNED" in token.string and token.type != tokenize.COMMENT and not docstring:
            print("outside a comment:", repr(token.string))
"#,
    );
    assert!(
        !printed.contains("PWNED"),
        "the schema added code:\n{printed}"
    );
    assert!(
        py.module.contains("# print('PWNED')"),
        "the payload is documented"
    );
    let ts = generate(&tools, Language::TypeScript);
    ts_parse(&ts.module).expect("module parses");
    let lines: Vec<&str> = ts.module.lines().filter(|l| l.contains("PWNED")).collect();
    assert!(!lines.is_empty(), "the payload is documented");
    for line in lines {
        assert!(
            line.trim_start().starts_with('*'),
            "payload outside a doc comment line: {line:?}"
        );
    }
}

/// Generates both languages, checks they compile, and returns the warnings (the same in both).
fn generate_both(tools: &[ToolSchema]) -> (GeneratedApi, GeneratedApi) {
    let py = generate(tools, Language::Python);
    run_python(&py, "");
    let ts = generate(tools, Language::TypeScript);
    ts_parse(&ts.module).expect("module parses");
    assert_eq!(py.warnings, ts.warnings);
    (py, ts)
}

#[test]
fn ref_cycles_and_endless_ref_chains_are_typed_unknown() {
    let cycle = tool(
        "evil",
        "cycle",
        json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/A"}},
               "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}}),
    );
    // Long enough to overflow the stack of a converter that recursed once per link.
    let links = 100_000;
    let defs: serde_json::Map<String, Value> = (0..links)
        .map(|i| {
            (
                format!("A{i}"),
                json!({"$ref": format!("#/$defs/A{}", i + 1)}),
            )
        })
        .chain([(format!("A{links}"), json!({"type": "string"}))])
        .collect();
    let chain = tool(
        "evil",
        "chain",
        json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/A0"}}, "$defs": defs}),
    );
    let (py, ts) = generate_both(&[cycle, chain]);
    assert_eq!(
        py.warnings,
        [
            "evil.cycle input /properties/x/$ref: the `$ref`s #/$defs/A -> #/$defs/B -> #/$defs/A \
             form a cycle; typed as unknown / Any",
            "evil.chain input /properties/x/$ref: more than 64 `$ref`s in a row from \
             \"#/$defs/A0\"; typed as unknown / Any",
        ]
    );
    assert!(ts.module.contains("x?: unknown;"), "{}", ts.module);
    assert!(
        py.module.contains("def cycle(*, x: Any = None)"),
        "{}",
        py.module
    );
}

/// `D0` .. `D{depth}`: each has properties `x` and `y` that both extend the next one through
/// `allOf`, so inlining every `allOf` at every use doubles the work at every level.
fn doubling_all_of(depth: usize, member: impl Fn(usize, &str) -> Value) -> Value {
    let mut defs = serde_json::Map::new();
    for k in 0..depth {
        defs.insert(
            format!("D{k}"),
            json!({"type": "object", "properties": {"x": member(k + 1, "x"), "y": member(k + 1, "y")}}),
        );
    }
    defs.insert(
        format!("D{depth}"),
        json!({"type": "object", "properties": {"leaf": {"type": "string"}}}),
    );
    json!({"type": "object", "properties": {"root": member(0, "root")}, "$defs": defs})
}

#[test]
fn shared_all_of_definitions_are_converted_once() {
    let depth = 12;
    let refer = |k: usize| json!([{"$ref": format!("#/$defs/D{k}")}]);
    let variants = [
        // A lone reference (pydantic's documented `$ref`), ...
        doubling_all_of(depth, |k, _| json!({"allOf": refer(k)})),
        // ... the same `allOf` with a type beside it, ...
        doubling_all_of(depth, |k, _| json!({"allOf": refer(k), "type": "object"})),
        // ... and a different one at every use.
        doubling_all_of(
            depth,
            |k, name| json!({"allOf": refer(k), "type": "object", "description": name}),
        ),
    ];
    for (i, input) in variants.into_iter().enumerate() {
        let (py, ts) = generate_both(&[tool("deep", "t", input)]);
        assert!(py.warnings.is_empty(), "{:?}", py.warnings);
        // One interface for the input and about one for each definition, not 2^depth.
        let interfaces = ts.module.matches("export interface ").count();
        assert!(
            interfaces <= 2 * depth + 4,
            "variant {i}: {interfaces} interfaces for {depth} definitions"
        );
        assert!(
            ts.module.len() < 40_000,
            "variant {i}: {} bytes",
            ts.module.len()
        );
    }
}

#[test]
fn python_names_cannot_replace_the_builtins_the_bridge_uses() {
    // A type named like an exception the bridge catches, a server like a function it calls.
    let tools = [
        with_output_type(tool("s", "text", json!({"type": "object"})), "ValueError"),
        tool("all", "t", json!({"type": "object"})),
    ];
    let py = generate(&tools, Language::Python);
    let printed = run_python(
        &py,
        r#"
from codeward_api import BridgeError, _to_value, s
# A tool answering plain text: the bridge's `except ValueError` must still catch.
print(_to_value("s.text", {"content": [{"type": "text", "text": "not json"}]}))
# Connecting calls all(...): outside codeward that must fail with BridgeError.
try:
    s.text()
except BridgeError:
    print("BridgeError")
"#,
    );
    assert_eq!(printed, "not json\nBridgeError\n");
    for name in ["class ValueError_(TypedDict)", "class all_:"] {
        assert!(py.module.contains(name), "{name} missing");
    }
}

#[test]
fn a_python_method_cannot_replace_the_decorator_of_the_next() {
    let tools = [
        tool("s", "staticmethod", json!({"type": "object"})),
        tool("s", "z_other", json!({"type": "object"})),
    ];
    let py = generate(&tools, Language::Python);
    let printed = run_python(
        &py,
        "print(codeward_api.s.z_other.__name__, codeward_api.s.staticmethod_.__name__)",
    );
    assert_eq!(printed, "z_other staticmethod_\n");
    assert_eq!(py.bindings[0].function, "staticmethod_");
}

#[test]
fn typescript_names_cannot_redeclare_what_the_bridge_declares() {
    let tools = [
        with_output_type(
            tool("in_flight", "t", json!({"type": "object"})),
            "Uint8Array",
        ),
        tool("take-slot", "t", json!({"type": "object"})),
    ];
    let ts = generate(&tools, Language::TypeScript);
    ts_parse(&ts.module).unwrap_or_else(|e| panic!("{e}"));
    for name in [
        "export interface Uint8Array_ {",
        "export const inFlight_ = {",
        "export const takeSlot_ = {",
    ] {
        assert!(ts.module.contains(name), "{name} missing");
    }
}
