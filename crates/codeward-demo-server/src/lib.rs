//! A small offline MCP server for demos and tests: a notes store, read-only files under a
//! root folder, and text statistics, served over stdio with the official Rust SDK (rmcp).
//!
//! # Brief overview
//!
//! - [`DemoServer`]: the rmcp `ServerHandler`; [`DemoServer::call`] runs a tool directly.
//! - [`DemoOptions`]: the root folder (`--root`) and the data directory (`--data-dir`).
//! - [`NotesStore`]: notes in `<data-dir>/notes.json`, written atomically.
//! - [`Root`]: path checks (no absolute paths, no `..` above the root, no symlink escapes).
//! - [`text_stats`]: word, line, character and byte counts with the most frequent words.
//! - [`tools`]: the published tool definitions (those of codeward's discovery catalogue).
//! - [`serve_stdio`]: runs the server on stdin/stdout until the client hangs up.
//!
//! # Example
//!
//! ```
//! use codeward_demo_server::{DemoOptions, DemoServer};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = tempfile::tempdir()?;
//! std::fs::write(root.path().join("hello.txt"), "hello world\nhello again\n")?;
//! let data = tempfile::tempdir()?;
//! let server = DemoServer::new(&DemoOptions::new(root.path(), data.path()))?;
//!
//! let args = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
//! let found = server.call("files_search", args(json!({"pattern": "HELLO"}))).await?;
//! assert_eq!(found["matches"].as_array().map(Vec::len), Some(2));
//!
//! let stats = server.call("text_stats", args(json!({"text": "a b a"}))).await?;
//! assert_eq!(stats["top_words"][0], json!({"word": "a", "count": 2}));
//!
//! let escape = server.call("files_read", args(json!({"path": "../secret"}))).await;
//! assert!(escape.is_err());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod files;
mod notes;
mod server;
mod text;

pub use error::{DemoError, Result};
pub use files::{FileContent, FileEntry, LineMatch, Root, SearchResult};
pub use notes::{NOTES_FILE, Note, NoteMatch, NoteSummary, NotesStore};
pub use server::{DemoOptions, DemoServer, tools};
pub use text::{TextStats, WordCount, text_stats};

/// Serves `options` over stdin/stdout until the client closes the connection.
pub async fn serve_stdio(
    options: &DemoOptions,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use rmcp::ServiceExt;
    let server = DemoServer::new(options)?;
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
