//! The single writer: one thread owns the segment file and commits records in groups.
//! Callers queue records and await a reply that is sent only after the covering fdatasync.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use codeward_core::{AuditHealth, AuditKind, AuditReceipt, Severity};

use crate::canonical::{Encoded, GENESIS_HASH};
use crate::error::{AuditError, Result};
use crate::options::{Durability, IoHook};
use crate::segment::{Last, scan_tail, segment_name, sync_dir};
use crate::wal::{self, Header, Restored, Wal};

/// The bytes a checkpoint signature covers.
pub(crate) fn checkpoint_message(seq: u64, hash: &str) -> String {
    format!("codeward-audit-checkpoint:v1:{seq}:{hash}")
}

/// Counters the writer keeps; read by `AuditLog::stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub records: AtomicU64,
    pub batches: AtomicU64,
    pub syncs: AtomicU64,
    pub sync_nanos: AtomicU64,
    pub recoveries: AtomicU64,
}

/// State shared between the writer thread and the handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub health: Mutex<AuditHealth>,
    pub counters: Counters,
    /// Appends in progress in this process (from the call until its caller has the reply).
    /// The writer waits briefly for that many records before syncing: see `GATHER_MAX`.
    pub in_flight: std::sync::atomic::AtomicUsize,
    /// Set while the writer is parked waiting for in-flight appends; each one queued then
    /// unparks it (`InFlight::queued`).
    pub waiting: std::sync::atomic::AtomicBool,
    /// The writer thread, for unparking.
    pub writer: std::sync::OnceLock<std::thread::Thread>,
    /// While waiting: how many callers' records the open batch holds; the batch is complete
    /// once no more are in flight.
    pub gathered: std::sync::atomic::AtomicUsize,
}

/// Counts an append as in flight until dropped (also when the caller's future is dropped).
pub(crate) struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(shared)
    }

    /// Called once the record is queued: wakes the writer if it is waiting for it. (The
    /// writer sets `waiting` before it checks the queue, and the record is in the queue
    /// before this reads `waiting`, so one of the two always sees the other.)
    pub(crate) fn queued(&self) {
        self.0.wake_writer();
    }
}

impl Shared {
    /// Unparks the writer if it is waiting for in-flight appends.
    fn wake_writer(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst)
            && let Some(t) = self.writer.get()
        {
            t.unpark();
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let left = self.0.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
        // A caller that gave up or failed may have been the last one the writer waits for.
        if left <= self.0.gathered.load(Ordering::SeqCst) {
            self.0.wake_writer();
        }
    }
}

/// How long the writer may hold a batch open for appenders that are in flight but not queued
/// yet (they were just released by the previous sync and are re-submitting). Waiting this
/// long is cheaper for them than missing the sync and waiting for a whole next one.
const GATHER_MAX: Duration = Duration::from_micros(250);

/// When this few records are still missing from a gathering batch the writer yields instead
/// of parking: they are being encoded on the other cores, and a wake-up costs more than that.
const SPIN_WITHIN: usize = 4;

/// While gathering, the writer hands the records it has so far to the kernel once they reach
/// this size, so the final write before the fdatasync is short.
const WRITE_AHEAD: usize = 8 * 1024;

impl Shared {
    pub(crate) fn health(&self) -> AuditHealth {
        self.health
            .lock()
            .map(|h| h.clone())
            .unwrap_or(AuditHealth::Poisoned {
                reason: "health lock poisoned".into(),
            })
    }

    fn set_health(&self, health: AuditHealth) {
        if let Ok(mut h) = self.health.lock() {
            *h = health;
        }
    }
}

/// What a queued record carries.
pub(crate) enum Body {
    Event(Encoded),
    Checkpoint,
}

pub(crate) struct Pending {
    pub body: Body,
    pub reply: Option<oneshot::Sender<Result<AuditReceipt>>>,
}

pub(crate) enum Command {
    Append(Pending),
    Flush(oneshot::Sender<Result<()>>),
    Close(oneshot::Sender<()>),
}

/// Settings the writer needs (resolved from the options).
pub(crate) struct WriterConfig {
    pub dir: PathBuf,
    pub durability: Durability,
    pub max_segment_bytes: u64,
    pub lock_timeout: Duration,
    pub batch_max: usize,
    pub io_hook: Option<Arc<dyn IoHook>>,
    pub signer: Option<(SigningKey, u64)>,
    /// Size of the write-ahead file to create when the log has none (0: create none).
    pub write_ahead_bytes: u64,
}

