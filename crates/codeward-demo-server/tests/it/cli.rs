//! The binary's flags: help, the environment default for the root, and bad roots.

use crate::support::BIN;
use codeward_mcp::{McpConfig, McpPool, PoolOptions, StdioServer};
use serde_json::json;
use std::process::Command;

#[test]
fn help_lists_the_flags() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--root", "--data-dir", "CODEWARD_DEMO_ROOT", "--help"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[tokio::test]
async fn root_comes_from_the_environment_when_no_flag_is_given() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("from-env.txt"), "x").unwrap();
    let server = StdioServer::new(BIN)
        .env("CODEWARD_DEMO_ROOT", root.path().display().to_string())
        .env("CODEWARD_DEMO_DATA_DIR", data.path().display().to_string());
    let pool = McpPool::new(
        McpConfig::new().with_server("demo", server).unwrap(),
        PoolOptions::default(),
    );
    let listed = pool
        .call_tool("demo.files_list", json!({}))
        .await
        .unwrap()
        .value;
    assert_eq!(listed["entries"][0]["path"], "from-env.txt");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_missing_root_fails_to_start_with_a_clear_message() {
    let data = tempfile::tempdir().unwrap();
    let server = StdioServer::new(BIN)
        .args(["--root", "/nonexistent/root", "--data-dir"])
        .arg(data.path().display().to_string());
    let pool = McpPool::new(
        McpConfig::new().with_server("demo", server).unwrap(),
        PoolOptions::default(),
    );
    let error = pool.list_tools("demo").await.unwrap_err().to_string();
    assert!(
        error.contains("root folder /nonexistent/root") && error.contains("--root"),
        "{error}"
    );
}
