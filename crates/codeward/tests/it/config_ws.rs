//! Configuration parsing and workspaces; progressive disclosure without a program.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use codeward::{Config, WorkspaceManager, WorkspaceStatus};
use codeward_core::*;
use codeward_test_support::RecordingSink;

use super::fakes::*;

#[test]
fn an_empty_config_is_all_defaults_and_paths_derive_from_data_dir() {
    let c = Config::from_toml("", Path::new("c.toml")).unwrap();
    assert_eq!(c, Config::default());
    let c = Config::from_toml(
        "data_dir = \"/srv/cw\"\n[limits]\ntimeout_ms = 5000\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert_eq!(c.audit_dir(), Path::new("/srv/cw/audit"));
    assert_eq!(c.audit_key_file(), Path::new("/srv/cw/keys/audit.key"));
    assert_eq!(c.limits.to_limits().timeout, Duration::from_secs(5));
}

#[test]
fn unknown_keys_and_bad_values_are_errors_naming_the_file_and_key() {
    let err = Config::from_toml("[cache]\nttl = 3\n", Path::new("/etc/codeward.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/etc/codeward.toml") && err.contains("ttl"),
        "{err}"
    );
    let err = Config::from_toml("[limits]\ntimeout_ms = \"soon\"\n", Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("timeout_ms"), "{err}");
    let err = Config::from_toml("[audit]\ndurability = \"sometimes\"\n", Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.toml") && err.contains("durability") && err.contains("sometimes"),
        "{err}"
    );
    for (text, key) in [
        ("[cache]\nttl_secs = 40000000000\n", "ttl_secs"),
        ("[approvals]\nttl_secs = 0\n", "ttl_secs"),
        ("[approvals]\napproved_ttl_secs = 0\n", "approved_ttl_secs"),
        // A zero limit failed every run with a message about the limit, not the setting.
        ("[limits]\ntimeout_ms = 0\n", "[limits] timeout_ms = 0"),
        ("[limits]\ncpu_ms = 0\n", "[limits] cpu_ms = 0"),
        ("[limits]\nmemory_bytes = 0\n", "[limits] memory_bytes = 0"),
        (
            "[limits]\nmax_output_bytes = 0\n",
            "[limits] max_output_bytes = 0",
        ),
        (
            "[limits]\ntool_call_timeout_ms = 0\n",
            "tool_call_timeout_ms",
        ),
        (
            "[limits]\nmax_processes = 0\n",
            "[limits] max_processes = 0",
        ),
    ] {
        let err = Config::from_toml(text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml") && err.contains(key), "{err}");
    }
    // The cache itself never panics on a long TTL (moka refuses more than 1000 years).
    let _cache = codeward::MokaCache::new(10, Duration::MAX);
    let flush = Config::from_toml("[audit]\ndurability = \"flush\"\n", Path::new("x.toml"));
    assert_eq!(flush.unwrap().audit.durability, "flush");
}

#[tokio::test]
async fn the_approval_store_takes_its_ttl_and_lock_timeout_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "data_dir = {:?}\n[approvals]\nttl_secs = 60\napproved_ttl_secs = 120\nlock_timeout_ms = 250\n",
        dir.path()
    );
    let c = Config::from_toml(&text, Path::new("c.toml")).unwrap();
    let store = codeward::approval_store(&c, Arc::new(RecordingSink::new()))
        .await
        .unwrap();
    assert_eq!(store.path(), dir.path().join("approvals.json"));
    assert_eq!(store.ttl(), Duration::from_secs(60));
    assert_eq!(store.lock_timeout(), Duration::from_millis(250));
    assert_eq!(store.approved_ttl(), Duration::from_secs(120));
    let defaults = Config::default().approvals;
    assert_eq!(
        (defaults.ttl_secs, defaults.lock_timeout_ms),
        (86_400, 10_000)
    );
}

#[test]
fn an_empty_data_dir_variable_is_an_error_not_the_current_directory() {
    let mut c = Config::default();
    let err = c
        .apply_env(|k| (k == "CODEWARD_DATA_DIR").then(String::new))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CODEWARD_DATA_DIR") && err.contains("empty"),
        "{err}"
    );
}

