//! Starts: one per server at a time, shared by every caller waiting for it, inside each
//! caller's deadline, and carried to the end even when every caller gives up.

use crate::support::{alive, fake, options, pool, starts};
use codeward_mcp::{McpError, RestartPolicy};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_call_deadline_covers_waiting_for_a_start_and_the_start_goes_on() {
    let state = tempfile::tempdir().unwrap();
    let hold = state.path().join("hold");
    std::fs::write(&hold, "").unwrap();
    let pool = pool(vec![("slow", fake("ok", state.path()))], options());
    let patient = tokio::spawn({
        let pool = pool.clone();
        async move { pool.call_tool("slow.echo", json!({"n": 1})).await }
    });
    // Another caller waits for the same start, which cannot finish while held: only its own
    // deadline can end its call. The outer bound keeps a regression from hanging the suite.
    let impatient =
        pool.call_tool_with_timeout("slow.echo", json!({"n": 2}), Duration::from_millis(300));
    let error = tokio::time::timeout(Duration::from_secs(60), impatient)
        .await
        .expect("the deadline ended the call while the server was starting")
        .unwrap_err();
    assert!(
        matches!(&error, McpError::Timeout { server, .. } if server == "slow"),
        "{error}"
    );
    assert!(error.to_string().contains("starting the server"), "{error}");

    // The start was not disturbed: released, it serves the patient caller, from one process.
    std::fs::remove_file(&hold).unwrap();
    let echo = patient.await.unwrap().unwrap();
    assert_eq!(echo.value, json!({"n": 1}));
    assert_eq!(starts(state.path()), 1);
    let stats = pool.stats("slow").unwrap();
    assert_eq!(
        (stats.calls, stats.timeouts, stats.errors, stats.restarts),
        (2, 1, 1, 0)
    );
    // A deadline that passed before anything was asked says nothing about the server.
    assert!(pool.health("slow").unwrap().is_healthy());
    pool.shutdown().await;
}

#[tokio::test]
async fn a_caller_dropped_during_a_restart_does_not_spend_the_restart_budget() {
    let state = tempfile::tempdir().unwrap();
    let hold = state.path().join("hold");
    let pool = pool(
        vec![("flaky", fake("crash-once", state.path()))],
        options().restart(options().restart.max_restarts(1)),
    );
    pool.list_tools("flaky").await.unwrap();
    let error = pool.call_tool("flaky.echo", json!({})).await.unwrap_err();
    assert!(matches!(error, McpError::ConnectionLost { .. }), "{error}");

    // The restart is held open and its caller dropped, as the sandbox bridge's timer drops
    // the future of a call that took too long.
    std::fs::write(&hold, "").unwrap();
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        pool.call_tool("flaky.echo", json!({"n": 1})),
    )
    .await;
    assert!(dropped.is_err(), "the held restart answered: {dropped:?}");

    // That one restart, released, is the one the next call uses: the budget of one is not
    // spent twice.
    std::fs::remove_file(&hold).unwrap();
    let echo = pool.call_tool("flaky.echo", json!({"n": 2})).await.unwrap();
    assert_eq!(echo.value, json!({"n": 2}));
    assert_eq!(starts(state.path()), 2);
    assert_eq!(pool.stats("flaky").unwrap().restarts, 1);
    assert!(pool.health("flaky").unwrap().is_healthy());
    pool.shutdown().await;
}

#[tokio::test]
async fn the_restart_backoff_counts_against_the_call_deadline() {
    let state = tempfile::tempdir().unwrap();
    let hour = Duration::from_secs(3600);
    let pool = pool(
        vec![("broken", fake("exit-at-start", state.path()))],
        options().restart(RestartPolicy::default().backoff(hour, hour)),
    );
    let error = pool.call_tool("broken.echo", json!({})).await.unwrap_err();
    assert!(matches!(error, McpError::StartFailed { .. }), "{error}");
    // The restart waits an hour before it spawns anything; on the paused clock the call's
    // one-second deadline passes first, and nothing else can end the call.
    tokio::time::pause();
    let error = pool
        .call_tool_with_timeout("broken.echo", json!({}), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, McpError::Timeout { after, .. } if *after == Duration::from_secs(1)),
        "{error}"
    );
    assert_eq!(starts(state.path()), 1);
}

#[tokio::test]
async fn shutdown_during_a_start_kills_what_it_spawned_and_fails_its_callers() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("hold"), "").unwrap();
    let pool = pool(vec![("slow", fake("ok", state.path()))], options());
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.call_tool("slow.echo", json!({})).await }
    });
    // The server writes its pid when it runs; until then there is nothing to look at.
    for _ in 0..1000 {
        if starts(state.path()) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid: u32 = std::fs::read_to_string(state.path().join("starts"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The start is held: only the shutdown can end it. The bound keeps a regression from
    // hanging the suite.
    tokio::time::timeout(Duration::from_secs(60), pool.shutdown())
        .await
        .expect("shutdown ended the start");
    assert!(!alive(pid), "the server being started survived shutdown");
    let error = waiting.await.unwrap().unwrap_err();
    assert!(matches!(error, McpError::ShutDown), "{error}");
}
