//! The `ApprovalStore` implementation: a JSON file written atomically, bound to code hashes,
//! with expiry through an injectable clock and an awaited audit event for every state change.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use codeward_core::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, ApprovalStore, ApprovalTicket, AuditEvent,
    AuditKind, AuditSink, Language, RiskAssessment, Severity, keys,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::error::SecurityError;

/// Version of the store document format.
const STORE_FORMAT: u32 = 1;
/// Default time a request waits for a decision.
pub const DEFAULT_APPROVAL_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long an approval authorizes its program after the decision.
pub const DEFAULT_APPROVED_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How long an operation waits for another process holding the store's lock.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// SHA-256 (hex) binding an approval to the exact program, its language and its tool set.
///
/// Each part is length-prefixed so no two different inputs share an encoding; tools are
/// sorted and deduplicated, so their order does not matter. The orchestrator must use this
/// same function when it checks an approval.
pub fn approval_code_hash<S: AsRef<str>>(code: &str, language: Language, tools: &[S]) -> String {
    let mut tools: Vec<&str> = tools.iter().map(AsRef::as_ref).collect();
    tools.sort_unstable();
    tools.dedup();
    let mut h = Sha256::new();
    h.update(b"codeward-approval-v1");
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(language.as_str().as_bytes());
    part(&(tools.len() as u64).to_le_bytes());
    for t in &tools {
        part(t.as_bytes());
    }
    part(code.as_bytes());
    hex::encode(h.finalize())
}

/// Builds an [`ApprovalRequest`] for `code`, hashing it with [`approval_code_hash`].
pub fn approval_request(
    execution_id: &str,
    principal: &str,
    code: &str,
    language: Language,
    tools: &[String],
    risk: RiskAssessment,
) -> Result<ApprovalRequest, SecurityError> {
    let mut sorted = tools.to_vec();
    sorted.sort();
    sorted.dedup();
    let code_hash = approval_code_hash(code, language, &sorted);
    Ok(
        ApprovalRequest::new(execution_id, principal, code_hash, sorted, risk)
            .with_program(language, code),
    )
}

