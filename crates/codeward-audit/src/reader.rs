//! Reading the log back: by seq or time range, filtered by type, severity and execution.
//! Reads what is on disk, so it works from another process while a writer appends.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use codeward_core::{AuditKind, AuditRecord, Severity};

use crate::error::{AuditError, Result};
use crate::segment::{line_seq, list_segments, scan_tail};

/// Which records to read. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Query {
    /// Lowest seq (inclusive).
    pub from_seq: Option<u64>,
    /// Highest seq (inclusive).
    pub to_seq: Option<u64>,
    /// Earliest time (inclusive).
    pub from_ts: Option<DateTime<Utc>>,
    /// Latest time (exclusive).
    pub to_ts: Option<DateTime<Utc>>,
    /// Only these types.
    pub kinds: Vec<AuditKind>,
    /// Only this severity or worse.
    pub min_severity: Option<Severity>,
    /// Only this execution.
    pub execution_id: Option<String>,
    /// Only records after this one (seq, hash) in the files, as
    /// [`crate::VerifyOptions::after`] checks them: nothing before it is returned, whatever
    /// seq a line there claims.
    pub after: Option<(u64, String)>,
}

impl Query {
    /// Everything.
    pub fn all() -> Self {
        Query::default()
    }

    /// Restricts to seqs in `from..=to`.
    pub fn seq_range(mut self, from: u64, to: u64) -> Self {
        self.from_seq = Some(from);
        self.to_seq = Some(to);
        self
    }

    /// Restricts to times in `from..to`.
    pub fn time_range(mut self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        self.from_ts = from;
        self.to_ts = to;
        self
    }

    /// Restricts to a type (call again to add more).
    pub fn kind(mut self, kind: AuditKind) -> Self {
        self.kinds.push(kind);
        self
    }

    /// Restricts to this severity or worse.
    pub fn min_severity(mut self, severity: Severity) -> Self {
        self.min_severity = Some(severity);
        self
    }

    /// Restricts to the records after `(seq, hash)` (a head read earlier) in the files.
    pub fn after(mut self, seq: u64, hash: impl Into<String>) -> Self {
        self.after = Some((seq, hash.into()));
        self
    }

    /// Restricts to one execution.
    pub fn execution(mut self, id: impl Into<String>) -> Self {
        self.execution_id = Some(id.into());
        self
    }

    fn matches(&self, r: &AuditRecord) -> bool {
        if self.from_seq.is_some_and(|s| r.seq < s)
            || !self.kinds.is_empty() && !self.kinds.contains(&r.kind)
            || self.min_severity.is_some_and(|s| r.severity < s)
            || self
                .execution_id
                .as_ref()
                .is_some_and(|id| r.execution_id.as_ref() != Some(id))
        {
            return false;
        }
        if self.from_ts.is_some() || self.to_ts.is_some() {
            let Some(ts) = parse_ts(&r.ts) else {
                return false;
            };
            if self.from_ts.is_some_and(|f| ts < f) || self.to_ts.is_some_and(|t| ts >= t) {
                return false;
            }
        }
        true
    }
}

