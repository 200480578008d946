//! Forgeries that a parse would smooth over: edits hidden in the bytes of a line, records
//! dressed up as a newer format, seqs at the end of the number range. Each must be named
//! exactly, and none may pass `verify`, be repaired on open, or panic.

use std::fs;
use std::path::Path;

use codeward_audit::{
    AuditError, AuditLog, CheckpointOptions, KeySource, ProblemKind, VerifyOptions, verify,
};
use codeward_core::{AuditEvent, AuditKind, Severity};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// Edits line `i` (0-based) of segment 1 with `edit`, which must change it.
fn edit_line(dir: &Path, i: usize, edit: impl Fn(&str) -> String) {
    let seg = segment(dir, 1);
    let mut ls = lines(&seg);
    let edited = edit(&ls[i]);
    assert_ne!(edited, ls[i], "the edit must change the line");
    ls[i] = edited;
    write_lines(&seg, &ls);
}

fn problem(dir: &Path, opts: &VerifyOptions) -> codeward_audit::Problem {
    verify(dir, opts)
        .unwrap()
        .problem
        .expect("the forgery must be found")
}

fn assert_at(p: &codeward_audit::Problem, kind: ProblemKind, segment: u64, line: u64, seq: u64) {
    assert_eq!(
        (p.kind, p.segment.as_str(), p.line, p.seq,),
        (
            kind,
            codeward_audit::segment_name(segment).as_str(),
            line,
            Some(seq),
        ),
        "{p}"
    );
}

