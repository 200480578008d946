//! `AuditLog`: the handle applications hold. Redacts on the caller's task, then hands the
//! record to the single writer and waits for the durable receipt.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use tokio::sync::{mpsc, oneshot};

use codeward_core::{AuditEvent, AuditHealth, AuditKind, AuditReceipt, AuditSink};

use crate::error::{AuditError, Result};
use crate::key::KeySource;
use crate::options::AuditLogOptions;
use crate::reader::AuditReader;
use crate::redact::{BuiltinDetector, Pseudonymizer, Redactor};
use crate::writer::{Body, Command, Counters, InFlight, Pending, Shared, Writer, WriterConfig};

/// Counters since the log was opened (this process only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct AuditStats {
    /// Records written.
    pub records: u64,
    /// Group commits.
    pub batches: u64,
    /// fdatasync calls.
    pub syncs: u64,
    /// Wall time spent in fdatasync (what the rest of a batch's time is compared with).
    pub sync_time: std::time::Duration,
    /// Torn tails repaired.
    pub recoveries: u64,
}

struct Inner {
    tx: mpsc::Sender<Command>,
    redactor: Redactor,
    shared: Arc<Shared>,
    dir: PathBuf,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A durable, ordered, tamper-evident, PII-free audit log.
///
/// Cheap to clone; every clone feeds the same writer thread. `append` resolves only after the
/// record is on disk (per [`crate::Durability`]).
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.inner.dir)
            .field("health", &self.health())
            .finish()
    }
}

