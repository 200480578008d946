//! Search behaviour: ranking, filters, ties, matched fields, typos, single-tool changes.

use std::sync::Arc;

use codeward_discovery::{
    CatalogueIndex, DiscoveryError, SearchQuery, StaticTools, ToolIndex, ToolSchema,
};
use serde_json::json;

fn tool(server: &str, name: &str, description: &str) -> ToolSchema {
    ToolSchema::new(name, description, json!({"type": "object"})).with_server(server)
}

fn names(index: &dyn ToolIndex, query: &SearchQuery) -> Vec<String> {
    index
        .search(query)
        .expect("search")
        .iter()
        .map(|h| h.tool.qualified_name())
        .collect()
}

#[test]
fn finds_by_name_parts_description_and_synonyms() {
    let index = super::default_index();
    let first = |text: &str| names(&index, &SearchQuery::new(text, 5))[0].clone();
    assert_eq!(first("notes_add"), "demo.notes_add");
    assert_eq!(first("erase a note"), "demo.notes_delete");
    assert_eq!(first("directory tree"), "filesystem.directory_tree");
    assert_eq!(first("get sum"), "everything.get-sum");
}

#[test]
fn camel_case_and_kebab_names_are_split() {
    let index = CatalogueIndex::new().expect("index");
    index
        .insert(tool("crm", "getUserProfile", "Returns a record"))
        .expect("insert");
    index
        .insert(tool("crm", "archive-old-records", "Moves records"))
        .expect("insert");
    assert_eq!(
        names(&index, &SearchQuery::new("user profile", 5))[0],
        "crm.getUserProfile"
    );
    assert_eq!(
        names(&index, &SearchQuery::new("archive", 5)),
        ["crm.archive-old-records"]
    );
}

#[test]
fn filters_limit_and_min_score() {
    let index = super::default_index();
    let hits = index
        .search(&SearchQuery::new("delete", 50).on_server("memory"))
        .expect("search");
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h.tool.server.as_deref() == Some("memory"))
    );
    let hits = index
        .search(&SearchQuery::new("list", 50).in_category("Notes"))
        .expect("search");
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h.tool.category.as_deref() == Some("notes"))
    );
    assert!(
        index
            .search(&SearchQuery::new("list", 5).in_category("nope"))
            .expect("search")
            .is_empty()
    );

    let all = index.search(&SearchQuery::new("file", 50)).expect("search");
    assert!(all.len() > 3);
    assert_eq!(
        index
            .search(&SearchQuery::new("file", 3))
            .expect("search")
            .len(),
        3
    );
    let cut = all[2].score;
    let above = index
        .search(&SearchQuery::new("file", 50).min_score(cut))
        .expect("search");
    assert!(above.iter().all(|h| h.score >= cut));
    assert!(above.len() >= 3 && above.len() < all.len());
    for pair in all.windows(2) {
        assert!(pair[0].score >= pair[1].score, "best first");
    }

    assert!(
        index
            .search(&SearchQuery::new("notes", 0))
            .expect("search")
            .is_empty()
    );
    assert!(
        index
            .search(&SearchQuery::new("  the of  ", 5))
            .expect("search")
            .is_empty()
    );
    assert!(
        index
            .search(&SearchQuery::new("", 5))
            .expect("search")
            .is_empty()
    );
}

#[test]
fn ties_are_ordered_by_qualified_name_whatever_the_insertion_order() {
    // 40 tools with the same text: every hit ties, more than the first fetch holds.
    let mut tools: Vec<ToolSchema> = (0..40)
        .map(|i| {
            tool(
                &format!("s{:02}", (i * 17) % 40),
                "widget",
                "Polish the brass widget",
            )
        })
        .collect();
    let forward = CatalogueIndex::new().expect("index");
    forward
        .load(&StaticTools::new("t", tools.clone()))
        .expect("load");
    tools.reverse();
    let backward = CatalogueIndex::new().expect("index");
    for t in tools {
        backward.insert(t).expect("insert");
    }
    let query = SearchQuery::new("brass", 3);
    let expect = ["s00.widget", "s01.widget", "s02.widget"];
    assert_eq!(names(&forward, &query), expect);
    assert_eq!(names(&backward, &query), expect);
}