pub(crate) struct Writer {
    cfg: WriterConfig,
    lock_path: PathBuf,
    /// Shared with the guard of the batch in progress, so holding the lock does not borrow
    /// the writer (and costs no `dup` per batch).
    lock_file: Arc<File>,
    segment_no: u64,
    seg_path: PathBuf,
    file: File,
    /// Bytes of the current segment this writer knows to be intact and durable.
    len: u64,
    last_seq: u64,
    last_hash: String,
    last_checkpoint_seq: u64,
    poisoned: Option<String>,
    shared: Arc<Shared>,
    /// The log's write-ahead file, when it has one (see `crate::wal`).
    wal: Option<Wal>,
    /// Records put back from the write-ahead file on open, to be recorded.
    restored: Option<Restored>,
    /// Creating a write-ahead file failed once (a full disk, say): not tried again by this
    /// writer, which syncs segments directly unless another writer creates one.
    wal_failed: bool,
    /// `refresh` found the segment changed by someone else (or this is the first batch): the
    /// write-ahead file's coverage of it is checked before the batch.
    caught_up: bool,
}

/// Releases the cross-process lock when dropped.
struct LockGuard(Arc<File>);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn acquire(file: &Arc<File>, path: &Path, timeout: Duration) -> Result<LockGuard> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(LockGuard(file.clone())),
            Err(std::fs::TryLockError::WouldBlock) => {
                if started.elapsed() >= timeout {
                    return Err(AuditError::LockTimeout {
                        path: path.to_owned(),
                        waited: started.elapsed(),
                    });
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(AuditError::io(path, e)),
        }
    }
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(|e| AuditError::io(path, e))
}

/// Takes up to `max` queued appends without blocking, handing each to `take`; stops early at
/// a command that is not an append, which it leaves in `deferred` for the main loop.
fn drain(
    rx: &mut mpsc::Receiver<Command>,
    deferred: &mut Option<Command>,
    max: usize,
    mut take: impl FnMut(Pending),
) {
    for _ in 0..max {
        match rx.try_recv() {
            Ok(Command::Append(p)) => take(p),
            Ok(other) => {
                *deferred = Some(other);
                return;
            }
            Err(_) => return,
        }
    }
}

/// A batch being assembled under the cross-process lock. Records are chained and encoded as
/// they arrive, so assembling overlaps with gathering the rest of the batch.
struct OpenBatch {
    _guard: LockGuard,
    /// The seq and hash of the last record added (the file's head before the first).
    seq: u64,
    prev: String,
    ts: String,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// Callers' replies with their receipts, sent once the batch is durable.
    replies: Vec<(oneshot::Sender<Result<AuditReceipt>>, AuditReceipt)>,
    /// Records from callers (recovery and checkpoint records are not counted).
    callers: usize,
    /// Bytes of `buf` already written to the segment while gathering (not yet synced).
    written: usize,
    /// A failed early write or rotation: the batch fails at `finish`.
    failed: Option<AuditError>,
}

/// A torn tail that was cut off, to be recorded.
struct Recovery {
    segment: String,
    at: u64,
    bytes: u64,
}

