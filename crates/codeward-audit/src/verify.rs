//! Walking the whole chain across segments and naming the first bad spot exactly.
//! Checks hashes, links, seq order, segment continuity and signed checkpoints.

use std::fs;
use std::path::Path;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Serialize;

use codeward_core::{AuditKind, AuditRecord, RECORD_FORMAT_VERSION};

use crate::canonical::GENESIS_HASH;
use crate::error::{AuditError, Result};
use crate::segment::{
    LineState, Newer, classify_line, last_seq_problem, line_seq, list_segments, newer_run_break,
    scan_tail, segment_name,
};
use crate::writer::checkpoint_message;

/// What `verify` may additionally require.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Public keys allowed to sign checkpoints; when non-empty, every checkpoint must carry a
    /// signature by one of them (an unsigned one, or one signed by any other key, is a
    /// problem). Empty: a signature is checked against the key the checkpoint itself names,
    /// which proves nothing about who wrote it (see [`SignatureTrust::SelfSigned`]).
    pub trusted_keys: Vec<[u8; 32]>,
    /// The log must reach at least this seq (e.g. the last receipt an application kept):
    /// detects a deleted newest segment or cut tail.
    pub expect_seq: Option<u64>,
    /// Verify only what follows this record (seq, hash), e.g. the head read before a run:
    /// segments that end before it are not read, the record itself must still be there with
    /// this hash, and everything after it must chain onto it. `None`: the whole log.
    pub after: Option<(u64, String)>,
}

impl VerifyOptions {
    /// Trusts checkpoints signed by this Ed25519 public key.
    pub fn trust_key(mut self, public_key: [u8; 32]) -> Self {
        self.trusted_keys.push(public_key);
        self
    }

    /// Requires the log to reach `seq`.
    pub fn expect_seq(mut self, seq: u64) -> Self {
        self.expect_seq = Some(seq);
        self
    }

    /// Verifies only the records after `(seq, hash)`, a record read earlier (see
    /// [`crate::AuditReader::head`]): a check proportional to what was appended since, not
    /// to the whole log. `codeward audit verify` still walks everything.
    pub fn after(mut self, seq: u64, hash: impl Into<String>) -> Self {
        self.after = Some((seq, hash.into()));
        self
    }
}

/// What is wrong at the first bad spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// A record's content no longer matches its hash, or its successor's link.
    Changed,
    /// Records are missing (a seq gap).
    Missing,
    /// Records are out of order.
    Reordered,
    /// The log ends in a partial record or earlier than expected.
    Truncated,
    /// A whole segment file is missing.
    MissingSegment,
    /// A line is not an audit record.
    Malformed,
    /// A record uses a newer format.
    UnsupportedVersion,
    /// A checkpoint does not match the chain or its signature fails.
    BadCheckpoint,
}

/// The first bad spot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// The segment file name.
    pub segment: String,
    /// 1-based line within the segment (0 when the whole segment is missing).
    pub line: u64,
    /// The seq involved, when known.
    pub seq: Option<u64>,
    /// A sentence for a human.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} at {} line {}", self.kind, self.segment, self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// How far the checkpoint signatures in the records walked vouch for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignatureTrust {
    /// No signed checkpoint was walked: only the hash chain protects the records, and anyone
    /// able to rewrite the files can recompute it.
    Unsigned,
    /// Signatures verified only against the public keys the checkpoints carry, because no
    /// key was trusted ([`VerifyOptions::trust_key`]): they show the checkpoints are
    /// consistent, not that they come from the log's own key. Whoever rewrites the log can
    /// sign it again with a key of their own.
    SelfSigned,
    /// Every checkpoint walked is signed by a trusted key, and there was at least one.
    Trusted,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Segments read.
    pub segments: usize,
    /// Intact records before the first problem.
    pub records: u64,
    /// The last intact record's seq and hash.
    pub head: Option<(u64, String)>,
    /// Checkpoints seen.
    pub checkpoints: u64,
    /// Checkpoints whose signature verified.
    pub signed_checkpoints: u64,
    /// What the signatures prove. A caller that needs more than the hash chain requires
    /// [`SignatureTrust::Trusted`]: with trusted keys, a log without any checkpoint (or
    /// rewritten without them) is otherwise `is_ok()`.
    pub signatures: SignatureTrust,
    /// The newest seq that a checkpoint signed by a trusted key vouches for; records after
    /// it rely on the hash chain alone.
    pub trusted_through: Option<u64>,
    /// The first problem, if any.
    pub problem: Option<Problem>,
    /// Acknowledged records that the write-ahead file holds and the newest segment lacks (a
    /// power loss or OS crash took them from the page cache). The next writer's open restores
    /// them and records that; until then the segment's tail reads as `Truncated`, or as
    /// complete when the loss ended on a line boundary.
    pub restorable: u64,
}

