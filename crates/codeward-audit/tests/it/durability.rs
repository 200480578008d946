//! The seed's bug, made impossible: a record is on disk when `append` returns.

use std::collections::BTreeSet;
use std::sync::Arc;

use codeward_audit::{AuditLog, VerifyOptions, verify};
use codeward_core::{AuditEvent, AuditHealth, AuditKind, AuditSink, Severity};

use super::*;

#[tokio::test]
async fn a_record_is_in_the_file_the_instant_append_returns() {
    let (_tmp, log) = temp_log();
    for i in 1..=20u64 {
        let receipt = log.append(event(i as usize)).await.unwrap();
        // Plain std I/O, no reader of ours: the bytes are there now.
        let text = std::fs::read_to_string(segment(log.dir(), 1)).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["seq"], receipt.seq);
        assert_eq!(last["hash"], receipt.hash.as_str());
        assert_eq!(receipt.seq, i);
        assert_eq!(text.lines().count() as u64, i);
    }
    let stats = log.stats();
    assert!(stats.syncs >= 1, "Fsync mode must call fdatasync");
    assert!(
        stats.sync_time > std::time::Duration::ZERO,
        "time in fdatasync is counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_64_tasks_are_all_there_gapless_and_chained() {
    let (_tmp, log) = temp_log();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for i in 0..1000 / 64 + usize::from(t < 1000 % 64) {
                receipts.push(log.append(event(t * 1000 + i)).await.unwrap());
            }
            receipts
        }));
    }
    let mut seqs = BTreeSet::new();
    for task in tasks {
        for receipt in task.await.unwrap() {
            assert!(
                seqs.insert(receipt.seq),
                "seq {} handed out twice",
                receipt.seq
            );
        }
    }
    assert_eq!(seqs.len(), 1000);
    let records = raw_records(log.dir());
    assert_eq!(records.len(), 1000);
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as u64 + 1),
        "seq must be gapless"
    );
    let report = verify(log.dir(), &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    let stats = log.stats();
    assert!(
        stats.syncs < 1000,
        "group commit should share syncs, got {} syncs for 1000 records",
        stats.syncs
    );
}

#[tokio::test]
async fn the_sink_trait_returns_receipts_and_flush_waits() {
    let (_tmp, log) = temp_log();
    let sink: Arc<dyn AuditSink> = Arc::new(log.clone());
    let r = sink
        .append(AuditEvent::new(
            AuditKind::Discovery,
            Severity::Info,
            "found",
        ))
        .await
        .unwrap();
    assert_eq!(r.seq, 1);
    sink.flush().await.unwrap();
    assert_eq!(sink.health(), AuditHealth::Healthy);
}

#[tokio::test]
async fn close_drains_and_refuses_later_appends() {
    let (_tmp, log) = temp_log();
    let other = log.clone();
    let r = log.append(event(1)).await.unwrap();
    log.close().await.unwrap();
    assert_eq!(log.health(), AuditHealth::Closed);
    let err = other.append(event(2)).await.unwrap_err();
    assert!(matches!(err, codeward_audit::AuditError::Closed), "{err}");
    assert_eq!(raw_records(log.dir()).last().unwrap().hash, r.hash);
}

#[tokio::test]
async fn reopening_continues_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    for round in 0..3u64 {
        let log = AuditLog::open(options(&dir)).unwrap();
        let r = log.append(event(0)).await.unwrap();
        assert_eq!(r.seq, round + 1);
        log.close().await.unwrap();
    }
    assert!(verify(&dir, &VerifyOptions::default()).unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_rotate_without_splitting_and_the_chain_crosses_them() {
    // Batches of up to 64 records, big enough to be written while still gathering: a batch
    // never splits across segments, so a segment ends at most one batch past the limit.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let limit = 16 * 1024;
    let log = AuditLog::open(options(&dir).max_segment_bytes(limit)).unwrap();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..16 {
                let _receipt = log.append(event(t * 100 + i)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let records = raw_records(&dir);
    assert_eq!(records.len(), 64 * 16);
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as u64 + 1)
    );
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    let segments = codeward_audit::list_segments(&dir).unwrap();
    assert!(segments.len() >= 4, "{} segments", segments.len());
    let longest_line = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap().len())
        .max();
    let batch_bytes = 64 * (longest_line.unwrap() as u64 + 1);
    for (n, path) in &segments {
        let size = std::fs::metadata(path).unwrap().len();
        assert!(size <= limit + batch_bytes, "segment {n}: {size} bytes");
    }
}

#[tokio::test]
async fn segments_rotate_by_size_and_the_chain_crosses_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = AuditLog::open(options(&dir).max_segment_bytes(2_000)).unwrap();
    for i in 0..60 {
        let _receipt = log.append(event(i)).await.unwrap();
    }
    let segments = codeward_audit::list_segments(&dir).unwrap();
    assert!(
        segments.len() >= 5,
        "expected rotation, got {} segments",
        segments.len()
    );
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.records, 60);
    assert_eq!(report.segments, segments.len());
    // Reopening picks up in the newest segment.
    log.close().await.unwrap();
    let log = AuditLog::open(options(&dir).max_segment_bytes(2_000)).unwrap();
    assert_eq!(log.append(event(99)).await.unwrap().seq, 61);
}

#[tokio::test]
async fn flush_mode_writes_without_syncing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(
        options(&tmp.path().join("log")).durability(codeward_audit::Durability::Flush),
    )
    .unwrap();
    let _r = log.append(event(1)).await.unwrap();
    assert_eq!(log.stats().syncs, 0);
    assert_eq!(log.stats().sync_time, std::time::Duration::ZERO);
    assert_eq!(raw_records(log.dir()).len(), 1);
}

#[test]
fn append_blocking_works_outside_a_runtime() {
    let (_tmp, log) = temp_log();
    let r = log.append_blocking(event(1)).unwrap();
    assert_eq!(r.seq, 1);
    assert_eq!(raw_records(log.dir()).len(), 1);
}

#[tokio::test]
async fn record_types_of_the_log_itself_are_reserved() {
    let (_tmp, log) = temp_log();
    for kind in [AuditKind::Checkpoint, AuditKind::Recovery] {
        let err = log
            .append(AuditEvent::new(kind, Severity::Info, "forged"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, codeward_audit::AuditError::ReservedKind(k) if k == kind),
            "{err}"
        );
    }
    assert!(raw_records(log.dir()).is_empty());
    assert_eq!(log.health(), AuditHealth::Healthy);
}

#[tokio::test]
async fn a_writer_that_cannot_get_its_turn_fails_clearly_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log =
        AuditLog::open(options(&dir).lock_timeout(std::time::Duration::from_millis(50))).unwrap();
    let _r = log.append(event(0)).await.unwrap();
    // Another "process" holds the lock.
    let holder = std::fs::File::open(dir.join("audit.lock")).unwrap();
    holder.lock().unwrap();
    let err = log.append(event(1)).await.unwrap_err();
    assert!(
        matches!(err, codeward_audit::AuditError::LockTimeout { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("lock_timeout"), "{err}");
    assert_eq!(
        raw_records(&dir).len(),
        1,
        "nothing written without the lock"
    );
    assert_eq!(
        log.health(),
        AuditHealth::Healthy,
        "a busy lock is not a poisoned log"
    );
    holder.unlock().unwrap();
    assert_eq!(log.append(event(2)).await.unwrap().seq, 2);
}
