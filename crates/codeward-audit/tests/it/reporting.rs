//! The compliance report at the edges: periods that cut executions, hostile counts, and
//! plaintext PII anywhere in a record.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use codeward_audit::{
    CheckStatus, ComplianceReport, GENESIS_HASH, ReportOptions, parse_ts, record_hash,
};
use codeward_core::{AuditEvent, AuditKind, PiiDetector, PiiKind, PiiSpan, Severity, keys};

use super::*;

/// A log written by hand: each object gets v, seq, prev and hash (a valid chain), so only
/// what a test puts in differs from what the writer would produce.
fn crafted(records: &[Value]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let mut prev = GENESIS_HASH.to_owned();
    let mut text = String::new();
    for (i, fields) in records.iter().enumerate() {
        let mut value = json!({"v": 1, "seq": i + 1, "prev": prev, "hash": "", "severity": "info", "message": "m"});
        for (k, v) in fields.as_object().unwrap() {
            value[k] = v.clone();
        }
        let mut record: AuditRecord = serde_json::from_value(value).unwrap();
        record.hash = record_hash(&record);
        prev = record.hash.clone();
        text += &serde_json::to_string(&record).unwrap();
        text.push('\n');
    }
    std::fs::write(segment(tmp.path(), 1), text).unwrap();
    tmp
}

/// The time stamp `s` seconds into 2026.
fn t(s: u32) -> String {
    format!("2026-01-01T00:00:{s:02}.000000Z")
}

fn at(s: u32) -> Option<DateTime<Utc>> {
    parse_ts(&t(s))
}

fn rec(s: u32, kind: &str, exec: &str) -> Value {
    json!({"ts": t(s), "type": kind, "execution_id": exec})
}

fn report(dir: &Path, opts: &ReportOptions) -> ComplianceReport {
    ComplianceReport::from_log(dir, opts).unwrap()
}

fn status(report: &ComplianceReport, control: &str) -> CheckStatus {
    report
        .checks
        .iter()
        .find(|c| c.control == control)
        .unwrap_or_else(|| panic!("no {control} check"))
        .status
}

#[test]
fn an_execution_is_judged_by_the_period_it_starts_in() {
    let done = |s, exec| {
        let mut r = rec(s, "execution", exec);
        r["metadata"] = json!({ keys::SUCCESS: true });
        r
    };
    let tmp = crafted(&[
        rec(10, "security", "e1"),
        rec(20, "execution_started", "e1"),
        done(30, "e1"),
        rec(40, "execution_started", "e2"), // never completes
        done(50, "e3"),                     // never started, never validated
    ]);
    let dir = tmp.path();
    let (pass, fail) = (CheckStatus::Pass, CheckStatus::Fail);
    // (from, to), Art. 30, CC7.2, records in the period.
    for (from, to, art30, cc72, records) in [
        (15, 25, pass, pass, 1), // e1 started inside, completed after --to
        (25, 35, pass, pass, 1), // e1 started before --from: not judged here
        (5, 35, pass, pass, 3),
        (35, 59, fail, fail, 2), // e2 incomplete; e3 has no start and no validation
    ] {
        let r = report(dir, &ReportOptions::period(at(from), at(to)));
        let what = format!("[{from}, {to}):\n{}", r.to_markdown());
        assert_eq!(status(&r, "Art. 30"), art30, "{what}");
        assert_eq!(status(&r, "CC7.2"), cc72, "{what}");
        assert_eq!(r.records, records, "{what}");
        assert_eq!(status(&r, "164.312(b)"), pass, "{what}");
    }
    let r = report(dir, &ReportOptions::period(at(35), at(59)));
    assert_eq!(r.executions.incomplete, ["e2"]);
    assert_eq!(r.executions.unvalidated, ["e3"]);
    let all = report(dir, &ReportOptions::all());
    assert_eq!(
        (all.executions.incomplete.len(), all.executions.started),
        (1, 2)
    );
}

