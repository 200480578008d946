//! Real MCP servers from npm (@modelcontextprotocol/server-filesystem and server-everything).
//! They are found through CODEWARD_NPM_PREFIX (the `npm install --prefix` folder); without it
//! the tests print SKIPPED and return.

use codeward_mcp::{McpConfig, McpPool, PoolOptions, StdioServer};
use serde_json::{Value, json};
use std::path::PathBuf;

fn server_script(package: &str) -> Option<PathBuf> {
    let Some(prefix) = std::env::var_os("CODEWARD_NPM_PREFIX") else {
        println!(
            "SKIPPED: CODEWARD_NPM_PREFIX is not set (npm install --prefix DIR {package}; export CODEWARD_NPM_PREFIX=DIR)"
        );
        return None;
    };
    let script = PathBuf::from(prefix)
        .join("node_modules")
        .join(package)
        .join("dist/index.js");
    if !script.exists() {
        println!(
            "SKIPPED: {} is missing; install {package} into CODEWARD_NPM_PREFIX",
            script.display()
        );
        return None;
    }
    Some(script)
}

fn node_pool(name: &str, script: PathBuf, args: &[&str]) -> McpPool {
    let server = StdioServer::new("node")
        .arg(script.display().to_string())
        .args(args.iter().copied());
    McpPool::new(
        McpConfig::new().with_server(name, server).unwrap(),
        PoolOptions::default(),
    )
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn server_filesystem_lists_reads_writes_and_searches() {
    let Some(script) = server_script("@modelcontextprotocol/server-filesystem") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    std::fs::write(root_path.join("hello.txt"), "hello from codeward\n").unwrap();
    let pool = node_pool("fs", script, &[root_path.to_str().unwrap()]);

    let load = pool.load_tools().await;
    assert_eq!(load.failures().count(), 0, "{load:?}");
    let names: Vec<String> = load.tools.iter().map(|t| t.qualified_name()).collect();
    for expected in [
        "fs.read_text_file",
        "fs.write_file",
        "fs.list_directory",
        "fs.search_files",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let read_tool = load
        .tools
        .iter()
        .find(|t| t.name == "read_text_file")
        .unwrap();
    assert!(
        read_tool.annotations.is_read_only(),
        "annotations lost: {:?}",
        read_tool.annotations
    );

    let file = root_path.join("made.txt").display().to_string();
    let write = pool
        .call_tool(
            "fs.write_file",
            json!({"path": file, "content": "written by a test"}),
        )
        .await
        .unwrap();
    assert!(!write.is_error, "{:?}", write.value);
    let read = pool
        .call_tool("fs.read_text_file", json!({"path": file}))
        .await
        .unwrap();
    assert!(
        text_of(&read.value).contains("written by a test"),
        "{:?}",
        read.value
    );
    let listing = pool
        .call_tool("fs.list_directory", json!({"path": root_path}))
        .await
        .unwrap();
    let listing = text_of(&listing.value);
    assert!(
        listing.contains("hello.txt") && listing.contains("made.txt"),
        "{listing}"
    );
    let found = pool
        .call_tool(
            "fs.search_files",
            json!({"path": root_path, "pattern": "*.txt"}),
        )
        .await
        .unwrap();
    assert!(
        text_of(&found.value).contains("hello.txt"),
        "{:?}",
        found.value
    );
    // Outside the allowed folder: the server says no, as an error result.
    let denied = pool
        .call_tool("fs.read_text_file", json!({"path": "/etc/hostname"}))
        .await
        .unwrap();
    assert!(denied.is_error, "{:?}", denied.value);
    pool.shutdown().await;
}

#[tokio::test]
async fn server_everything_echoes_adds_and_returns_structured_content() {
    let Some(script) = server_script("@modelcontextprotocol/server-everything") else {
        return;
    };
    let pool = node_pool("every", script, &["stdio"]);
    let load = pool.load_tools().await;
    assert_eq!(load.failures().count(), 0, "{load:?}");
    let names: Vec<&str> = load.tools.iter().map(|t| t.name.as_str()).collect();
    for expected in ["echo", "get-sum", "get-structured-content"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let echo = pool
        .call_tool("every.echo", json!({"message": "hi there"}))
        .await
        .unwrap();
    assert!(
        text_of(&echo.value).contains("hi there"),
        "{:?}",
        echo.value
    );
    let sum = pool
        .call_tool("every.get-sum", json!({"a": 19, "b": 23}))
        .await
        .unwrap();
    assert!(text_of(&sum.value).contains("42"), "{:?}", sum.value);
    let structured = load
        .tools
        .iter()
        .find(|t| t.name == "get-structured-content")
        .unwrap();
    assert!(structured.output_schema.is_some());
    let weather = pool
        .call_tool(
            "every.get-structured-content",
            json!({"location": "New York"}),
        )
        .await
        .unwrap();
    assert!(
        weather.value.is_object(),
        "structuredContent expected: {:?}",
        weather.value
    );
    // Invalid arguments come back as an error naming the problem, not a hang.
    let bad = pool.call_tool("every.get-sum", json!({"a": "x"})).await;
    match bad {
        Ok(result) => assert!(result.is_error, "{:?}", result.value),
        Err(error) => assert!(error.to_string().contains("every"), "{error}"),
    }
    let stats = pool.stats("every").unwrap();
    assert_eq!(stats.calls, 4);
    pool.shutdown().await;
}

#[cfg(feature = "http")]
#[tokio::test]
async fn server_everything_over_streamable_http() {
    use tokio::io::AsyncBufReadExt;
    let Some(script) = server_script("@modelcontextprotocol/server-everything") else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut node = tokio::process::Command::new("node")
        .arg(&script)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait for the server to say it listens (bounded: a broken install must not hang CI).
    let mut stderr = tokio::io::BufReader::new(node.stderr.take().unwrap()).lines();
    let listening = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Ok(Some(line)) = stderr.next_line().await {
            if line.contains("listening on port") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        listening,
        Ok(true),
        "server-everything did not start over HTTP"
    );

    let url = format!("http://127.0.0.1:{port}/mcp");
    let config = McpConfig::new()
        .with_server("web", codeward_mcp::HttpServer::new(url))
        .unwrap();
    let pool = McpPool::new(config, PoolOptions::default());
    let load = pool.load_tools().await;
    assert_eq!(load.failures().count(), 0, "{load:?}");
    assert!(load.tools.iter().any(|t| t.qualified_name() == "web.echo"));
    let echo = pool
        .call_tool("web.echo", json!({"message": "over http"}))
        .await
        .unwrap();
    assert!(
        text_of(&echo.value).contains("over http"),
        "{:?}",
        echo.value
    );
    let sum = pool
        .call_tool("web.get-sum", json!({"a": 1, "b": 2}))
        .await
        .unwrap();
    assert!(text_of(&sum.value).contains('3'), "{:?}", sum.value);
    pool.shutdown().await;
    node.kill().await.unwrap();
}
