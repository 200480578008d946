//! Reading by seq, time, type, severity and execution; the compliance report from disk.

use codeward_audit::{
    AuditError, AuditLog, AuditReader, CheckStatus, ComplianceReport, ProblemKind, Query,
    ReportOptions, VerifyOptions, parse_ts, verify,
};
use codeward_core::{AuditEvent, AuditKind, Severity, keys};

use super::*;

fn ev(kind: AuditKind, severity: Severity, exec: &str) -> AuditEvent {
    AuditEvent::new(kind, severity, format!("{kind} of {exec}")).execution(exec)
}

async fn execution(log: &AuditLog, id: &str, success: bool, complete: bool) {
    let _a = log
        .append(ev(AuditKind::Discovery, Severity::Info, id))
        .await
        .unwrap();
    let _b = log
        .append(ev(AuditKind::Security, Severity::Info, id).meta(keys::RISK_LEVEL, "low"))
        .await
        .unwrap();
    let _c = log
        .append(ev(AuditKind::ExecutionStarted, Severity::Info, id))
        .await
        .unwrap();
    let _d = log
        .append(ev(AuditKind::ToolCall, Severity::Info, id).meta(keys::TOOL, "demo.notes_add"))
        .await
        .unwrap();
    if complete {
        let done = ev(
            AuditKind::Execution,
            if success {
                Severity::Info
            } else {
                Severity::Error
            },
            id,
        )
        .meta(keys::SUCCESS, success)
        .meta(keys::PII_TOKENIZED, 2)
        .meta(
            keys::LIMIT_HIT,
            if success {
                serde_json::Value::Null
            } else {
                "timeout".into()
            },
        );
        let _e = log.append(done).await.unwrap();
    }
}

fn check(reader: &AuditReader, query: Query, expect: &[u64]) {
    let seqs: Vec<u64> = reader
        .records(query)
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, expect);
}

#[tokio::test]
async fn queries_filter_by_seq_type_severity_execution_and_time() {
    let (_tmp, log) = temp_log();
    execution(&log, "e1", true, true).await; // 1..=5
    execution(&log, "e2", false, true).await; // 6..=10
    let reader = log.reader();
    check(&reader, Query::all().seq_range(3, 6), &[3, 4, 5, 6]);
    check(&reader, Query::all().kind(AuditKind::Execution), &[5, 10]);
    check(
        &reader,
        Query::all()
            .kind(AuditKind::Discovery)
            .kind(AuditKind::ToolCall),
        &[1, 4, 6, 9],
    );
    check(&reader, Query::all().min_severity(Severity::Error), &[10]);
    check(
        &reader,
        Query::all()
            .execution("e2")
            .kind(AuditKind::ExecutionStarted),
        &[8],
    );
    let first = parse_ts(&reader.execution("e1").unwrap()[0].ts).unwrap();
    check(
        &reader,
        Query::all().time_range(Some(first), None).seq_range(1, 2),
        &[1, 2],
    );
    check(&reader, Query::all().time_range(None, Some(first)), &[]);
    let tail: Vec<u64> = reader
        .tail(3, Query::all())
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(tail, vec![8, 9, 10]);
    assert!(
        AuditReader::new("/nonexistent/codeward")
            .records(Query::all())
            .is_err()
    );
}

