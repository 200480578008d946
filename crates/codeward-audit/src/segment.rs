//! Segment files on disk: naming, listing, directory syncs, and reading a segment's tail.
//! The tail scan is how a writer finds where the chain stands and repairs a torn last record.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use codeward_core::{AuditRecord, RECORD_FORMAT_VERSION};

use crate::canonical::{value_hash, written_line};
use crate::error::{AuditError, Result};

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";

/// The file name of segment `n` (`audit-00000001.jsonl`).
pub fn segment_name(n: u64) -> String {
    format!("{PREFIX}{n:08}{SUFFIX}")
}

/// The highest segment number: far beyond any real log (10^11 segments of 64 MiB), and low
/// enough that the writer's next number never overflows.
pub const MAX_SEGMENT: u64 = 99_999_999_999;

/// The segment number of a file name, if it is a segment: exactly what [`segment_name`]
/// writes (`audit-+5.jsonl` or `audit-5.jsonl` are not segments), up to segment 99,999,999,999.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    (n <= MAX_SEGMENT && segment_name(n) == name).then_some(n)
}

/// Every segment in `dir`, ordered by number.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| AuditError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| AuditError::io(dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(parse_segment_name) {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// fsyncs a directory so that file creations and renames in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io(dir, e))
}

/// The last intact record of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Last {
    pub seq: u64,
    pub hash: String,
}

/// Where a segment's intact records end.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    /// Byte length up to and including the last intact record's newline.
    pub good_len: u64,
    /// The last intact record, if any.
    pub last: Option<Last>,
    /// Bytes after `good_len` (a torn write or garbage).
    pub torn_bytes: u64,
}

/// How a single line of a segment reads.
pub(crate) enum LineState {
    /// A record exactly as the writer writes it, hash included.
    Intact(Box<AuditRecord>),
    /// Not a record at all: a torn write or garbage.
    Garbage,
    /// A complete record that is not byte for byte the line the writer would write for its
    /// content (a wrong hash, a duplicate key, other spacing or escapes): tampering.
    HashMismatch { seq: u64 },
    /// A complete record in a newer format.
    TooNew(Box<Newer>),
}

/// What can be checked of a record in a newer format without understanding it: its place in
/// the chain.
#[derive(Debug, Clone)]
pub(crate) struct Newer {
    pub version: u32,
    pub seq: Option<u64>,
    pub prev: Option<String>,
    pub hash: String,
}

/// The seq of a line as this crate writes it (`{"v":1,"seq":N,...`), read from its first
/// bytes without parsing the record; `None` for any other shape. For skipping ahead only:
/// whatever is then used is parsed and hash-checked in full.
pub(crate) fn line_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"v\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest[digits..].strip_prefix(b",\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b',') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Classifies one line (without its newline).
pub(crate) fn classify_line(line: &[u8]) -> LineState {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(line) else {
        return LineState::Garbage;
    };
    let Some(stored) = map.get("hash").and_then(Value::as_str).map(str::to_owned) else {
        return LineState::Garbage;
    };
    let seq = map.get("seq").and_then(Value::as_u64);
    let version = map.get("v").and_then(Value::as_u64).unwrap_or(0);
    if version > u64::from(RECORD_FORMAT_VERSION) {
        // Whether it really is a newer format or a record altered to look like one is for the
        // caller to judge from its neighbours (see `newer_run_break`).
        return LineState::TooNew(Box::new(Newer {
            version: u32::try_from(version).unwrap_or(u32::MAX),
            seq,
            prev: map.get("prev").and_then(Value::as_str).map(str::to_owned),
            hash: stored,
        }));
    }
    let value = Value::Object(map);
    let record = match AuditRecord::deserialize(&value) {
        Ok(record) => record,
        Err(_) if value_hash(&value) == stored => return LineState::Garbage,
        Err(_) => {
            return LineState::HashMismatch {
                seq: seq.unwrap_or(0),
            };
        }
    };
    // The hash covers the parsed content; the line must also be the one form the writer
    // gives that content, or edits could hide in bytes the parse drops.
    if written_line(&record) != line {
        return LineState::HashMismatch { seq: record.seq };
    }
    LineState::Intact(Box::new(record))
}

