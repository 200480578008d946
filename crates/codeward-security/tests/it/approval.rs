//! Approval store: hash binding, decisions, expiry on an injected clock, restart,
//! atomic files, and fail-closed auditing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use codeward_core::{
    ApprovalDecision, ApprovalStatus, ApprovalStore, AuditEvent, AuditKind, AuditReceipt,
    AuditSink, Error, Language, RiskAssessment, RiskLevel,
};
use codeward_security::{FileApprovalStore, ManualClock, approval_code_hash, approval_request};

/// Records events; fails every append while `fail` is set.
#[derive(Default)]
struct TestSink {
    events: Mutex<Vec<AuditEvent>>,
    fail: AtomicBool,
}

impl TestSink {
    fn actions(&self) -> Vec<String> {
        self.events
            .lock()
            .expect("lock")
            .iter()
            .map(|e| {
                e.metadata
                    // The shared vocabulary's key, which the compliance report counts by.
                    .get(codeward_core::keys::DECISION)
                    .and_then(|a| a.as_str())
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect()
    }
}

#[async_trait]
impl AuditSink for TestSink {
    async fn append(&self, event: AuditEvent) -> codeward_core::Result<AuditReceipt> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::audit_unavailable("disk full (test)", None));
        }
        let mut events = self.events.lock().expect("lock");
        events.push(event);
        Ok(AuditReceipt {
            seq: events.len() as u64,
            hash: "h".repeat(64),
        })
    }
}

const CODE: &str = "import os\nos.system('backup.sh')\n";

fn risk() -> RiskAssessment {
    RiskAssessment::new(80, RiskLevel::Critical, Vec::new(), "block")
}

fn request(code: &str) -> codeward_core::ApprovalRequest {
    approval_request(
        "exec-1",
        "alice",
        code,
        Language::Python,
        &["files.write_file".into()],
        risk(),
    )
    .expect("request")
}

async fn open(
    path: &std::path::Path,
    sink: &Arc<TestSink>,
    clock: &Arc<ManualClock>,
) -> FileApprovalStore {
    FileApprovalStore::builder(path)
        .ttl(Duration::from_secs(600))
        .clock(clock.clone())
        .open(sink.clone())
        .await
        .expect("open store")
}

/// The ids of every ticket, oldest first.
async fn ids(store: &FileApprovalStore) -> Vec<String> {
    store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect()
}

#[test]
fn code_hash_binds_code_language_and_tool_set() {
    let a = approval_code_hash(CODE, Language::Python, &["b.x", "a.y"]);
    assert_eq!(
        a,
        approval_code_hash(CODE, Language::Python, &["a.y", "b.x", "a.y"])
    );
    assert_eq!(a.len(), 64);
    assert_ne!(
        a,
        approval_code_hash(&format!("{CODE} "), Language::Python, &["a.y", "b.x"])
    );
    assert_ne!(
        a,
        approval_code_hash(CODE, Language::TypeScript, &["a.y", "b.x"])
    );
    assert_ne!(a, approval_code_hash(CODE, Language::Python, &["a.y"]));
    // Length framing: moving bytes between parts changes the hash.
    assert_ne!(
        approval_code_hash("x", Language::Python, &["ab"]),
        approval_code_hash("bx", Language::Python, &["a"])
    );
    let req = request(CODE);
    assert_eq!(
        req.code_hash,
        approval_code_hash(CODE, Language::Python, &["files.write_file"])
    );
}

