//! The pool against a well-behaved fake server: listing, calling, mapping, stats, logging,
//! cancellation and shutdown.

use crate::support::{alive, fake, options, pool};
use codeward_core::{Error, ToolInvoker};
use codeward_mcp::{
    HttpServer, LoadOutcome, McpConfig, McpError, McpPool, PoolOptions, SERVER_LOG_TARGET,
    ServerHealth,
};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn lists_every_page_namespaced_with_hints_kept() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("fake", fake("ok", state.path()))], options());
    assert_eq!(pool.health("fake").unwrap(), ServerHealth::NotStarted);
    let load = pool.load_tools().await;
    let names: Vec<String> = load.tools.iter().map(|t| t.qualified_name()).collect();
    // Seven tools over two pages.
    assert_eq!(
        names,
        [
            "fake.echo",
            "fake.add",
            "fake.fail",
            "fake.crash",
            "fake.hang",
            "fake.cancelled",
            "fake.announce"
        ]
    );
    assert_eq!(load.servers[0].outcome, LoadOutcome::Loaded { tools: 7 });
    let add = &load.tools[1];
    assert_eq!(add.title.as_deref(), Some("Add"));
    assert!(add.annotations.is_read_only() && !add.annotations.is_open_world());
    assert!(add.output_schema.is_some());
    assert_eq!(pool.tools().len(), 7);
    assert!(pool.health("fake").unwrap().is_healthy());
    pool.shutdown().await;
}

#[tokio::test]
async fn results_map_to_values_and_errors() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("fake", fake("ok", state.path()))], options());
    // Text that is JSON comes back parsed.
    let echo = pool
        .call_tool("fake.echo", json!({"x": [1, 2]}))
        .await
        .unwrap();
    assert_eq!((echo.value, echo.is_error), (json!({"x": [1, 2]}), false));
    // Structured content wins over text.
    let add = pool
        .call_tool("fake.add", json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(add.value, json!({"sum": 5}));
    // isError: the message as a string.
    let fail = pool.call_tool("fake.fail", json!({})).await.unwrap();
    assert_eq!(
        (fail.value, fail.is_error),
        (json!("the fake tool failed"), true)
    );
    // A JSON-RPC error names the server and keeps its message; the server stays healthy.
    let error = pool.call_tool("fake.nope", json!({})).await.unwrap_err();
    assert!(
        matches!(&error, McpError::Rejected { code: -32602, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("unknown tool nope"), "{error}");
    assert!(pool.health("fake").unwrap().is_healthy());

    let stats = pool.stats("fake").unwrap();
    assert_eq!(
        (stats.calls, stats.errors, stats.timeouts, stats.restarts),
        (4, 2, 0, 0)
    );
    assert!(stats.latency_max > Duration::ZERO && stats.latency_total >= stats.latency_max);
    assert!(stats.mean_latency().is_some());
    pool.shutdown().await;
}

#[tokio::test]
async fn bad_names_and_arguments_are_refused_before_any_start() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("fake", fake("ok", state.path()))], options());
    let cases = [
        ("echo", json!({}), "no server prefix"),
        (
            "other.echo",
            json!({}),
            "no MCP server named \"other\" is configured (configured: fake)",
        ),
        (
            "fake.echo",
            json!([1]),
            "must be a JSON object, got an array",
        ),
    ];
    for (tool, args, expected) in cases {
        let error = pool.call_tool(tool, args).await.unwrap_err().to_string();
        assert!(error.contains(expected), "{tool}: {error}");
    }
    assert_eq!(pool.health("fake").unwrap(), ServerHealth::NotStarted);
}