impl AuditLog {
    /// Opens (or creates) the log: takes the cross-process lock, repairs a torn tail (and
    /// records the repair), and starts the writer thread. Blocking I/O; call it at start-up.
    pub fn open(options: AuditLogOptions) -> Result<AuditLog> {
        let key_source = options.key.clone().ok_or_else(|| {
            AuditError::Config(
                "no pseudonym key configured: set AuditLogOptions::key (a 0600 key file, an \
                 environment variable, or create_if_missing)"
                    .into(),
            )
        })?;
        if options.write_ahead_bytes != 0
            && options.write_ahead_bytes < crate::MIN_WRITE_AHEAD_BYTES
        {
            return Err(AuditError::Config(format!(
                "write_ahead_bytes is {}: use 0 (no write-ahead file) or at least {} bytes",
                options.write_ahead_bytes,
                crate::MIN_WRITE_AHEAD_BYTES
            )));
        }
        if options.batch_max == 0 || options.queue_capacity == 0 {
            return Err(AuditError::Config(
                "batch_max and queue_capacity must be at least 1".into(),
            ));
        }
        refuse_new_key_for_old_records(
            &key_source,
            &options.dir,
            "a new key would make new pseudonyms unmatchable with the old ones",
        )?;
        if let Some(cp) = &options.checkpoints {
            refuse_new_key_for_old_records(
                &cp.signing_key,
                &options.dir,
                "checkpoints signed with the old key would no longer verify",
            )?;
        }
        let pseudonyms = Pseudonymizer::new(key_source.load()?);
        let signer = match &options.checkpoints {
            Some(cp) => Some((SigningKey::from_bytes(&cp.signing_key.load()?), cp.every)),
            None => None,
        };
        let shared = Arc::new(Shared {
            health: Mutex::new(AuditHealth::Healthy),
            counters: Counters::default(),
            in_flight: Default::default(),
            waiting: Default::default(),
            writer: Default::default(),
            gathered: Default::default(),
        });
        let cfg = WriterConfig {
            dir: options.dir.clone(),
            durability: options.durability,
            max_segment_bytes: options.max_segment_bytes,
            lock_timeout: options.lock_timeout,
            batch_max: options.batch_max,
            io_hook: options.io_hook.clone(),
            signer,
            write_ahead_bytes: options.write_ahead_bytes,
        };
        let writer = Writer::open(cfg, shared.clone())?;
        let (tx, rx) = mpsc::channel(options.queue_capacity);
        let thread = std::thread::Builder::new()
            .name("codeward-audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AuditError::io(&options.dir, e))?;
        let _ = shared.writer.set(thread.thread().clone());
        let redactor = Redactor {
            detector: options
                .detector
                .clone()
                .unwrap_or_else(|| Arc::new(BuiltinDetector::new())),
            pseudonyms,
            pseudonymize_principal: options.pseudonymize_principal,
        };
        Ok(AuditLog {
            inner: Arc::new(Inner {
                tx,
                redactor,
                shared,
                dir: options.dir,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    fn pending(
        &self,
        event: AuditEvent,
    ) -> Result<(Command, oneshot::Receiver<Result<AuditReceipt>>)> {
        if matches!(event.kind, AuditKind::Checkpoint | AuditKind::Recovery) {
            return Err(AuditError::ReservedKind(event.kind));
        }
        let fields = self.inner.redactor.encode_event(event);
        let (reply, rx) = oneshot::channel();
        Ok((
            Command::Append(Pending {
                body: Body::Event(fields),
                reply: Some(reply),
            }),
            rx,
        ))
    }

    /// Appends `event`; resolves with its receipt once the record is durable.
    ///
    /// If the future is dropped after the record was queued, the record is still written.
    pub async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        let in_flight = InFlight::new(&self.inner.shared);
        let (cmd, rx) = self.pending(event)?;
        self.inner
            .tx
            .send(cmd)
            .await
            .map_err(|_| self.closed_error())?;
        in_flight.queued();
        rx.await.map_err(|_| self.closed_error())?
    }

    /// [`AuditLog::append`] for synchronous callers. Must not be called from an async task.
    pub fn append_blocking(&self, event: AuditEvent) -> Result<AuditReceipt> {
        let in_flight = InFlight::new(&self.inner.shared);
        let (cmd, rx) = self.pending(event)?;
        self.inner
            .tx
            .blocking_send(cmd)
            .map_err(|_| self.closed_error())?;
        in_flight.queued();
        rx.blocking_recv().map_err(|_| self.closed_error())?
    }

    /// Writes a checkpoint of the current head now (signed when checkpoints are configured).
    pub async fn checkpoint(&self) -> Result<AuditReceipt> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Append(Pending {
            body: Body::Checkpoint,
            reply: Some(reply),
        });
        self.inner
            .tx
            .send(cmd)
            .await
            .map_err(|_| self.closed_error())?;
        rx.await.map_err(|_| self.closed_error())?
    }

    /// Resolves once everything appended before the call is durable.
    pub async fn flush(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Command::Flush(reply))
            .await
            .map_err(|_| self.closed_error())?;
        rx.await.map_err(|_| self.closed_error())?
    }

    /// Stops the writer after everything queued before the call is written, and waits for it.
    /// Later appends on any clone fail with [`AuditError::Closed`].
    pub async fn close(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        if self.inner.tx.send(Command::Close(reply)).await.is_ok() {
            let _ = rx.await;
        }
        let handle = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            // The writer has answered Close, so joining does not block for long.
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        match self.health() {
            AuditHealth::Poisoned { reason } => Err(AuditError::Poisoned { reason }),
            _ => Ok(()),
        }
    }

    fn closed_error(&self) -> AuditError {
        match self.health() {
            AuditHealth::Poisoned { reason } => AuditError::Poisoned { reason },
            _ => AuditError::Closed,
        }
    }

    /// Whether the log accepts records.
    pub fn health(&self) -> AuditHealth {
        self.inner.shared.health()
    }

    /// Counters since open.
    pub fn stats(&self) -> AuditStats {
        let c = &self.inner.shared.counters;
        AuditStats {
            records: c.records.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            sync_time: std::time::Duration::from_nanos(c.sync_nanos.load(Ordering::Relaxed)),
            recoveries: c.recoveries.load(Ordering::Relaxed),
        }
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The pseudonym this log stores for `value` (what an auditor searches for).
    pub fn pseudonym(&self, value: &str) -> String {
        self.inner.redactor.pseudonyms.pseudonym(value)
    }

    /// A reader over this log's directory.
    pub fn reader(&self) -> AuditReader {
        AuditReader::new(&self.inner.dir)
    }
}

/// Whether the log in `dir` holds any record (a non-empty segment); `false` when there is
/// no log there yet.
pub fn log_has_records(dir: &Path) -> Result<bool> {
    if !dir.exists() {
        return Ok(false);
    }
    Ok(crate::segment::list_segments(dir)?
        .iter()
        .any(|(_, p)| std::fs::metadata(p).is_ok_and(|m| m.len() > 0)))
}

/// Creating a key is for a new log. A log that already holds records needs the keys it was
/// written with: a fresh pseudonym key would silently make every later pseudonym unmatchable
/// with the earlier ones (an auditor searching for a person would miss half), and a fresh
/// signing key would make the earlier checkpoints fail verification.
fn refuse_new_key_for_old_records(key: &KeySource, dir: &Path, consequence: &str) -> Result<()> {
    let KeySource::File {
        path,
        create_if_missing: true,
    } = key
    else {
        return Ok(());
    };
    if path.exists() || !log_has_records(dir)? {
        return Ok(());
    }
    Err(AuditError::Key {
        source_name: path.display().to_string(),
        problem: format!(
            "the key file is missing but the log in {} already has records made with it; \
             restore the key from your backup ({consequence}), or start a new log in another \
             directory",
            dir.display()
        ),
    })
}

#[async_trait]
impl AuditSink for AuditLog {
    async fn append(&self, event: AuditEvent) -> codeward_core::Result<AuditReceipt> {
        Ok(AuditLog::append(self, event).await?)
    }

    async fn flush(&self) -> codeward_core::Result<()> {
        Ok(AuditLog::flush(self).await?)
    }

    fn health(&self) -> AuditHealth {
        AuditLog::health(self)
    }
}
