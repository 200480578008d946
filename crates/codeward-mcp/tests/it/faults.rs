//! Servers that misbehave: missing, dying at start, writing garbage, hanging, crashing.
//! Each test checks the error names the server and that the rest of the pool keeps working.

use crate::support::{alive, fake, options, pool};
use codeward_mcp::{LoadOutcome, McpError, RestartPolicy, ServerHealth, StdioServer};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_missing_command_names_server_and_command() {
    let pool = pool(
        vec![(
            "ghost",
            StdioServer::new("/nonexistent/mcp-ghost").arg("--stdio"),
        )],
        options(),
    );
    let error = pool.list_tools("ghost").await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, McpError::StartFailed { .. }), "{text}");
    for part in [
        "\"ghost\"",
        "/nonexistent/mcp-ghost --stdio",
        "not found",
        "wrote nothing to stderr",
    ] {
        assert!(text.contains(part), "{text} (missing {part:?})");
    }
    assert!(
        matches!(pool.health("ghost").unwrap(), ServerHealth::Unhealthy { reason } if reason.contains("not found"))
    );
}

#[tokio::test]
async fn a_server_dying_at_start_shows_its_exit_and_stderr_tail() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(
        vec![("keyless", fake("exit-at-start", state.path()))],
        options(),
    );
    let text = pool.list_tools("keyless").await.unwrap_err().to_string();
    for part in [
        "\"keyless\"",
        "fake_server.py exit-at-start",
        "exit status: 2",
        "fatal: FAKE_API_KEY is not set",
    ] {
        assert!(text.contains(part), "{text} (missing {part:?})");
    }
}

#[tokio::test]
async fn garbage_on_stdout_marks_only_that_server_unhealthy() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(
        vec![
            ("noisy", fake("garbage-at-start", state.path())),
            ("chatty", fake("garbage-on-call", state.path())),
            ("good", fake("ok", state.path())),
        ],
        options().restart(RestartPolicy::never()),
    );
    let load = pool.load_tools().await;
    let outcome = |name: &str| {
        load.servers
            .iter()
            .find(|s| s.server == name)
            .map(|s| s.outcome.clone())
    };
    let Some(LoadOutcome::Failed { error }) = outcome("noisy") else {
        panic!("{load:?}")
    };
    assert!(
        error.contains("protocol violation") && error.contains("Starting fake server"),
        "{error}"
    );
    assert_eq!(outcome("good"), Some(LoadOutcome::Loaded { tools: 7 }));
    assert_eq!(outcome("chatty"), Some(LoadOutcome::Loaded { tools: 7 }));

    // A server that breaks the protocol mid-session loses its connection at once (no
    // waiting for the deadline) and is marked unhealthy.
    let error = pool.call_tool("chatty.echo", json!({})).await.unwrap_err();
    assert!(matches!(error, McpError::ConnectionLost { .. }), "{error}");
    assert!(
        error.to_string().contains("DEBUG: handling call"),
        "{error}"
    );
    let ServerHealth::Unhealthy { reason } = pool.health("chatty").unwrap() else {
        panic!("still healthy")
    };
    assert!(reason.contains("protocol violation"), "{reason}");

    // The good one is untouched.
    let echo = pool
        .call_tool("good.echo", json!({"still": "here"}))
        .await
        .unwrap();
    assert_eq!(echo.value, json!({"still": "here"}));
    assert!(pool.health("good").unwrap().is_healthy());
    pool.shutdown().await;
}

#[tokio::test]
async fn a_hung_server_times_out_and_is_stopped_after_repeated_timeouts() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(
        vec![
            ("hung", fake("hang-on-call", state.path())),
            ("good", fake("ok", state.path())),
        ],
        options().timeouts_before_restart(2),
    );
    // Only the calls that must time out get a short deadline; the rest keep the default so
    // a loaded machine cannot make them fail.
    let hung_call =
        || pool.call_tool_with_timeout("hung.echo", json!({}), Duration::from_millis(300));
    pool.list_tools("hung").await.unwrap();
    let pid = pool.status()[1].pid.unwrap();
    let error = hung_call().await.unwrap_err();
    assert!(
        matches!(&error, McpError::Timeout { server, .. } if server == "hung"),
        "{error}"
    );
    // One timeout: the server still answers other requests, nothing is stuck.
    assert!(pool.health("hung").unwrap().is_healthy());
    assert_eq!(pool.list_tools("hung").await.unwrap().len(), 7);
    // Two in a row (no answer in between): considered hung, killed, unhealthy.
    for _ in 0..2 {
        let error = hung_call().await.unwrap_err();
        assert!(matches!(error, McpError::Timeout { .. }), "{error}");
    }
    let ServerHealth::Unhealthy { reason } = pool.health("hung").unwrap() else {
        panic!("still healthy")
    };
    assert!(reason.contains("timed out"), "{reason}");
    let stats = pool.stats("hung").unwrap();
    assert_eq!((stats.calls, stats.timeouts, stats.errors), (3, 3, 3));
    assert!(pool.call_tool("good.echo", json!({})).await.is_ok());
    pool.shutdown().await;
    assert!(!alive(pid));
}