#[tokio::test]
async fn approve_then_authorize_only_the_exact_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("approvals.json");
    let sink = Arc::new(TestSink::default());
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = open(&path, &sink, &clock).await;

    let ticket = store.request(request(CODE)).await.expect("filed");
    assert_eq!(ticket.status, ApprovalStatus::Pending);
    assert_eq!(ticket.expires_ms, 1_000_000 + 600_000);
    let err = store
        .authorize(&ticket.id, &ticket.request.code_hash)
        .await
        .expect_err("pending");
    assert!(err.to_string().contains("pending"), "{err}");

    let decided = store
        .decide(
            &ticket.id,
            ApprovalDecision::approve("bob", "reviewed the backup script"),
        )
        .await
        .expect("approved");
    assert!(
        matches!(decided.status, ApprovalStatus::Approved { ref approver, .. } if approver == "bob")
    );

    let same = approval_code_hash(CODE, Language::Python, &["files.write_file"]);
    store
        .authorize(&ticket.id, &same)
        .await
        .expect("exact code authorized");
    let changed = approval_code_hash(
        "import os\nos.system('rm -rf /')\n",
        Language::Python,
        &["files.write_file"],
    );
    let err = store
        .authorize(&ticket.id, &changed)
        .await
        .expect_err("different code");
    assert!(err.to_string().contains("differs"), "{err}");

    // Decided once: a second decision is refused.
    let err = store
        .decide(&ticket.id, ApprovalDecision::reject("eve", "too late"))
        .await
        .expect_err("decided");
    assert!(err.to_string().contains("approved"), "{err}");
    let other = store.request(request("print(2)\n")).await.expect("filed");
    let err = store
        .decide(&other.id, ApprovalDecision::approve(" ", "x"))
        .await
        .expect_err("no approver");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    let err = store
        .decide("apr_missing", ApprovalDecision::approve("bob", "x"))
        .await
        .expect_err("unknown");
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    assert_eq!(sink.actions(), ["requested", "approved", "requested"]);
    let events = sink.events.lock().expect("lock").clone();
    assert!(events.iter().all(|e| e.kind == AuditKind::Approval));
    assert_eq!(events[1].principal.as_deref(), Some("bob"));
    assert_eq!(events[1].metadata["approval_id"], ticket.id.as_str());
}

#[tokio::test]
async fn rejected_requests_never_authorize() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Arc::new(TestSink::default());
    let clock = Arc::new(ManualClock::new(0));
    let store = open(&dir.path().join("a.json"), &sink, &clock).await;
    let ticket = store.request(request(CODE)).await.expect("filed");
    store
        .decide(&ticket.id, ApprovalDecision::reject("bob", "no shell"))
        .await
        .expect("rejected");
    let err = store
        .authorize(&ticket.id, &ticket.request.code_hash)
        .await
        .expect_err("rejected");
    assert!(err.to_string().contains("rejected"), "{err}");
}

#[tokio::test]
async fn an_approval_authorizes_its_program_for_a_limited_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Arc::new(TestSink::default());
    let clock = Arc::new(ManualClock::new(0));
    let store = FileApprovalStore::builder(dir.path().join("a.json"))
        .ttl(Duration::from_secs(600))
        .approved_ttl(Duration::from_secs(3600))
        .clock(clock.clone())
        .open(sink.clone())
        .await
        .expect("open");
    assert_eq!(store.approved_ttl(), Duration::from_secs(3600));
    let ticket = store.request(request(CODE)).await.expect("filed");
    clock.advance(Duration::from_secs(300));
    store
        .decide(&ticket.id, ApprovalDecision::approve("bob", "ok"))
        .await
        .expect("approve");
    // Valid past the request's own deadline (600 s), until an hour after the decision.
    clock.advance(Duration::from_secs(3599));
    store
        .authorize(&ticket.id, &ticket.request.code_hash)
        .await
        .expect("still valid");
    clock.advance(Duration::from_secs(1));
    let err = store
        .authorize(&ticket.id, &ticket.request.code_hash)
        .await
        .expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(sink.actions(), ["requested", "approved", "expired"]);
    let expired = sink
        .events
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("event");
    assert_eq!(expired.metadata["was"], "approved");
}

#[tokio::test]
async fn requests_expire_on_the_injected_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Arc::new(TestSink::default());
    let clock = Arc::new(ManualClock::new(5_000));
    let store = open(&dir.path().join("a.json"), &sink, &clock).await;
    let ticket = store.request(request(CODE)).await.expect("filed");

    clock.advance(Duration::from_secs(599));
    assert_eq!(
        store
            .get(&ticket.id)
            .await
            .expect("get")
            .expect("exists")
            .status,
        ApprovalStatus::Pending
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        store
            .get(&ticket.id)
            .await
            .expect("get")
            .expect("exists")
            .status,
        ApprovalStatus::Expired
    );
    let err = store
        .decide(&ticket.id, ApprovalDecision::approve("bob", "late"))
        .await
        .expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
    let err = store
        .authorize(&ticket.id, &ticket.request.code_hash)
        .await
        .expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(sink.actions(), ["requested", "expired"]);
}

