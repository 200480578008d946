//! The write-ahead file, `audit.wal`: what makes a batch durable without growing a file.
//!
//! `fdatasync` after an append must also commit the file's new size (a filesystem journal
//! commit); an fdatasync after overwriting blocks that are already allocated and written does
//! not. So the write-ahead file is created once, full of zeros, and every batch is written
//! twice: appended to the segment (page cache only, so SIEM tools tailing it see it at once)
//! and written over the zeros here, and only this file is fdatasynced. On ext4 here that sync
//! costs about half of an appending one (`cargo bench -p codeward-audit --bench audit`).
//! This is the technique of PostgreSQL's pre-zeroed WAL segments, kept out of the segment
//! files so that they stay plain JSON Lines.
//!
//! Layout: a header line in the first 4 KiB, then data. The header names a segment `N`, a
//! byte offset `P` in it, and the record that ends at `P` (seq and hash). Data byte `i` is
//! segment byte `P + i`.
//!
//! Invariants (every writer keeps them, under the cross-process lock):
//! - Segment `N` is durable up to `P` whenever the header is durable: the segment is
//!   fdatasynced before a header naming a later `P` (or a newer segment) is written.
//! - Every acknowledged record after `P` is in the data at its segment offset minus `P`,
//!   durably: its batch's fdatasync of this file came before the acknowledgement. A new header
//!   is made durable by the same fdatasync as the first data written under it (or by its own,
//!   at rotation), so no acknowledged record depends on a header that is not on disk.
//! - Each writer checks the file before every batch: every writer of a log mirrors its
//!   batches here once the file exists. A writer that finds the segment changed by another
//!   also checks that the data holds the segment's end ([`Wal::covers`]); if not (a writer
//!   died between its two writes), it fdatasyncs the segment and starts the data again, so
//!   the data never has a gap before an acknowledged record.
//! - The header never moves back: a segment shorter than `P`, or older than `N`, lost
//!   durable records, and is refused ([`Wal::contradiction`]), never repaired over.
//!
//! On open, before the tail scan, [`restore`] puts back what the segment lost (a power loss
//! drops page-cache writes): it walks the segment from `P` while its lines are the data's,
//! and where they stop, takes the data's lines that continue the chain, keeping any records
//! after them that the segment has and the data never had. It replaces only nothing, zeros
//! or garbage: a complete record that differs is an edit, left as evidence. The repair is
//! written to the segment, fdatasynced, and recorded in the log.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{AuditError, Result};
use crate::segment::{LineState, classify_line, sync_dir};

/// The write-ahead file's name in the log directory.
pub(crate) const WAL_NAME: &str = "audit.wal";
/// Where the data starts (the header's block before it).
pub(crate) const DATA_START: u64 = 4096;
/// The smallest write-ahead file [`crate::AuditLogOptions::write_ahead_bytes`] accepts.
pub const MIN_WRITE_AHEAD_BYTES: u64 = 64 * 1024;
const MAGIC: &str = "codeward-audit-wal 1";

/// Where the data starts in the chain: segment `segment` is durable up to byte `offset`,
/// where the record `seq` with hash `hash` ends (or the chain's head before the segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub segment: u64,
    pub offset: u64,
    pub seq: u64,
    pub hash: String,
}

impl Header {
    fn body(&self) -> String {
        format!(
            "{MAGIC} segment={} offset={} seq={} hash={}",
            self.segment, self.offset, self.seq, self.hash
        )
    }

    /// The header line: its fields, then a SHA-256 of them (a torn header reads as none).
    fn encode(&self) -> Vec<u8> {
        let body = self.body();
        let check = hex::encode(Sha256::digest(body.as_bytes()));
        format!("{body} check={check}\n").into_bytes()
    }

    fn decode(block: &[u8]) -> Option<Header> {
        let end = block.iter().position(|b| *b == b'\n')?;
        let line = std::str::from_utf8(&block[..end]).ok()?;
        let (body, check) = line.rsplit_once(" check=")?;
        if hex::encode(Sha256::digest(body.as_bytes())) != check {
            return None;
        }
        let mut fields = body.strip_prefix(MAGIC)?.split_ascii_whitespace();
        let mut field = |name: &str| fields.next()?.strip_prefix(name)?.strip_prefix('=');
        let segment = field("segment")?.parse().ok()?;
        let offset = field("offset")?.parse().ok()?;
        let seq = field("seq")?.parse().ok()?;
        let hash = field("hash")?.to_owned();
        Some(Header {
            segment,
            offset,
            seq,
            hash,
        })
    }
}

