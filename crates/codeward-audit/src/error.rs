//! The audit crate's error type.
//! Every variant names the file or record involved and what the operator should do.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Result alias for this crate.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// What can go wrong with the audit log.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file operation failed.
    #[error("audit log I/O failed on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// A write or sync failed earlier; the log refuses every record until it is reopened.
    #[error(
        "audit log is poisoned by an earlier failure ({reason}); fix the disk and reopen the log"
    )]
    Poisoned {
        /// The failure that poisoned it.
        reason: String,
    },
    /// Another process held the log's lock for too long.
    #[error(
        "audit log {path} is locked by another writer and did not free up within {waited:?}; \
         check for a stuck process or raise lock_timeout"
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this writer waited.
        waited: Duration,
    },
    /// The log holds a record format this build does not understand.
    #[error(
        "{path} line {line} uses audit record format v{found}, newer than the v{supported} \
         this build reads; upgrade codeward"
    )]
    UnsupportedVersion {
        /// The segment file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// Version found.
        found: u32,
        /// Newest version supported.
        supported: u32,
    },
    /// A complete record fails its hash: the log was altered, not torn.
    #[error(
        "{path} line {line} (seq {seq}) does not match its hash: the log was altered; \
         run `codeward audit verify` and investigate before writing to it"
    )]
    Tampered {
        /// The segment file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The record's seq.
        seq: u64,
    },
    /// The pseudonym or signing key is missing or unusable.
    #[error("audit key problem with {source_name}: {problem}")]
    Key {
        /// Where the key was looked for (a path or an environment variable).
        source_name: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The options are inconsistent.
    #[error("invalid audit log configuration: {0}")]
    Config(String),
    /// A record could not be serialized or parsed.
    #[error("{path} line {line}: {problem}")]
    Malformed {
        /// The segment file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The event uses a record type only the log itself may write.
    #[error("audit record type `{0}` is reserved for the log itself; use another type")]
    ReservedKind(codeward_core::AuditKind),
    /// The log was shut down.
    #[error("audit log is closed")]
    Closed,
}

impl AuditError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        AuditError::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}

impl From<AuditError> for codeward_core::Error {
    fn from(e: AuditError) -> Self {
        let reason = e.to_string();
        codeward_core::Error::audit_unavailable(reason, Some(Box::new(e)))
    }
}