#[test]
fn unreadable_time_stamps_count_whatever_the_period() {
    let tmp = crafted(&[
        json!({"ts": "yesterday", "type": "tool_call"}),
        rec(10, "tool_call", "e1"),
    ]);
    for opts in [
        ReportOptions::all(),
        ReportOptions::period(at(5), at(20)),
        ReportOptions::period(at(5), None),
        ReportOptions::period(None, at(20)),
    ] {
        let r = report(tmp.path(), &opts);
        let hipaa = r.checks.iter().find(|c| c.control == "164.312(b)").unwrap();
        assert_eq!(hipaa.status, CheckStatus::Fail, "{}", r.to_markdown());
        assert!(
            hipaa
                .evidence
                .contains("1 record(s) with an unreadable time stamp"),
            "{}",
            hipaa.evidence
        );
    }
}

#[test]
fn counts_from_the_file_saturate_instead_of_overflowing() {
    let huge = |kind| {
        let mut r = rec(10, kind, "e1");
        r["redacted"] = u64::MAX.into();
        r["metadata"] = json!({ keys::PII_TOKENIZED: u64::MAX, keys::SUCCESS: true });
        r
    };
    let tmp = crafted(&[huge("execution"), huge("execution"), huge("tool_call")]);
    let r = report(tmp.path(), &ReportOptions::all());
    assert_eq!(r.pii_redacted_by_log, u64::MAX);
    assert_eq!(r.pii_tokenized, u64::MAX);
}

#[test]
fn plaintext_pii_is_found_in_every_string_of_a_record() {
    for (what, fields) in [
        ("principal", json!({"principal": "alice@example.com"})),
        ("execution_id", json!({"execution_id": "bob@example.com"})),
        (
            "metadata key",
            json!({"metadata": {"carol@example.com": 1}}),
        ),
        (
            "nested metadata key",
            json!({"metadata": {"x": [{"dave@example.com": true}]}}),
        ),
        ("time stamp", json!({"ts": "erin@example.com"})),
    ] {
        let mut record = rec(10, "tool_call", "e1");
        for (k, v) in fields.as_object().unwrap() {
            record[k] = v.clone();
        }
        let tmp = crafted(&[record]);
        let r = report(tmp.path(), &ReportOptions::all());
        assert_eq!(status(&r, "Art. 32"), CheckStatus::Fail, "{what}");
        assert_eq!(r.plaintext_pii_found, 1, "{what}");
    }
}

/// Flags every run of 32 or more hex digits, as a secret scanner might.
struct HexRuns;

impl PiiDetector for HexRuns {
    fn detect(&self, text: &str) -> Vec<PiiSpan> {
        let mut spans = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let run = bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if run >= 32 {
                spans.push(PiiSpan {
                    start: i,
                    end: i + run,
                    kind: PiiKind::AwsKey,
                });
            }
            i += run.max(1);
        }
        spans
    }
}

#[tokio::test]
async fn what_the_log_pseudonymized_is_not_plaintext_pii() {
    let (_tmp, log) = temp_log();
    let event = AuditEvent::new(
        AuditKind::Security,
        Severity::Info,
        "login by bob@example.com",
    )
    .execution("e1")
    .principal("alice@example.com")
    .sensitive("account", "alice")
    .meta("from carol@example.com", 1);
    let _r = log.append(event).await.unwrap();
    log.close().await.unwrap();
    let mut opts = ReportOptions::all();
    let r = report(log.dir(), &opts);
    assert_eq!(
        status(&r, "Art. 32"),
        CheckStatus::Pass,
        "{}",
        r.to_markdown()
    );
    opts.detector = Some(std::sync::Arc::new(HexRuns));
    let r = report(log.dir(), &opts);
    assert_eq!(r.plaintext_pii_found, 0, "{}", r.to_markdown());

    // A hex run that is not a pseudonym is still found.
    let tmp = crafted(&[
        json!({"ts": t(1), "type": "tool_call", "message": format!("key {}", "ab12".repeat(10))}),
    ]);
    let r = report(tmp.path(), &opts);
    assert_eq!(r.plaintext_pii_found, 1, "{}", r.to_markdown());
}