#[test]
fn hits_say_which_fields_matched() {
    let index = CatalogueIndex::new().expect("index");
    index
        .insert(
            ToolSchema::new(
                "send_invoice",
                "Bills a customer",
                json!({"type": "object", "properties": {"currency": {"type": "string", "description": "ISO code"}}}),
            )
            .with_server("billing")
            .with_category("payments"),
        )
        .expect("insert");
    let fields = |text: &str| {
        index.search(&SearchQuery::new(text, 1)).expect("search")[0]
            .matched_fields
            .clone()
    };
    assert_eq!(fields("invoice"), ["name"]);
    assert_eq!(fields("currency"), ["parameters"]);
    assert_eq!(fields("customer payments"), ["description", "category"]);
    // Stemming: "billing" and "Bills" are one word.
    assert_eq!(fields("billing"), ["description", "server"]);
    assert_eq!(fields("invoice currency"), ["name", "parameters"]);
    assert_eq!(fields("invoise"), ["name"], "typo match");
}

#[test]
fn typos_are_tolerated_unless_turned_off() {
    let index = super::default_index();
    assert_eq!(
        names(&index, &SearchQuery::new("serch notse", 5))[0],
        "demo.notes_search"
    );
    let strict = CatalogueIndex::builder()
        .typo_tolerance(false)
        .build()
        .expect("index");
    strict
        .load(&codeward_discovery::DefaultCatalogue)
        .expect("load");
    assert!(names(&strict, &SearchQuery::new("serch", 5)).is_empty());
}

#[test]
fn long_words_and_long_requests_are_bounded() {
    // A typo automaton grows with its word: words over 32 characters are not corrected (a
    // 100,000-character word cost a gigabyte), so a long word matches exactly or not at all.
    let long = "pneumonoultramicroscopicsilicovolcanoconiosis"; // 45 characters
    let index = CatalogueIndex::new().expect("index");
    index
        .insert(tool("a", "recite", &format!("Recite {long} aloud")))
        .expect("insert");
    assert_eq!(names(&index, &SearchQuery::new(long, 5)), ["a.recite"]);
    let typo = long.replace("volcano", "volkano");
    assert!(names(&index, &SearchQuery::new(typo.as_str(), 5)).is_empty());
    let huge = "q".repeat(200_000);
    assert_eq!(
        names(&index, &SearchQuery::new(format!("{huge} recite"), 5)),
        Vec::<String>::new(),
        "only the first 4 KiB of a request are read"
    );
    assert_eq!(
        names(&index, &SearchQuery::new(format!("recite {huge}"), 5)),
        ["a.recite"]
    );
    // The cut falls on a character boundary.
    let wide = format!("recite {}", "é".repeat(5_000));
    assert_eq!(names(&index, &SearchQuery::new(wide, 5)), ["a.recite"]);
}

#[test]
fn single_changes_without_rebuild_and_versions() {
    let index = CatalogueIndex::new().expect("index");
    let v0 = index.version();
    index
        .insert(tool("a", "fly_kite", "Fly a kite in the park"))
        .expect("insert");
    let v1 = index.version();
    assert_ne!(v0, v1);
    assert_eq!(names(&index, &SearchQuery::new("kite", 5)), ["a.fly_kite"]);

    let err = index
        .insert(tool("a", "fly_kite", "again"))
        .expect_err("taken");
    assert!(
        matches!(err, DiscoveryError::AlreadyExists { ref origin, .. } if origin == "api"),
        "{err}"
    );
    assert_eq!(index.version(), v1);

    let previous = index
        .upsert(tool("a", "fly_kite", "Launch a balloon"))
        .expect("upsert");
    assert_eq!(
        previous.expect("replaced").description,
        "Fly a kite in the park"
    );
    let v2 = index.version();
    assert_ne!(v2, v1);
    assert!(names(&index, &SearchQuery::new("park", 5)).is_empty());
    assert_eq!(
        names(&index, &SearchQuery::new("balloon", 5)),
        ["a.fly_kite"]
    );
    assert_eq!(index.len(), 1);

    index
        .insert(tool("b", "dig", "Dig a hole"))
        .expect("insert");
    let v3 = index.version();
    assert_ne!(v3, v2);
    let removed = index.remove("b.dig").expect("remove");
    assert_eq!(removed.name, "dig");
    assert!(index.get("b.dig").is_none());
    assert!(names(&index, &SearchQuery::new("hole", 5)).is_empty());
    // The version is a content fingerprint: the same catalogue has the same version.
    assert_eq!(index.version(), v2);

    assert!(matches!(
        index.remove("b.dig"),
        Err(DiscoveryError::NotFound(_))
    ));
    let bad = index
        .insert(tool("a", "has space", "x"))
        .expect_err("invalid");
    assert!(matches!(bad, DiscoveryError::InvalidTool { .. }));
    let core: codeward_core::Error = DiscoveryError::NotFound("x.y".into()).into();
    assert!(matches!(
        core,
        codeward_core::Error::NotFound { kind: "tool", .. }
    ));
}

