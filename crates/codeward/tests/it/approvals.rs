//! The approval flow end to end, and the result cache (still audited on a hit).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use codeward_core::*;
use codeward_test_support::RecordingSink;

use super::fakes::*;

#[tokio::test]
async fn approve_then_rerun_runs_and_another_program_is_refused() {
    let sink = RecordingSink::new();
    let (orch, fakes) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let risky = "import os; os.system('ls')";
    let first = orch.execute(request(risky)).await;
    let Some(ExecutionFailure::ApprovalRequired { approval_id }) = first.error else {
        panic!("{:?}", first.error)
    };
    assert_eq!(fakes.sandbox.runs.load(Ordering::SeqCst), 0);

    let ticket = orch
        .approvals()
        .decide(&approval_id, ApprovalDecision::approve("ops", "reviewed"))
        .await
        .unwrap();
    assert!(matches!(ticket.status, ApprovalStatus::Approved { .. }));

    let approved = orch
        .execute(request(risky).with_approval(approval_id.clone()))
        .await;
    assert!(approved.success, "{:?}", approved.error);
    assert_eq!(fakes.sandbox.runs.load(Ordering::SeqCst), 1);
    let used: Vec<_> = sink
        .for_execution(&approved.execution_id)
        .into_iter()
        .filter(|e| e.kind == AuditKind::Approval)
        .collect();
    assert_eq!(used[0].metadata["decision"], "used");
    // Its own critical risk assessment is not a critical security event: an approved program
    // would otherwise trip the anomaly detector every time it runs.
    let records = sink.for_execution(&approved.execution_id);
    let execution = records
        .iter()
        .find(|e| e.kind == AuditKind::Execution)
        .unwrap();
    assert_eq!(execution.metadata["critical_events"], 0, "{execution:?}");
    assert!(
        !records.iter().any(|e| e.message.contains("anomal")),
        "{records:#?}"
    );

    // Bound to the principal that requested it: the same program under another is refused.
    let mallory = orch
        .execute(
            request(risky)
                .with_principal("mallory")
                .with_approval(approval_id.clone()),
        )
        .await;
    assert!(
        matches!(mallory.error, Some(ExecutionFailure::ApprovalRefused { ref message }) if message.contains("another principal")),
        "{:?}",
        mallory.error
    );
    assert_eq!(fakes.sandbox.runs.load(Ordering::SeqCst), 1);

    let other = orch
        .execute(request("import os; os.system('rm -rf /')").with_approval(approval_id.clone()))
        .await;
    assert!(
        matches!(other.error, Some(ExecutionFailure::ApprovalRefused { ref message }) if message.contains("differs")),
        "{:?}",
        other.error
    );
    assert_eq!(fakes.sandbox.runs.load(Ordering::SeqCst), 1);
    let refused: Vec<_> = sink
        .for_execution(&other.execution_id)
        .into_iter()
        .filter(|e| e.kind == AuditKind::Approval)
        .collect();
    assert_eq!(refused[0].metadata["decision"], "refused");

    // Every state change of the store is in the same audit trail.
    let decisions: Vec<String> = sink
        .events()
        .iter()
        .filter(|e| e.kind == AuditKind::Approval)
        .map(|e| {
            e.metadata
                .get("decision")
                .and_then(|d| d.as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    assert!(
        decisions.len() >= 5,
        "requested, approved, used, refused twice: {decisions:?}"
    );
}

#[tokio::test]
async fn a_cache_hit_is_still_audited_and_skips_the_sandbox() {
    let sink = RecordingSink::new();
    let (orch, fakes) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let first = orch.execute(request("CALL 1")).await;
    assert!(first.success && !first.cached);
    let second = orch.execute(request("CALL 1")).await;
    assert!(second.success && second.cached);
    assert_eq!(second.output, first.output);
    assert_ne!(second.execution_id, first.execution_id);
    assert_eq!(fakes.sandbox.runs.load(Ordering::SeqCst), 1);
    let kinds: Vec<AuditKind> = sink
        .for_execution(&second.execution_id)
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            AuditKind::Discovery,
            AuditKind::Security,
            AuditKind::Execution
        ]
    );
    assert_eq!(
        sink.for_execution(&second.execution_id)[2].metadata["cached"],
        true
    );
    assert_eq!((orch.stats().cache_hits, orch.stats().cache_misses), (1, 1));
}

#[tokio::test]
async fn tool_sets_that_are_not_read_only_are_never_cached() {
    let sink = RecordingSink::new();
    let writer = vec![
        ToolSchema::new(
            "notes_add",
            "Add a note",
            serde_json::json!({"type": "object"}),
        )
        .with_server("demo"),
    ];
    let (orch, fakes) = orchestrator(Arc::new(sink.clone()), writer).await;
    for _ in 0..2 {
        assert!(!orch.execute(request("CALL 1")).await.cached);
    }
    assert_eq!(fakes.sandbox.runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_program_that_writes_with_an_idempotent_tool_runs_every_time() {
    // As the bundled catalogue marks filesystem.write_file: destructive and idempotent. A
    // program that reads a.txt and writes b.txt must write again on every run (a.txt may have
    // changed), not be answered from the cache.
    let mut write = ToolAnnotations::default();
    write.read_only_hint = Some(false);
    write.destructive_hint = Some(true);
    write.idempotent_hint = Some(true);
    write.open_world_hint = Some(false);
    let tools = read_and_write("fs", "read_text_file", "write_file", write);
    runs_every_time(tools, "EACH_TOOL").await;
}

/// Server `server`'s read-only tool `read` and its tool `write` with the hints `write_hints`.
fn read_and_write(
    server: &str,
    read: &str,
    write: &str,
    write_hints: ToolAnnotations,
) -> Vec<ToolSchema> {
    vec![
        ToolSchema::new(read, "Reads", serde_json::json!({}))
            .with_server(server)
            .with_annotations(ToolAnnotations::read_only()),
        ToolSchema::new(write, "Writes", serde_json::json!({}))
            .with_server(server)
            .with_annotations(write_hints),
    ]
}

#[tokio::test]
async fn a_write_through_the_orchestrator_ends_the_cached_reads() {
    // notes_list is cached; notes_add changes what it returns: the next notes_list runs.
    let mut add = ToolAnnotations::default();
    add.read_only_hint = Some(false);
    add.destructive_hint = Some(false);
    add.open_world_hint = Some(false);
    let tools = read_and_write("demo", "notes_list", "notes_add", add);
    let (orch, fakes) = orchestrator(Arc::new(RecordingSink::new()), tools).await;
    let list = || request("EACH_TOOL").with_tools(["demo.notes_list"]);
    assert!(!orch.execute(list()).await.cached);
    assert!(orch.execute(list()).await.cached, "a read is cached");
    let added = orch
        .execute(request("EACH_TOOL").with_tools(["demo.notes_add"]))
        .await;
    assert!(added.success && !added.cached, "{added:?}");
    let after = orch.execute(list()).await;
    assert!(after.success && !after.cached, "read again after the write");
    assert!(orch.execute(list()).await.cached, "and cached again");
    assert_eq!(fakes.sandbox.runs.load(Ordering::SeqCst), 3);
}

/// `program` over `tools` succeeds twice, and both times it ran: no cache hit.
async fn runs_every_time(tools: Vec<ToolSchema>, program: &str) {
    let (orch, fakes) = orchestrator(Arc::new(RecordingSink::new()), tools).await;
    for _ in 0..2 {
        let outcome = orch.execute(request(program)).await;
        assert!(outcome.success && !outcome.cached, "{outcome:?}");
    }
    assert_eq!(fakes.sandbox.runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn read_only_tools_that_reach_the_open_world_are_not_cached() {
    let mut web = ToolAnnotations::read_only();
    web.open_world_hint = None; // MCP: open unless said otherwise
    let tools = vec![
        ToolSchema::new("fetch", "Fetch a page", serde_json::json!({}))
            .with_server("web")
            .with_annotations(web),
    ];
    runs_every_time(tools, "CALL 1").await;
}

#[tokio::test]
async fn a_run_whose_failed_tool_call_the_program_caught_is_not_cached() {
    // A transient failure (a server restarting) must not be served as the answer for the
    // cache's lifetime: the next run calls the tool again.
    let tools = vec![
        ToolSchema::new("broken_read", "Read, but fails", serde_json::json!({}))
            .with_server("demo")
            .with_annotations(ToolAnnotations::read_only()),
    ];
    runs_every_time(tools, "CALL 1 CATCH").await;
}

#[tokio::test]
async fn a_run_that_hit_a_limit_is_not_cached_even_when_it_succeeded() {
    runs_every_time(tools(), "TRUNCATED_OK").await;
}
