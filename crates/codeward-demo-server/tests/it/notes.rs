//! The notes tools over stdio, and persistence across a server restart.

use crate::support::{Demo, pool};
use serde_json::json;

#[tokio::test]
async fn notes_round_trip_and_survive_a_restart() {
    let demo = Demo::new();
    let first = demo
        .ok(
            "notes_add",
            json!({"title": "Groceries", "body": "Buy milk and bread", "tags": ["home"]}),
        )
        .await;
    assert_eq!(first["id"], "n-1");
    assert_eq!(first["tags"], json!(["home"]));
    assert!(first["created_at"].as_str().unwrap().ends_with('Z'));
    let second = demo
        .ok(
            "notes_add",
            json!({"title": "Bread recipe", "body": "flour, water, salt"}),
        )
        .await;
    assert_eq!(
        (second["id"].as_str(), second["tags"].clone()),
        (Some("n-2"), json!([]))
    );

    let listed = demo.ok("notes_list", json!({})).await;
    assert_eq!(listed["total"], 2);
    assert_eq!(listed["notes"][0]["id"], "n-2");
    assert!(listed["notes"][0].get("body").is_none());
    let home = demo
        .ok("notes_list", json!({"tag": "home", "limit": 5}))
        .await;
    assert_eq!(
        (home["total"].as_u64(), home["notes"][0]["id"].as_str()),
        (Some(1), Some("n-1"))
    );

    let found = demo.ok("notes_search", json!({"query": "bread"})).await;
    let ids: Vec<&str> = found["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    // The title match ranks first.
    assert_eq!(ids, ["n-2", "n-1"]);
    assert!(
        found["matches"][1]["snippet"]
            .as_str()
            .unwrap()
            .contains("bread")
    );
    let both = demo
        .ok("notes_search", json!({"query": "MILK bread"}))
        .await;
    assert_eq!(both["matches"].as_array().map(Vec::len), Some(1));

    let got = demo.ok("notes_get", json!({"id": "n-1"})).await;
    assert_eq!(got, first);
    let missing = demo.err("notes_get", json!({"id": "n-9"})).await;
    assert!(missing.contains("no note with id \"n-9\""), "{missing}");
    let title = demo
        .err("notes_add", json!({"title": "", "body": "x"}))
        .await;
    assert!(
        title.contains("title must have 1 to 200 characters"),
        "{title}"
    );
    assert_eq!(
        demo.ok("notes_delete", json!({"id": "n-2"})).await,
        json!({"deleted": true, "id": "n-2"})
    );
    assert_eq!(
        demo.ok("notes_delete", json!({"id": "n-2"})).await,
        json!({"deleted": false, "id": "n-2"})
    );
    demo.pool.shutdown().await;

    // A new server process on the same data directory sees the same notes.
    let again = pool(demo.root.path(), demo.data.path());
    let listed = again
        .call_tool("demo.notes_list", json!({}))
        .await
        .unwrap()
        .value;
    assert_eq!(listed["total"], 1);
    assert_eq!(
        again
            .call_tool("demo.notes_get", json!({"id": "n-1"}))
            .await
            .unwrap()
            .value,
        first
    );
    let third = again
        .call_tool("demo.notes_add", json!({"title": "t", "body": "b"}))
        .await
        .unwrap()
        .value;
    assert_eq!(third["id"], "n-3");
    again.shutdown().await;
    let on_disk = std::fs::read_to_string(demo.data.path().join("notes.json")).unwrap();
    assert!(on_disk.contains("Groceries") && on_disk.contains("n-3"));
    // No temporary files are left behind by the atomic writes.
    assert_eq!(std::fs::read_dir(demo.data.path()).unwrap().count(), 1);
}