/// Where a run of newer-format records (in file order, after the record whose hash is
/// `before`, when known) fails to chain: the index of the record at fault, if any.
/// `None` entries are lines that are not records; the link across them is not checked.
/// A record whose own `prev` misses `before` is at fault itself; within the run, the record
/// whose hash its successor does not name.
pub(crate) fn newer_run_break<'a>(
    before: Option<&'a str>,
    run: &[Option<&'a Newer>],
) -> Option<usize> {
    let mut expect = before;
    for (i, entry) in run.iter().enumerate() {
        let Some(newer) = entry else {
            expect = None;
            continue;
        };
        if let (Some(expected), Some(prev)) = (expect, newer.prev.as_deref())
            && expected != prev
        {
            return Some(if i == 0 { 0 } else { i - 1 });
        }
        expect = Some(&newer.hash);
    }
    None
}

/// The message for a record with seq `u64::MAX`: the writer never writes one (nothing could
/// follow it), so it was forged.
pub(crate) fn last_seq_problem() -> String {
    format!(
        "seq {} is the largest possible and the writer never writes it (no record could follow \
         it): the record was forged",
        u64::MAX
    )
}

fn line_number_at(path: &Path, offset: u64) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut buf = Vec::new();
    if file.take(offset).read_to_end(&mut buf).is_err() {
        return 0;
    }
    buf.iter().filter(|b| **b == b'\n').count() as u64 + 1
}

/// Reads backwards from the end of `path` to the last intact record.
///
/// Trailing bytes that are not a complete record (a partial line, or lines that are not
/// JSON records) count as torn. A complete record with a bad hash is tampering and an error:
/// repairing it would erase evidence. So is a record with seq `u64::MAX`, which no writer
/// writes. Records in a newer format at the end are refused as such only when they chain
/// onto the record before them; otherwise they are tampering too.
pub(crate) fn scan_tail(path: &Path) -> Result<Tail> {
    let mut file = File::open(path).map_err(|e| AuditError::io(path, e))?;
    let len = file.metadata().map_err(|e| AuditError::io(path, e))?.len();
    let mut window: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
        file.seek(SeekFrom::Start(start))
            .map_err(|e| AuditError::io(path, e))?;
        (&mut file)
            .take(len - start)
            .read_to_end(&mut buf)
            .map_err(|e| AuditError::io(path, e))?;

        // Complete lines end at a '\n'; the first line of a window that does not start at
        // offset 0 may be cut, so lines are only trusted after the first newline.
        // Bytes after the last newline are torn.
        let mut line_end = match buf.iter().rposition(|b| *b == b'\n') {
            Some(pos) => pos,
            None if start == 0 => {
                return Ok(Tail {
                    good_len: 0,
                    last: None,
                    torn_bytes: len,
                });
            }
            None => {
                window = window.saturating_mul(4);
                continue;
            }
        };
        // Newer-format records at the end, last first, with the offsets of their lines
        // (`None`: a line between them that is not a record).
        let mut newer: Vec<(u64, Option<Newer>)> = Vec::new();
        loop {
            let line_start = match buf[..line_end].iter().rposition(|b| *b == b'\n') {
                Some(pos) => pos + 1,
                None if start == 0 => 0,
                None => break, // need a bigger window
            };
            let at = start + line_start as u64;
            match classify_line(&buf[line_start..line_end]) {
                LineState::Intact(record) if !newer.is_empty() => {
                    return Err(newer_tail_error(path, Some(&record.hash), newer));
                }
                LineState::Intact(record) if record.seq == u64::MAX => {
                    return Err(AuditError::Malformed {
                        path: path.to_owned(),
                        line: line_number_at(path, at),
                        problem: format!(
                            "{}; run `codeward audit verify` and investigate before writing",
                            last_seq_problem()
                        ),
                    });
                }
                LineState::Intact(record) => {
                    let good_len = start + line_end as u64 + 1;
                    return Ok(Tail {
                        good_len,
                        last: Some(Last {
                            seq: record.seq,
                            hash: record.hash,
                        }),
                        torn_bytes: len - good_len,
                    });
                }
                LineState::Garbage if newer.is_empty() => {}
                LineState::Garbage => newer.push((at, None)),
                LineState::HashMismatch { seq } => {
                    return Err(AuditError::Tampered {
                        path: path.to_owned(),
                        line: line_number_at(path, at),
                        seq,
                    });
                }
                LineState::TooNew(record) => newer.push((at, Some(*record))),
            }
            if line_start == 0 {
                if !newer.is_empty() {
                    return Err(newer_tail_error(path, None, newer));
                }
                return Ok(Tail {
                    good_len: 0,
                    last: None,
                    torn_bytes: len,
                });
            }
            line_end = line_start - 1;
        }
        if start == 0 {
            return Ok(Tail {
                good_len: 0,
                last: None,
                torn_bytes: len,
            });
        }
        window = window.saturating_mul(4);
    }
}