/// An open write-ahead file.
pub(crate) struct Wal {
    path: PathBuf,
    file: File,
    /// Device and inode, to notice the file being replaced.
    id: (u64, u64),
    capacity: u64,
    /// The header as last read or written; `None` when it does not read (torn or foreign).
    pub header: Option<Header>,
}

impl Wal {
    /// Opens the log's write-ahead file if there is one (for reading only unless `write`).
    pub(crate) fn open_existing(dir: &Path, write: bool) -> Result<Option<Wal>> {
        let path = dir.join(WAL_NAME);
        let file = match OpenOptions::new().read(true).write(write).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuditError::io(&path, e)),
        };
        let meta = file.metadata().map_err(|e| AuditError::io(&path, e))?;
        let mut wal = Wal {
            path,
            file,
            id: (meta.dev(), meta.ino()),
            capacity: meta.len(),
            header: None,
        };
        wal.read_header()?;
        Ok(Some(wal))
    }

    /// Creates a zero-filled write-ahead file of `capacity` bytes with `header` (written to
    /// a temporary name, synced, then renamed into place and the directory synced). The
    /// segment the header names must already be durable up to its offset.
    pub(crate) fn create(dir: &Path, capacity: u64, header: Header) -> Result<Wal> {
        let path = dir.join(WAL_NAME);
        let tmp = dir.join(format!("{WAL_NAME}.tmp"));
        let built = (|| -> std::io::Result<File> {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            let zeros = vec![0u8; 256 * 1024];
            let mut left = capacity;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                file.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            file.write_all_at(&header.encode(), 0)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            Ok(file)
        })();
        let file = match built {
            Ok(file) => file,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(AuditError::io(&path, e));
            }
        };
        sync_dir(dir)?;
        let meta = file.metadata().map_err(|e| AuditError::io(&path, e))?;
        Ok(Wal {
            path,
            file,
            id: (meta.dev(), meta.ino()),
            capacity,
            header: Some(header),
        })
    }

    fn read_header(&mut self) -> Result<()> {
        self.header = self.header_on_disk()?;
        Ok(())
    }

    fn header_on_disk(&self) -> Result<Option<Header>> {
        let mut block = vec![0u8; 512];
        let n = read_at_most(&self.file, &mut block, 0).map_err(|e| self.err(e))?;
        Ok(Header::decode(&block[..n]))
    }

    /// Catches up with other writers before a batch: re-reads the header, and reopens the
    /// file if it was replaced. `false` when it is gone.
    pub(crate) fn refresh(&mut self, dir: &Path) -> Result<bool> {
        match fs::metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.id => {
                self.read_header()?;
                Ok(true)
            }
            Ok(_) => match Wal::open_existing(dir, true)? {
                Some(wal) => {
                    *self = wal;
                    Ok(true)
                }
                None => Ok(false),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Where segment byte `at` of `segment` goes in this file, if the header covers it.
    pub(crate) fn position(&self, segment: u64, at: u64) -> Option<u64> {
        let h = self.header.as_ref()?;
        (h.segment == segment && at >= h.offset).then(|| DATA_START + (at - h.offset))
    }

    /// Whether `len` bytes fit at `pos`.
    pub(crate) fn fits(&self, pos: u64, len: usize) -> bool {
        pos.saturating_add(len as u64) <= self.capacity
    }

    pub(crate) fn write_at(&self, buf: &[u8], pos: u64) -> Result<()> {
        self.file.write_all_at(buf, pos).map_err(|e| self.err(e))
    }

    /// Writes a new header (not synced: see the module's invariants).
    pub(crate) fn set_header(&mut self, header: Header) -> Result<()> {
        self.write_at(&header.encode(), 0)?;
        self.header = Some(header);
        Ok(())
    }

    /// Whether the data holds the segment's bytes up to `len` (compared over the last 4 KiB
    /// before it): false when a writer appended to the segment and died before copying the
    /// batch here, or the segment outgrew the data. Then the data would have a gap, and
    /// records written after it could not be restored: the caller starts the data again.
    pub(crate) fn covers(
        &self,
        segment_no: u64,
        segment: &File,
        seg_path: &Path,
        len: u64,
    ) -> Result<bool> {
        let (Some(h), Some(pos)) = (&self.header, self.position(segment_no, len)) else {
            return Ok(false);
        };
        if !self.fits(pos, 0) {
            return Ok(false);
        }
        let n = (len - h.offset).min(4096) as usize;
        let (mut ours, mut theirs) = (vec![0u8; n], vec![0u8; n]);
        let got = read_at_most(segment, &mut ours, len - n as u64)
            .map_err(|e| AuditError::io(seg_path, e))?;
        let had = read_at_most(&self.file, &mut theirs, pos - n as u64).map_err(|e| self.err(e))?;
        Ok(got == n && had == n && ours == theirs)
    }

    /// What contradicts the header in the log as a writer finds it under the lock: the newest
    /// segment older than the one the header names, or shorter than its durable offset. No
    /// crash or failure does that (the segment is durable up to that point before the header
    /// says so): durable records were removed. The text for [`removed`].
    pub(crate) fn contradiction(&self, segment_no: u64, len: u64) -> Option<String> {
        let h = self.header.as_ref()?;
        if h.segment > segment_no {
            return Some(format!(
                "the write-ahead file names segment {}, but the newest is {}",
                crate::segment::segment_name(h.segment),
                crate::segment::segment_name(segment_no)
            ));
        }
        (h.segment == segment_no && h.offset > len).then(|| {
            format!(
                "the write-ahead file says {} is durable up to byte {}, but it has {len} bytes",
                crate::segment::segment_name(segment_no),
                h.offset
            )
        })
    }

    /// Zeros `len` bytes of data from `pos` (as far as the file goes): what a failed batch
    /// wrote there can then never be restored.
    pub(crate) fn erase(&self, pos: u64, len: usize) -> Result<()> {
        let n =
            usize::try_from(self.capacity.saturating_sub(pos)).map_or(len, |room| room.min(len));
        self.write_at(&vec![0u8; n], pos)?;
        self.sync().map_err(|e| self.err(e))
    }

    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: std::io::Error) -> AuditError {
        AuditError::io(&self.path, e)
    }
}