#[tokio::test]
async fn tickets_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/approvals.json");
    let sink = Arc::new(TestSink::default());
    let clock = Arc::new(ManualClock::new(0));
    let (a, b) = {
        let store = open(&path, &sink, &clock).await;
        let a = store.request(request(CODE)).await.expect("a");
        let b = store.request(request("print(1)\n")).await.expect("b");
        store
            .decide(&a.id, ApprovalDecision::approve("bob", "ok"))
            .await
            .expect("approve");
        (a, b)
    };
    let reopened = open(&path, &sink, &clock).await;
    let all = reopened.list().await.expect("list");
    assert_eq!(
        all.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [a.id.as_str(), b.id.as_str()]
    );
    assert!(matches!(all[0].status, ApprovalStatus::Approved { .. }));
    assert_eq!(all[1].status, ApprovalStatus::Pending);
    reopened
        .authorize(&a.id, &a.request.code_hash)
        .await
        .expect("still approved");

    // The atomic write leaves no temp file behind (beside the store only its lock file), and
    // the document is plain JSON.
    let mut names: Vec<String> = std::fs::read_dir(path.parent().expect("dir"))
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["approvals.json", "approvals.json.lock"]);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert_eq!(doc["format"], 1);
    // Requests name their principal: the store is readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}

#[tokio::test]
async fn a_failing_audit_sink_blocks_every_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.json");
    let sink = Arc::new(TestSink::default());
    let clock = Arc::new(ManualClock::new(0));
    let store = open(&path, &sink, &clock).await;

    sink.fail.store(true, Ordering::SeqCst);
    let err = store.request(request(CODE)).await.expect_err("audit down");
    assert!(matches!(err, Error::AuditUnavailable { .. }), "{err}");
    assert!(
        !path.exists(),
        "nothing may be persisted without an audit record"
    );
    assert!(store.list().await.expect("list").is_empty());

    sink.fail.store(false, Ordering::SeqCst);
    let ticket = store.request(request(CODE)).await.expect("filed");
    let before = std::fs::read(&path).expect("read");

    sink.fail.store(true, Ordering::SeqCst);
    let err = store
        .decide(&ticket.id, ApprovalDecision::approve("bob", "ok"))
        .await
        .expect_err("audit down");
    assert!(matches!(err, Error::AuditUnavailable { .. }), "{err}");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "file unchanged"
    );
    sink.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        store
            .get(&ticket.id)
            .await
            .expect("get")
            .expect("exists")
            .status,
        ApprovalStatus::Pending
    );

    // Expiry is a state change too: with the sink down, reading an overdue ticket fails closed.
    clock.advance(Duration::from_secs(3600));
    sink.fail.store(true, Ordering::SeqCst);
    assert!(store.get(&ticket.id).await.is_err());
    sink.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        store
            .get(&ticket.id)
            .await
            .expect("get")
            .expect("exists")
            .status,
        ApprovalStatus::Expired
    );
    assert_eq!(sink.actions(), ["requested", "expired"]);
}

#[tokio::test]
async fn a_corrupt_store_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.json");
    std::fs::write(&path, "{not json").expect("write");
    let sink = Arc::new(TestSink::default());
    // Opening does not read it: a service that never needs an approval keeps working.
    let store = FileApprovalStore::open(&path, sink).await.expect("open");
    let err = store.tickets().await.expect_err("corrupt");
    assert!(
        err.to_string().contains("a.json") && err.to_string().contains("corrupt"),
        "{err}"
    );
}

