//! Torn tails are repaired (and the repair recorded); tampering is reported at the exact spot.

use std::fs;
use std::path::Path;

use codeward_audit::{AuditError, AuditLog, ProblemKind, VerifyOptions, verify};
use codeward_core::AuditKind;

use super::*;

async fn check_torn_tail_recovers(garbage: &[u8]) {
    let (_tmp, dir) = log_with(5, u64::MAX).await;
    let seg = segment(&dir, 1);
    let intact = fs::read(&seg).unwrap();
    append_bytes(&seg, garbage);
    let report = verify(&dir, &VerifyOptions::default()).unwrap();
    assert_eq!(report.problem.unwrap().kind, ProblemKind::Truncated);

    let log = AuditLog::open(options(&dir)).unwrap();
    assert_eq!(log.stats().recoveries, 1);
    let r = log.append(event(9)).await.unwrap();
    assert_eq!(r.seq, 7, "5 records, the recovery record, then this one");
    let bytes = fs::read(&seg).unwrap();
    assert!(bytes.starts_with(&intact), "intact records untouched");
    let records = raw_records(&dir);
    let recovery = &records[5];
    assert_eq!(recovery.kind, AuditKind::Recovery);
    assert_eq!(recovery.metadata["truncated_bytes"], garbage.len() as u64);
    assert_eq!(recovery.metadata["truncated_at_byte"], intact.len() as u64);
    assert!(verify(&dir, &VerifyOptions::default()).unwrap().is_ok());
}