fn read_at_most(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// What [`restore`] put back (or, from [`plan`], would put back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Restored {
    /// The segment byte where the restored records start.
    pub at: u64,
    /// Bytes of the segment from `at` on that were replaced (lost or garbled writes).
    pub replaced: u64,
    pub records: u64,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// The complete lines of `buf` from `from` on, each with its offset (without its newline).
fn lines_from(buf: &[u8], from: usize) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = from;
    std::iter::from_fn(move || {
        let len = buf.get(at..)?.iter().position(|b| *b == b'\n')?;
        let line = (at, &buf[at..at + len]);
        at += len + 1;
        Some(line)
    })
}

/// The complete line starting at `at` in `buf` (without its newline), if any.
fn line_at(buf: &[u8], at: usize) -> Option<&[u8]> {
    let rest = buf.get(at..)?;
    let end = rest.iter().position(|b| *b == b'\n')?;
    let line = &rest[..end];
    (!line.is_empty() && !line.contains(&0)).then_some(line)
}

/// The record `line` holds if it is intact and follows `head` (seq, hash) in the chain.
fn follows(line: &[u8], head: &(u64, String)) -> Option<(u64, String)> {
    match classify_line(line) {
        LineState::Intact(r) if r.seq == head.0.wrapping_add(1) && r.prev == head.1 => {
            Some((r.seq, r.hash))
        }
        _ => None,
    }
}

/// Puts back into `segment` (file number `segment_no`, opened for appending at `seg_path`)
/// the acknowledged records it lost: see the module docs. Runs under the lock, before the
/// tail scan. `None` when the segment already holds everything the write-ahead file does.
pub(crate) fn restore(
    wal: &Wal,
    segment_no: u64,
    seg_path: &Path,
    segment: &File,
) -> Result<Option<Restored>> {
    let Some((restored, bytes)) = plan(wal, segment_no, seg_path, segment, true)? else {
        return Ok(None);
    };
    let seg_err = |e| AuditError::io(seg_path, e);
    segment.set_len(restored.at).map_err(seg_err)?;
    segment.write_all_at(&bytes, restored.at).map_err(seg_err)?;
    segment.sync_data().map_err(seg_err)?;
    Ok(Some(restored))
}

