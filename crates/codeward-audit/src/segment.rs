//! Segment files on disk: naming, listing, directory syncs, and reading a segment's tail.
//! The tail scan is how a writer finds where the chain stands and repairs a torn last record.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use codeward_core::{AuditRecord, RECORD_FORMAT_VERSION};

use crate::canonical::value_hash;
use crate::error::{AuditError, Result};

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";

/// The file name of segment `n` (`audit-00000001.jsonl`).
pub fn segment_name(n: u64) -> String {
    format!("{PREFIX}{n:08}{SUFFIX}")
}

/// The segment number of a file name, if it is a segment.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?
        .strip_suffix(SUFFIX)?
        .parse()
        .ok()
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
    /// A record whose hash matches.
    Intact(Box<AuditRecord>),
    /// Not a record at all: a torn write or garbage.
    Garbage,
    /// A complete record whose hash does not match: tampering.
    HashMismatch { seq: u64 },
    /// A complete record in a newer format.
    TooNew(u32),
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
    let version = map.get("v").and_then(Value::as_u64).unwrap_or(0);
    if version > u64::from(RECORD_FORMAT_VERSION) {
        return LineState::TooNew(u32::try_from(version).unwrap_or(u32::MAX));
    }
    let value = Value::Object(map);
    if value_hash(&value) != stored {
        let seq = value.get("seq").and_then(Value::as_u64).unwrap_or(0);
        return LineState::HashMismatch { seq };
    }
    match serde_json::from_value::<AuditRecord>(value) {
        Ok(record) => LineState::Intact(Box::new(record)),
        Err(_) => LineState::Garbage,
    }
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
/// repairing it would erase evidence.
pub(crate) fn scan_tail(path: &Path) -> Result<Tail> {
    let mut file = File::open(path).map_err(|e| AuditError::io(path, e))?;
    let len = file.metadata().map_err(|e| AuditError::io(path, e))?.len();
    let mut window: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = Vec::with_capacity((len - start) as usize);
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
                window *= 4;
                continue;
            }
        };
        loop {
            let line_start = match buf[..line_end].iter().rposition(|b| *b == b'\n') {
                Some(pos) => pos + 1,
                None if start == 0 => 0,
                None => break, // need a bigger window
            };
            match classify_line(&buf[line_start..line_end]) {
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
                LineState::Garbage => {}
                LineState::HashMismatch { seq } => {
                    return Err(AuditError::Tampered {
                        path: path.to_owned(),
                        line: line_number_at(path, start + line_start as u64),
                        seq,
                    });
                }
                LineState::TooNew(found) => {
                    return Err(AuditError::UnsupportedVersion {
                        path: path.to_owned(),
                        line: line_number_at(path, start + line_start as u64),
                        found,
                        supported: RECORD_FORMAT_VERSION,
                    });
                }
            }
            if line_start == 0 {
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
        window *= 4;
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
    fn line_seq_reads_the_prefix_and_nothing_else() {
        assert_eq!(line_seq(br#"{"v":1,"seq":42,"ts":"x"}"#), Some(42));
        assert_eq!(line_seq(br#"{"v":12,"seq":7,"#), Some(7));
        assert_eq!(line_seq(br#"{"seq":42,"v":1}"#), None);
        assert_eq!(line_seq(br#"{"v":1,"seq":,"#), None);
        assert_eq!(line_seq(br#"{"v":1,"seq":4x,"#), None);
        assert_eq!(line_seq(b"garbage"), None);
    }
}
