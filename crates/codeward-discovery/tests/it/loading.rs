//! Loading catalogues: the two file formats, the embedded default, and every kind of problem.

use std::fs;
use std::path::Path;

use codeward_discovery::{
    CatalogueIndex, CatalogueSource, DefaultCatalogue, McpDirectory, McpFile, McpToolsList,
    ProblemKind, SeedDirectory, StaticTools, ToolIndex, ToolSchema,
};
use serde_json::json;

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

fn kinds(report: &codeward_discovery::LoadReport) -> Vec<ProblemKind> {
    report.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn seed_directory_reports_every_problem_and_loads_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "database/postgres.json",
        r#"[
        {"name": "run_query", "description": "Run SQL", "parameters": [
            {"name": "sql", "type": "string", "description": "The query", "required": true},
            {"name": "limit", "type": "number", "default": 10}]},
        {"description": "no name here"},
        {"name": "run_query", "description": "again"},
        {"name": "odd", "parameters": [{"name": "when", "type": "moment"}]}
    ]"#,
    );
    // Malformed: the comma is missing at line 3.
    write(
        root,
        "email/gmail.json",
        "[\n  {\"name\": \"send\"\n   \"description\": \"x\"}\n]",
    );
    write(
        root,
        "email/outlook.json",
        r#"{"name": "send_mail", "description": "Send an email"}"#,
    );
    write(root, "weather/bad_shape.json", "42");
    let report = SeedDirectory::new(root).load();

    assert_eq!(
        report.qualified_names(),
        ["postgres.run_query", "postgres.odd", "outlook.send_mail"]
    );
    assert_eq!(report.files, 4);
    assert_eq!(
        kinds(&report),
        [
            ProblemKind::MissingName,
            ProblemKind::Duplicate,
            ProblemKind::InvalidSchema,
            ProblemKind::Malformed,
            ProblemKind::UnexpectedShape,
        ]
    );
    let malformed = &report.problems[3];
    assert!(
        malformed.origin.ends_with("email/gmail.json"),
        "{malformed}"
    );
    assert_eq!((malformed.line, malformed.column), (Some(3), Some(4)));
    assert!(malformed.skipped);
    assert!(
        malformed.to_string().contains("gmail.json:3:4"),
        "{malformed}"
    );
    assert_eq!(report.problems[0].tool.as_deref(), Some("#1"));
    assert_eq!(
        report.problems[1].tool.as_deref(),
        Some("postgres.run_query")
    );
    // An unknown parameter type is a warning: the tool loads without the constraint.
    assert!(!report.problems[2].skipped);

    let query = &report.tools[0].tool;
    assert_eq!(query.category.as_deref(), Some("database"));
    assert_eq!(
        query.input_schema,
        json!({"type": "object", "properties": {
            "sql": {"type": "string", "description": "The query"},
            "limit": {"type": "number", "default": 10}
        }, "required": ["sql"]})
    );
    assert_eq!(report.tools[2].tool.category.as_deref(), Some("email"));
}

#[test]
fn missing_directory_is_reported_not_fatal() {
    let report = SeedDirectory::new("/nonexistent/codeward/catalogue").load();
    assert!(report.tools.is_empty());
    assert_eq!(kinds(&report), [ProblemKind::Unreadable]);
}

#[test]
fn mcp_files_in_every_accepted_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let tool = json!({"name": "echo", "title": "Echo", "description": "Echo a message",
        "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}},
        "outputSchema": {"type": "object"},
        "annotations": {"readOnlyHint": true, "title": "ignored"},
        "_meta": {"codeward/category": "testing"}});
    write(root, "wrapped.json", &json!({"tools": [tool]}).to_string());
    write(root, "bare.json", &json!([tool]).to_string());
    write(
        root,
        "rpc.json",
        &json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [tool]}}).to_string(),
    );
    write(
        root,
        "broken.json",
        r#"{"tools": [{"name": "x", "inputSchema": 3}, {"name": "y"}]}"#,
    );
    write(root, "not-json.txt", "ignored: not a .json file");
    let report = McpDirectory::new(root).load();
    assert_eq!(
        report.qualified_names(),
        ["bare.echo", "rpc.echo", "wrapped.echo"]
    );
    assert_eq!(
        kinds(&report),
        [ProblemKind::InvalidSchema, ProblemKind::InvalidSchema]
    );
    let echo = &report.tools[0].tool;
    assert_eq!(echo.title.as_deref(), Some("Echo"));
    assert!(echo.annotations.is_read_only());
    assert_eq!(echo.category.as_deref(), Some("testing"));
    assert_eq!(echo.output_schema, Some(json!({"type": "object"})));

    let renamed = McpFile::new(root.join("wrapped.json"))
        .server("other")
        .load();
    assert_eq!(renamed.qualified_names(), ["other.echo"]);
}

#[test]
fn bad_server_names_from_file_names_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "my.server.json", r#"{"tools": []}"#);
    let report = McpFile::new(dir.path().join("my.server.json")).load();
    assert_eq!(kinds(&report), [ProblemKind::InvalidName]);
}