impl Writer {
    /// Opens (or creates) the log under the cross-process lock and repairs a torn tail.
    pub(crate) fn open(cfg: WriterConfig, shared: Arc<Shared>) -> Result<Writer> {
        if !cfg.dir.exists() {
            fs::create_dir_all(&cfg.dir).map_err(|e| AuditError::io(&cfg.dir, e))?;
            if let Some(parent) = cfg.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let lock_path = cfg.dir.join("audit.lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| AuditError::io(&lock_path, e))?;
        let seg_path = cfg.dir.join(segment_name(1));
        let file = open_append(&seg_path)?;
        sync_dir(&cfg.dir)?;
        let mut writer = Writer {
            cfg,
            lock_path,
            lock_file: Arc::new(lock_file),
            segment_no: 1,
            seg_path,
            file,
            len: u64::MAX, // unknown: forces a tail scan
            last_seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
            last_checkpoint_seq: 0,
            poisoned: None,
            shared,
            wal: None,
            restored: None,
            wal_failed: false,
            caught_up: false,
        };
        // Find the newest segment and the chain head; write a recovery record if needed.
        let batch = writer.begin()?;
        writer.finish(batch)?;
        writer.last_checkpoint_seq = writer.last_seq;
        Ok(writer)
    }

    /// The writer thread's loop: runs until every handle is gone or `Close` arrives.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut deferred: Option<Command> = None;
        loop {
            let Some(cmd) = deferred.take().or_else(|| rx.blocking_recv()) else {
                break;
            };
            match cmd {
                Command::Append(first) => {
                    let mut batch = match self.begin() {
                        Ok(batch) => batch,
                        Err(err) => {
                            // Everyone queued now shares the failure; later appends try again.
                            let mut failed = vec![first];
                            drain(&mut rx, &mut deferred, usize::MAX, |p| failed.push(p));
                            for reply in failed.into_iter().filter_map(|p| p.reply) {
                                let _ = reply.send(Err(err.clone()));
                            }
                            continue;
                        }
                    };
                    self.add(&mut batch, first.body, first.reply);
                    // Gather: appenders in flight but not queued yet were just released by
                    // the previous sync and are re-submitting. Hold the batch open, adding
                    // each record as it arrives, until they are in or GATHER_MAX passes, so
                    // they share this fdatasync instead of waiting for the next one. A lone
                    // appender (in flight = 1) never waits.
                    let started = Instant::now();
                    loop {
                        let room = self.cfg.batch_max.saturating_sub(batch.callers);
                        drain(&mut rx, &mut deferred, room, |p| {
                            self.add(&mut batch, p.body, p.reply)
                        });
                        let expected = self
                            .shared
                            .in_flight
                            .load(Ordering::SeqCst)
                            .min(self.cfg.batch_max);
                        if deferred.is_some()
                            || batch.callers >= expected
                            || batch.failed.is_some()
                            || started.elapsed() >= GATHER_MAX
                        {
                            break;
                        }
                        self.write_ahead(&mut batch);
                        if expected - batch.callers <= SPIN_WITHIN {
                            // The last few are being encoded on the other cores right now.
                            std::thread::yield_now();
                        } else {
                            self.wait(&rx, started + GATHER_MAX, batch.callers);
                        }
                    }
                    let replies = std::mem::take(&mut batch.replies);
                    let result = self.finish(batch);
                    // The lock is released; now wake the callers.
                    match result {
                        Ok(()) => {
                            for (reply, receipt) in replies {
                                let _ = reply.send(Ok(receipt));
                            }
                        }
                        Err(err) => {
                            for (reply, _) in replies {
                                let _ = reply.send(Err(err.clone()));
                            }
                        }
                    }
                }
                Command::Flush(reply) => {
                    let _ = reply.send(match &self.poisoned {
                        Some(reason) => Err(AuditError::Poisoned {
                            reason: reason.clone(),
                        }),
                        None => Ok(()),
                    });
                }
                Command::Close(reply) => {
                    if self.poisoned.is_none() {
                        self.shared.set_health(AuditHealth::Closed);
                    }
                    let _ = reply.send(());
                    break;
                }
            }
        }
    }

    /// Parks until an append is queued or `deadline`: gathering costs the cores nothing that
    /// the appenders, still encoding their records, could use.
    fn wait(&self, rx: &mpsc::Receiver<Command>, deadline: Instant, gathered: usize) {
        self.shared.gathered.store(gathered, Ordering::SeqCst);
        self.shared.waiting.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        if rx.is_empty() {
            std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        self.shared.waiting.store(false, Ordering::SeqCst);
    }

    /// Starts a batch: takes the cross-process lock and catches up with the file (a repaired
    /// torn tail becomes the batch's first record).
    fn begin(&mut self) -> Result<OpenBatch> {
        if let Some(reason) = &self.poisoned {
            return Err(AuditError::Poisoned {
                reason: reason.clone(),
            });
        }
        let guard = acquire(&self.lock_file, &self.lock_path, self.cfg.lock_timeout)?;
        let recovery = match self.refresh().and_then(|r| self.check_wal().map(|()| r)) {
            Ok(r) => r,
            Err(e) => return Err(self.poison(e)),
        };
        let mut batch = OpenBatch {
            _guard: guard,
            seq: self.last_seq,
            prev: self.last_hash.clone(),
            ts: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            buf: Vec::with_capacity(32 * 1024),
            scratch: Vec::with_capacity(160),
            replies: Vec::new(),
            callers: 0,
            written: 0,
            failed: None,
        };
        if let Some(r) = self.restored.take() {
            let segment = segment_name(self.segment_no);
            let message = format!(
                "restored {} records (seq {} to {}) from the write-ahead file at byte {} of \
                 {segment}: the segment had lost them (a power loss or an OS crash)",
                r.records, r.first_seq, r.last_seq, r.at,
            );
            let metadata = [
                ("segment", json!(segment)),
                ("restored_at_byte", json!(r.at)),
                ("replaced_bytes", json!(r.replaced)),
                ("records", json!(r.records)),
                ("first_seq", json!(r.first_seq)),
                ("last_seq", json!(r.last_seq)),
            ];
            self.add_recovery(&mut batch, &message, metadata);
        }
        if let Some(r) = recovery {
            let message = format!(
                "recovered a torn tail: cut {} bytes at byte {} of {}",
                r.bytes, r.at, r.segment
            );
            let metadata = [
                ("segment", json!(r.segment)),
                ("truncated_at_byte", json!(r.at)),
                ("truncated_bytes", json!(r.bytes)),
            ];
            self.add_recovery(&mut batch, &message, metadata);
        }
        Ok(batch)
    }

    /// Adds a `recovery` record (a repair made on open) to the batch.
    fn add_recovery<const N: usize>(
        &self,
        batch: &mut OpenBatch,
        message: &str,
        metadata: [(&str, Value); N],
    ) {
        let metadata: Map<String, Value> = metadata
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let fields = Encoded::new(
            AuditKind::Recovery,
            Severity::Warning,
            message,
            None,
            None,
            &metadata,
            0,
        );
        self.add(batch, Body::Event(fields), None);
    }

    /// Assigns the next seq to `body`, chains and encodes it into the batch.
    fn add(
        &self,
        batch: &mut OpenBatch,
        body: Body,
        reply: Option<oneshot::Sender<Result<AuditReceipt>>>,
    ) {
        // Seq u64::MAX is never written (no record could follow it; readers reject it), so
        // a log whose head is u64::MAX - 1 is full: the batch fails rather than wrap.
        let Some(seq) = batch.seq.checked_add(1).filter(|seq| *seq < u64::MAX) else {
            batch.failed.get_or_insert_with(|| AuditError::Malformed {
                path: self.seg_path.clone(),
                line: 0,
                problem: format!(
                    "the log has reached seq {}, the last one it can hold; start a new log \
                     directory",
                    batch.seq
                ),
            });
            if let Some(reply) = reply {
                batch.callers += 1;
                let receipt = AuditReceipt {
                    seq: batch.seq,
                    hash: String::new(), // never sent: the batch fails
                };
                batch.replies.push((reply, receipt));
            }
            return;
        };
        batch.seq = seq;
        let fields = match body {
            Body::Event(fields) => fields,
            Body::Checkpoint => self.make_checkpoint(seq, &batch.prev),
        };
        let hash = fields.assemble(
            seq,
            &batch.ts,
            &batch.prev,
            &mut batch.buf,
            &mut batch.scratch,
        );
        if let Some(reply) = reply {
            batch.callers += 1;
            batch.replies.push((
                reply,
                AuditReceipt {
                    seq,
                    hash: hash.clone(),
                },
            ));
        }
        batch.prev = hash;
    }

    /// Writes the batch (with a checkpoint when one is due) and syncs it, then releases the
    /// lock. On failure nothing of the batch remains in the file and the log is poisoned.
    fn finish(&mut self, mut batch: OpenBatch) -> Result<()> {
        if batch.seq == self.last_seq && batch.failed.is_none() {
            return Ok(());
        }
        let mut checkpointed = false;
        if let Some((_, every)) = &self.cfg.signer
            && batch.seq - self.last_checkpoint_seq >= *every
        {
            checkpointed = true;
            self.add(&mut batch, Body::Checkpoint, None);
        }
        let mut result = match batch.failed.take() {
            Some(e) => Err(e),
            None if batch.written == 0 => self.rotate_if_full(batch.buf.len()),
            None => Ok(()),
        };
        if result.is_ok() {
            result = self.write_bytes(&batch.buf[batch.written..]);
        }
        if result.is_ok() {
            result = self.commit(&batch);
        }
        if let Err(e) = result {
            // Cut whatever part of the batch reached the file: no partial record stays behind,
            // and none is left in the write-ahead file for a restore to bring back.
            // The write-ahead file first: a cut segment with the batch still there would be
            // restored on the next open. (If the cut fails, the next writer finds the segment
            // not covered by the write-ahead file and starts its data again.)
            if let Some(wal) = &self.wal
                && let Some(pos) = wal.position(self.segment_no, self.len)
            {
                // All of it: if the cut below fails, the next writer's coverage check (the
                // last 4 KiB) must not find this batch's bytes still matching.
                let _ = wal.erase(pos, batch.buf.len());
            }
            let _ = self.file.set_len(self.len);
            return Err(self.poison(e));
        }
        self.len += batch.buf.len() as u64;
        let written = batch.seq - self.last_seq;
        if checkpointed {
            self.last_checkpoint_seq = batch.seq;
        }
        self.last_seq = batch.seq;
        self.last_hash = batch.prev;
        let c = &self.shared.counters;
        c.records.fetch_add(written, Ordering::Relaxed);
        c.batches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A checkpoint of the head (`seq - 1`, `prev`), signed when a signing key is configured.
    fn make_checkpoint(&self, seq: u64, prev: &str) -> Encoded {
        let head_seq = seq - 1;
        let mut metadata = Map::new();
        metadata.insert("checkpoint_seq".into(), json!(head_seq));
        metadata.insert("head".into(), json!(prev));
        let message = match &self.cfg.signer {
            Some((key, _)) => {
                let signature = key.sign(checkpoint_message(head_seq, prev).as_bytes());
                metadata.insert(
                    "public_key".into(),
                    Value::String(hex::encode(key.verifying_key().as_bytes())),
                );
                metadata.insert(
                    "signature".into(),
                    Value::String(hex::encode(signature.to_bytes())),
                );
                format!("signed checkpoint of seq {head_seq}")
            }
            None => format!("unsigned checkpoint of seq {head_seq}"),
        };
        Encoded::new(
            AuditKind::Checkpoint,
            Severity::Info,
            &message,
            None,
            None,
            &metadata,
            0,
        )
    }

    /// Writes what the batch holds so far once it is `WRITE_AHEAD` bytes, rotating first if
    /// the segment cannot take it (a batch never splits across segments, so from then on the
    /// batch stays in this segment even if it grows past the limit).
    fn write_ahead(&mut self, batch: &mut OpenBatch) {
        if batch.failed.is_some() || batch.buf.len() - batch.written < WRITE_AHEAD {
            return;
        }
        let mut result = Ok(());
        if batch.written == 0 {
            result = self.rotate_if_full(batch.buf.len());
        }
        if result.is_ok() {
            result = self.write_bytes(&batch.buf[batch.written..]);
        }
        match result {
            Ok(()) => batch.written = batch.buf.len(),
            Err(e) => batch.failed = Some(e),
        }
    }

    /// Makes the batch (already in the segment's page cache) durable: written over the zeros
    /// of the write-ahead file and that file fdatasynced, or, without one or when it is full,
    /// the segment fdatasynced (and then the write-ahead file starts again after the batch).
    fn commit(&mut self, batch: &OpenBatch) -> Result<()> {
        let pos = self.wal.as_ref().and_then(|w| {
            w.position(self.segment_no, self.len)
                .filter(|pos| w.fits(*pos, batch.buf.len()))
        });
        if let (Some(wal), Some(pos)) = (&self.wal, pos) {
            wal.write_at(&batch.buf, pos)?;
            return self.sync(true);
        }
        self.sync(false)?;
        if self.wal.is_some() && self.cfg.durability != Durability::Fsync {
            // The header below says the segment is durable up to the batch's end.
            self.sync_segment()?;
        }
        if let Some(wal) = &mut self.wal {
            // The data starts again after this batch; the next batch's sync of the
            // write-ahead file makes the new header durable before it acknowledges anything.
            // The batch is durable in the segment already: a failed header write must not
            // fail it (cutting it would leave a header past the segment's end, which the
            // next open refuses). The next batch re-reads the header and starts it again.
            let header = Header {
                segment: self.segment_no,
                offset: self.len + batch.buf.len() as u64,
                seq: batch.seq,
                hash: batch.prev.clone(),
            };
            if let Err(e) = wal.set_header(header) {
                tracing::warn!(error = %e, "could not restart the audit log's write-ahead file; the next batch tries again");
            }
        }
        Ok(())
    }

    /// Starts a new segment when `bytes` more would pass the limit of a non-empty one.
    fn rotate_if_full(&mut self, bytes: usize) -> Result<()> {
        if self.len > 0 && self.len + bytes as u64 > self.cfg.max_segment_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    /// Appends `buf` to the segment (page cache; see `sync`).
    fn write_bytes(&mut self, buf: &[u8]) -> Result<()> {
        let path = &self.seg_path;
        match self
            .cfg
            .io_hook
            .as_ref()
            .and_then(|h| h.on_write(buf.len()))
        {
            Some((partial, err)) => {
                let n = partial.min(buf.len());
                self.file
                    .write_all(&buf[..n])
                    .map_err(|e| AuditError::io(path, e))?;
                Err(AuditError::io(path, err))
            }
            None => self
                .file
                .write_all(buf)
                .map_err(|e| AuditError::io(path, e)),
        }
    }

    /// fdatasync of the write-ahead file (`wal`) or the segment in `Durability::Fsync`;
    /// nothing in `Flush`.
    fn sync(&mut self, wal: bool) -> Result<()> {
        if self.cfg.durability != Durability::Fsync {
            return Ok(());
        }
        let target = self.wal.as_ref().filter(|_| wal);
        let path = target.map_or(self.seg_path.as_path(), Wal::path);
        if let Some(err) = self.cfg.io_hook.as_ref().and_then(|h| h.on_sync()) {
            return Err(AuditError::io(path, err));
        }
        let started = Instant::now();
        match target {
            Some(w) => w.sync().map_err(|e| AuditError::io(w.path(), e))?,
            None => self.sync_segment()?,
        }
        let c = &self.shared.counters;
        c.syncs.fetch_add(1, Ordering::Relaxed);
        c.sync_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// fdatasync of the current segment, whatever the durability mode (for the write-ahead
    /// file's header, which says the segment is durable up to a point).
    fn sync_segment(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| AuditError::io(&self.seg_path, e))
    }

    fn poison(&mut self, err: AuditError) -> AuditError {
        let reason = err.to_string();
        tracing::error!(error = %reason, "audit log poisoned; every further append fails until it is reopened");
        self.poisoned = Some(reason.clone());
        self.shared.set_health(AuditHealth::Poisoned { reason });
        err
    }

    fn rotate(&mut self) -> Result<()> {
        if self.segment_no >= crate::segment::MAX_SEGMENT {
            return Err(AuditError::Malformed {
                path: self.cfg.dir.clone(),
                line: 0,
                problem: "the log has used its last segment number; start a new log directory"
                    .into(),
            });
        }
        let next = self.segment_no + 1;
        if self.wal.is_some() {
            // The write-ahead file moves on to the new segment: this one must be durable.
            self.sync_segment()?;
        }
        let path = self.cfg.dir.join(segment_name(next));
        let file = open_append(&path)?;
        sync_dir(&self.cfg.dir)?;
        self.segment_no = next;
        self.seg_path = path;
        self.file = file;
        self.len = 0;
        if let Some(wal) = &mut self.wal {
            // Durable before the new segment gets a record (see `crate::wal`).
            wal.set_header(Header {
                segment: next,
                offset: 0,
                seq: self.last_seq,
                hash: self.last_hash.clone(),
            })?;
            wal.sync().map_err(|e| AuditError::io(wal.path(), e))?;
        }
        Ok(())
    }

    /// Catches up with other processes: follows their rotations, re-reads the head when the
    /// segment changed size, and cuts a torn tail. Runs under the lock.
    fn refresh(&mut self) -> Result<Option<Recovery>> {
        let mut moved = false;
        if self.len == u64::MAX {
            // First refresh: jump straight to the newest existing segment.
            if let Some((n, path)) = crate::segment::list_segments(&self.cfg.dir)?
                .into_iter()
                .last()
                && n != self.segment_no
            {
                self.segment_no = n;
                self.file = open_append(&path)?;
                self.seg_path = path;
            }
            moved = true;
        }
        while self.segment_no < crate::segment::MAX_SEGMENT {
            let next = self.cfg.dir.join(segment_name(self.segment_no + 1));
            if !next.exists() {
                break;
            }
            self.segment_no += 1;
            self.file = open_append(&next)?;
            self.seg_path = next;
            moved = true;
        }
        if self.len == u64::MAX
            && let Some(w) = Wal::open_existing(&self.cfg.dir, true)?
        {
            // Its name may not be durable yet if the writer that created it died before
            // syncing the directory; syncs of its data alone would not commit it.
            sync_dir(&self.cfg.dir)?;
            // First refresh: put back what a power loss took from the segment.
            self.restored = wal::restore(&w, self.segment_no, &self.seg_path, &self.file)?;
            if let Some(r) = &self.restored {
                tracing::warn!(segment = %self.seg_path.display(), records = r.records, "restored audit records from the write-ahead file");
            }
            self.wal = Some(w);
        }
        let size = self
            .file
            .metadata()
            .map_err(|e| AuditError::io(&self.seg_path, e))?
            .len();
        if !moved && size == self.len {
            return Ok(None);
        }
        self.caught_up = true;
        let tail = scan_tail(&self.seg_path)?;
        let mut recovery = None;
        if tail.torn_bytes > 0 {
            self.file
                .set_len(tail.good_len)
                .map_err(|e| AuditError::io(&self.seg_path, e))?;
            self.sync_segment()?;
            self.shared
                .counters
                .recoveries
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(segment = %self.seg_path.display(), bytes = tail.torn_bytes, "cut a torn audit log tail");
            recovery = Some(Recovery {
                segment: segment_name(self.segment_no),
                at: tail.good_len,
                bytes: tail.torn_bytes,
            });
        }
        self.len = tail.good_len;
        let head = match tail.last {
            Some(last) => Some(last),
            None => self.previous_head()?,
        };
        (self.last_seq, self.last_hash) = match head {
            Some(Last { seq, hash }) => (seq, hash),
            None => (0, GENESIS_HASH.to_owned()),
        };
        Ok(recovery)
    }

    /// Before a batch, under the lock: follows the write-ahead file (another writer may have
    /// moved its header or created it), creates one if the log has none and this writer is
    /// configured to, and starts its data here if its header does not cover this segment's
    /// end (then the segment is fdatasynced first).
    fn check_wal(&mut self) -> Result<()> {
        if let Some(w) = &mut self.wal
            && !w.refresh(&self.cfg.dir)?
        {
            self.wal = None;
        }
        if self.wal.is_none() {
            self.wal = Wal::open_existing(&self.cfg.dir, true)?;
        }
        let head = Header {
            segment: self.segment_no,
            offset: self.len,
            seq: self.last_seq,
            hash: self.last_hash.clone(),
        };
        let caught_up = std::mem::take(&mut self.caught_up);
        // Never start the data again over evidence that durable records were removed.
        if let Some(what) = self
            .wal
            .as_ref()
            .and_then(|w| w.contradiction(self.segment_no, self.len))
        {
            return Err(wal::removed(&self.seg_path, what));
        }
        let covered = match &self.wal {
            Some(w) => Some(
                w.position(self.segment_no, self.len).is_some()
                    && (!caught_up
                        || w.covers(self.segment_no, &self.file, &self.seg_path, self.len)?),
            ),
            None => None,
        };
        match covered {
            Some(true) => {}
            Some(false) => {
                self.sync_segment()?;
                if let Some(w) = &mut self.wal {
                    w.set_header(head)?;
                }
            }
            None if self.cfg.write_ahead_bytes > 0
                && self.cfg.durability == Durability::Fsync
                && !self.wal_failed =>
            {
                self.sync_segment()?;
                match Wal::create(&self.cfg.dir, self.cfg.write_ahead_bytes, head) {
                    Ok(w) => self.wal = Some(w),
                    // Only slower without it: every batch then syncs the segment itself.
                    Err(e) => {
                        self.wal_failed = true;
                        tracing::warn!(error = %e, "cannot create the audit log's write-ahead file; syncing segments directly")
                    }
                }
            }
            None => {}
        }
        Ok(())
    }

    /// The head of the chain when the current segment holds no intact record yet.
    fn previous_head(&self) -> Result<Option<Last>> {
        let mut n = self.segment_no;
        while n > 1 {
            n -= 1;
            let path = self.cfg.dir.join(segment_name(n));
            if !path.exists() {
                return Err(AuditError::Malformed {
                    path,
                    line: 0,
                    problem: "segment missing before the newest one; run `codeward audit verify`"
                        .into(),
                });
            }
            let tail = scan_tail(&path)?;
            if tail.torn_bytes > 0 {
                return Err(AuditError::Malformed {
                    path,
                    line: 0,
                    problem: format!(
                        "{} torn bytes in a segment that is not the newest",
                        tail.torn_bytes
                    ),
                });
            }
            if tail.last.is_some() {
                return Ok(tail.last);
            }
        }
        Ok(None)
    }
}