#[tokio::test]
async fn as_a_tool_invoker_errors_map_to_core_errors() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("fake", fake("ok", state.path()))], options());
    let invoker: Arc<dyn ToolInvoker> = Arc::new(pool.clone());
    let fail = invoker.call("fake.fail", json!({})).await.unwrap();
    assert!(fail.is_error);
    assert!(matches!(
        invoker.call("nope.x", json!({})).await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        matches!(invoker.call("fake.nope", json!({})).await, Err(Error::Tool { tool, .. }) if tool == "fake.nope")
    );
    assert!(matches!(
        invoker.call("fake.echo", json!(3)).await,
        Err(Error::InvalidInput { .. })
    ));
    let timeout = pool
        .call_tool_with_timeout("fake.hang", json!({}), Duration::from_millis(200))
        .await;
    let core = timeout.unwrap_err().into_core("fake.hang");
    assert!(matches!(core, Error::Timeout { .. }), "{core}");
    // "No limit" is a far deadline, not an overflow.
    let unlimited = pool
        .call_tool_with_timeout("fake.fail", json!({}), Duration::MAX)
        .await
        .unwrap();
    assert!(unlimited.is_error);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_dropped_call_is_cancelled_on_the_server() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("fake", fake("ok", state.path()))], options());
    pool.list_tools("fake").await.unwrap();
    // The caller gives up (as a sandbox does when its program is killed).
    let hang = pool.call_tool("fake.hang", json!({}));
    tokio::select! {
        _ = hang => panic!("hang answered"),
        () = tokio::time::sleep(Duration::from_millis(100)) => {}
    }
    let seen = pool.call_tool("fake.cancelled", json!({})).await.unwrap();
    assert_eq!(
        seen.value["ids"].as_array().map(Vec::len),
        Some(1),
        "{}",
        seen.value
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn shutdown_leaves_no_process_behind() {
    let state = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(300);
    let pool = pool(
        vec![
            ("ok", fake("ok", state.path())),
            ("stubborn", fake("stubborn", state.path())),
            ("parent", fake("spawns-child", state.path())),
        ],
        options().shutdown_grace(grace),
    );
    let load = pool.load_tools().await;
    assert_eq!(load.failures().count(), 0, "{load:?}");
    let pids: Vec<u32> = pool.status().iter().filter_map(|s| s.pid).collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|pid| alive(*pid)));
    pool.shutdown().await;
    for pid in &pids {
        assert!(!alive(*pid), "server {pid} survived shutdown");
    }
    // The grandchild (`sleep 1000` started by the server) went with its process group.
    let group_members = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .map(|(_, r)| r)
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                // fields[0] is the state, fields[2] the process group.
                fields.len() > 2
                    && fields[0] != "Z"
                    && pids.iter().any(|p| fields[2] == p.to_string())
            })
        })
        .count();
    assert_eq!(group_members, 0);
    assert!(
        pool.status()
            .iter()
            .all(|s| s.health == ServerHealth::Stopped)
    );
    let error = pool.call_tool("ok.echo", json!({})).await.unwrap_err();
    assert!(matches!(error, McpError::ShutDown), "{error}");
}

#[tokio::test]
async fn dropping_the_pool_kills_its_servers() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(
        vec![("stubborn", fake("stubborn", state.path()))],
        options(),
    );
    pool.list_tools("stubborn").await.unwrap();
    let pid = pool.status()[0].pid.unwrap();
    drop(pool);
    // SIGKILL went out synchronously in Drop; the exit itself is the kernel's business, so
    // wait for it (bounded) rather than assume it is instant.
    let mut waited = 0;
    while alive(pid) && waited < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert!(!alive(pid));
}

/// Captures events of the server-log target.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != SERVER_LOG_TARGET {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", field.name(), value));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

/// The process-wide subscriber for the logging test. Global rather than per-thread: tracing
/// caches per callsite whether anyone listens, and a per-thread subscriber races with the
/// other tests' threads over that cache.
fn captured() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let captured = Captured::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(captured.clone()),
        )
        .expect("no other test sets a global subscriber");
        captured
    })
}

#[tokio::test]
async fn server_stderr_goes_to_tracing_with_the_server_name() {
    let captured = captured();
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("loud", fake("ok", state.path()))], options());
    pool.list_tools("loud").await.unwrap();
    // Closing the server ends its stderr, so every line it wrote has been forwarded.
    pool.shutdown().await;
    let events = captured.0.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e.contains("server=loud") && e.contains("fake server ready (mode ok)")),
        "{events:?}"
    );
}