/// Parses a record's RFC 3339 time stamp.
pub fn parse_ts(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Reads a log directory.
#[derive(Debug, Clone)]
pub struct AuditReader {
    dir: PathBuf,
}

impl AuditReader {
    /// A reader over `dir` (no I/O until used).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        AuditReader {
            dir: dir.as_ref().to_owned(),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records matching `query`, in seq order.
    ///
    /// A final line without its newline in the newest segment is not returned: it is being
    /// written, or torn (the next writer cuts it). Any other line that is not a record, and a
    /// segment other than the newest that ends without a newline, yield
    /// [`AuditError::Malformed`].
    pub fn records(&self, query: Query) -> Result<Records> {
        if !self.dir.is_dir() {
            return Err(AuditError::io(
                &self.dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no audit log directory here"),
            ));
        }
        let mut segments: std::collections::VecDeque<PathBuf> = list_segments(&self.dir)?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let mut anchor_seen = query.after.is_none();
        // How many leading segments the seq range may not prune: while the anchor is unseen,
        // the segment holding it (or all, when where it is cannot be told) must be read.
        let mut keep = 0;
        // Segments that end before the anchor are not read; one that ends with it neither.
        if let Some((anchor, hash)) = &query.after {
            keep = segments.len();
            while segments.len() > 1 {
                let last = match scan_tail(&segments[0]) {
                    Ok(tail) if tail.torn_bytes == 0 => tail.last,
                    _ => None,
                };
                match last {
                    Some(last) if last.seq < *anchor => {
                        segments.pop_front();
                    }
                    Some(last) if last.seq == *anchor && last.hash == *hash => {
                        segments.pop_front();
                        anchor_seen = true;
                        keep = 0;
                        break;
                    }
                    Some(last) if last.seq > *anchor => {
                        keep = 1;
                        break;
                    }
                    _ => break,
                }
            }
        }
        // Segments that end before the range starts are not read (their last record says).
        if let Some(from) = query.from_seq {
            while segments.len() > keep + 1 {
                // A tail that does not read cleanly is read in full (and reported there).
                match scan_tail(&segments[keep]).ok().and_then(|t| t.last) {
                    Some(last) if last.seq < from => {
                        segments.remove(keep);
                    }
                    _ => break,
                }
            }
        }
        Ok(Records {
            segments,
            current: None,
            query,
            done: false,
            anchor_seen,
        })
    }

    /// The newest intact record's seq and hash, or `None` for an empty log. Reads only the
    /// end of the newest segment. With [`crate::VerifyOptions::after`] and
    /// [`Query::seq_range`] it lets a caller check and read only what was appended since.
    pub fn head(&self) -> Result<Option<(u64, String)>> {
        for (_, path) in list_segments(&self.dir)?.into_iter().rev() {
            if let Some(last) = scan_tail(&path)?.last {
                return Ok(Some((last.seq, last.hash)));
            }
        }
        Ok(None)
    }

    /// Every record of one execution, in order.
    pub fn execution(&self, execution_id: &str) -> Result<Vec<AuditRecord>> {
        self.records(Query::all().execution(execution_id))?
            .collect()
    }

    /// The last `n` records matching `query`.
    pub fn tail(&self, n: usize, query: Query) -> Result<Vec<AuditRecord>> {
        // Not sized by `n`: a caller's "everything" (usize::MAX) must not allocate it.
        let mut ring = std::collections::VecDeque::new();
        for record in self.records(query)? {
            ring.push_back(record?);
            if ring.len() > n {
                ring.pop_front();
            }
        }
        Ok(ring.into())
    }
}

struct OpenSegment {
    path: PathBuf,
    file: BufReader<File>,
    line_no: u64,
    is_last: bool,
}

/// Iterator over records; see [`AuditReader::records`].
pub struct Records {
    segments: std::collections::VecDeque<PathBuf>,
    current: Option<OpenSegment>,
    query: Query,
    done: bool,
    /// With `Query::after`: whether the anchor record was passed.
    anchor_seen: bool,
}

impl Iterator for Records {
    type Item = Result<AuditRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.current.is_none() {
                let path = self.segments.pop_front()?;
                let file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) => return Some(Err(AuditError::io(&path, e))),
                };
                let is_last = self.segments.is_empty();
                self.current = Some(OpenSegment {
                    path,
                    file: BufReader::new(file),
                    line_no: 0,
                    is_last,
                });
            }
            let seg = self.current.as_mut()?;
            let mut line = Vec::new();
            match seg.file.read_until(b'\n', &mut line) {
                Ok(0) => {
                    self.current = None;
                    continue;
                }
                Ok(_) => {}
                Err(e) => return Some(Err(AuditError::io(&seg.path, e))),
            }
            seg.line_no += 1;
            if line.pop() != Some(b'\n') {
                if seg.is_last {
                    // The newest line is still being written, or torn (the next writer cuts
                    // it, and its seq goes to another record): not a record yet.
                    self.done = true;
                    return None;
                }
                return Some(Err(AuditError::Malformed {
                    path: seg.path.clone(),
                    line: seg.line_no,
                    problem: "the last line has no newline (a torn write in a segment that is \
                              not the newest); `codeward audit verify` says more"
                        .into(),
                }));
            }
            if !self.anchor_seen {
                // Up to and including the anchor nothing is returned; lines whose first bytes
                // name another seq are passed over without parsing.
                if let Some((anchor, hash)) = &self.query.after
                    && line_seq(&line).is_none_or(|seq| seq == *anchor)
                    && let Ok(r) = serde_json::from_slice::<AuditRecord>(&line)
                    && r.seq == *anchor
                    && r.hash == *hash
                {
                    self.anchor_seen = true;
                }
                continue;
            }
            // Before the range: skipped from the line's first bytes, without parsing it.
            if self
                .query
                .from_seq
                .is_some_and(|from| line_seq(&line).is_some_and(|seq| seq < from))
            {
                continue;
            }
            let record: AuditRecord = match serde_json::from_slice(&line) {
                Ok(r) => r,
                Err(e) => {
                    return Some(Err(AuditError::Malformed {
                        path: seg.path.clone(),
                        line: seg.line_no,
                        problem: format!("not an audit record: {e}"),
                    }));
                }
            };
            if self.query.to_seq.is_some_and(|t| record.seq > t) {
                self.done = true;
                return None;
            }
            if self.query.matches(&record) {
                return Some(Ok(record));
            }
        }
    }
}