/// The error for a log whose segment lost records the write-ahead file says were durable.
pub(crate) fn removed(path: &Path, what: String) -> AuditError {
    AuditError::Malformed {
        path: path.to_owned(),
        line: 0,
        problem: format!(
            "{what}: records that were durable have been removed (not a power loss, which \
             only takes what was never synced); run `codeward audit verify`, and keep \
             audit.wal as evidence (move it aside to use the log again)"
        ),
    }
}

/// What [`restore`] would do, and the bytes it would write at `Restored::at`. `locked`: the
/// caller holds the log's lock; otherwise (verify) writers may be appending, so the data is
/// read before the segment (a writer writes the segment first, so a batch seen in the data
/// is then seen in the segment too).
///
/// A segment shorter than the durable offset the header names, or a newest segment older
/// than the one it names, lost records that were durable: never a power loss. That is an
/// error (`Malformed`), not something to repair or to paper over by moving the header on.
pub(crate) fn plan(
    wal: &Wal,
    segment_no: u64,
    seg_path: &Path,
    segment: &File,
    locked: bool,
) -> Result<Option<(Restored, Vec<u8>)>> {
    let Some(header) = wal.header.clone() else {
        return Ok(None);
    };
    if header.segment > segment_no {
        // Unlocked (verify), a writer may have rotated since the caller listed the segments.
        let named = wal
            .path
            .with_file_name(crate::segment::segment_name(header.segment));
        return match wal.contradiction(segment_no, u64::MAX) {
            Some(what) if locked || !named.exists() => Err(removed(&wal.path, what)),
            _ => Ok(None),
        };
    }
    if header.segment != segment_no {
        return Ok(None);
    }
    let seg_err = |e| AuditError::io(seg_path, e);
    let data_len = wal.capacity.saturating_sub(DATA_START);
    let data_len = usize::try_from(data_len).unwrap_or(usize::MAX);
    let read_data = |len: usize| -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let n = read_at_most(&wal.file, &mut buf, DATA_START).map_err(|e| wal.err(e))?;
        buf.truncate(n);
        Ok(buf)
    };
    let early = if locked {
        None
    } else {
        Some(read_data(data_len)?)
    };
    let seg_len = segment.metadata().map_err(seg_err)?.len();
    if let Some(what) = wal.contradiction(segment_no, seg_len) {
        return Err(removed(seg_path, what));
    }
    let mut ours = vec![0u8; usize::try_from(seg_len - header.offset).unwrap_or(usize::MAX)];
    let n = read_at_most(segment, &mut ours, header.offset).map_err(seg_err)?;
    ours.truncate(n);
    // What the segment holds, and a little more: all of it only if a restore is needed.
    let mut theirs = match early {
        Some(all) => all,
        None => read_data(data_len.min(ours.len().saturating_add(64 * 1024)))?,
    };

    // Walk the segment while its lines are the data's (byte for byte: the same records), then
    // while they continue the chain on their own (a writer that did not mirror, e.g. an older
    // version). Where neither holds, the data may continue the chain.
    let mut at = 0usize;
    let mut head: Option<(u64, String)> = Some((header.seq, header.hash.clone()));
    loop {
        match (line_at(&ours, at), line_at(&theirs, at)) {
            (Some(a), Some(b)) if a == b => {
                head = None; // known again only if needed
                at += a.len() + 1;
            }
            (Some(a), _) => {
                let h = match head.take() {
                    Some(h) => h,
                    None => last_record(&ours[..at], &header),
                };
                match follows(a, &h) {
                    Some(next) => {
                        head = Some(next);
                        at += a.len() + 1;
                    }
                    None => {
                        head = Some(h);
                        break;
                    }
                }
            }
            (None, _) => break,
        }
    }
    let mut head = match head {
        Some(h) => h,
        None => last_record(&ours[..at], &header),
    };
    // Only what was lost is restored: a complete record there that does not continue the
    // chain (a changed one, or a newer format) is evidence for the tail scan and `verify`.
    if let Some(line) = line_at(&ours, at)
        && !matches!(classify_line(line), LineState::Garbage)
    {
        return Ok(None);
    }
    if theirs.len() < data_len {
        // Zeros (never written) or a record that does not follow: nothing to restore.
        match (theirs.get(at), line_at(&theirs, at)) {
            (Some(0), _) => return Ok(None),
            (_, Some(line)) if follows(line, &head).is_none() => return Ok(None),
            _ => theirs = read_data(data_len)?,
        }
    }
    let start = at;
    let (first_seq, mut records) = (head.0.wrapping_add(1), 0u64);
    while let Some(line) = line_at(&theirs, at) {
        match follows(line, &head) {
            Some(next) => {
                head = next;
                records += 1;
                at += line.len() + 1;
            }
            None => break,
        }
    }
    if records == 0 {
        return Ok(None);
    }
    let (end, last_seq) = (at, head.0);
    // Within what the data replaces, a power loss leaves zeros, garbage or nothing where
    // writes were lost, and correct records where they were not; a record there that differs
    // from the data (in the same place) is an edit, and cutting it would erase the evidence:
    // left to the tail scan. A line running past `end` is replaced, whatever it holds.
    for (o, line) in lines_from(&ours, start).take_while(|(o, l)| o + l.len() < end) {
        if !matches!(classify_line(line), LineState::Garbage)
            && theirs.get(o..=o + line.len()) != ours.get(o..=o + line.len())
        {
            return Ok(None);
        }
    }
    // After it the segment may still hold records the data never had (a batch written to the
    // segment by a writer that died before copying it here, or by one in `Flush` mode) that
    // reached the disk while earlier writes did not: kept when they continue the chain.
    let mut kept = end;
    while let Some(line) = line_at(&ours, kept) {
        match follows(line, &head) {
            Some(next) => {
                head = next;
                kept += line.len() + 1;
            }
            None => break,
        }
    }
    // Past those, garbage goes; a record is an edit (as above).
    if lines_from(&ours, kept).any(|(_, line)| !matches!(classify_line(line), LineState::Garbage)) {
        return Ok(None);
    }
    if !locked && wal.header_on_disk()?.as_ref() != Some(&header) {
        // A writer moved the header on (a wrap, then a rotation) while this read: what looked
        // missing belongs to the next segment.
        return Ok(None);
    }
    let restored_at = header.offset + start as u64;
    let restored = Restored {
        at: restored_at,
        replaced: seg_len - restored_at,
        records,
        first_seq,
        last_seq,
    };
    theirs.truncate(end);
    theirs.drain(..start);
    if kept > end {
        theirs.extend_from_slice(&ours[end..kept]);
    }
    Ok(Some((restored, theirs)))
}

