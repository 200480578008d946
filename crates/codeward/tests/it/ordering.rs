//! "Writes the audit log before returning", fail closed, and the per-execution record order.

use std::sync::Arc;
use std::time::Duration;

use codeward_core::*;
use codeward_test_support::{FailingSink, MockSandbox, RecordingSink, SlowSink};

use super::fakes::*;

const PHASES: [AuditKind; 6] = [
    AuditKind::Discovery,
    AuditKind::Security,
    AuditKind::ExecutionStarted,
    AuditKind::ToolCall,
    AuditKind::ToolCall,
    AuditKind::Execution,
];

#[tokio::test(start_paused = true)]
async fn execute_does_not_complete_before_its_audit_appends_do() {
    let sink = SlowSink::new(Duration::from_secs(5));
    let (orch, _fakes) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let start = tokio::time::Instant::now();
    let outcome = orch.execute(request("CALL 2")).await;
    let returned = tokio::time::Instant::now();
    assert!(outcome.success, "{:?}", outcome.error);

    let kinds: Vec<AuditKind> = sink.events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, PHASES);
    let done = sink.completed_at();
    assert_eq!(done.len(), PHASES.len());
    // Each append took 5 s of paused time and they ran one after the other ...
    for (i, t) in done.iter().enumerate() {
        assert_eq!(
            *t - start,
            Duration::from_secs(5 * (i as u64 + 1)),
            "append {i}"
        );
    }
    // ... and execute returned only after the last one completed.
    assert!(returned >= *done.last().unwrap());
    assert_eq!(
        returned - start,
        Duration::from_secs(5 * PHASES.len() as u64)
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_sink_delays_the_sandbox_until_execution_started_is_durable() {
    let sink = SlowSink::new(Duration::from_secs(5));
    let (orch, fakes) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let task = tokio::spawn({
        let orch = orch.clone();
        async move { orch.execute(request("CALL 0")).await }
    });
    // Discovery and security are durable after 10 s; execution_started needs 15 s.
    tokio::time::sleep(Duration::from_secs(14)).await;
    assert_eq!(
        fakes.sandbox.runs.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "sandbox started before execution_started was durable"
    );
    let outcome = task.await.unwrap();
    assert!(outcome.success);
    assert_eq!(
        fakes.sandbox.runs.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn fail_closed_the_sandbox_is_never_called_when_audit_fails() {
    let failing = FailingSink::new();
    let mut sandbox = MockSandbox::new();
    sandbox.expect_run().never();
    let (_, fakes) = orchestrator(Arc::new(RecordingSink::new()), tools()).await;
    let orch = faked(
        fakes.dir.path(),
        Arc::new(failing.clone()),
        Arc::new(sandbox),
    )
    .await;
    let outcome = orch.execute(request("CALL 1")).await;
    assert!(!outcome.success);
    match outcome.error {
        Some(ExecutionFailure::AuditUnavailable { message }) => {
            assert!(message.contains("simulated disk failure"), "{message}")
        }
        other => panic!("expected AuditUnavailable, got {other:?}"),
    }
    assert_eq!(
        failing.attempts(),
        1,
        "the first refused record stops everything"
    );
}

/// The outcome says the audit log failed before anything ran.
fn assert_nothing_ran(outcome: &ExecutionOutcome) {
    assert!(
        matches!(
            outcome.error,
            Some(ExecutionFailure::AuditUnavailable { .. })
        ),
        "{:?}",
        outcome.error
    );
}

/// The orchestrator on fakes (echoing invoker) writing to `audit`, running `sandbox`.
async fn faked(
    dir: &std::path::Path,
    audit: Arc<dyn AuditSink>,
    sandbox: Arc<dyn Sandbox>,
) -> codeward::Orchestrator {
    codeward::OrchestratorBuilder::new(config(dir))
        .audit(audit)
        .index(Arc::new(FixedIndex(tools())))
        .generator(Arc::new(FakeGenerator))
        .validator(Arc::new(FakeValidator))
        .assessor(Arc::new(FakeRisk))
        .approvals(Arc::new(codeward_test_support::MockApprovalStore::new()))
        .sandbox(sandbox)
        .invoker(Arc::new(EchoInvoker))
        .build()
        .await
        .unwrap()
}

/// Accepts the first `.1` records, then refuses every one ("disk full").
struct FailAfter(RecordingSink, usize);

#[async_trait::async_trait]
impl AuditSink for FailAfter {
    async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        if self.0.events().len() >= self.1 {
            return Err(Error::audit_unavailable("disk full", None));
        }
        self.0.append(event).await
    }
}

#[tokio::test]
async fn tool_calls_are_refused_when_their_record_cannot_be_written() {
    // The sink accepts the first three records (discovery, security, execution_started),
    // then fails: the tool call must not be dispatched.
    struct CountingInvoker(std::sync::atomic::AtomicU32);
    #[async_trait::async_trait]
    impl ToolInvoker for CountingInvoker {
        async fn call(&self, _tool: &str, _args: serde_json::Value) -> Result<ToolResult> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(ToolResult::ok(serde_json::Value::Null))
        }
    }
    let rec = RecordingSink::new();
    let dir = tempfile::tempdir().unwrap();
    let invoker = Arc::new(CountingInvoker(Default::default()));
    let orch = codeward::OrchestratorBuilder::new(config(dir.path()))
        .audit(Arc::new(FailAfter(rec.clone(), 3)))
        .index(Arc::new(FixedIndex(tools())))
        .generator(Arc::new(FakeGenerator))
        .validator(Arc::new(FakeValidator))
        .assessor(Arc::new(FakeRisk))
        .approvals(Arc::new(codeward_test_support::MockApprovalStore::new()))
        .sandbox(Arc::new(FakeSandbox::default()))
        .invoker(invoker.clone())
        .build()
        .await
        .unwrap();
    let outcome = orch.execute(request("CALL 1")).await;
    assert!(!outcome.success);
    assert_eq!(
        invoker.0.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no tool call without its record"
    );
    // The program had started: the failure must not claim that nothing ran.
    match &outcome.error {
        Some(ExecutionFailure::AuditFailedAfterStart { message }) => {
            assert!(message.contains("disk full"), "{message}")
        }
        other => panic!("expected AuditFailedAfterStart, got {other:?}"),
    }
}

#[tokio::test]
async fn an_audit_failure_after_loading_only_the_api_means_nothing_ran() {
    // No program: only the generated API is loaded (no agent code, no tool call). The sink
    // takes discovery and execution_started, then refuses the execution record.
    let dir = tempfile::tempdir().unwrap();
    let orch = faked(
        dir.path(),
        Arc::new(FailAfter(RecordingSink::new(), 2)),
        Arc::new(FakeSandbox::default()),
    )
    .await;
    let outcome = orch
        .execute(ExecutionRequest::new("search my notes", Language::Python))
        .await;
    assert_nothing_ran(&outcome);
}

/// Refuses `tool_call` records only (a transient failure, e.g. the cross-process lock timed
/// out): every other record is written.
struct RefuseToolCalls(RecordingSink);

#[async_trait::async_trait]
impl AuditSink for RefuseToolCalls {
    async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        if event.kind == AuditKind::ToolCall {
            return Err(Error::audit_unavailable("lock timeout", None));
        }
        self.0.append(event).await
    }
}