/// Where the store gets the time; inject a [`ManualClock`] in tests instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `ms` since the epoch.
    pub fn new(ms: u64) -> ManualClock {
        ManualClock(AtomicU64::new(ms))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StoreDoc {
    format: u32,
    tickets: Vec<ApprovalTicket>,
}

/// Configures a [`FileApprovalStore`].
#[derive(Debug)]
#[non_exhaustive]
pub struct FileApprovalStoreBuilder {
    path: PathBuf,
    ttl: Duration,
    approved_ttl: Duration,
    clock: Arc<dyn Clock>,
    lock_timeout: Duration,
}

impl FileApprovalStoreBuilder {
    /// How long a request waits for a decision before it expires (default 24 h).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long an approval authorizes its program after the decision (default 7 days);
    /// then it expires like an undecided request, and a new run files a new request.
    pub fn approved_ttl(mut self, ttl: Duration) -> Self {
        self.approved_ttl = ttl;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long an operation waits for another process to release the store (default 10 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Opens (or creates on first change) the store file; every state change is reported to
    /// `audit` and awaited before it is persisted.
    ///
    /// The file is not read here: a damaged or unreadable store fails the operations that
    /// need it (naming the file), not a service that may never need an approval.
    pub async fn open(self, audit: Arc<dyn AuditSink>) -> Result<FileApprovalStore, SecurityError> {
        let store = FileApprovalStore {
            path: self.path,
            ttl: self.ttl,
            approved_ttl: self.approved_ttl,
            clock: self.clock,
            lock_timeout: self.lock_timeout,
            audit,
            turn: Mutex::new(()),
        };
        Ok(store)
    }
}

/// A durable approval store: one JSON document, replaced atomically on every change
/// (write temp file, fsync, rename, fsync directory), so it survives crashes and restarts.
///
/// Several processes may share it (`codeward serve` running while an operator approves with
/// `codeward approvals approve`): every operation takes an advisory lock on `<file>.lock`
/// and reads the file afresh, so no process acts on, or writes back, a stale copy.
///
/// State changes (request, approve, reject, expire, prune) are audited first: if the audit
/// sink refuses the event, the change is neither made nor persisted (fail closed).
pub struct FileApprovalStore {
    path: PathBuf,
    ttl: Duration,
    approved_ttl: Duration,
    clock: Arc<dyn Clock>,
    lock_timeout: Duration,
    audit: Arc<dyn AuditSink>,
    // A tokio mutex serializes this process's operations (held across the awaited audit
    // append and the write); the file lock serializes them with other processes'.
    turn: Mutex<()>,
}

impl fmt::Debug for FileApprovalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileApprovalStore")
            .field("path", &self.path)
            .field("ttl", &self.ttl)
            .field("approved_ttl", &self.approved_ttl)
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

impl FileApprovalStore {
    /// A builder for the store at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> FileApprovalStoreBuilder {
        FileApprovalStoreBuilder {
            path: path.into(),
            ttl: DEFAULT_APPROVAL_TTL,
            approved_ttl: DEFAULT_APPROVED_TTL,
            clock: Arc::new(SystemClock),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// Opens the store at `path` with the default TTL and the system clock.
    pub async fn open(
        path: impl Into<PathBuf>,
        audit: Arc<dyn AuditSink>,
    ) -> Result<FileApprovalStore, SecurityError> {
        FileApprovalStore::builder(path).open(audit).await
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long a request waits for a decision before it expires.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long an approval authorizes its program after the decision.
    pub fn approved_ttl(&self) -> Duration {
        self.approved_ttl
    }

    /// How long an operation waits for another process holding the store's lock.
    pub fn lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// Files a request (typed variant of [`ApprovalStore::request`]).
    pub async fn file_request(
        &self,
        request: ApprovalRequest,
    ) -> Result<ApprovalTicket, SecurityError> {
        let mut turn = self.begin().await?;
        let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let now = turn.now;
        let ticket = ApprovalTicket::pending(new_id(), request, now, now.saturating_add(ttl));
        let event = event(&ticket, "requested", Severity::Warning)
            .principal(ticket.request.principal.clone())
            .meta("risk_level", ticket.request.risk.level.as_str())
            .meta("risk_score", ticket.request.risk.score)
            .meta("tools", ticket.request.tools.clone())
            .meta("expires_ms", ticket.expires_ms);
        let mut next = turn.tickets.clone();
        next.push(ticket.clone());
        self.commit(&mut turn, next, vec![event]).await?;
        Ok(ticket)
    }

    /// Approves or rejects a pending request (typed variant of [`ApprovalStore::decide`]).
    pub async fn decide_request(
        &self,
        id: &str,
        decision: ApprovalDecision,
    ) -> Result<ApprovalTicket, SecurityError> {
        if decision.approver.trim().is_empty() {
            return Err(SecurityError::InvalidDecision {
                id: id.to_owned(),
                problem: "the approver is empty; name who decides",
            });
        }
        let mut turn = self.begin().await?;
        let Some(pos) = turn.tickets.iter().position(|t| t.id == id) else {
            return Err(SecurityError::ApprovalNotFound { id: id.to_owned() });
        };
        let mut next = turn.tickets.clone();
        let ticket = &mut next[pos];
        if ticket.status != ApprovalStatus::Pending {
            return Err(SecurityError::ApprovalNotPending {
                id: id.to_owned(),
                status: status_name(&ticket.status),
            });
        }
        let (action, severity) = if decision.approve {
            ticket.status = ApprovalStatus::Approved {
                approver: decision.approver.clone(),
                reason: decision.reason.clone(),
            };
            // An approval is not forever: it authorizes the program for `approved_ttl`.
            let ttl = u64::try_from(self.approved_ttl.as_millis()).unwrap_or(u64::MAX);
            ticket.expires_ms = turn.now.saturating_add(ttl);
            ("approved", Severity::Warning)
        } else {
            ticket.status = ApprovalStatus::Rejected {
                approver: decision.approver.clone(),
                reason: decision.reason.clone(),
            };
            ("rejected", Severity::Info)
        };
        let decided = ticket.clone();
        let event = event(&decided, action, severity)
            .principal(decision.approver.clone())
            .meta("reason", decision.reason.clone())
            .meta("decided_ms", turn.now);
        self.commit(&mut turn, next, vec![event]).await?;
        Ok(decided)
    }

    /// A ticket by id, after expiring overdue requests.
    pub async fn ticket(&self, id: &str) -> Result<Option<ApprovalTicket>, SecurityError> {
        let turn = self.begin().await?;
        Ok(turn.tickets.into_iter().find(|t| t.id == id))
    }

    /// Every ticket, oldest first, after expiring overdue requests.
    pub async fn tickets(&self) -> Result<Vec<ApprovalTicket>, SecurityError> {
        Ok(self.begin().await?.tickets)
    }

    /// Removes the tickets that are settled (approved, rejected or expired) and were filed more
    /// than `older_than` ago, and returns them, oldest first. Pending requests stay until they
    /// expire; a removed approval no longer authorizes its program (a new run files a new
    /// request). The removal is audited first (one `approval` event, action `pruned`, listing
    /// the ids); if the audit sink refuses, nothing is removed.
    pub async fn prune(&self, older_than: Duration) -> Result<Vec<ApprovalTicket>, SecurityError> {
        let mut turn = self.begin().await?;
        let age = u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX);
        let cutoff = turn.now.saturating_sub(age);
        let (pruned, kept): (Vec<ApprovalTicket>, Vec<ApprovalTicket>) = turn
            .tickets
            .iter()
            .cloned()
            .partition(|t| t.status != ApprovalStatus::Pending && t.created_ms < cutoff);
        if pruned.is_empty() {
            return Ok(pruned);
        }
        // One record for the whole removal, so it is audited all or nothing.
        let ids: Vec<&str> = pruned.iter().map(|t| t.id.as_str()).collect();
        let event = AuditEvent::new(
            AuditKind::Approval,
            Severity::Info,
            format!("approvals pruned: {}", pruned.len()),
        )
        .meta(keys::DECISION, "pruned")
        .meta("ids", ids)
        .meta("older_than_ms", age)
        .meta("cutoff_ms", cutoff);
        self.commit(&mut turn, kept, vec![event]).await?;
        Ok(pruned)
    }

    /// Takes the cross-process lock (polling up to `lock_timeout`) and reads the store as it
    /// is on disk now. The lock is released when the returned file is dropped.
    async fn lock_and_load(&self) -> Result<(StoreLock, Vec<ApprovalTicket>), SecurityError> {
        let path = self.path.clone();
        let timeout = self.lock_timeout;
        tokio::task::spawn_blocking(move || {
            let lock = Arc::new(lock_store(&path, timeout)?);
            Ok((lock, load(&path)?))
        })
        .await
        .map_err(|e| SecurityError::ApprovalIo {
            path: self.path.clone(),
            action: "read",
            source: std::io::Error::other(e.to_string()),
        })?
    }

    /// Starts an operation: this process's turn, the cross-process lock, and the tickets as
    /// the file has them now, with overdue requests expired (audited and persisted).
    async fn begin(&self) -> Result<Turn<'_>, SecurityError> {
        let mine = self.turn.lock().await;
        let (lock, tickets) = self.lock_and_load().await?;
        let mut turn = Turn {
            _mine: mine,
            lock,
            tickets,
            now: self.clock.now_ms(),
        };
        self.expire_due(&mut turn).await?;
        Ok(turn)
    }

    /// Marks pending requests and approvals past their expiry as expired (audited and
    /// persisted).
    async fn expire_due(&self, turn: &mut Turn<'_>) -> Result<(), SecurityError> {
        let now = turn.now;
        let due: Vec<usize> = turn
            .tickets
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                matches!(
                    t.status,
                    ApprovalStatus::Pending | ApprovalStatus::Approved { .. }
                ) && now >= t.expires_ms
            })
            .map(|(i, _)| i)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut next = turn.tickets.clone();
        let mut events = Vec::new();
        for i in due {
            let was = status_name(&next[i].status);
            next[i].status = ApprovalStatus::Expired;
            events.push(event(&next[i], "expired", Severity::Info).meta("was", was));
        }
        self.commit(turn, next, events).await
    }

    /// Audits, then persists, then publishes `next` to the turn. Any failure leaves the
    /// turn's tickets untouched.
    async fn commit(
        &self,
        turn: &mut Turn<'_>,
        next: Vec<ApprovalTicket>,
        events: Vec<AuditEvent>,
    ) -> Result<(), SecurityError> {
        for event in events {
            let receipt = self
                .audit
                .append(event)
                .await
                .map_err(SecurityError::Audit)?;
            tracing::debug!(seq = receipt.seq, "approval event durable");
        }
        let doc = StoreDoc {
            format: STORE_FORMAT,
            tickets: next,
        };
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|source| SecurityError::Serde {
            context: "serializing the approval store",
            source,
        })?;
        let path = self.path.clone();
        // The write holds the lock too: should this future be dropped mid-write, the lock is
        // released only once the rename is done, never while another process could read.
        let lock = Arc::clone(&turn.lock);
        tokio::task::spawn_blocking(move || {
            let written = write_atomic(&path, &bytes);
            drop(lock);
            written
        })
        .await
        .map_err(|e| SecurityError::ApprovalIo {
            path: self.path.clone(),
            action: "write",
            source: std::io::Error::other(e.to_string()),
        })??;
        turn.tickets = doc.tickets;
        Ok(())
    }
}

