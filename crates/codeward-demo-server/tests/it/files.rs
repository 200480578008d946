//! `files_*` over stdio: listing, reading, searching, and refusing every way out of the root.

use crate::support::Demo;
use serde_json::{Value, json};

fn paths(entries: &Value, key: &str) -> Vec<String> {
    entries[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_read_and_search() {
    let demo = Demo::new();
    let top = demo.ok("files_list", json!({})).await;
    assert_eq!(paths(&top, "entries"), ["binary.bin", "docs", "readme.md"]);
    let readme = &top["entries"][2];
    assert_eq!(
        (readme["kind"].as_str(), readme["size"].as_u64()),
        (Some("file"), Some(19))
    );
    assert!(readme["modified"].as_str().unwrap().ends_with('Z'));
    let all = demo
        .ok("files_list", json!({"path": "docs", "recursive": true}))
        .await;
    assert_eq!(
        paths(&all, "entries"),
        ["docs/deep", "docs/deep/notes.txt", "docs/guide.txt"]
    );

    let read = demo
        .ok("files_read", json!({"path": "docs/../readme.md"}))
        .await;
    assert_eq!(
        read,
        json!({"path": "readme.md", "content": "# Demo\nHello world\n", "size": 19, "truncated": false})
    );
    let cut = demo
        .ok("files_read", json!({"path": "readme.md", "max_bytes": 6}))
        .await;
    assert_eq!(
        (cut["content"].as_str(), cut["truncated"].as_bool()),
        (Some("# Demo"), Some(true))
    );

    let found = demo.ok("files_search", json!({"pattern": "hello"})).await;
    assert_eq!(
        found["matches"],
        json!([
            {"path": "docs/deep/notes.txt", "line": 1, "text": "deep hello"},
            {"path": "docs/guide.txt", "line": 2, "text": "the Hello line"},
            {"path": "readme.md", "line": 2, "text": "Hello world"},
        ])
    );
    let limited = demo
        .ok(
            "files_search",
            json!({"pattern": "l", "path": "docs", "max_results": 2}),
        )
        .await;
    assert_eq!(
        (
            limited["matches"].as_array().map(Vec::len),
            limited["truncated"].as_bool()
        ),
        (Some(2), Some(true))
    );
    let regex = demo
        .ok("files_search", json!({"pattern": "^[A-Z]", "regex": true}))
        .await;
    assert_eq!(paths(&regex, "matches"), ["readme.md"]);
    let bad = demo
        .err("files_search", json!({"pattern": "(", "regex": true}))
        .await;
    assert!(bad.contains("invalid regular expression"), "{bad}");
    let binary = demo.err("files_read", json!({"path": "binary.bin"})).await;
    assert!(binary.contains("not a UTF-8 text file"), "{binary}");
    let missing = demo.err("files_read", json!({"path": "nope.txt"})).await;
    assert!(missing.contains("no such file"), "{missing}");
    let dir = demo.err("files_read", json!({"path": "docs"})).await;
    assert!(dir.contains("is not a file"), "{dir}");
    demo.pool.shutdown().await;
}

#[tokio::test]
async fn paths_escaping_the_root_are_refused() {
    let demo = Demo::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret hello\n").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        demo.root().join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), demo.root().join("linkdir")).unwrap();
    let secret = outside.path().join("secret.txt").display().to_string();
    let cases = [
        ("files_read", json!({"path": "../secret.txt"})),
        ("files_read", json!({"path": "docs/../../secret.txt"})),
        ("files_read", json!({"path": secret})),
        ("files_read", json!({"path": "link.txt"})),
        ("files_read", json!({"path": "linkdir/secret.txt"})),
        ("files_list", json!({"path": ".."})),
        ("files_list", json!({"path": "linkdir"})),
        ("files_search", json!({"pattern": "secret", "path": "/"})),
    ];
    for (tool, args) in cases {
        let message = demo.err(tool, args.clone()).await;
        assert!(
            message.contains("outside the root"),
            "{tool} {args}: {message}"
        );
    }
    // Walking the root skips links that lead out, so their targets never show up.
    let listed = demo.ok("files_list", json!({"recursive": true})).await;
    assert!(!listed.to_string().contains("link"), "{listed}");
    let found = demo
        .ok("files_search", json!({"pattern": "top secret"}))
        .await;
    assert_eq!(found["matches"], json!([]));
    demo.pool.shutdown().await;
}
