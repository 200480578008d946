//! The result cache: moka with a TTL and a size bound, keyed by what determines a result.
//! Only clean successful runs (no failed or refused tool call, no limit hit) whose tools are
//! all read-only and closed-world are ever inserted, and the orchestrator keys them by its
//! write generation, so a run that may change state ends what was cached before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use codeward_core::{ExecutionOutcome, Language, ResultCache, ToolSchema};

/// SHA-256 over the program, the language, the sorted tool set and the catalogue version,
/// each length-prefixed so that no two inputs share an encoding.
pub fn cache_key(
    program: &str,
    language: Language,
    tools: &[String],
    catalogue_version: u64,
) -> String {
    let mut tools: Vec<&str> = tools.iter().map(String::as_str).collect();
    tools.sort_unstable();
    tools.dedup();
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(b"codeward-cache-v1");
    part(program.as_bytes());
    part(language.as_str().as_bytes());
    for t in &tools {
        part(t.as_bytes());
    }
    part(&catalogue_version.to_le_bytes());
    hex::encode(h.finalize())
}

/// Whether results of a program using `tools` may be cached: every tool must be read-only
/// and closed-world by its MCP annotations (absent hints mean neither). Idempotent is not
/// enough: a destructive idempotent tool (write a file, delete a note) must run every time,
/// and an open-world tool's answer depends on things the key does not cover.
pub fn cacheable(tools: &[ToolSchema]) -> bool {
    tools
        .iter()
        .all(|t| t.annotations.is_read_only() && !t.annotations.is_open_world())
}

/// A bounded, expiring in-memory cache.
pub struct MokaCache {
    inner: moka::sync::Cache<String, ExecutionOutcome>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for MokaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaCache")
            .field("entries", &self.inner.entry_count())
            .finish_non_exhaustive()
    }
}

impl MokaCache {
    /// At most `max_entries`, each living `ttl`.
    pub fn new(max_entries: u64, ttl: Duration) -> Self {
        MokaCache {
            inner: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                // moka panics beyond 1000 years; the config allows one.
                .time_to_live(ttl.min(Duration::from_secs(crate::config::MAX_CACHE_TTL_SECS)))
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

impl ResultCache for MokaCache {
    fn get(&self, key: &str) -> Option<ExecutionOutcome> {
        let found = self.inner.get(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn insert(&self, key: String, outcome: ExecutionOutcome) {
        self.inner.insert(key, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codeward_core::ToolAnnotations;
    use serde_json::json;

    #[test]
    fn keys_ignore_tool_order_and_change_with_every_input() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = cache_key("p", Language::Python, &t(&["a", "b"]), 1);
        assert_eq!(base, cache_key("p", Language::Python, &t(&["b", "a"]), 1));
        assert_ne!(base, cache_key("p2", Language::Python, &t(&["a", "b"]), 1));
        assert_ne!(
            base,
            cache_key("p", Language::TypeScript, &t(&["a", "b"]), 1)
        );
        assert_ne!(base, cache_key("p", Language::Python, &t(&["a"]), 1));
        assert_ne!(base, cache_key("p", Language::Python, &t(&["a", "b"]), 2));
    }

    #[test]
    fn only_read_only_closed_world_tool_sets_are_cacheable() {
        let tool = |a: ToolAnnotations| ToolSchema::new("t", "", json!({})).with_annotations(a);
        let hints = |read_only, destructive, idempotent, open_world| {
            let mut a = ToolAnnotations::default();
            a.read_only_hint = read_only;
            a.destructive_hint = destructive;
            a.idempotent_hint = idempotent;
            a.open_world_hint = open_world;
            tool(a)
        };
        assert!(cacheable(&[tool(ToolAnnotations::read_only())]));
        assert!(!cacheable(&[
            tool(ToolAnnotations::read_only()),
            tool(ToolAnnotations::default())
        ]));
        // filesystem.write_file, demo.notes_delete: destructive and idempotent.
        assert!(!cacheable(&[hints(
            Some(false),
            Some(true),
            Some(true),
            Some(false)
        )]));
        // Idempotent but not said to be read-only.
        assert!(!cacheable(&[hints(None, None, Some(true), Some(false))]));
        // Read-only but open-world (absent hint: MCP says open).
        assert!(!cacheable(&[hints(Some(true), None, None, None)]));
        assert!(!cacheable(&[hints(Some(true), None, None, Some(true))]));
        assert!(cacheable(&[hints(Some(true), None, None, Some(false))]));
    }
}