fn event(ticket: &ApprovalTicket, action: &str, severity: Severity) -> AuditEvent {
    AuditEvent::new(AuditKind::Approval, severity, format!("approval {action}"))
        .execution(ticket.request.execution_id.clone())
        .meta(keys::DECISION, action)
        .meta("approval_id", ticket.id.clone())
        .meta("code_hash", ticket.request.code_hash.clone())
}

fn status_name(status: &ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved { .. } => "approved",
        ApprovalStatus::Rejected { .. } => "rejected",
        ApprovalStatus::Expired => "expired",
        _ => "decided",
    }
}

fn new_id() -> String {
    let mut bytes = [0u8; 12];
    // The id only needs to be unguessable and unique; if the OS RNG fails, fall back to time
    // mixed with a counter rather than refusing to file the request.
    if getrandom::fill(&mut bytes).is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut h = Sha256::new();
        h.update(SystemClock.now_ms().to_le_bytes());
        h.update(COUNTER.fetch_add(1, Ordering::SeqCst).to_le_bytes());
        bytes.copy_from_slice(&h.finalize()[..12]);
    }
    format!("apr_{}", hex::encode(bytes))
}

/// The store's cross-process lock, held while any clone lives.
type StoreLock = Arc<std::fs::File>;

/// One operation's hold on the store; see `FileApprovalStore::begin`.
struct Turn<'a> {
    _mine: tokio::sync::MutexGuard<'a, ()>,
    lock: StoreLock,
    tickets: Vec<ApprovalTicket>,
    now: u64,
}

