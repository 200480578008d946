//! The failure policy: a failed write or sync poisons the log, leaves no partial record,
//! and every later append fails. Never retry an fsync.

use std::io;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use codeward_audit::{AuditError, AuditLog, IoHook, VerifyOptions, verify};
use codeward_core::{AuditEvent, AuditHealth, AuditKind, AuditSink, Severity};

use super::*;

#[derive(Default)]
struct Faults {
    fail_write_after: Option<usize>,
    /// Fail any write of at least this many bytes (a large batch, or part of one written
    /// while the batch was still gathering).
    fail_writes_from: Option<usize>,
    fail_sync: AtomicBool,
    writes: AtomicUsize,
}

impl IoHook for Faults {
    fn on_write(&self, len: usize) -> Option<(usize, io::Error)> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        let big = self.fail_writes_from.is_some_and(|from| len >= from);
        match self.fail_write_after {
            // Write half of the batch, then fail like a full disk.
            Some(after) if n >= after => Some((len / 2, io::Error::from_raw_os_error(28))),
            _ if big => Some((len / 2, io::Error::from_raw_os_error(28))),
            _ => None,
        }
    }

    fn on_sync(&self) -> Option<io::Error> {
        self.fail_sync
            .load(Ordering::SeqCst)
            .then(|| io::Error::from_raw_os_error(5))
    }
}

async fn check_poisoned(log: &AuditLog, intact_records: usize) {
    let err = log.append(event(100)).await.unwrap_err();
    assert!(
        matches!(err, AuditError::Poisoned { .. }),
        "later appends must fail: {err}"
    );
    assert!(matches!(log.health(), AuditHealth::Poisoned { .. }));
    assert!(
        log.flush().await.is_err(),
        "flush reports the poisoned state"
    );
    // The file holds only whole, verified records: nothing of the failed batch.
    let text = std::fs::read_to_string(segment(log.dir(), 1)).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    assert_eq!(text.lines().count(), intact_records);
    assert!(
        verify(log.dir(), &VerifyOptions::default())
            .unwrap()
            .is_ok()
    );
}

#[tokio::test]
async fn a_failed_write_poisons_the_log_and_leaves_no_partial_record() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Arc::new(Faults {
        fail_write_after: Some(3),
        ..Default::default()
    });
    let log = AuditLog::open(options(&tmp.path().join("log")).io_hook(hook)).unwrap();
    for i in 0..3 {
        let _r = log.append(event(i)).await.unwrap();
    }
    let err = log.append(event(3)).await.unwrap_err();
    assert!(matches!(err, AuditError::Io { .. }), "{err}");
    assert!(err.to_string().contains("No space left"), "{err}");
    check_poisoned(&log, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_of_a_large_batch_fails_all_of_it_and_leaves_none_of_it() {
    // 64 concurrent appends of records larger than the writer's write-ahead size: part of a
    // batch may reach the file while the batch is still gathering. Every such write fails
    // here, half-written; every append of the batch fails and none of its bytes stay behind.
    let tmp = tempfile::tempdir().unwrap();
    let hook = Arc::new(Faults {
        fail_writes_from: Some(8 * 1024),
        ..Default::default()
    });
    let log = AuditLog::open(options(&tmp.path().join("log")).io_hook(hook)).unwrap();
    let _r = log.append(event(0)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let event = AuditEvent::new(AuditKind::ToolCall, Severity::Info, "x".repeat(9_000))
                .meta("i", i);
            log.append(event).await
        }));
    }
    let mut ok = 0;
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_receipt) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    assert_eq!(
        (ok, failed),
        (0, 64),
        "the first batch fails, then the log is poisoned"
    );
    check_poisoned(&log, 1).await;
}

#[tokio::test]
async fn a_failed_sync_poisons_the_log_and_is_never_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Arc::new(Faults::default());
    let log = AuditLog::open(options(&tmp.path().join("log")).io_hook(hook.clone())).unwrap();
    let _r = log.append(event(0)).await.unwrap();
    hook.fail_sync.store(true, Ordering::SeqCst);
    assert!(log.append(event(1)).await.is_err());
    // Even once the device "recovers", the log stays poisoned until reopened.
    hook.fail_sync.store(false, Ordering::SeqCst);
    check_poisoned(&log, 1).await;
    // The seam reports it as "audit unavailable" so the orchestrator fails closed.
    let sink: &dyn AuditSink = &log;
    let err = sink
        .append(AuditEvent::new(AuditKind::Error, Severity::Error, "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, codeward_core::Error::AuditUnavailable { .. }),
        "{err}"
    );
}

/// Mounts a 64 KiB tmpfs; unmounts on drop.
struct SmallFs(std::path::PathBuf);

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_real_full_filesystem_poisons_the_log_and_leaves_no_partial_record() {
    // 64 KiB: too small for the default write-ahead file, so batches sync the segment.
    fill_a_small_filesystem(64, |o| o).await;
}

#[tokio::test]
async fn a_real_full_filesystem_with_a_write_ahead_file_poisons_the_log_too() {
    // 256 KiB with a 64 KiB write-ahead file: it is created, and the segment fills the rest.
    let wal = fill_a_small_filesystem(256, |o| {
        o.write_ahead_bytes(codeward_audit::MIN_WRITE_AHEAD_BYTES)
    })
    .await;
    assert_eq!(wal, Some(codeward_audit::MIN_WRITE_AHEAD_BYTES));
}

/// Appends to a log on a fresh tmpfs of `kib` KiB until the disk is full, checks the log is
/// poisoned with nothing partial left, and returns the write-ahead file's size, if any.
async fn fill_a_small_filesystem(
    kib: u64,
    change: impl FnOnce(AuditLogOptions) -> AuditLogOptions,
) -> Option<u64> {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
        .arg(&mnt)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!(
            "SKIPPED: this host does not let the test mount a tmpfs (needs root); the fault-hook tests cover the logic"
        );
        return None;
    }
    let _fs = SmallFs(mnt.clone());
    let log = AuditLog::open(change(options(&mnt.join("log")))).unwrap();
    let filler = "x".repeat(1500);
    let mut ok = 0;
    let err = loop {
        match log
            .append(AuditEvent::new(
                AuditKind::Execution,
                Severity::Info,
                filler.clone(),
            ))
            .await
        {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
        assert!(
            ok < 1000,
            "a 64 KiB filesystem cannot hold this many records"
        );
    };
    assert!(err.to_string().contains("No space left"), "{err}");
    assert!(ok > 5);
    check_poisoned(&log, ok).await;
    let wal = std::fs::metadata(mnt.join("log/audit.wal"))
        .ok()
        .map(|m| m.len());
    // Reopened: exactly the acknowledged records, nothing of the failed batch restored.
    drop(log);
    if wal.is_some() {
        let log = AuditLog::open(options(&mnt.join("log"))).unwrap_or_else(|e| panic!("{e}"));
        log.close().await.unwrap();
        assert_eq!(raw_records(&mnt.join("log")).len(), ok);
    }
    wal
}