#[tokio::test]
async fn the_compliance_report_is_computed_from_disk() {
    let (_tmp, log) = temp_log();
    execution(&log, "e1", true, true).await;
    execution(&log, "e2", false, true).await;
    let approval = AuditEvent::new(AuditKind::Approval, Severity::Warning, "approval requested")
        .meta(keys::DECISION, "requested");
    let _r = log.append(approval).await.unwrap();
    log.close().await.unwrap();

    let report = ComplianceReport::from_log(log.dir(), &ReportOptions::all()).unwrap();
    assert!(report.passed(), "{}", report.to_markdown());
    assert_eq!(report.executions.started, 2);
    assert_eq!(report.executions.completed, 2);
    assert_eq!(
        (report.executions.succeeded, report.executions.failed),
        (1, 1)
    );
    assert_eq!(report.pii_tokenized, 4);
    assert_eq!(report.sandbox_violations, 1);
    assert_eq!(report.approvals.get("requested"), Some(&1));
    assert_eq!(report.records, 11);
    assert_eq!(report.checks.len(), 5);
    let md = report.to_markdown();
    for needle in [
        "CC4.1",
        "CC7.2",
        "Art. 30",
        "Art. 32",
        "164.312(b)",
        "chain verified: 11 records",
    ] {
        assert!(md.contains(needle), "{needle} missing from\n{md}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["checks"][0]["status"], "pass");
}

#[tokio::test]
async fn an_execution_without_its_completion_record_fails_gdpr_art_30() {
    let (_tmp, log) = temp_log();
    execution(&log, "e1", true, true).await;
    execution(&log, "lost", true, false).await;
    let report = ComplianceReport::from_log(log.dir(), &ReportOptions::all()).unwrap();
    assert!(!report.passed());
    let art30 = report
        .checks
        .iter()
        .find(|c| c.control == "Art. 30")
        .unwrap();
    assert_eq!(art30.status, CheckStatus::Fail);
    assert_eq!(report.executions.incomplete, vec!["lost".to_owned()]);
    assert!(report.to_markdown().contains("`lost`"));
}

#[tokio::test]
async fn plaintext_pii_planted_on_disk_fails_gdpr_art_32() {
    let (_tmp, log) = temp_log();
    execution(&log, "e1", true, true).await;
    log.close().await.unwrap();
    // Someone bypasses the log and appends a record with plaintext PII (and a valid hash).
    let seg = segment(log.dir(), 1);
    let mut last: codeward_core::AuditRecord = serde_json::from_str(
        std::fs::read_to_string(&seg)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    last.prev = last.hash.clone();
    last.seq += 1;
    last.message = "contact carol@example.com".into();
    last.hash = codeward_audit::record_hash(&last);
    let line = serde_json::to_string(&last).unwrap() + "\n";
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
    let report = ComplianceReport::from_log(log.dir(), &ReportOptions::all()).unwrap();
    let art32 = report
        .checks
        .iter()
        .find(|c| c.control == "Art. 32")
        .unwrap();
    assert_eq!(art32.status, CheckStatus::Fail, "{}", art32.evidence);
    assert_eq!(report.plaintext_pii_found, 1);
}

/// Rewrites a file through `f`: a test's stand-in for a writer stopped mid-line, a torn write
/// or an edit.
fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

fn read_all(dir: &Path) -> codeward_audit::Result<Vec<codeward_core::AuditRecord>> {
    AuditReader::new(dir)
        .records(Query::all())
        .unwrap()
        .collect()
}

#[tokio::test]
async fn a_last_line_without_its_newline_is_not_returned_wherever_it_stops() {
    let (_tmp, dir) = log_with(3, u64::MAX).await;
    let seg = segment(&dir, 1);
    let intact = std::fs::read(&seg).unwrap();
    let third = raw_records(&dir)[2].clone();
    let line_start = intact[..intact.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    // A reader running while the writer writes sees the newest line cut anywhere, e.g. just
    // after a nested `}`, or complete but for its newline.
    for cut in line_start + 1..intact.len() {
        std::fs::write(&seg, &intact[..cut]).unwrap();
        let seqs: Vec<u64> = read_all(&dir)
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"))
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, [1, 2], "cut at {cut}");
    }
    // Complete but for its newline is what verify calls a torn tail. Seq 3 was acknowledged,
    // so the next open puts it back from the write-ahead file rather than cutting it.
    assert_eq!(
        verify(&dir, &VerifyOptions::default())
            .unwrap()
            .problem
            .unwrap()
            .kind,
        ProblemKind::Truncated
    );
    assert_eq!(third_after_open(&dir, options(&dir)).await, third.hash);

    // Without a write-ahead file the open can only cut it: seq 3 then names another record.
    let (_tmp, dir) = log_with_options(3, |o| o.write_ahead_bytes(0)).await;
    let seg = segment(&dir, 1);
    let intact = std::fs::read(&seg).unwrap();
    let third = raw_records(&dir)[2].clone();
    std::fs::write(&seg, &intact[..intact.len() - 1]).unwrap();
    let opts = options(&dir).write_ahead_bytes(0);
    assert_ne!(third_after_open(&dir, opts).await, third.hash);
}

/// Opens the log with `opts`, appends one record, and returns the hash of seq 3.
async fn third_after_open(dir: &Path, opts: AuditLogOptions) -> String {
    let log = AuditLog::open(opts).unwrap();
    let _r = log.append(event(9)).await.unwrap();
    log.close().await.unwrap();
    AuditReader::new(dir)
        .records(Query::all().seq_range(3, 3))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .hash
}

#[tokio::test]
async fn every_complete_line_must_read_and_only_the_newest_segment_may_end_mid_line() {
    let (_tmp, dir) = log_with(30, 2_000).await;
    assert!(codeward_audit::list_segments(&dir).unwrap().len() > 2);
    let first = segment(&dir, 1);
    let lines_in_first = std::fs::read_to_string(&first).unwrap().lines().count() as u64;
    edit(&first, |b| {
        b.pop();
    });
    match read_all(&dir) {
        Err(AuditError::Malformed { path, line, .. }) => {
            assert_eq!((path, line), (first.clone(), lines_in_first));
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    edit(&first, |b| b.push(b'\n'));
    assert_eq!(read_all(&dir).unwrap().len(), 30);

    // A newline-terminated line that is not a record is damage, even at the newest end.
    let (_, newest) = codeward_audit::list_segments(&dir).unwrap().pop().unwrap();
    edit(&newest, |b| {
        b.extend_from_slice(b"{\"v\":1,\"seq\":31,\"ts\":{}}\n")
    });
    match read_all(&dir) {
        Err(AuditError::Malformed { path, .. }) => assert_eq!(path, newest),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn after_a_head_with_a_seq_range_reads_from_the_head_s_segment() {
    let (_tmp, dir) = log_with(40, 2_000).await;
    let segments = codeward_audit::list_segments(&dir).unwrap();
    assert!(segments.len() >= 4, "{segments:?}");
    let seqs_of = |path: &Path| -> Vec<u64> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<codeward_core::AuditRecord>(l)
                    .unwrap()
                    .seq
            })
            .collect()
    };
    assert!(seqs_of(&segments[0].1).len() >= 3);
    let anchor = raw_records(&dir)[1].clone();
    let from = seqs_of(&segments.last().unwrap().1)[0];
    // A segment between the head's and the range's is not read.
    edit(&segments[1].1, |b| {
        *b = [b"not a record\n".as_slice(), b].concat()
    });
    let reader = AuditReader::new(&dir);
    let expect: Vec<u64> = (from..=40).collect();
    check(
        &reader,
        Query::all()
            .after(anchor.seq, anchor.hash.clone())
            .seq_range(from, 40),
        &expect,
    );
    // A head that is not in the log: nothing, whatever the range.
    check(
        &reader,
        Query::all()
            .after(anchor.seq, "0".repeat(64))
            .seq_range(from, 40),
        &[],
    );
}

#[tokio::test]
async fn a_huge_tail_returns_everything() {
    let (_tmp, dir) = log_with(5, u64::MAX).await;
    let reader = AuditReader::new(&dir);
    for n in [usize::MAX, 1_000_000_000_000] {
        assert_eq!(reader.tail(n, Query::all()).unwrap().len(), 5);
    }
}