#[test]
fn stats_count_categories_servers_and_hints() {
    let index = CatalogueIndex::new().expect("index");
    let ro = codeward_core::ToolAnnotations::read_only();
    index
        .insert(
            tool("s", "a", "x")
                .with_category("c1")
                .with_annotations(ro.clone()),
        )
        .expect("insert");
    index
        .insert(tool("s", "b", "x").with_category("c1"))
        .expect("insert");
    index.insert(tool("t", "c", "x")).expect("insert");
    let stats = index.stats();
    assert_eq!(stats.tools, 3);
    assert_eq!(stats.by_category.get("c1"), Some(&2));
    assert_eq!(stats.by_category.get(""), Some(&1));
    assert_eq!(stats.by_server.get("s"), Some(&2));
    assert_eq!(stats.by_server.get("t"), Some(&1));
    assert_eq!((stats.read_only, stats.destructive), (1, 2));
    assert_eq!(stats.version, index.version());
}

#[test]
fn usable_as_a_shared_seam_while_changing() {
    let index = Arc::new(super::default_index());
    let seam: Arc<dyn ToolIndex> = index.clone();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..20 {
                index
                    .insert(tool("extra", &format!("tool_{i}"), "Extra notes helper"))
                    .expect("insert");
            }
        });
        for _ in 0..20 {
            let hits = seam.search(&SearchQuery::new("notes", 5)).expect("search");
            assert_eq!(hits.len(), 5);
        }
    });
    assert_eq!(index.stats().by_server["extra"], 20);
    assert!(seam.get("extra.tool_19").is_some());
}

#[test]
fn a_live_server_is_replaced_in_one_step() {
    use codeward_discovery::{McpToolsList, ProblemKind};
    let index = CatalogueIndex::new().expect("index");
    let schema = json!({"type": "object"});
    let v1 = json!({"tools": [
        {"name": "old_tool", "description": "Going away", "inputSchema": schema},
        {"name": "kept", "description": "Stays the same", "inputSchema": schema}]});
    index.load(&McpToolsList::new("live", v1)).expect("load");
    index
        .insert(tool("other", "untouched", "Another server"))
        .expect("insert");
    let before = index.version();

    let v2 = json!({"tools": [
        {"name": "kept", "description": "Stays the same", "inputSchema": schema},
        {"name": "new_tool", "description": "Just arrived", "inputSchema": schema}]});
    let report = index
        .replace_server("live", &McpToolsList::new("live", v2))
        .expect("replace");
    assert!(report.is_clean(), "{report}");
    assert_ne!(index.version(), before);
    let mut all: Vec<String> = index.all().iter().map(|t| t.qualified_name()).collect();
    all.sort();
    assert_eq!(all, ["live.kept", "live.new_tool", "other.untouched"]);
    assert!(names(&index, &SearchQuery::new("going away", 5)).is_empty());
    assert_eq!(
        names(&index, &SearchQuery::new("arrived", 5)),
        ["live.new_tool"]
    );

    let wrong = McpToolsList::new("elsewhere", json!([{"name": "x", "inputSchema": schema}]));
    let report = index.replace_server("live", &wrong).expect("replace");
    assert_eq!(report.problems[0].kind, ProblemKind::InvalidName);
    assert_eq!(
        index.stats().by_server.get("live"),
        None,
        "an empty list empties the server"
    );
}

#[test]
fn configuration_rules_are_checked() {
    let mut boosts = codeward_discovery::FieldBoosts::default();
    boosts.name = f32::NAN;
    let err = CatalogueIndex::builder()
        .boosts(boosts)
        .build()
        .expect_err("NaN boost");
    assert!(matches!(err, DiscoveryError::InvalidConfig(_)), "{err}");
    assert!(
        CatalogueIndex::builder()
            .synonym_weight(-1.0)
            .build()
            .is_err()
    );

    // A zero boost switches a field off: the description alone no longer finds the tool.
    let mut boosts = codeward_discovery::FieldBoosts::default();
    boosts.description = 0.0;
    let index = CatalogueIndex::builder()
        .boosts(boosts)
        .build()
        .expect("index");
    index
        .insert(tool("s", "noop", "Polish the brass"))
        .expect("insert");
    assert!(names(&index, &SearchQuery::new("brass", 5)).is_empty());
    assert_eq!(index.config().boosts.description, 0.0);
}

#[test]
fn hostile_limits_and_long_requests_are_safe() {
    let index = super::default_index();
    let all = index
        .search(&SearchQuery::new("note", usize::MAX))
        .expect("search");
    assert!(all.len() >= 5 && all.len() <= index.len());
    let long = "find my notes ".repeat(10_000);
    let hits = index.search(&SearchQuery::new(long, 3)).expect("search");
    assert_eq!(hits.len(), 3);
}
