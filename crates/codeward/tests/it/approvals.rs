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
        decisions.len() >= 4,
        "requested, approved, used, refused: {decisions:?}"
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
async fn tool_sets_that_are_not_read_only_or_idempotent_are_never_cached() {
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