#[tokio::test]
async fn server_stderr_is_split_at_carriage_returns_and_long_lines_are_cut() {
    let captured = captured();
    let state = tempfile::tempdir().unwrap();
    let pool = pool(
        vec![("progress", fake("progress", state.path()))],
        options(),
    );
    pool.list_tools("progress").await.unwrap();
    pool.shutdown().await;
    let events: Vec<String> = captured
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.contains("server=progress "))
        .cloned()
        .collect();
    // Shown cut short: on failure an event may be enormous.
    let shown: Vec<String> = events
        .iter()
        .map(|e| e.chars().take(80).collect())
        .collect();
    // Each update of the progress bar is a line of its own.
    assert!(
        events
            .iter()
            .any(|e| e.contains("downloading 42%") && !e.contains("downloading 43%")),
        "{shown:?}"
    );
    // The 100 000-byte line is cut to 8 KiB and says so.
    let longest = events.iter().map(String::len).max().unwrap_or(0);
    assert!(longest < 8 * 1024 + 200, "an event of {longest} bytes");
    assert!(
        events
            .iter()
            .any(|e| e.contains("xxxxxxxx") && e.contains("truncated")),
        "{shown:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.contains("fake server ready (mode progress)")),
        "{shown:?}"
    );
}

#[tokio::test]
async fn legacy_sse_servers_are_reported_unsupported_not_ignored() {
    let mut sse = HttpServer::new("http://127.0.0.1:9/sse");
    sse.legacy_sse = true;
    let config = McpConfig::new().with_server("remote", sse).unwrap();
    let pool = McpPool::new(config, PoolOptions::default());
    let load = pool.load_tools().await;
    let LoadOutcome::Failed { error } = &load.servers[0].outcome else {
        panic!("{load:?}")
    };
    assert!(
        error.contains("legacy SSE servers are not supported"),
        "{error}"
    );
    assert!(matches!(
        pool.health("remote").unwrap(),
        ServerHealth::Unhealthy { .. }
    ));
    let core = pool
        .call_tool("remote.x", json!({}))
        .await
        .unwrap_err()
        .into_core("remote.x");
    assert!(matches!(core, Error::Unsupported(_)), "{core}");
}

#[cfg(feature = "http")]
#[tokio::test]
async fn an_unreachable_http_server_names_server_and_url() {
    // A port nobody listens on: bind one, note it, free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut server = HttpServer::new(url.clone());
    server
        .headers
        .insert("Authorization".into(), "Bearer s3cret".into());
    let config = McpConfig::new().with_server("remote", server).unwrap();
    let pool = McpPool::new(config, PoolOptions::default());
    let error = pool.list_tools("remote").await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, McpError::ConnectFailed { .. }), "{text}");
    assert!(text.contains("\"remote\"") && text.contains(&url), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[cfg(not(feature = "http"))]
#[tokio::test]
async fn http_servers_need_the_http_feature() {
    let config = McpConfig::new()
        .with_server("remote", HttpServer::new("http://127.0.0.1:9/mcp"))
        .unwrap();
    let pool = McpPool::new(config, PoolOptions::default());
    let error = pool.list_tools("remote").await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("streamable HTTP servers are not supported"),
        "{error}"
    );
}

#[tokio::test]
async fn log_messages_and_tool_list_changes_are_surfaced() {
    let captured = captured();
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("announcer", fake("ok", state.path()))], options());
    let mut changes = pool.tool_changes();
    assert_eq!(*changes.borrow_and_update(), 0);
    let result = pool
        .call_tool("announcer.announce", json!({}))
        .await
        .unwrap();
    assert_eq!(result.value, json!("announced"));
    tokio::time::timeout(Duration::from_secs(10), changes.changed())
        .await
        .expect("no tool-list change within 10 s")
        .unwrap();
    assert_eq!(*changes.borrow(), 1);
    // Notification handlers run as tasks in arrival order on this (current-thread) runtime,
    // so the log message, sent first, has been handled by now.
    let events = captured.0.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| e.contains("server=announcer")
            && e.contains("logger=disk")
            && e.contains("disk almost full")),
        "{events:?}"
    );
    pool.shutdown().await;
}