#[tokio::test]
async fn a_program_that_catches_a_refused_tool_call_does_not_end_as_a_success() {
    let rec = RecordingSink::new();
    let dir = tempfile::tempdir().unwrap();
    let orch = faked(
        dir.path(),
        Arc::new(RefuseToolCalls(rec.clone())),
        Arc::new(FakeSandbox::default()),
    )
    .await;
    let outcome = orch.execute(request("CALL 2 CATCH")).await;
    assert!(!outcome.success, "a refused record must not end in success");
    match &outcome.error {
        Some(ExecutionFailure::AuditFailedAfterStart { message }) => {
            assert!(message.contains("lock timeout"), "{message}")
        }
        other => panic!("expected AuditFailedAfterStart, got {other:?}"),
    }
    // The log took the error record, and no execution record claims success.
    let events = rec.for_execution(&outcome.execution_id);
    assert!(events.iter().any(|e| e.kind == AuditKind::Error));
    assert!(
        !events
            .iter()
            .any(|e| e.kind == AuditKind::Execution && e.severity == Severity::Info),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_refused_execution_started_record_means_nothing_ran() {
    // Discovery and security are recorded; execution_started is refused: the sandbox never
    // gets the program, and the failure says so.
    let mut sandbox = MockSandbox::new();
    sandbox.expect_run().never();
    let dir = tempfile::tempdir().unwrap();
    let orch = faked(
        dir.path(),
        Arc::new(FailAfter(RecordingSink::new(), 2)),
        Arc::new(sandbox),
    )
    .await;
    let outcome = orch.execute(request("CALL 1")).await;
    assert_nothing_ran(&outcome);
}

#[tokio::test]
async fn every_record_carries_the_execution_id_in_phase_order() {
    let sink = RecordingSink::new();
    let (orch, _f) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let outcome = orch.execute(request("CALL 2")).await;
    assert!(outcome.success, "{:?}", outcome.error);
    let events = sink.for_execution(&outcome.execution_id);
    assert_eq!(events.iter().map(|e| e.kind).collect::<Vec<_>>(), PHASES);
    assert_eq!(
        events.len(),
        sink.events().len(),
        "no record without the execution id"
    );
    let stats = orch.stats();
    assert_eq!(stats.audit_records.get("tool_call/info"), Some(&2));
    assert_eq!(stats.workspaces.completed, 1);
    assert_eq!(stats.workspaces.active, 0);
}

#[tokio::test]
async fn shutdown_refuses_new_work_and_flushes() {
    let sink = RecordingSink::new();
    let (orch, _f) = orchestrator(Arc::new(sink.clone()), tools()).await;
    assert_eq!(orch.shutdown(Duration::from_secs(1)).await.unwrap(), 0);
    let outcome = orch.execute(request("CALL 0")).await;
    assert!(
        matches!(outcome.error, Some(ExecutionFailure::Internal { ref message }) if message.contains("shutting down"))
    );
    assert!(sink.events().is_empty());
}

#[tokio::test]
async fn the_validator_sees_the_generated_api_and_its_bindings() {
    // The fake generator names the n-th tool `api_<n>.call`; only the API's bindings say
    // which tool that is, and the security record lists it.
    let sink = RecordingSink::new();
    let (orch, _fakes) = orchestrator(Arc::new(sink.clone()), tools()).await;
    let outcome = orch.execute(request("api_0.call(query='x')\nCALL 0")).await;
    assert!(outcome.success, "{:?}", outcome.error);
    let security = sink
        .events()
        .into_iter()
        .find(|e| e.kind == AuditKind::Security)
        .expect("a security record");
    let used = security.metadata["tools_used"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(used.len(), 1, "{:?}", security.metadata);
}

/// Waits (on a std channel, blocking its thread) until the test says go, or 10 s.
struct BlockingValidator {
    entered: Arc<tokio::sync::Notify>,
    go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl CodeValidator for BlockingValidator {
    fn validate(
        &self,
        code: &str,
        language: Language,
        tools: &[ToolSchema],
    ) -> Result<ValidationReport> {
        self.entered.notify_one();
        let go = self
            .go
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        match go {
            Ok(()) => FakeValidator.validate(code, language, tools),
            Err(_) => Err(Error::invalid(
                "validator",
                "never told to go: it blocked the runtime",
            )),
        }
    }
}

#[tokio::test]
async fn validation_runs_off_the_async_runtime() {
    // One runtime thread (the test's). A validator that blocks its thread until another task
    // on this runtime tells it to go only finishes if it does not run on the runtime: a large
    // program's validation used to stall every other request of `codeward serve`.
    let entered = Arc::new(tokio::sync::Notify::new());
    let (go, wait) = std::sync::mpsc::channel();
    let validator = BlockingValidator {
        entered: entered.clone(),
        go: std::sync::Mutex::new(wait),
    };
    let (orch, _fakes) = orchestrator_with(Arc::new(RecordingSink::new()), tools(), |b| {
        b.validator(Arc::new(validator))
    })
    .await;
    let task = tokio::spawn(async move { orch.execute(request("CALL 1")).await });
    entered.notified().await;
    go.send(()).unwrap();
    let outcome = task.await.unwrap();
    assert!(outcome.success, "{:?}", outcome.error);
}