/// An edit of a line, named.
type Edit = (&'static str, fn(&str) -> String);

/// Edits that leave the parsed record, and so its canonical hash, unchanged.
const HIDDEN_EDITS: &[Edit] = &[
    ("a duplicate key, the original last", |l| {
        let (a, b) = l.split_once(r#""message":"#).unwrap();
        format!(r#"{a}"message":"FORGED: nothing started","message":{b}"#)
    }),
    ("a duplicate key inside metadata", |l| {
        l.replacen(r#""metadata":{"#, r#""metadata":{"i":999,"#, 1)
    }),
    ("a space between members", |l| {
        l.replacen(r#","seq":"#, r#", "seq":"#, 1)
    }),
    ("a \\u escape", |l| {
        l.replacen(r#""call "#, r#""\u0063all "#, 1)
    }),
    ("members in another order", |l| {
        let rest = l.strip_prefix(r#"{"v":1,"#).unwrap();
        let (seq, rest) = rest.split_once(',').unwrap();
        format!(r#"{{{seq},"v":1,{rest}"#)
    }),
    ("trailing whitespace", |l| format!("{l} ")),
];

#[tokio::test]
async fn edits_hidden_from_the_parse_are_changed_records() {
    for (what, edit) in HIDDEN_EDITS {
        // In the middle: verify names it.
        let (_tmp, dir) = log_with(5, u64::MAX).await;
        edit_line(&dir, 2, edit);
        let p = problem(&dir, &VerifyOptions::default());
        assert_at(&p, ProblemKind::Changed, 1, 3, 3);
        assert!(p.detail.contains("altered"), "{what}: {p}");

        // At the end: the writer refuses to open rather than build on it.
        let (_tmp, dir) = log_with(5, u64::MAX).await;
        edit_line(&dir, 4, edit);
        assert_eq!(tampered_on_open(&dir), (5, 5), "{what}");
        assert_at(
            &problem(&dir, &VerifyOptions::default()),
            ProblemKind::Changed,
            1,
            5,
            5,
        );
    }
}

/// Writes `events` (with signed checkpoints every 3 records), a torn tail and its recovery,
/// and an explicit unsigned checkpoint from a second writer; returns the directory.
async fn log_of(events: Vec<AuditEvent>) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let signed = options(&dir)
        .max_segment_bytes(3_000)
        .checkpoints(CheckpointOptions::new(KeySource::Bytes([5; 32])).every(3));
    let log = AuditLog::open(signed.clone()).unwrap();
    for ev in &events {
        let _r = log.append(ev.clone()).await.unwrap();
    }
    let _r = log.checkpoint().await.unwrap();
    log.close().await.unwrap();
    let newest = codeward_audit::list_segments(&dir)
        .unwrap()
        .pop()
        .unwrap()
        .1;
    append_bytes(&newest, br#"{"v":1,"seq":9"#);
    let log = AuditLog::open(options(&dir).max_segment_bytes(3_000)).unwrap();
    assert_eq!(log.stats().recoveries, 1);
    for ev in &events {
        let _r = log.append(ev.clone()).await.unwrap();
    }
    let _r = log.checkpoint().await.unwrap();
    log.close().await.unwrap();
    (tmp, dir)
}

#[tokio::test]
async fn every_line_the_writer_writes_verifies() {
    let events = vec![
        // Null execution id and principal, empty metadata, empty message.
        AuditEvent::new(AuditKind::Discovery, Severity::Info, ""),
        AuditEvent::new(
            AuditKind::Security,
            Severity::Critical,
            "naïve ✓ 日本語 🎉 \t tab \u{1} ctl \u{7f} del \"quoted\" back\\slash </script>",
        )
        .execution("exec-é")
        .principal("alice@example.com"),
        // PII in the message and a sensitive field: redacted counts and pseudonyms.
        AuditEvent::new(
            AuditKind::Approval,
            Severity::Warning,
            "mail bob@example.com from 10.1.2.3",
        )
        .sensitive("card", "4111 1111 1111 1111")
        .meta(
            "nested",
            json!({"list": [1.5, 1e300, 5e-324, -7, "ü", [[]], {}], "deep": {"c": {"d": "e"}}}),
        ),
        AuditEvent::new(AuditKind::Error, Severity::Error, "unsorted metadata")
            .meta("zeta", json!({"y": [1, {"b": null, "a": true}], "x": -0.5}))
            .meta("alpha", u64::MAX)
            .meta("Upper", "case sorts first")
            .meta("", "empty key"),
        AuditEvent::new(
            AuditKind::ExecutionStarted,
            Severity::Info,
            "x".repeat(2_000),
        )
        .execution("e-long"),
        AuditEvent::new(AuditKind::Execution, Severity::Info, "floats").meta(
            "f",
            json!([
                0.1,
                2.0,
                -0.0,
                123_456_789.123_456_79,
                f64::MAX,
                f64::MIN_POSITIVE
            ]),
        ),
    ];
    let (_tmp, dir) = log_of(events).await;
    let records = raw_records(&dir);
    for kind in [AuditKind::Checkpoint, AuditKind::Recovery] {
        assert!(records.iter().any(|r| r.kind == kind), "no {kind} record");
    }
    assert!(records.iter().any(|r| r.redacted > 0));
    assert!(records.iter().any(|r| r.principal.is_some()));
    assert!(codeward_audit::list_segments(&dir).unwrap().len() > 1);
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.records, records.len() as u64);
    // And the writer takes the log up again.
    let log = AuditLog::open(options(&dir)).unwrap();
    assert_eq!(
        log.append(event(0)).await.unwrap().seq,
        records.len() as u64 + 1
    );
    log.close().await.unwrap();
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Every f64, NaN and infinities included (they become null).
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Any text at all (control characters, any script, PII or not) and any JSON values.
    #[test]
    fn whatever_the_writer_writes_verifies(
        events in prop::collection::vec(
            (any::<String>(), prop::option::of(any::<String>()), prop::option::of(any::<String>()),
             prop::collection::vec((any::<String>(), arb_value()), 0..4)),
            1..8,
        )
    ) {
        let events = events.into_iter().map(|(message, exec, principal, meta)| {
            let mut ev = AuditEvent::new(AuditKind::ToolCall, Severity::Info, message);
            if let Some(e) = exec { ev = ev.execution(e); }
            if let Some(p) = principal { ev = ev.principal(p); }
            for (k, v) in meta { ev = ev.meta(k, v); }
            ev
        }).collect();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (_tmp, dir) = rt.block_on(log_of(events));
        let report = verify(&dir, &VerifyOptions::default()).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.problem);
    }
}

/// Sets `"v"` of a line to `v`, keeping every other byte.
fn set_version(line: &str, v: u32) -> String {
    let rest = line.strip_prefix(r#"{"v":1,"#).unwrap();
    format!(r#"{{"v":{v},{rest}"#)
}

#[tokio::test]
async fn an_altered_record_claiming_a_newer_format_is_changed() {
    // In the middle, followed by v1 records: tampering, at that record.
    let (_tmp, dir) = log_with(5, u64::MAX).await;
    edit_line(&dir, 2, |l| {
        set_version(&l.replacen("call 2", "FORGED", 1), 2)
    });
    let p = problem(&dir, &VerifyOptions::default());
    assert_at(&p, ProblemKind::Changed, 1, 3, 3);
    // The writer only reads the end, which is intact.
    drop(AuditLog::open(options(&dir)).unwrap());

    // The last record, but it does not link onto the one before: tampering, at it.
    let (_tmp, dir) = log_with(5, u64::MAX).await;
    edit_line(&dir, 4, |l| {
        let v = set_version(l, 2);
        let prev = v.find(r#""prev":""#).unwrap() + 8;
        format!("{}{}{}", &v[..prev], "f".repeat(64), &v[prev + 64..])
    });
    assert_at(
        &problem(&dir, &VerifyOptions::default()),
        ProblemKind::Changed,
        1,
        5,
        5,
    );
    assert_eq!(tampered_on_open(&dir), (5, 5));

    // Two newer records at the end, the second not naming the first's hash: the first is
    // the one whose successor no longer links to it.
    let (_tmp, dir) = log_with(5, u64::MAX).await;
    edit_line(&dir, 3, |l| {
        set_version(&l.replacen("call 3", "FORGED", 1), 2)
    });
    edit_line(&dir, 4, |l| set_version(l, 2));
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    let mut rec: Value = serde_json::from_str(&ls[3]).unwrap();
    rec["hash"] = "a".repeat(64).into();
    ls[3] = rec.to_string();
    write_lines(&seg, &ls);
    assert_at(
        &problem(&dir, &VerifyOptions::default()),
        ProblemKind::Changed,
        1,
        4,
        4,
    );
    assert_eq!(tampered_on_open(&dir), (4, 4));

    // The last record of an older segment, followed by v1 records in the next one.
    let (_tmp, dir) = log_with(12, 1_000).await;
    let n = lines(&segment(&dir, 1)).len();
    assert!(codeward_audit::list_segments(&dir).unwrap().len() > 1);
    edit_line(&dir, n - 1, |l| set_version(l, 3));
    assert_at(
        &problem(&dir, &VerifyOptions::default()),
        ProblemKind::Changed,
        1,
        n as u64,
        n as u64,
    );
}

#[tokio::test]
async fn a_newer_tail_that_chains_is_an_unsupported_version() {
    let (_tmp, dir) = log_with(5, u64::MAX).await;
    edit_line(&dir, 3, |l| set_version(l, 2));
    edit_line(&dir, 4, |l| set_version(l, 2));
    let p = problem(&dir, &VerifyOptions::default());
    assert_eq!(
        (p.kind, p.line),
        (ProblemKind::UnsupportedVersion, 4),
        "{p}"
    );
    assert!(p.detail.contains("upgrade"), "{p}");
    match AuditLog::open(options(&dir)) {
        Err(AuditError::UnsupportedVersion { line, found, .. }) => {
            assert_eq!((line, found), (4, 2))
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

/// A segment holding records with these seqs, correctly chained from the genesis hash.
fn forged_log(dir: &Path, seqs: &[u64]) -> Vec<AuditRecord> {
    fs::create_dir_all(dir).unwrap();
    let mut prev = codeward_audit::GENESIS_HASH.to_owned();
    let mut out = Vec::new();
    for &seq in seqs {
        let mut rec = AuditRecord {
            v: 1,
            seq,
            ts: "2026-11-27T00:00:00.000001Z".into(),
            kind: AuditKind::Execution,
            severity: Severity::Info,
            message: format!("record {seq}"),
            execution_id: None,
            principal: None,
            metadata: Default::default(),
            redacted: 0,
            prev: prev.clone(),
            hash: String::new(),
        };
        rec.hash = codeward_audit::record_hash(&rec);
        prev = rec.hash.clone();
        out.push(rec);
    }
    let text: String = out
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    fs::write(segment(dir, 1), text).unwrap();
    out
}

#[tokio::test]
async fn the_largest_seq_is_malformed_and_never_overflows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let recs = forged_log(&dir, &[u64::MAX - 1, u64::MAX]);
    let after = VerifyOptions::default().after(recs[0].seq, recs[0].hash.clone());
    assert_at(
        &problem(&dir, &after),
        ProblemKind::Malformed,
        1,
        2,
        u64::MAX,
    );
    let anchor = VerifyOptions::default().after(u64::MAX, recs[1].hash.clone());
    assert_at(
        &problem(&dir, &anchor),
        ProblemKind::Malformed,
        1,
        2,
        u64::MAX,
    );
    match AuditLog::open(options(&dir)) {
        Err(AuditError::Malformed { line, problem, .. }) => {
            assert_eq!(line, 2);
            assert!(problem.contains("forged"), "{problem}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_full_log_refuses_appends_instead_of_wrapping() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    forged_log(&dir, &[u64::MAX - 1]);
    let before = fs::read(segment(&dir, 1)).unwrap();
    let log = AuditLog::open(options(&dir)).unwrap();
    let err = log.append(event(0)).await.unwrap_err();
    assert!(err.to_string().contains("start a new log"), "{err}");
    assert!(log.append(event(1)).await.is_err(), "the log stays refused");
    drop(log);
    assert_eq!(
        fs::read(segment(&dir, 1)).unwrap(),
        before,
        "nothing written"
    );
}
