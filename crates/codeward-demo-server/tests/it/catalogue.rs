//! The published tools are exactly those of codeward's discovery catalogue.

use crate::support::Demo;
use serde_json::{Value, json};

fn catalogue() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../codeward-discovery/catalogue/mcp/demo.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn bundled_definitions_equal_the_discovery_catalogue() {
    let bundled: Vec<Value> = codeward_demo_server::tools()
        .unwrap()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_eq!(Value::Array(bundled), catalogue()["tools"]);
}

#[tokio::test]
async fn tools_list_over_stdio_matches_the_catalogue() {
    let demo = Demo::new();
    let load = demo.pool.load_tools().await;
    assert_eq!(load.failures().count(), 0, "{load:?}");
    let catalogue = catalogue();
    let expected = catalogue["tools"].as_array().unwrap();
    assert_eq!(load.tools.len(), expected.len());
    for (tool, entry) in load.tools.iter().zip(expected) {
        assert_eq!(
            tool.qualified_name(),
            format!("demo.{}", entry["name"].as_str().unwrap())
        );
        assert_eq!(tool.title.as_deref(), entry["title"].as_str());
        assert_eq!(json!(tool.description), entry["description"]);
        assert_eq!(tool.input_schema, entry["inputSchema"], "{}", tool.name);
        assert_eq!(
            tool.output_schema.as_ref(),
            Some(&entry["outputSchema"]),
            "{}",
            tool.name
        );
        assert_eq!(
            serde_json::to_value(&tool.annotations).unwrap(),
            entry["annotations"],
            "{}",
            tool.name
        );
        assert_eq!(
            tool.category.as_deref(),
            entry["_meta"]["codeward/category"].as_str()
        );
    }
    demo.pool.shutdown().await;
}