#[tokio::test]
async fn a_partial_last_line_is_cut_and_recorded() {
    check_torn_tail_recovers(br#"{"v":1,"seq":6,"ts":"2026-"#).await;
}

#[tokio::test]
async fn garbage_bytes_at_the_tail_are_cut_and_recorded() {
    check_torn_tail_recovers(b"\0\0\0\0\0\0\0\0").await;
    check_torn_tail_recovers(b"zz\x01\xff\nmore garbage\n").await;
}

#[tokio::test]
async fn a_complete_record_with_a_bad_hash_is_not_silently_repaired() {
    let (_tmp, dir) = log_with(3, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    ls[2] = ls[2].replace("call 2", "call X");
    write_lines(&seg, &ls);
    assert_eq!(tampered_on_open(&dir), (3, 3));
}

fn check_tamper(
    dir: &Path,
    expect_kind: ProblemKind,
    expect_segment: u64,
    expect_line: u64,
    expect_seq: Option<u64>,
) {
    let problem = verify(dir, &VerifyOptions::default())
        .unwrap()
        .problem
        .expect("tampering must be found");
    assert_eq!(problem.kind, expect_kind, "{problem}");
    assert_eq!(
        problem.segment,
        codeward_audit::segment_name(expect_segment),
        "{problem}"
    );
    assert_eq!(problem.line, expect_line, "{problem}");
    assert_eq!(problem.seq, expect_seq, "{problem}");
}

#[tokio::test]
async fn a_flipped_byte_is_reported_at_its_record() {
    let (_tmp, dir) = log_with(10, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut bytes = fs::read(&seg).unwrap();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    // Flip a byte inside the message of the 6th record: "call 5" -> "call 4".
    let pos = line_starts[5]
        + String::from_utf8_lossy(&bytes[line_starts[5]..])
            .find("call 5")
            .unwrap()
        + 5;
    bytes[pos] = b'4';
    fs::write(&seg, bytes).unwrap();
    check_tamper(&dir, ProblemKind::Changed, 1, 6, Some(6));
}

#[tokio::test]
async fn a_deleted_line_is_reported_as_missing() {
    let (_tmp, dir) = log_with(10, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    ls.remove(3); // seq 4
    write_lines(&seg, &ls);
    check_tamper(&dir, ProblemKind::Missing, 1, 4, Some(5));
}

#[tokio::test]
async fn swapped_lines_are_reported_as_reordered() {
    let (_tmp, dir) = log_with(10, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    ls.swap(6, 7); // seq 7 and 8
    write_lines(&seg, &ls);
    check_tamper(&dir, ProblemKind::Reordered, 1, 7, Some(8));
}

#[tokio::test]
async fn a_rewritten_record_with_a_recomputed_hash_breaks_the_next_link() {
    let (_tmp, dir) = log_with(6, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    let mut rec: codeward_core::AuditRecord = serde_json::from_str(&ls[2]).unwrap();
    rec.message = "nothing happened".into();
    rec.hash = codeward_audit::record_hash(&rec);
    ls[2] = serde_json::to_string(&rec).unwrap();
    write_lines(&seg, &ls);
    check_tamper(&dir, ProblemKind::Changed, 1, 3, Some(3));
}

#[tokio::test]
async fn a_deleted_segment_is_reported() {
    let (_tmp, dir) = log_with(60, 1_500).await;
    let segs = codeward_audit::list_segments(&dir).unwrap();
    assert!(segs.len() >= 4);
    fs::remove_file(&segs[1].1).unwrap();
    let problem = verify(&dir, &VerifyOptions::default())
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(problem.kind, ProblemKind::MissingSegment);
    assert_eq!(problem.segment, codeward_audit::segment_name(2));

    // Deleting the first segment is found too.
    let (_tmp2, dir2) = log_with(60, 1_500).await;
    fs::remove_file(segment(&dir2, 1)).unwrap();
    let problem = verify(&dir2, &VerifyOptions::default())
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(
        (problem.kind, problem.segment.as_str()),
        (ProblemKind::MissingSegment, "audit-00000001.jsonl")
    );
}

#[tokio::test]
async fn a_cut_tail_is_found_against_a_kept_receipt() {
    let (_tmp, dir) = log_with(10, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    ls.truncate(7);
    write_lines(&seg, &ls);
    assert!(
        verify(&dir, &VerifyOptions::default()).unwrap().is_ok(),
        "a clean cut alone is not visible"
    );
    let problem = verify(&dir, &VerifyOptions::default().expect_seq(10))
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(problem.kind, ProblemKind::Truncated);
    assert_eq!(problem.seq, Some(8));
}

#[tokio::test]
async fn a_newer_format_is_refused_with_a_clear_error() {
    let (_tmp, dir) = log_with(2, u64::MAX).await;
    let seg = segment(&dir, 1);
    let mut ls = lines(&seg);
    let mut v: serde_json::Value = serde_json::from_str(&ls[1]).unwrap();
    v["v"] = 99.into();
    ls[1] = v.to_string();
    write_lines(&seg, &ls);
    let err = AuditLog::open(options(&dir)).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::UnsupportedVersion {
                found: 99,
                line: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade"), "{err}");
    let problem = verify(&dir, &VerifyOptions::default())
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(problem.kind, ProblemKind::UnsupportedVersion);
}

/// The segment and line index of `seq`.
fn find_line(dir: &Path, seq: u64) -> (std::path::PathBuf, usize) {
    for (_, path) in codeward_audit::list_segments(dir).unwrap() {
        for (i, line) in lines(&path).iter().enumerate() {
            let rec: AuditRecord = serde_json::from_str(line).unwrap();
            if rec.seq == seq {
                return (path, i);
            }
        }
    }
    panic!("seq {seq} not found");
}

/// 60 records in 2 KB segments, the head read, then 30 more (so the head's segment is no
/// longer the newest).
async fn log_with_head() -> (tempfile::TempDir, std::path::PathBuf, (u64, String)) {
    let (tmp, dir) = log_with(60, 2_000).await;
    let head = codeward_audit::AuditReader::new(&dir)
        .head()
        .unwrap()
        .unwrap();
    let log = AuditLog::open(options(&dir).max_segment_bytes(2_000)).unwrap();
    for i in 0..30 {
        let _r = log.append(event(100 + i)).await.unwrap();
    }
    log.close().await.unwrap();
    (tmp, dir, head)
}

#[tokio::test]
async fn verifying_after_a_head_reads_only_what_follows_it() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        codeward_audit::AuditReader::new(empty.path())
            .head()
            .unwrap(),
        None
    );
    let (_tmp, dir, head) = log_with_head().await;
    assert_eq!(head.0, 60);
    let segments = codeward_audit::list_segments(&dir).unwrap().len();
    let report = verify(
        &dir,
        &VerifyOptions::default().after(head.0, head.1.clone()),
    )
    .unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.records, 30);
    assert_eq!(report.head.as_ref().map(|h| h.0), Some(90));
    assert!(
        report.segments < segments / 2,
        "read {} of {segments} segments",
        report.segments
    );
    let since: Vec<u64> = codeward_audit::AuditReader::new(&dir)
        .records(codeward_audit::Query::all().seq_range(61, u64::MAX))
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(since, (61..=90).collect::<Vec<_>>());
}

#[tokio::test]
async fn verifying_after_a_head_reports_a_changed_head_or_successor() {
    // The head rewritten with a recomputed hash: it is no longer the record that was read.
    let (_tmp, dir, head) = log_with_head().await;
    let (path, i) = find_line(&dir, 60);
    let mut ls = lines(&path);
    let mut rec: AuditRecord = serde_json::from_str(&ls[i]).unwrap();
    rec.message = "rewritten".into();
    rec.hash = codeward_audit::record_hash(&rec);
    ls[i] = serde_json::to_string(&rec).unwrap();
    write_lines(&path, &ls);
    let report = verify(
        &dir,
        &VerifyOptions::default().after(head.0, head.1.clone()),
    )
    .unwrap();
    let problem = report.problem.expect("a changed head is found");
    assert_eq!(
        (problem.kind, problem.seq),
        (ProblemKind::Changed, Some(60))
    );

    // A record after the head altered: found at its line.
    let (_tmp, dir, head) = log_with_head().await;
    let (path, i) = find_line(&dir, 75);
    let mut ls = lines(&path);
    ls[i] = ls[i].replace("\"call 1", "\"kall 1");
    write_lines(&path, &ls);
    let report = verify(&dir, &VerifyOptions::default().after(head.0, head.1)).unwrap();
    let problem = report
        .problem
        .expect("an altered record after the head is found");
    assert_eq!(
        (problem.kind, problem.seq),
        (ProblemKind::Changed, Some(75))
    );
    assert_eq!(problem.line, i as u64 + 1);
}

#[tokio::test]
async fn verifying_after_a_head_does_not_read_before_it_and_a_missing_head_is_reported() {
    // Tampering before the head is outside an incremental check (the full one finds it).
    let (_tmp, dir, head) = log_with_head().await;
    let (path, i) = find_line(&dir, 3);
    let mut ls = lines(&path);
    ls[i] = ls[i].replace("\"call 2\"", "\"kall 2\"");
    write_lines(&path, &ls);
    let after = verify(
        &dir,
        &VerifyOptions::default().after(head.0, head.1.clone()),
    )
    .unwrap();
    assert!(after.is_ok(), "{:?}", after.problem);
    let full = verify(&dir, &VerifyOptions::default()).unwrap();
    assert_eq!(full.problem.unwrap().seq, Some(3));

    // A head the log never reached (or no longer holds): truncated.
    let report = verify(&dir, &VerifyOptions::default().after(500, head.1)).unwrap();
    assert_eq!(report.problem.unwrap().kind, ProblemKind::Truncated);
}

#[tokio::test]
async fn a_head_that_ends_a_segment_is_checked_without_reading_that_segment() {
    let (_tmp, dir) = log_with(60, 2_000).await;
    let seg2 = segment(&dir, 2);
    let mut ls = lines(&seg2);
    let last: AuditRecord = serde_json::from_str(ls.last().unwrap()).unwrap();
    let report = verify(
        &dir,
        &VerifyOptions::default().after(last.seq, last.hash.clone()),
    )
    .unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.records, 60 - last.seq);

    // Rewritten with a recomputed hash: segment 2 is not walked, its last record is compared.
    let mut rec = last.clone();
    rec.message = "rewritten".into();
    rec.hash = codeward_audit::record_hash(&rec);
    *ls.last_mut().unwrap() = serde_json::to_string(&rec).unwrap();
    write_lines(&seg2, &ls);
    let report = verify(&dir, &VerifyOptions::default().after(last.seq, last.hash)).unwrap();
    let problem = report.problem.expect("the changed head is found");
    assert_eq!(
        (problem.kind, problem.seq),
        (ProblemKind::Changed, Some(last.seq))
    );
    assert_eq!(problem.segment, codeward_audit::segment_name(2));
    assert_eq!(problem.line, ls.len() as u64);
}

#[tokio::test]
async fn an_incremental_check_is_not_fooled_by_a_reformatted_head_or_junk_after_it() {
    // A forged record claiming the next seq, put before the head: the check covers what
    // follows the head, and a read "after the head" never returns it.
    let (_tmp, dir, head) = log_with_head().await;
    let (path, i) = find_line(&dir, 60);
    let (next_path, j) = find_line(&dir, 61);
    let mut forged: AuditRecord = serde_json::from_str(&lines(&next_path)[j]).unwrap();
    forged.message = "forged".into();
    forged.hash = codeward_audit::record_hash(&forged);
    let mut ls = lines(&path);
    ls.insert(i, serde_json::to_string(&forged).unwrap());
    write_lines(&path, &ls);
    let after = codeward_audit::AuditReader::new(&dir)
        .records(codeward_audit::Query::all().after(head.0, head.1.clone()))
        .unwrap()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>();
    assert!(after.iter().all(|r| r.message != "forged"), "{after:?}");
    assert_eq!(after.first().map(|r| r.seq), Some(61));
    assert_eq!(after.len(), 30);
    assert!(
        verify(&dir, &VerifyOptions::default())
            .unwrap()
            .problem
            .is_some()
    );

    // Junk after a head that ends an older segment.
    let (_tmp, dir) = log_with(60, 2_000).await;
    let seg2 = segment(&dir, 2);
    let last: AuditRecord = serde_json::from_str(lines(&seg2).last().unwrap()).unwrap();
    append_bytes(&seg2, b"not a record\n");
    let report = verify(&dir, &VerifyOptions::default().after(last.seq, last.hash)).unwrap();
    let problem = report.problem.expect("junk after the head is found");
    assert_eq!(problem.segment, codeward_audit::segment_name(2));
}

#[tokio::test]
async fn an_altered_end_of_an_older_segment_is_a_problem_not_an_error() {
    let (_tmp, dir, head) = log_with_head().await;
    let seg1 = segment(&dir, 1);
    let mut ls = lines(&seg1);
    let last = ls.len() - 1;
    ls[last] = ls[last].replacen("\"call ", "\"kall ", 1);
    write_lines(&seg1, &ls);
    let report = verify(&dir, &VerifyOptions::default().after(head.0, head.1)).unwrap();
    let problem = report.problem.expect("reported as a problem");
    assert_eq!(problem.kind, ProblemKind::Changed);
    assert_eq!(problem.segment, codeward_audit::segment_name(1));
    // Reading from the head on still works.
    let since = codeward_audit::AuditReader::new(&dir)
        .records(codeward_audit::Query::all().seq_range(61, u64::MAX))
        .unwrap()
        .count();
    assert!(since >= 30);
}

#[tokio::test]
async fn only_names_the_writer_writes_are_segments_and_none_overflows() {
    use codeward_audit::{parse_segment_name, segment_name};
    for n in [1, 12_345_678, 123_456_789, 99_999_999_999] {
        assert_eq!(parse_segment_name(&segment_name(n)), Some(n));
    }
    for name in [
        "audit-+5.jsonl",
        "audit-5.jsonl",
        "audit-0000000x.jsonl",
        "audit-18446744073709551615.jsonl",
        "audit-100000000000.jsonl",
    ] {
        assert_eq!(parse_segment_name(name), None, "{name}");
    }
    // A stray file with a huge number beside a log is not a segment: the log works on.
    let (_tmp, dir) = log_with(3, u64::MAX).await;
    std::fs::write(dir.join("audit-18446744073709551615.jsonl"), "").unwrap();
    let log = AuditLog::open(options(&dir)).unwrap();
    assert_eq!(log.append(event(3)).await.unwrap().seq, 4);
    log.close().await.unwrap();
}
