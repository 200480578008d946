//! Cancellation: a cancelled execution (by its caller or by `shutdown`'s deadline) kills its
//! program, makes no further tool call, and still ends with durable `execution` and `error`
//! records marked `cancelled`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use codeward::{CANCELLED_KEY, Orchestrator};
use codeward_core::AuditKind::*;
use codeward_core::*;
use codeward_test_support::RecordingSink;

use super::fakes::*;

/// The orchestrator on fakes with `sandbox`, a counting invoker and `audit`.
async fn with_sandbox(
    audit: Arc<dyn AuditSink>,
    sandbox: Arc<SlowSandbox>,
) -> (Orchestrator, Arc<CountingInvoker>, Fakes) {
    let invoker = Arc::new(CountingInvoker::default());
    let (orch, fakes) = orchestrator_with(audit, tools(), |b| {
        b.sandbox(sandbox).invoker(invoker.clone())
    })
    .await;
    (orch, invoker, fakes)
}

/// `execute_cancellable(request("slow"), cancel)` on a task, once its program has started.
async fn started(
    orch: &Orchestrator,
    sandbox: &SlowSandbox,
    cancel: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<ExecutionOutcome> {
    let orch = orch.clone();
    let task = tokio::spawn(async move { orch.execute_cancellable(request("slow"), cancel).await });
    sandbox.entered.notified().await;
    task
}

fn kinds(sink: &RecordingSink, outcome: &ExecutionOutcome) -> Vec<AuditKind> {
    sink.for_execution(&outcome.execution_id)
        .iter()
        .map(|e| e.kind)
        .collect()
}

/// The outcome is a cancellation, and its `execution` (when `started`) and `error` records
/// say why.
fn assert_cancelled(sink: &RecordingSink, outcome: &ExecutionOutcome, why: &str) {
    assert!(!outcome.success);
    assert!(Orchestrator::was_cancelled(outcome), "{:?}", outcome.error);
    assert!(
        matches!(&outcome.error, Some(ExecutionFailure::Cancelled { message }) if !message.is_empty()),
        "{:?}",
        outcome.error
    );
    let events = sink.for_execution(&outcome.execution_id);
    let error = events.last().expect("records");
    assert_eq!(error.kind, Error);
    assert_eq!(error.metadata[CANCELLED_KEY], why, "{:?}", error.metadata);
    if let Some(execution) = events.iter().find(|e| e.kind == Execution) {
        assert_eq!(execution.metadata[CANCELLED_KEY], why);
        assert_eq!(execution.metadata["success"], false);
        assert_eq!(execution.message, "execution cancelled");
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_execution_kills_its_program_and_records_the_cancellation() {
    let sink = RecordingSink::new();
    let sandbox = Arc::new(SlowSandbox::new(Duration::from_secs(60)));
    let (orch, invoker, _fakes) = with_sandbox(Arc::new(sink.clone()), sandbox.clone()).await;
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let task = started(&orch, &sandbox, async {
        let _ = cancelled.await;
    })
    .await;
    cancel.send(()).unwrap();
    let outcome = task.await.unwrap();

    assert_cancelled(&sink, &outcome, "requested");
    assert_eq!(
        kinds(&sink, &outcome),
        [Discovery, Security, ExecutionStarted, Execution, Error]
    );
    assert_eq!(
        sandbox.killed.load(Ordering::SeqCst),
        1,
        "the run was dropped"
    );
    // Long after the program would have made its tool call, it has made none.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(invoker.0.load(Ordering::SeqCst), 0);
    assert!(!kinds(&sink, &outcome).contains(&ToolCall));
    assert_eq!(orch.stats().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_request_cancelled_before_it_starts_runs_nothing() {
    let sink = RecordingSink::new();
    let sandbox = Arc::new(SlowSandbox::new(Duration::from_secs(1)));
    let (orch, invoker, _fakes) = with_sandbox(Arc::new(sink.clone()), sandbox.clone()).await;
    let outcome = orch
        .execute_cancellable(request("slow"), std::future::ready(()))
        .await;
    assert_cancelled(&sink, &outcome, "requested");
    assert_eq!(kinds(&sink, &outcome), [Error]);
    assert!(
        outcome
            .error
            .as_ref()
            .is_some_and(|e| e.to_string().contains("did not run")),
        "{:?}",
        outcome.error
    );
    assert_eq!(invoker.0.load(Ordering::SeqCst), 0);
    assert_eq!(sandbox.killed.load(Ordering::SeqCst), 0, "never started");
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_that_comes_after_the_program_finished_changes_nothing() {
    let sink = RecordingSink::new();
    let sandbox = Arc::new(SlowSandbox::new(Duration::from_secs(1)));
    let (orch, invoker, _fakes) = with_sandbox(Arc::new(sink.clone()), sandbox).await;
    let outcome = orch
        .execute_cancellable(request("slow"), async {
            tokio::time::sleep(Duration::from_secs(3600)).await
        })
        .await;
    assert!(outcome.success, "{:?}", outcome.error);
    assert!(!Orchestrator::was_cancelled(&outcome));
    assert_eq!(invoker.0.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_what_still_runs_at_its_deadline_and_waits_for_its_records() {
    let sink = RecordingSink::new();
    // Longer than the shutdown deadline, as a 30 s run is longer than `serve`'s 10 s were.
    let sandbox = Arc::new(SlowSandbox::new(Duration::from_secs(60)));
    let (orch, invoker, _fakes) = with_sandbox(Arc::new(sink.clone()), sandbox.clone()).await;
    let task = started(&orch, &sandbox, std::future::pending()).await;
    let cancelled = orch.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(cancelled, 1);
    // shutdown returned after the execution's closing records were durable.
    let outcome = sink
        .events()
        .iter()
        .find(|e| e.kind == Error)
        .and_then(|e| e.execution_id.clone())
        .expect("an error record before shutdown returned");
    let events = sink.for_execution(&outcome);
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [Discovery, Security, ExecutionStarted, Execution, Error]
    );
    let outcome = task.await.unwrap();
    assert_cancelled(&sink, &outcome, "shutdown");
    assert_eq!(sandbox.killed.load(Ordering::SeqCst), 1);
    assert_eq!(invoker.0.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_runs_that_finish_before_its_deadline_finish() {
    let sink = RecordingSink::new();
    let sandbox = Arc::new(SlowSandbox::new(Duration::from_secs(5)));
    let (orch, invoker, _fakes) = with_sandbox(Arc::new(sink.clone()), sandbox.clone()).await;
    let task = started(&orch, &sandbox, std::future::pending()).await;
    assert_eq!(orch.shutdown(Duration::from_secs(10)).await.unwrap(), 0);
    let outcome = task.await.unwrap();
    assert!(outcome.success, "{:?}", outcome.error);
    assert_eq!(invoker.0.load(Ordering::SeqCst), 1);
    assert_eq!(sandbox.killed.load(Ordering::SeqCst), 0);
}

/// Takes the first `.1` records, then never answers again.
struct HangAfter(RecordingSink, usize);

#[async_trait::async_trait]
impl AuditSink for HangAfter {
    async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        if self.0.events().len() >= self.1 {
            return std::future::pending().await;
        }
        self.0.append(event).await
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_fails_when_a_cancelled_run_cannot_record_its_end() {
    let rec = RecordingSink::new();
    let sandbox = Arc::new(SlowSandbox::new(Duration::from_secs(60)));
    // discovery, security, execution_started; then the log hangs.
    let (orch, _invoker, _fakes) =
        with_sandbox(Arc::new(HangAfter(rec.clone(), 3)), sandbox.clone()).await;
    let _task = started(&orch, &sandbox, std::future::pending()).await;
    let err = orch
        .shutdown(Duration::from_secs(10))
        .await
        .expect_err("an execution without its closing records is not a clean shutdown");
    assert!(
        err.to_string()
            .contains("1 execution(s) cancelled at shutdown"),
        "{err}"
    );
    assert_eq!(sandbox.killed.load(Ordering::SeqCst), 1);
}

/// Takes records, but its flush never answers.
struct FlushNeverAnswers(RecordingSink);

#[async_trait::async_trait]
impl AuditSink for FlushNeverAnswers {
    async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        self.0.append(event).await
    }

    async fn flush(&self) -> Result<()> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_does_not_wait_forever_for_a_stuck_flush() {
    let sandbox = Arc::new(SlowSandbox::new(Duration::from_secs(1)));
    let (orch, _invoker, _fakes) =
        with_sandbox(Arc::new(FlushNeverAnswers(RecordingSink::new())), sandbox).await;
    // An hour on the paused clock: far past the grace, so a shutdown that waits forever
    // fails here instead of hanging the test.
    let err = tokio::time::timeout(
        Duration::from_secs(3600),
        orch.shutdown(Duration::from_secs(1)),
    )
    .await
    .expect("shutdown returned")
    .expect_err("a log that cannot be flushed is not a clean shutdown");
    assert!(err.to_string().contains("flushing the audit log"), "{err}");
}
