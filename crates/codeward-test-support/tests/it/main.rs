//! The fakes behave as documented, and the mocks stand in for the real traits.

use std::sync::Arc;
use std::time::Duration;

use codeward_core::*;
use codeward_test_support::*;

fn ev(kind: AuditKind) -> AuditEvent {
    AuditEvent::new(kind, Severity::Info, "x").execution("e1")
}

#[tokio::test]
async fn recording_sink_numbers_and_keeps_events() {
    let sink = RecordingSink::new();
    assert_eq!(sink.append(ev(AuditKind::Discovery)).await.unwrap().seq, 1);
    assert_eq!(sink.append(ev(AuditKind::Security)).await.unwrap().seq, 2);
    assert_eq!(
        sink.kinds(),
        vec![AuditKind::Discovery, AuditKind::Security]
    );
    assert_eq!(sink.for_execution("e1").len(), 2);
    assert!(sink.for_execution("other").is_empty());
}

#[tokio::test(start_paused = true)]
async fn slow_sink_takes_its_delay_in_paused_time() {
    let sink = SlowSink::new(Duration::from_secs(5));
    let start = tokio::time::Instant::now();
    let _r = sink.append(ev(AuditKind::Execution)).await.unwrap();
    assert_eq!(sink.completed_at()[0] - start, Duration::from_secs(5));
    assert_eq!(sink.events().len(), 1);
}

#[tokio::test]
async fn failing_sink_fails_every_append_as_audit_unavailable() {
    let sink = FailingSink::new();
    let err = sink.append(ev(AuditKind::Execution)).await.unwrap_err();
    assert!(matches!(err, Error::AuditUnavailable { .. }));
    assert_eq!(sink.attempts(), 1);
    assert!(matches!(sink.health(), AuditHealth::Poisoned { .. }));
}

#[tokio::test(start_paused = true)]
async fn hanging_sink_never_completes() {
    let res = tokio::time::timeout(
        Duration::from_secs(3600),
        HangingSink.append(ev(AuditKind::Error)),
    )
    .await;
    assert!(res.is_err());
}

#[tokio::test]
async fn mocks_stand_in_for_the_seams() {
    let mut sandbox = MockSandbox::new();
    sandbox.expect_run().times(1).returning(|job| {
        Ok(SandboxOutput::new(
            true,
            job.program.clone(),
            ExecutionMetrics::default(),
        ))
    });
    let mut invoker = MockToolInvoker::new();
    invoker.expect_call().never();
    let mut observer = MockToolCallObserver::new();
    observer.expect_before_call().never();
    let sandbox: Arc<dyn Sandbox> = Arc::new(sandbox);
    let job = SandboxJob::new(
        "e1",
        Language::Python,
        "print(1)",
        ExecutionLimits::default(),
        Arc::new(invoker),
        Arc::new(observer),
    );
    assert_eq!(sandbox.run(job).await.unwrap().stdout, "print(1)");

    let mut index = MockToolIndex::new();
    index.expect_version().return_const(7u64);
    let index: Arc<dyn ToolIndex> = Arc::new(index);
    assert_eq!(index.version(), 7);
}

#[test]
fn bench_rows_have_the_shape_xtask_bench_merges() {
    let r = codeward_test_support::bench::row(
        "p50",
        1.5,
        "ms",
        Some("base"),
        Some(2.0),
        Some("<= 2 ms"),
        Some(true),
    );
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "baseline", "metric", "pass", "ratio", "target", "unit", "value"
        ]
    );
    assert_eq!(r["value"], 1.5);
    assert!(
        codeward_test_support::bench::target_dir().ends_with("target")
            || std::env::var_os("CARGO_TARGET_DIR").is_some()
    );
}