#[tokio::test]
async fn prune_removes_only_settled_tickets_past_the_age_in_one_audited_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.json");
    let sink = Arc::new(TestSink::default());
    let clock = Arc::new(ManualClock::new(0));
    // Requests wait 90 days for a decision: longer than any age pruned with below.
    let store = FileApprovalStore::builder(&path)
        .ttl(Duration::from_secs(90 * 86_400))
        .clock(clock.clone())
        .open(sink.clone())
        .await
        .expect("open store");

    // Day 0: one approved, one rejected, one left pending.
    let approved = store.request(request(CODE)).await.expect("a");
    let rejected = store.request(request("print(1)\n")).await.expect("r");
    let pending = store.request(request("print(2)\n")).await.expect("p");
    store
        .decide(&approved.id, ApprovalDecision::approve("bob", "ok"))
        .await
        .expect("approve");
    store
        .decide(&rejected.id, ApprovalDecision::reject("bob", "no"))
        .await
        .expect("reject");
    // Day 2: a fresh approval.
    clock.advance(Duration::from_secs(2 * 86_400));
    let fresh = store.request(request("print(4)\n")).await.expect("f");
    store
        .decide(&fresh.id, ApprovalDecision::approve("bob", "ok"))
        .await
        .expect("approve fresh");

    // With the audit sink down nothing is pruned (no ticket is due to expire: this is
    // prune's own commit failing).
    sink.fail.store(true, Ordering::SeqCst);
    let err = store
        .prune(Duration::from_secs(86_400))
        .await
        .expect_err("audit down");
    assert!(
        matches!(err, codeward_security::SecurityError::Audit(_)),
        "{err}"
    );
    sink.fail.store(false, Ordering::SeqCst);
    assert_eq!(store.list().await.expect("list").len(), 4);

    // Older than a day: the settled day-0 tickets go; the day-0 pending one stays, as does
    // the fresh approval.
    let pruned = store
        .prune(Duration::from_secs(86_400))
        .await
        .expect("prune");
    assert_eq!(
        pruned.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [approved.id.as_str(), rejected.id.as_str()]
    );
    assert_eq!(ids(&store).await, [pending.id.clone(), fresh.id.clone()]);
    // A pruned approval no longer authorizes; the file holds only what is left.
    let err = store
        .authorize(&approved.id, &approved.request.code_hash)
        .await
        .expect_err("pruned");
    assert!(err.to_string().contains("no such approval"), "{err}");
    let reopened = open(&path, &sink, &clock).await;
    assert_eq!(reopened.list().await.expect("list").len(), 2);
    // One audit record for the removal, naming both ids.
    let events = sink.events.lock().expect("lock").clone();
    let last = events.last().expect("events");
    assert_eq!(last.metadata["decision"], "pruned");
    assert_eq!(
        last.metadata["ids"],
        serde_json::json!([approved.id.as_str(), rejected.id.as_str()])
    );

    // Pending is never pruned, however old; once it expires it can be.
    clock.advance(Duration::from_secs(60 * 86_400));
    let pruned = store.prune(Duration::ZERO).await.expect("prune");
    assert_eq!(
        pruned.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [fresh.id.as_str()]
    );
    clock.advance(Duration::from_secs(30 * 86_400));
    let pruned = store.prune(Duration::ZERO).await.expect("prune");
    assert_eq!(pruned[0].id, pending.id);
    assert_eq!(pruned[0].status, ApprovalStatus::Expired);
    assert!(store.list().await.expect("list").is_empty());
    assert!(store.prune(Duration::ZERO).await.expect("prune").is_empty());
}

