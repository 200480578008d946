//! How an audit log is opened: directory, keys, durability, rotation, locking, hooks.
//! Every setting has a documented default; only the directory and the pseudonym key are required.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use codeward_core::PiiDetector;

use crate::key::KeySource;

/// How far `append` goes before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `fdatasync` before acknowledging: the record survives power loss. The default.
    #[default]
    Fsync,
    /// Written to the page cache only: survives a process crash but not a power loss or a
    /// kernel crash. Weaker; for tests and throwaway environments.
    Flush,
}

/// The default size of the write-ahead file: 8 MiB. When it fills, the batch that does not
/// fit syncs the segment itself and the file starts again (about once per 22,000 records of
/// 370 bytes; that sync costs about 10 ms here).
pub const DEFAULT_WRITE_AHEAD_BYTES: u64 = 8 * 1024 * 1024;

/// Fault injection for tests: makes the real write and sync paths fail as the OS would.
pub trait IoHook: Send + Sync {
    /// Called before writing `len` bytes. `Some((n, err))` writes only the first `n` bytes, then
    /// fails with `err` (a short write followed by an error, like a full disk).
    fn on_write(&self, len: usize) -> Option<(usize, io::Error)> {
        let _ = len;
        None
    }

    /// Called before `fdatasync`. `Some(err)` makes the sync fail with `err`.
    fn on_sync(&self) -> Option<io::Error> {
        None
    }
}

/// Ed25519-signed checkpoints of the chain head.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckpointOptions {
    /// The 32-byte Ed25519 secret (seed).
    pub signing_key: KeySource,
    /// Write a checkpoint after at least this many records (default 1000).
    pub every: u64,
}

impl CheckpointOptions {
    /// Checkpoints signed with `signing_key`, every 1000 records.
    pub fn new(signing_key: KeySource) -> Self {
        CheckpointOptions {
            signing_key,
            every: 1000,
        }
    }

    /// Sets the interval in records.
    pub fn every(mut self, records: u64) -> Self {
        self.every = records.max(1);
        self
    }
}

/// Options for [`crate::AuditLog::open`].
///
/// | setting | default |
/// |---|---|
/// | `durability` | [`Durability::Fsync`] |
/// | `max_segment_bytes` | 64 MiB (soft: a batch never splits across segments) |
/// | `lock_timeout` | 10 s (waiting for another process's writer) |
/// | `batch_max` | 1024 records per group commit |
/// | `queue_capacity` | 8192 queued records (appenders wait when it is full) |
/// | `detector` | [`crate::BuiltinDetector`] |
/// | `pseudonymize_principal` | true |
/// | `checkpoints` | none |
#[derive(Clone)]
#[non_exhaustive]
pub struct AuditLogOptions {
    /// The log directory (created if missing).
    pub dir: PathBuf,
    /// The pseudonym key. Required.
    pub key: Option<KeySource>,
    /// See [`Durability`].
    pub durability: Durability,
    /// Rotate to a new segment before a batch would take the current one past this size.
    /// Soft: a batch never splits across segments, so a segment may end up to one batch past
    /// it (when the batch was already being written while it gathered).
    pub max_segment_bytes: u64,
    /// How long a writer waits for the cross-process lock before failing.
    pub lock_timeout: Duration,
    /// Most records committed by one fdatasync.
    pub batch_max: usize,
    /// Records queued for the writer before appenders wait.
    pub queue_capacity: usize,
    /// Finds PII in every string of a record.
    pub detector: Option<Arc<dyn PiiDetector>>,
    /// Store principals only as pseudonyms.
    pub pseudonymize_principal: bool,
    /// Signed checkpoints.
    pub checkpoints: Option<CheckpointOptions>,
    /// Fault injection (tests).
    pub io_hook: Option<Arc<dyn IoHook>>,
    /// Size of the zero-filled write-ahead file (`audit.wal`) that a writer in
    /// [`Durability::Fsync`] creates when the log has none: batches are synced there instead
    /// of in the growing segment, which costs about half as much. 0: create none (a log
    /// that already has one keeps using it: every writer of a log must mirror into it).
    pub write_ahead_bytes: u64,
}

impl std::fmt::Debug for AuditLogOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLogOptions")
            .field("dir", &self.dir)
            .field("key", &self.key)
            .field("durability", &self.durability)
            .field("max_segment_bytes", &self.max_segment_bytes)
            .field("lock_timeout", &self.lock_timeout)
            .field("batch_max", &self.batch_max)
            .field("pseudonymize_principal", &self.pseudonymize_principal)
            .field("checkpoints", &self.checkpoints)
            .field("write_ahead_bytes", &self.write_ahead_bytes)
            .finish_non_exhaustive()
    }
}

impl AuditLogOptions {
    /// Defaults for a log in `dir`; set a key with [`AuditLogOptions::key`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        AuditLogOptions {
            dir: dir.into(),
            key: None,
            durability: Durability::Fsync,
            max_segment_bytes: 64 * 1024 * 1024,
            lock_timeout: Duration::from_secs(10),
            batch_max: 1024,
            queue_capacity: 8192,
            detector: None,
            pseudonymize_principal: true,
            checkpoints: None,
            io_hook: None,
            write_ahead_bytes: DEFAULT_WRITE_AHEAD_BYTES,
        }
    }

    /// Sets the size of the write-ahead file to create (0 or at least
    /// [`crate::MIN_WRITE_AHEAD_BYTES`]; default [`DEFAULT_WRITE_AHEAD_BYTES`]).
    pub fn write_ahead_bytes(mut self, bytes: u64) -> Self {
        self.write_ahead_bytes = bytes;
        self
    }

    /// Sets the pseudonym key source.
    pub fn key(mut self, key: KeySource) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the durability mode.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the segment size at which the log rotates.
    pub fn max_segment_bytes(mut self, bytes: u64) -> Self {
        self.max_segment_bytes = bytes;
        self
    }

    /// Sets how long to wait for another process's writer.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Sets the largest group commit.
    pub fn batch_max(mut self, records: usize) -> Self {
        self.batch_max = records;
        self
    }

    /// Sets the PII detector.
    pub fn detector(mut self, detector: Arc<dyn PiiDetector>) -> Self {
        self.detector = Some(detector);
        self
    }

    /// Keeps principals readable (they still pass the PII detector).
    pub fn keep_principals(mut self) -> Self {
        self.pseudonymize_principal = false;
        self
    }

    /// Enables signed checkpoints.
    pub fn checkpoints(mut self, checkpoints: CheckpointOptions) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }

    /// Installs a fault-injection hook.
    pub fn io_hook(mut self, hook: Arc<dyn IoHook>) -> Self {
        self.io_hook = Some(hook);
        self
    }
}