/// The error for newer-format records at the end of a segment (collected last first), after
/// the record whose hash is `before`: unsupported if they chain onto it, tampering if not.
fn newer_tail_error(
    path: &Path,
    before: Option<&str>,
    mut run: Vec<(u64, Option<Newer>)>,
) -> AuditError {
    run.reverse();
    let entries: Vec<Option<&Newer>> = run.iter().map(|(_, n)| n.as_ref()).collect();
    if let Some(i) = newer_run_break(before, &entries) {
        let (at, record) = &run[i];
        return AuditError::Tampered {
            path: path.to_owned(),
            line: line_number_at(path, *at),
            seq: record.as_ref().and_then(|r| r.seq).unwrap_or(0),
        };
    }
    // Named at its first record (a run holds at least one).
    let (at, found) = run
        .iter()
        .find_map(|(at, n)| Some((*at, n.as_ref()?.version)))
        .unwrap_or((0, 0));
    AuditError::UnsupportedVersion {
        path: path.to_owned(),
        line: line_number_at(path, at),
        found,
        supported: RECORD_FORMAT_VERSION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_name(7), "audit-00000007.jsonl");
        assert_eq!(parse_segment_name("audit-00000007.jsonl"), Some(7));
        assert_eq!(parse_segment_name("audit.lock"), None);
        assert_eq!(parse_segment_name("audit-x.jsonl"), None);
    }

    #[test]
    fn a_newer_run_breaks_where_a_link_is_missing() {
        let rec = |prev: &str, hash: &str| Newer {
            version: 2,
            seq: None,
            prev: Some(prev.into()),
            hash: hash.into(),
        };
        let (a, b, c) = (rec("h0", "h1"), rec("h1", "h2"), rec("XX", "h3"));
        let check = |before: Option<&str>, run: &[Option<&Newer>]| newer_run_break(before, run);
        assert_eq!(check(Some("h0"), &[Some(&a), Some(&b)]), None);
        assert_eq!(
            check(Some("zz"), &[Some(&a), Some(&b)]),
            Some(0),
            "off the chain"
        );
        assert_eq!(check(None, &[Some(&a), Some(&b)]), None, "before unknown");
        // c does not name b's hash: b is the record whose successor no longer links to it.
        assert_eq!(check(Some("h0"), &[Some(&a), Some(&b), Some(&c)]), Some(1));
        // Across a line that is not a record the link is unknown.
        assert_eq!(
            check(Some("h0"), &[Some(&a), Some(&b), None, Some(&c)]),
            None
        );
    }

    #[test]
    fn line_seq_reads_the_prefix_and_nothing_else() {
        assert_eq!(line_seq(br#"{"v":1,"seq":42,"ts":"x"}"#), Some(42));
        assert_eq!(line_seq(br#"{"v":12,"seq":7,"#), Some(7));
        assert_eq!(line_seq(br#"{"seq":42,"v":1}"#), None);
        assert_eq!(line_seq(br#"{"v":1,"seq":,"#), None);
        assert_eq!(line_seq(br#"{"v":1,"seq":4x,"#), None);
        assert_eq!(line_seq(b"garbage"), None);
    }
}
