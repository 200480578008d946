//! A pool running the built demo server binary with a temporary root and data directory.

use codeward_core::ToolResult;
use codeward_mcp::{McpConfig, McpPool, PoolOptions, StdioServer};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const BIN: &str = env!("CARGO_BIN_EXE_codeward-demo-server");

pub struct Demo {
    pub pool: McpPool,
    pub root: tempfile::TempDir,
    pub data: tempfile::TempDir,
}

impl Demo {
    /// A demo server over a fresh root (with a few files) and data directory.
    pub fn new() -> Demo {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("docs/deep")).unwrap();
        std::fs::write(root.path().join("readme.md"), "# Demo\nHello world\n").unwrap();
        std::fs::write(
            root.path().join("docs/guide.txt"),
            "first line\nthe Hello line\nlast\n",
        )
        .unwrap();
        std::fs::write(root.path().join("docs/deep/notes.txt"), "deep hello\n").unwrap();
        std::fs::write(root.path().join("binary.bin"), [0u8, 159, 146, 150]).unwrap();
        let pool = pool(root.path(), data.path());
        Demo { pool, root, data }
    }

    pub fn root(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }

    /// Calls a tool and returns its result (tool errors included).
    pub async fn call(&self, tool: &str, args: Value) -> ToolResult {
        self.pool
            .call_tool(&format!("demo.{tool}"), args)
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    /// Calls a tool that must succeed.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let result = self.call(tool, args).await;
        assert!(!result.is_error, "{tool} failed: {}", result.value);
        result.value
    }

    /// Calls a tool that must fail; returns the message.
    pub async fn err(&self, tool: &str, args: Value) -> String {
        let result = self.call(tool, args).await;
        assert!(
            result.is_error,
            "{tool} should have failed: {}",
            result.value
        );
        result.value.as_str().unwrap_or_default().to_owned()
    }
}

/// A pool with the demo server as "demo".
pub fn pool(root: &Path, data: &Path) -> McpPool {
    let server = StdioServer::new(BIN)
        .arg("--root")
        .arg(root.display().to_string())
        .arg("--data-dir")
        .arg(data.display().to_string());
    McpPool::new(
        McpConfig::new().with_server("demo", server).unwrap(),
        PoolOptions::default(),
    )
}