/// Opens `<store>.lock` (creating it and its directory) and takes an exclusive advisory lock
/// on it, polling until `timeout`.
fn lock_store(path: &Path, timeout: Duration) -> Result<std::fs::File, SecurityError> {
    let io = |action: &'static str| {
        move |source: std::io::Error| SecurityError::ApprovalIo {
            path: path.to_owned(),
            action,
            source,
        }
    };
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "approvals.json".into());
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("create directory"))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("open lock file"))?;
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SecurityError::ApprovalLocked {
                    path: path.to_owned(),
                    waited: started.elapsed(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock")(e)),
        }
    }
}

fn load(path: &Path) -> Result<Vec<ApprovalTicket>, SecurityError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SecurityError::ApprovalIo {
                path: path.to_owned(),
                action: "read",
                source,
            });
        }
    };
    let doc: StoreDoc =
        serde_json::from_slice(&bytes).map_err(|e| SecurityError::ApprovalCorrupt {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if doc.format != STORE_FORMAT {
        return Err(SecurityError::ApprovalCorrupt {
            path: path.to_owned(),
            message: format!(
                "format {} is not supported (expected {STORE_FORMAT})",
                doc.format
            ),
        });
    }
    Ok(doc.tickets)
}

/// Replaces `path` with `bytes` so a crash leaves either the old or the new document.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SecurityError> {
    let io = |action: &'static str| {
        move |source: std::io::Error| SecurityError::ApprovalIo {
            path: path.to_owned(),
            action,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io("create directory"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "approvals.json".to_owned());
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // Owner only: requests name their principal and describe the program.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create temp file"))?;
        // A temp file left by a crash keeps its old mode through `open`.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io("restrict temp file"))?;
        file.write_all(bytes).map_err(io("write temp file"))?;
        file.sync_all().map_err(io("fsync temp file"))?;
    }
    std::fs::rename(&tmp, path).map_err(io("rename"))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory"))?;
    Ok(())
}

#[async_trait]
impl ApprovalStore for FileApprovalStore {
    async fn request(&self, request: ApprovalRequest) -> codeward_core::Result<ApprovalTicket> {
        self.file_request(request).await.map_err(Into::into)
    }

    async fn decide(
        &self,
        id: &str,
        decision: ApprovalDecision,
    ) -> codeward_core::Result<ApprovalTicket> {
        self.decide_request(id, decision).await.map_err(Into::into)
    }

    async fn get(&self, id: &str) -> codeward_core::Result<Option<ApprovalTicket>> {
        self.ticket(id).await.map_err(Into::into)
    }

    async fn list(&self) -> codeward_core::Result<Vec<ApprovalTicket>> {
        self.tickets().await.map_err(Into::into)
    }
}
