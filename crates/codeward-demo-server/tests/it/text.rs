//! `text_stats` over stdio, and argument checking.

use crate::support::Demo;
use serde_json::json;

#[tokio::test]
async fn text_stats_counts_and_ranks_and_checks_arguments() {
    let demo = Demo::new();
    let stats = demo
        .ok(
            "text_stats",
            json!({"text": "one two two\nthree three three", "top": 2}),
        )
        .await;
    assert_eq!(
        stats,
        json!({"words": 6, "lines": 2, "characters": 29, "bytes": 29,
               "top_words": [{"word": "three", "count": 3}, {"word": "two", "count": 2}]})
    );
    let defaults = demo
        .ok("text_stats", json!({"text": "a b c d e f g"}))
        .await;
    assert_eq!(defaults["top_words"].as_array().map(Vec::len), Some(5));
    let cases = [
        (json!({}), "missing field `text`"),
        (
            json!({"text": "x", "top": 51}),
            "top must be between 0 and 50, got 51",
        ),
        (
            json!({"text": "x", "colour": "red"}),
            "unknown field `colour`",
        ),
        (json!({"text": 3}), "invalid type"),
    ];
    for (args, expected) in cases {
        let message = demo.err("text_stats", args.clone()).await;
        assert!(
            message.contains("text_stats") && message.contains(expected),
            "{args}: {message}"
        );
    }
    demo.pool.shutdown().await;
}