/// The seq and hash of the last line of `lines` (complete lines already checked), or the
/// header's when there is none.
fn last_record(lines: &[u8], header: &Header) -> (u64, String) {
    let Some(body) = lines.strip_suffix(b"\n") else {
        return (header.seq, header.hash.clone());
    };
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    match classify_line(&body[start..]) {
        LineState::Intact(r) => (r.seq, r.hash),
        // Not a record of ours: nothing can follow it from the data.
        _ => (u64::MAX, String::new()),
    }
}

/// For `verify`: how many acknowledged records the write-ahead file in `dir` holds that the
/// newest segment (number `segment_no`, at `seg_path`) lacks; a writer's open restores them.
pub(crate) fn restorable(dir: &Path, segment_no: u64, seg_path: &Path) -> Result<u64> {
    let Some(wal) = Wal::open_existing(dir, false)? else {
        return Ok(0);
    };
    let segment = File::open(seg_path).map_err(|e| AuditError::io(seg_path, e))?;
    Ok(plan(&wal, segment_no, seg_path, &segment, false)?.map_or(0, |(r, _)| r.records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_a_torn_one_reads_as_none() {
        let h = Header {
            segment: 3,
            offset: 4096,
            seq: 17,
            hash: "ab".repeat(32),
        };
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes), Some(h.clone()));
        let mut torn = bytes.clone();
        torn[30] ^= 1;
        assert_eq!(Header::decode(&torn), None);
        assert_eq!(Header::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Header::decode(&[0u8; 512]), None);
    }
}
