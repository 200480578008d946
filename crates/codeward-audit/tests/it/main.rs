//! Integration tests of codeward-audit: durability, concurrency across tasks and processes,
//! crash recovery, tamper detection, PII, failure policy, reading and reporting.

mod checkpoints;
mod durability;
mod faults;
mod forgery;
mod keys;
mod pii;
mod processes;
mod props;
mod reading;
mod recovery;
mod reporting;
mod wal;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use codeward_audit::{AuditError, AuditLog, AuditLogOptions, KeySource};
use codeward_core::{AuditEvent, AuditKind, AuditRecord, Severity};

pub(crate) const TEST_KEY: [u8; 32] = [42; 32];

/// A log in a fresh temporary directory; the guard keeps the directory alive.
pub(crate) fn temp_log() -> (tempfile::TempDir, AuditLog) {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(options(&tmp.path().join("log"))).unwrap();
    (tmp, log)
}

pub(crate) fn options(dir: &Path) -> AuditLogOptions {
    AuditLogOptions::new(dir).key(KeySource::Bytes(TEST_KEY))
}

/// A closed log of `n` records (`event(0..n)`) in segments of about `max_segment_bytes`.
pub(crate) async fn log_with(n: usize, max_segment_bytes: u64) -> (tempfile::TempDir, PathBuf) {
    log_with_options(n, |o| o.max_segment_bytes(max_segment_bytes)).await
}

/// A closed log of `n` records opened with `options(dir)` changed by `change`.
pub(crate) async fn log_with_options(
    n: usize,
    change: impl FnOnce(AuditLogOptions) -> AuditLogOptions,
) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = AuditLog::open(change(options(&dir))).unwrap();
    for i in 0..n {
        let _r = log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    (tmp, dir)
}

pub(crate) fn event(i: usize) -> AuditEvent {
    AuditEvent::new(AuditKind::ToolCall, Severity::Info, format!("call {i}"))
        .execution(format!("exec-{}", i % 7))
        .meta("i", i)
}

pub(crate) fn segment(dir: &Path, n: u64) -> PathBuf {
    dir.join(codeward_audit::segment_name(n))
}

/// Every record on disk, parsed with plain std I/O and serde (not through the crate's reader).
pub(crate) fn raw_records(dir: &Path) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    for (_, path) in codeward_audit::list_segments(dir).unwrap() {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            out.push(serde_json::from_str(line).unwrap());
        }
    }
    out
}

pub(crate) fn append_bytes(path: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

pub(crate) fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn write_lines(path: &Path, lines: &[String]) {
    fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

/// The line and seq `AuditLog::open` names when it refuses `dir` as tampered.
pub(crate) fn tampered_on_open(dir: &Path) -> (u64, u64) {
    match AuditLog::open(options(dir)) {
        Err(AuditError::Tampered { line, seq, .. }) => (line, seq),
        other => panic!("expected Tampered, got {other:?}"),
    }
}