#[test]
fn environment_overrides_win_and_bad_values_are_named() {
    let mut c = Config::default();
    c.apply_env(|k| match k {
        "CODEWARD_DATA_DIR" => Some("/tmp/cw".into()),
        "CODEWARD_TIMEOUT_MS" => Some("1500".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.audit_dir(), Path::new("/tmp/cw/audit"));
    assert_eq!(c.limits.timeout_ms, 1500);
    let err = Config::default()
        .apply_env(|k| (k == "CODEWARD_TIMEOUT_MS").then(|| "fast".into()))
        .unwrap_err();
    assert!(err.to_string().contains("CODEWARD_TIMEOUT_MS"), "{err}");
    let err = Config::default()
        .apply_env(|k| (k == "CODEWARD_TIMEOUT_MS").then(|| "0".into()))
        .unwrap_err();
    assert!(err.to_string().contains("above 0"), "{err}");
    // No tool calls at all is a policy, not a mistake.
    let c = Config::from_toml("[limits]\nmax_tool_calls = 0\n", Path::new("x.toml")).unwrap();
    assert_eq!(c.limits.max_tool_calls, 0);
}

#[test]
fn workspaces_are_removed_on_drop_and_stale_ones_of_dead_processes_are_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let wm = WorkspaceManager::new(tmp.path());
    let mut ws = wm.open("ex-1").unwrap();
    assert!(ws.dir().join("status.json").is_file());
    ws.set_status(WorkspaceStatus::Running);
    assert_eq!(
        wm.open_workspaces(),
        vec![("ex-1".to_owned(), WorkspaceStatus::Running)]
    );
    let dir = ws.dir().to_owned();
    drop(ws);
    assert!(!dir.exists());
    assert_eq!(
        wm.stats().failed,
        1,
        "dropped while running counts as failed"
    );

    // A crashed process left a workspace behind (a pid that cannot exist).
    let orphan = tmp.path().join("ex-orphan");
    std::fs::create_dir(&orphan).unwrap();
    std::fs::write(
        orphan.join("status.json"),
        r#"{"execution_id":"ex-orphan","status":"running","pid":4194399}"#,
    )
    .unwrap();
    let live = wm.open("ex-live").unwrap();
    assert_eq!(wm.cleanup_stale(Duration::ZERO), 1);
    assert!(!orphan.exists());
    assert!(live.dir().exists(), "open workspaces are never cleaned");
}

#[tokio::test]
async fn without_a_program_execute_returns_the_typed_api_after_a_load_check() {
    let sink = RecordingSink::new();
    let (orch, fakes) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let o = orch
        .execute(ExecutionRequest::new("search my notes", Language::Python))
        .await;
    assert!(o.success, "{:?}", o.error);
    assert!(
        o.output["module"]
            .as_str()
            .unwrap()
            .contains("api for demo.notes_search")
    );
    assert_eq!(o.output["summary_tokens"], 5);
    assert_eq!(
        fakes.sandbox.runs.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the module was loaded in the sandbox"
    );
    let kinds: Vec<AuditKind> = sink
        .for_execution(&o.execution_id)
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            AuditKind::Discovery,
            AuditKind::ExecutionStarted,
            AuditKind::Execution
        ]
    );
    assert_eq!(sink.events()[2].metadata["mode"], "api_only");
}

#[tokio::test]
async fn a_generated_api_that_does_not_load_is_an_internal_failure_not_a_program_failure() {
    let broken = vec![
        ToolSchema::new(
            "broken_api",
            "fails to load",
            serde_json::json!({"type": "object"}),
        )
        .with_server("demo"),
    ];
    let (orch, _fakes) = orchestrator(Arc::new(RecordingSink::new()), broken).await;
    let o = orch
        .execute(ExecutionRequest::new("search my notes", Language::Python))
        .await;
    match &o.error {
        Some(ExecutionFailure::Internal { message }) => {
            assert!(message.contains("generated API did not load"), "{message}")
        }
        other => panic!("expected an internal failure, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_janitor_cleans_stale_workspaces_periodically_until_shutdown() {
    let sink = RecordingSink::new();
    let (orch, fakes) = orchestrator(Arc::new(sink), tools()).await;
    let root = fakes.dir.path().join("workspaces");
    let orphan = root.join("ex-orphan");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(
        orphan.join("status.json"),
        r#"{"execution_id":"ex-orphan","status":"running","pid":4194399}"#,
    )
    .unwrap();
    let janitor = orch.spawn_janitor(Duration::from_secs(60), Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(61)).await;
    // The cleanup is blocking file I/O inside the task: give it a moment of real scheduling.
    for _ in 0..100 {
        if !orphan.exists() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(!orphan.exists());
    let _ = orch.shutdown(Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert!(janitor.is_finished());
}