#[tokio::test]
async fn two_processes_sharing_the_store_see_each_others_changes() {
    // `codeward serve` keeps a store open while an operator approves from the CLI: each
    // store stands for one process. The serving one must see the approval, and must not
    // write its older copy back over it.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("approvals.json");
    let sink = Arc::new(TestSink::default());
    let clock = Arc::new(ManualClock::new(0));
    let serving = open(&path, &sink, &clock).await;
    let ticket = serving.request(request(CODE)).await.expect("filed");

    let operator = open(&path, &sink, &clock).await;
    operator
        .decide(&ticket.id, ApprovalDecision::approve("ops", "checked"))
        .await
        .expect("approve");

    serving
        .authorize(&ticket.id, &ticket.request.code_hash)
        .await
        .expect("the serving process sees the approval");
    // A later change by the serving process keeps the operator's decision.
    let other = serving.request(request("print(1)\n")).await.expect("filed");
    let all = open(&path, &sink, &clock).await.list().await.expect("list");
    assert!(
        matches!(all[0].status, ApprovalStatus::Approved { .. }),
        "{all:?}"
    );
    assert_eq!(all[1].id, other.id);

    // Pruned by the operator: the serving process no longer authorizes it.
    clock.advance(Duration::from_secs(3_600));
    operator.prune(Duration::ZERO).await.expect("prune");
    assert!(
        serving
            .authorize(&ticket.id, &ticket.request.code_hash)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_store_locked_by_another_process_fails_clearly_after_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("approvals.json");
    let sink = Arc::new(TestSink::default());
    let held = std::fs::File::create(dir.path().join("approvals.json.lock")).expect("lock file");
    held.lock().expect("hold the lock");
    let store = FileApprovalStore::builder(&path)
        .lock_timeout(Duration::from_millis(50))
        .open(sink.clone())
        .await
        .expect("opening reads nothing");
    let err = store.tickets().await.expect_err("locked");
    let text = err.to_string();
    assert!(
        text.contains("locked by another process") && text.contains("approvals.json"),
        "{text}"
    );
    held.unlock().expect("unlock");
    store.tickets().await.expect("works once released");
}

#[tokio::test]
async fn every_operation_takes_the_lock_not_only_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("approvals.json");
    let sink = Arc::new(TestSink::default());
    let store = FileApprovalStore::builder(&path)
        .lock_timeout(Duration::from_millis(50))
        .open(sink.clone())
        .await
        .expect("open");
    let ticket = store.request(request(CODE)).await.expect("filed");
    let held = std::fs::File::open(dir.path().join("approvals.json.lock")).expect("lock file");
    held.lock().expect("hold the lock");
    for result in [
        store.tickets().await.map(drop),
        store.ticket(&ticket.id).await.map(drop),
        store
            .decide_request(&ticket.id, ApprovalDecision::approve("bob", "ok"))
            .await
            .map(drop),
        store.file_request(request("print(1)\n")).await.map(drop),
        store.prune(Duration::ZERO).await.map(drop),
    ] {
        let err = result.expect_err("locked");
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );
    }
    held.unlock().expect("unlock");
    assert_eq!(store.list().await.expect("list").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_held_from_reading_to_writing_so_no_update_is_lost() {
    /// Parks the first append until released, like a slow audit disk.
    #[derive(Default)]
    struct Gate {
        entered: tokio::sync::Notify,
        release: tokio::sync::Notify,
        parked: AtomicBool,
        inner: TestSink,
    }
    #[async_trait]
    impl AuditSink for Gate {
        async fn append(&self, event: AuditEvent) -> codeward_core::Result<AuditReceipt> {
            if !self.parked.swap(true, Ordering::SeqCst) {
                self.entered.notify_one();
                self.release.notified().await;
            }
            self.inner.append(event).await
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("approvals.json");
    let gate = Arc::new(Gate::default());
    let slow = FileApprovalStore::open(&path, gate.clone())
        .await
        .expect("open a");
    let other = FileApprovalStore::open(&path, Arc::new(TestSink::default()))
        .await
        .expect("open b");

    let first = tokio::spawn(async move { slow.request(request(CODE)).await });
    gate.entered.notified().await;
    // The first store has read the file and is inside its audit append, holding the lock.
    let second = tokio::spawn(async move { other.request(request("print(1)\n")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !second.is_finished(),
        "the second store must wait for the first one's write"
    );
    gate.release.notify_one();
    let a = first.await.expect("join").expect("first filed");
    let b = second.await.expect("join").expect("second filed");
    let reopened = FileApprovalStore::open(&path, Arc::new(TestSink::default()))
        .await
        .expect("reopen");
    assert_eq!(
        ids(&reopened).await,
        [a.id, b.id],
        "neither write lost the other's ticket"
    );
}