#[test]
fn live_hook_and_static_tools() {
    let live = McpToolsList::new(
        "live",
        json!({"tools": [{"name": "ping", "description": "Ping", "inputSchema": {"type": "object"}}]}),
    );
    let report = live.load();
    assert_eq!(report.qualified_names(), ["live.ping"]);
    assert_eq!(report.tools[0].origin, "mcp:live");

    let fine = ToolSchema::new("a", "A", json!({"type": "object"})).with_server("s");
    let bad = ToolSchema::new("b c", "B", json!({"type": "object"})).with_server("s");
    let report = StaticTools::new("test", vec![fine.clone(), fine, bad]).load();
    assert_eq!(report.qualified_names(), ["s.a"]);
    assert_eq!(
        kinds(&report),
        [ProblemKind::Duplicate, ProblemKind::InvalidName]
    );
}

#[test]
fn collisions_keep_the_existing_tool() {
    let index = CatalogueIndex::new().expect("index");
    let first = McpToolsList::new(
        "srv",
        json!([{"name": "t", "description": "first", "inputSchema": {"type": "object"}}]),
    );
    let second = McpToolsList::new(
        "srv",
        json!([{"name": "t", "description": "second", "inputSchema": {"type": "object"}},
        {"name": "u", "description": "new", "inputSchema": {"type": "object"}}]),
    );
    assert!(index.load(&first).expect("load").is_clean());
    let report = index.load(&second).expect("load");
    assert_eq!(report.qualified_names(), ["srv.u"]);
    assert_eq!(kinds(&report), [ProblemKind::Collision]);
    assert!(
        report.problems[0].message.contains("mcp:srv"),
        "{}",
        report.problems[0]
    );
    assert_eq!(index.get("srv.t").expect("kept").description, "first");
    assert_eq!(index.len(), 2);
}

#[test]
fn default_catalogue_is_embedded_whole() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogue");
    let mut on_disk = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let relative = path
                    .strip_prefix(&root)
                    .expect("prefix")
                    .to_string_lossy()
                    .replace('\\', "/");
                on_disk.push((relative, fs::read_to_string(&path).expect("read")));
            }
        }
    }
    on_disk.sort();
    let embedded: Vec<(String, String)> = DefaultCatalogue::files()
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(
        embedded, on_disk,
        "the build script embeds every catalogue file"
    );
}

#[test]
fn default_catalogue_contents() {
    let index = super::default_index();
    let stats = index.stats();
    assert_eq!(stats.by_server["demo"], 9);
    assert_eq!(stats.by_server["filesystem"], 14);
    assert_eq!(stats.by_server["everything"], 13);
    assert_eq!(stats.by_server["memory"], 9);
    let seed_categories = [
        "database", "email", "calendar", "crm", "payments", "github", "slack", "weather",
    ];
    let seed_tools: usize = stats
        .by_category
        .iter()
        .filter(|(c, _)| !["notes", "files", "text", ""].contains(&c.as_str()))
        .map(|(_, n)| n)
        .sum();
    assert!(seed_tools >= 40, "{seed_tools} seed tools");
    for category in seed_categories {
        assert!(stats.by_category.contains_key(category), "no {category}");
    }
    assert_eq!(stats.tools, index.all().len());

    let delete = index.get("demo.notes_delete").expect("notes_delete");
    assert!(delete.annotations.is_destructive());
    for name in [
        "notes_list",
        "notes_search",
        "notes_get",
        "files_list",
        "files_read",
        "files_search",
        "text_stats",
    ] {
        let tool = index.get(&format!("demo.{name}")).expect(name);
        assert!(tool.annotations.is_read_only(), "{name} is read-only");
        assert!(tool.output_schema.is_some(), "{name} declares its output");
        assert_eq!(tool.input_schema["type"], "object");
    }
    assert_eq!(
        index
            .get("demo.notes_add")
            .expect("notes_add")
            .category
            .as_deref(),
        Some("notes")
    );
}

#[test]
fn recoverable_problems_are_warnings_and_the_tool_still_loads() {
    use codeward_discovery::{LoadReport, parse_mcp, parse_seed};
    let mut report = LoadReport::new();
    let seed = r#"[
        {"name": "a", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
         "returns": {"type": "int"}, "examples": {"not": "an array"}},
        {"name": "b", "returns": 7, "parameters": "nope"}
    ]"#;
    parse_seed(seed, "s.json", "srv", None, &mut report);
    assert_eq!(report.qualified_names(), ["srv.a"]);
    let a = &report.tools[0].tool;
    assert_eq!(
        a.input_schema["properties"]["q"]["type"], "string",
        "a JSON Schema is taken as is"
    );
    assert_eq!(
        a.output_schema,
        Some(json!({"type": "integer"})),
        "seed type names are mapped"
    );
    assert_eq!(
        kinds(&report),
        [ProblemKind::InvalidSchema, ProblemKind::InvalidSchema],
        "{report}"
    );
    assert!(!report.problems[0].skipped, "bad examples: warning");
    assert!(
        report.problems[1].skipped,
        "bad parameters: the tool is left out"
    );

    let mut report = LoadReport::new();
    let mcp = json!({"tools": [{"name": "t", "inputSchema": {"type": "object"},
        "outputSchema": "text", "annotations": {"readOnlyHint": "yes"}}]});
    parse_mcp(&mcp.to_string(), "m.json", "m", &mut report);
    assert_eq!(report.qualified_names(), ["m.t"]);
    assert_eq!(
        kinds(&report),
        [ProblemKind::InvalidSchema, ProblemKind::InvalidSchema]
    );
    assert!(report.problems.iter().all(|p| !p.skipped));
    let t = &report.tools[0].tool;
    assert!(t.output_schema.is_none());
    assert!(
        t.annotations.is_destructive(),
        "unreadable hints fall back to the MCP defaults"
    );
}