impl VerifyReport {
    /// Whether the chain is intact.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

struct Walk<'a> {
    opts: &'a VerifyOptions,
    report: VerifyReport,
    expected_seq: u64,
    prev_hash: String,
    prev_at: (String, u64),
    /// With `VerifyOptions::after`: records up to the anchor are skipped; set once the
    /// anchor record itself was found unchanged.
    anchor_seen: bool,
    /// Records in a newer format and the lines between them, from the first one on, and the
    /// hash of the record before them (when verified). Judged once the walk ends: a newer
    /// format is only reported as such if nothing older follows it and the run chains.
    newer: Option<NewerRun>,
}

struct NewerRun {
    before: Option<String>,
    /// (segment, line, record; `None` for a line that is not a record).
    entries: Vec<(String, u64, Option<Newer>)>,
}

/// Verifies the log in `dir`. I/O errors are `Err`; a damaged log is `Ok` with a problem.
pub fn verify(dir: &Path, opts: &VerifyOptions) -> Result<VerifyReport> {
    let mut report = walk_chain(dir, opts)?;
    if let Some((n, path)) = list_segments(dir)?.pop() {
        match crate::wal::restorable(dir, n, &path) {
            Ok(records) => report.restorable = records,
            // The write-ahead file proves records were removed that the chain alone cannot
            // show missing (a cut on a record boundary, a deleted newest segment).
            Err(AuditError::Malformed { problem, .. }) => {
                if report.problem.is_none() {
                    report.problem = Some(Problem {
                        kind: ProblemKind::Truncated,
                        segment: segment_name(n),
                        line: 0,
                        seq: None,
                        detail: problem,
                    });
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

fn walk_chain(dir: &Path, opts: &VerifyOptions) -> Result<VerifyReport> {
    let segments = list_segments(dir)?;
    let mut walk = Walk {
        opts,
        report: VerifyReport {
            segments: 0,
            records: 0,
            head: None,
            checkpoints: 0,
            signed_checkpoints: 0,
            signatures: SignatureTrust::Unsigned,
            trusted_through: None,
            problem: None,
            restorable: 0,
        },
        expected_seq: 1,
        prev_hash: GENESIS_HASH.to_owned(),
        prev_at: (String::new(), 0),
        anchor_seen: opts.after.is_none(),
        newer: None,
    };
    if let Some((seq, hash)) = &opts.after {
        // seq u64::MAX cannot be followed; saturating keeps a forged one from overflowing.
        walk.expected_seq = seq.saturating_add(1);
        walk.prev_hash = hash.clone();
    }
    let count = segments.len();
    for (i, (n, path)) in segments.into_iter().enumerate() {
        let expected_no = i as u64 + 1;
        if n != expected_no {
            if walk.newer.is_some() {
                break; // the newer records come first; judged below
            }
            walk.problem(
                ProblemKind::MissingSegment,
                &segment_name(expected_no),
                0,
                Some(walk.expected_seq),
                format!(
                    "segment {} is missing (found {} next); records from seq {} on are gone",
                    segment_name(expected_no),
                    segment_name(n),
                    walk.expected_seq
                ),
            );
            return Ok(walk.report);
        }
        if let Some((anchor, hash)) = &opts.after
            && !walk.anchor_seen
            && walk.newer.is_none()
            && i + 1 < count
        {
            // A segment that ends at or before the anchor is not read; the one ending with it
            // only has its last record checked.
            // Anything odd about the segment's end (a torn or garbage tail, an altered last
            // record, an unreadable one) is left to the walk below, which names it.
            let last = match scan_tail(&path) {
                Ok(tail) if tail.torn_bytes == 0 => tail.last,
                _ => None,
            };
            match last {
                Some(last) if last.seq < *anchor => continue,
                Some(last) if last.seq == *anchor => {
                    if last.hash != *hash {
                        walk.anchor_changed(&segment_name(n), &path, last.seq);
                        return Ok(walk.report);
                    }
                    walk.anchor_seen = true;
                    walk.report.head = Some((last.seq, last.hash));
                    walk.prev_at = (segment_name(n), 0);
                    continue;
                }
                _ => {}
            }
        }
        walk.report.segments += 1;
        let bytes = fs::read(&path).map_err(|e| AuditError::io(&path, e))?;
        if !walk.segment(&segment_name(n), &bytes, i + 1 == count) {
            return Ok(walk.report);
        }
    }
    if let Some(run) = walk.newer.take() {
        walk.newer_format(run);
        return Ok(walk.report);
    }
    if !walk.anchor_seen
        && let Some((anchor, _)) = &opts.after
    {
        let last_segment = walk.prev_at.0.clone();
        walk.problem(
            ProblemKind::Truncated,
            &last_segment,
            walk.prev_at.1,
            Some(*anchor),
            format!("the log no longer reaches seq {anchor}, which this verification starts after"),
        );
        return Ok(walk.report);
    }
    if let Some(expected) = opts.expect_seq {
        let reached = walk.expected_seq - 1;
        if reached < expected {
            let last_segment = walk.prev_at.0.clone();
            walk.problem(ProblemKind::Truncated, &last_segment, walk.prev_at.1, Some(reached + 1),
                format!("the log ends at seq {reached} but seq {expected} was acknowledged; records {}..={expected} are missing", reached + 1));
        }
    }
    Ok(walk.report)
}

impl Walk<'_> {
    fn problem(
        &mut self,
        kind: ProblemKind,
        segment: &str,
        line: u64,
        seq: Option<u64>,
        detail: String,
    ) {
        self.report.problem = Some(Problem {
            kind,
            segment: segment.to_owned(),
            line,
            seq,
            detail,
        });
    }

    /// Walks one segment; false once a problem is recorded.
    fn segment(&mut self, name: &str, bytes: &[u8], is_last: bool) -> bool {
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // `split` yields a final empty piece when the file ends with '\n'.
        let complete = lines.len() - 1;
        // Verifying after an anchor: start at its line when it can be found by its first bytes
        // (the lines before it are outside the check); otherwise walk the whole segment.
        // Only when every line before it reads as an earlier record; any other line there is
        // walked (and named if it is wrong).
        let start = match &self.opts.after {
            Some((anchor, _)) if !self.anchor_seen => lines[..complete]
                .iter()
                .position(|l| line_seq(l).is_none_or(|seq| seq >= *anchor))
                .filter(|&i| line_seq(lines[i]) == Some(*anchor))
                .unwrap_or(0),
            _ => 0,
        };
        for (idx, line) in lines.iter().enumerate().skip(start) {
            let line_no = idx as u64 + 1;
            if self.newer.is_some() {
                if idx < complete && !self.newer_line(name, line_no, line) {
                    return false;
                }
                continue;
            }
            if idx == complete {
                if !line.is_empty() {
                    self.problem(
                        ProblemKind::Truncated,
                        name,
                        line_no,
                        Some(self.expected_seq),
                        format!(
                            "{} bytes of a partial record at the end (a torn write{})",
                            line.len(),
                            if is_last {
                                "; opening the log for writing repairs it"
                            } else {
                                " in a segment that is not the newest"
                            }
                        ),
                    );
                    return false;
                }
                break;
            }
            let record = match classify_line(line) {
                LineState::Intact(r) => r,
                LineState::Garbage => {
                    let trailing = lines[idx..complete]
                        .iter()
                        .all(|l| !matches!(classify_line(l), LineState::Intact(_)));
                    let kind = if is_last && trailing {
                        ProblemKind::Truncated
                    } else {
                        ProblemKind::Malformed
                    };
                    self.problem(
                        kind,
                        name,
                        line_no,
                        Some(self.expected_seq),
                        "the line is not an audit record".into(),
                    );
                    return false;
                }
                LineState::HashMismatch { seq } => {
                    self.problem(
                        ProblemKind::Changed,
                        name,
                        line_no,
                        Some(seq),
                        "the record's content does not match its hash: it was altered".into(),
                    );
                    return false;
                }
                LineState::TooNew(record) => {
                    // Before the anchor nothing is verified, so the record before is unknown.
                    let before = self.anchor_seen.then(|| self.prev_hash.clone());
                    self.newer = Some(NewerRun {
                        before,
                        entries: vec![(name.to_owned(), line_no, Some(*record))],
                    });
                    continue;
                }
            };
            if !self.link(name, line_no, &record, &lines[idx + 1..complete]) {
                return false;
            }
        }
        true
    }

    /// The anchor, the last record of a segment that was not read, has another hash now.
    fn anchor_changed(&mut self, name: &str, path: &Path, seq: u64) {
        let lines = fs::read(path)
            .map(|b| b.iter().filter(|c| **c == b'\n').count() as u64)
            .unwrap_or(0);
        self.problem(
            ProblemKind::Changed,
            name,
            lines,
            Some(seq),
            format!(
                "seq {seq}, which this verification starts after, no longer has the hash it had"
            ),
        );
    }

    /// A line after a record in a newer format; false once a problem is recorded.
    fn newer_line(&mut self, name: &str, line_no: u64, line: &[u8]) -> bool {
        let entry = match classify_line(line) {
            LineState::TooNew(record) => Some(*record),
            LineState::Garbage => None,
            LineState::Intact(_) | LineState::HashMismatch { .. } => {
                let Some(run) = self.newer.take() else {
                    return true;
                };
                let Some((seg, first_line, Some(first))) = run.entries.into_iter().next() else {
                    return true;
                };
                let detail = format!(
                    "the record claims format v{}, but a v{RECORD_FORMAT_VERSION} record follows \
                     it ({name} line {line_no}) and formats never go back: it was altered",
                    first.version
                );
                self.problem(ProblemKind::Changed, &seg, first_line, first.seq, detail);
                return false;
            }
        };
        if let Some(run) = &mut self.newer {
            run.entries.push((name.to_owned(), line_no, entry));
        }
        true
    }

    /// Names the first problem of a run of newer-format records that nothing older follows:
    /// a broken link is tampering; a run that chains is a format this build cannot check.
    fn newer_format(&mut self, run: NewerRun) {
        let entries: Vec<Option<&Newer>> = run.entries.iter().map(|e| e.2.as_ref()).collect();
        let at_fault = newer_run_break(run.before.as_deref(), &entries);
        let first = run.entries.iter().position(|e| e.2.is_some());
        let Some((seg, line, Some(record))) = at_fault.or(first).and_then(|i| run.entries.get(i))
        else {
            return;
        };
        let (kind, seq, detail) = match at_fault {
            Some(_) => (
                ProblemKind::Changed,
                record.seq,
                format!(
                    "the record claims format v{}, but its hash and the chain around it do not \
                     link: it was altered",
                    record.version
                ),
            ),
            None => (
                ProblemKind::UnsupportedVersion,
                None,
                format!(
                    "record format v{} is newer than v{RECORD_FORMAT_VERSION}; upgrade codeward \
                     to verify it",
                    record.version
                ),
            ),
        };
        let (seg, line) = (seg.clone(), *line);
        self.problem(kind, &seg, line, seq, detail);
    }

    fn link(&mut self, name: &str, line_no: u64, record: &AuditRecord, rest: &[&[u8]]) -> bool {
        if record.seq == u64::MAX {
            self.problem(
                ProblemKind::Malformed,
                name,
                line_no,
                Some(record.seq),
                last_seq_problem(),
            );
            return false;
        }
        if let Some((anchor, hash)) = &self.opts.after
            && !self.anchor_seen
        {
            if record.seq < *anchor {
                return true;
            }
            if record.seq > *anchor || record.hash != *hash {
                self.problem(
                    ProblemKind::Changed,
                    name,
                    line_no,
                    Some(*anchor),
                    format!("seq {anchor}, which this verification starts after, is not in the log as it was"),
                );
                return false;
            }
            self.anchor_seen = true;
            self.report.head = Some((record.seq, record.hash.clone()));
            self.prev_at = (name.to_owned(), line_no);
            return true;
        }
        let expected = self.expected_seq;
        if record.seq != expected {
            let later = rest
                .iter()
                .any(|l| matches!(classify_line(l), LineState::Intact(r) if r.seq == expected));
            let (kind, detail) = if record.seq > expected && !later {
                (
                    ProblemKind::Missing,
                    format!("records {expected}..={} are missing", record.seq - 1),
                )
            } else {
                (
                    ProblemKind::Reordered,
                    format!("expected seq {expected} here, found seq {}", record.seq),
                )
            };
            self.problem(kind, name, line_no, Some(record.seq), detail);
            return false;
        }
        if record.prev != self.prev_hash {
            if expected == 1 {
                self.problem(
                    ProblemKind::Changed,
                    name,
                    line_no,
                    Some(1),
                    "the first record does not start the chain".into(),
                );
            } else {
                // The earlier record is self-consistent but not the one its successor linked to:
                // it was rewritten with a recomputed hash (or the successor's link was edited).
                let (seg, line) = self.prev_at.clone();
                let detail = format!(
                    "seq {} was rewritten: its hash no longer matches the prev of seq {expected} ({name} line {line_no})",
                    expected - 1
                );
                self.problem(ProblemKind::Changed, &seg, line, Some(expected - 1), detail);
            }
            return false;
        }
        if record.kind == AuditKind::Checkpoint && !self.checkpoint(name, line_no, record) {
            return false;
        }
        self.report.records += 1;
        self.report.head = Some((record.seq, record.hash.clone()));
        // Below u64::MAX (checked above), so this cannot overflow.
        self.expected_seq = expected.saturating_add(1);
        self.prev_hash = record.hash.clone();
        self.prev_at = (name.to_owned(), line_no);
        true
    }

    fn checkpoint(&mut self, name: &str, line_no: u64, record: &AuditRecord) -> bool {
        self.report.checkpoints += 1;
        let m = &record.metadata;
        let head = m.get("head").and_then(|v| v.as_str()).unwrap_or_default();
        let head_seq = m
            .get("checkpoint_seq")
            .and_then(|v| v.as_u64())
            .unwrap_or(u64::MAX);
        if head != self.prev_hash || record.seq.checked_sub(1) != Some(head_seq) {
            self.problem(
                ProblemKind::BadCheckpoint,
                name,
                line_no,
                Some(record.seq),
                "the checkpoint does not name the record before it".into(),
            );
            return false;
        }
        let (Some(key_hex), Some(sig_hex)) = (
            m.get("public_key").and_then(|v| v.as_str()),
            m.get("signature").and_then(|v| v.as_str()),
        ) else {
            if self.opts.trusted_keys.is_empty() {
                return true; // unsigned checkpoint, and none required: nothing more to check
            }
            self.problem(
                ProblemKind::BadCheckpoint,
                name,
                line_no,
                Some(record.seq),
                "the checkpoint is not signed, but keys were given to trust: each checkpoint \
                 must be signed by one of them"
                    .into(),
            );
            return false;
        };
        let key: Option<[u8; 32]> = hex::decode(key_hex).ok().and_then(|b| b.try_into().ok());
        let sig: Option<[u8; 64]> = hex::decode(sig_hex).ok().and_then(|b| b.try_into().ok());
        let ok = match (key, sig) {
            (Some(key), Some(sig)) => {
                let trusted =
                    self.opts.trusted_keys.is_empty() || self.opts.trusted_keys.contains(&key);
                trusted
                    && VerifyingKey::from_bytes(&key).is_ok_and(|vk| {
                        vk.verify(
                            checkpoint_message(head_seq, head).as_bytes(),
                            &Signature::from_bytes(&sig),
                        )
                        .is_ok()
                    })
            }
            _ => false,
        };
        if !ok {
            self.problem(
                ProblemKind::BadCheckpoint,
                name,
                line_no,
                Some(record.seq),
                "the checkpoint signature does not verify with a trusted key".into(),
            );
            return false;
        }
        self.report.signed_checkpoints += 1;
        if self.opts.trusted_keys.is_empty() {
            self.report.signatures = SignatureTrust::SelfSigned;
        } else {
            self.report.signatures = SignatureTrust::Trusted;
            self.report.trusted_through = Some(head_seq);
        }
        true
    }
}