#[tokio::test]
async fn deadlines_given_through_the_tool_invoker_seam_count_toward_a_hung_server() {
    // The sandbox bridge calls `ToolInvoker::call_within` with its per-call timeout; the pool
    // must be the one to see it pass, or a hung server would never be stopped.
    use codeward_core::ToolInvoker;
    let state = tempfile::tempdir().unwrap();
    // The pool's own default would wait an hour: only the deadline given can end the calls.
    let pool = pool(
        vec![("hung", fake("hang-on-call", state.path()))],
        options()
            .timeouts_before_restart(2)
            .call_timeout(Duration::from_secs(3600)),
    );
    pool.list_tools("hung").await.unwrap();
    for _ in 0..2 {
        // The outer bound keeps a regression from hanging the suite; not a timing claim.
        let call = pool.call_within("hung.echo", json!({}), Duration::from_millis(300));
        let error = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("the deadline given ended the call")
            .unwrap_err();
        assert!(
            matches!(error, codeward_core::Error::Timeout { .. }),
            "{error}"
        );
    }
    assert_eq!(pool.stats("hung").unwrap().timeouts, 2);
    assert!(
        matches!(pool.health("hung").unwrap(), ServerHealth::Unhealthy { .. }),
        "two timeouts in a row stop the server"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn a_server_that_never_initializes_fails_to_start_in_time() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(
        vec![("mute", fake("hang-init", state.path()))],
        // Long enough for Python to start and say "ready" on a loaded machine.
        options().startup_timeout(Duration::from_secs(2)),
    );
    let text = pool.list_tools("mute").await.unwrap_err().to_string();
    assert!(
        text.contains("\"mute\"") && text.contains("no answer to initialize"),
        "{text}"
    );
    assert!(
        text.contains("fake server ready (mode hang-init)"),
        "stderr tail missing: {text}"
    );
}

#[tokio::test]
async fn a_server_exiting_mid_call_is_restarted_and_a_later_call_succeeds() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("flaky", fake("crash-once", state.path()))], options());
    pool.list_tools("flaky").await.unwrap();
    let first_pid = pool.status()[0].pid.unwrap();

    let error = pool
        .call_tool("flaky.echo", json!({"n": 1}))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, McpError::ConnectionLost { .. }), "{text}");
    assert!(
        text.contains("exit status: 3") && text.contains("crashing on purpose"),
        "{text}"
    );
    assert!(matches!(
        pool.health("flaky").unwrap(),
        ServerHealth::Unhealthy { .. }
    ));

    let echo = pool.call_tool("flaky.echo", json!({"n": 2})).await.unwrap();
    assert_eq!(echo.value, json!({"n": 2}));
    let status = &pool.status()[0];
    assert!(status.health.is_healthy());
    assert_eq!(status.stats.restarts, 1);
    assert_ne!(status.pid, Some(first_pid));
    pool.shutdown().await;
}

#[tokio::test]
async fn restarts_are_bounded_until_reset() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(
        vec![("broken", fake("exit-at-start", state.path()))],
        options().restart(
            RestartPolicy::default()
                .max_restarts(2)
                .backoff(Duration::from_millis(1), Duration::from_millis(4)),
        ),
    );
    // The first start and two restarts fail with the start error...
    for _ in 0..3 {
        let error = pool.call_tool("broken.echo", json!({})).await.unwrap_err();
        assert!(matches!(error, McpError::StartFailed { .. }), "{error}");
    }
    // ...then the server is given up on, without spawning anything.
    let error = pool.call_tool("broken.echo", json!({})).await.unwrap_err();
    assert!(
        matches!(&error, McpError::Unavailable { attempts: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("FAKE_API_KEY"), "{error}");
    // A reset gives a fresh budget.
    pool.reset("broken").unwrap();
    let error = pool.call_tool("broken.echo", json!({})).await.unwrap_err();
    assert!(matches!(error, McpError::StartFailed { .. }), "{error}");
    assert_eq!(pool.stats("broken").unwrap().errors, 5);
}

#[tokio::test]
async fn what_a_server_left_in_its_group_is_killed_when_it_exits() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(
        vec![("parent", fake("spawns-child", state.path()))],
        options(),
    );
    pool.list_tools("parent").await.unwrap();
    let grandchild: u32 = std::fs::read_to_string(state.path().join("grandchild"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(alive(grandchild));
    let error = pool.call_tool("parent.crash", json!({})).await.unwrap_err();
    assert!(error.to_string().contains("exit status: 3"), "{error}");
    // The exit is known (it is in the error), so the group was killed when the leader's exit
    // was seen, before it was reaped: while the group id could not name anyone else's group.
    // No call since, so the dead connection is still in the pool; its leftover must not
    // wait for that. The kill was sent; its delivery is the kernel's, so wait (bounded).
    for _ in 0..500 {
        if !alive(grandchild) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!alive(grandchild), "the server's child outlived it");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_server_killed_while_idle_shows_unhealthy_and_restarts_on_the_next_call() {
    let state = tempfile::tempdir().unwrap();
    let pool = pool(vec![("victim", fake("ok", state.path()))], options());
    pool.list_tools("victim").await.unwrap();
    let pid = pool.status()[0].pid.unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The exit is noticed by the pool's waiter task; give it a bounded while.
    let mut health = pool.health("victim").unwrap();
    for _ in 0..500 {
        if !health.is_healthy() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        health = pool.health("victim").unwrap();
    }
    let ServerHealth::Unhealthy { reason } = health else {
        panic!("still healthy")
    };
    assert!(reason.contains("signal: 9"), "{reason}");
    let echo = pool
        .call_tool("victim.echo", json!({"back": true}))
        .await
        .unwrap();
    assert_eq!(echo.value, json!({"back": true}));
    assert_eq!(pool.stats("victim").unwrap().restarts, 1);
    assert!(pool.health("victim").unwrap().is_healthy());
    pool.shutdown().await;
}
