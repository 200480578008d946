//! The API's bindings name the identifiers the module really uses, renamed ones included.

use codeward_core::{ApiBinding, Language, ToolSchema};
use serde_json::json;

use crate::common::generate;

fn tool(server: &str, name: &str) -> ToolSchema {
    ToolSchema::new(
        name,
        format!("{name} on {server}"),
        json!({"type": "object"}),
    )
    .with_server(server)
}

#[test]
fn bindings_name_renamed_servers_and_functions_exactly() {
    // `fs` is taken in the generated modules (the bridge client uses it), `import` and
    // `class` are keywords, and two servers spell the same identifier.
    let tools = vec![
        tool("fs", "read_file"),
        tool("notes", "import"),
        tool("notes", "class"),
        tool("my-notes", "add"),
        tool("my_notes", "add"),
    ];
    for language in [Language::TypeScript, Language::Python] {
        let api = generate(&tools, language);
        assert_eq!(
            api.bindings.len(),
            tools.len(),
            "{language}: {:?}",
            api.bindings
        );
        for (binding, tool) in api.bindings.iter().zip(&tools) {
            assert_eq!(binding.tool, tool.qualified_name());
            // The module really defines that member on that object.
            assert!(
                api.module.contains(&binding.object) && api.module.contains(&binding.function),
                "{language}: {binding:?} not in the module"
            );
        }
        let objects: Vec<&str> = api.bindings.iter().map(|b| b.object.as_str()).collect();
        assert_ne!(
            objects[3], objects[4],
            "{language}: colliding servers stay apart"
        );
    }
    let py = generate(&tools, Language::Python);
    assert!(
        py.bindings
            .contains(&ApiBinding::new("notes", "import_", "notes.import")),
        "{:?}",
        py.bindings
    );
}

#[test]
fn names_depend_on_the_set_of_tools_not_on_their_order() {
    // Discovery may rank the same tools differently from one request to the next; a program
    // written against one generation must call the same tools through the next.
    let tools = vec![
        tool("my_notes", "add"),
        tool("my-notes", "add"),
        tool("my-notes", "notes_add"),
        tool("my-notes", "notesAdd"),
    ];
    let reversed: Vec<ToolSchema> = tools.iter().rev().cloned().collect();
    for language in [Language::TypeScript, Language::Python] {
        let mut a = generate(&tools, language).bindings;
        let mut b = generate(&reversed, language).bindings;
        a.sort_by(|x, y| x.tool.cmp(&y.tool));
        b.sort_by(|x, y| x.tool.cmp(&y.tool));
        assert_eq!(a, b, "{language}");
    }
    // The module still lists the servers in the order given.
    let module = generate(&tools, Language::TypeScript).module;
    let first = module.find("my_notes").expect("my_notes in the module");
    let second = module.find("my-notes").expect("my-notes in the module");
    assert!(first < second, "the given order is kept");
}
