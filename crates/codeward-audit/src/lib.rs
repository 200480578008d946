//! A durable, ordered, tamper-evident, PII-free audit log for any Rust service.
//!
//! codeward's predecessor returned from `execute` before its audit records reached the disk.
//! Here [`AuditLog::append`] resolves only after the record is durable (`fdatasync`), so an
//! awaited append cannot be lost by a crash, and the receipt it returns is `#[must_use]`.
//!
//! # Brief overview
//!
//! - [`AuditLog`]: open with [`AuditLogOptions`], `append(event).await` -> [`AuditReceipt`](codeward_core::AuditReceipt).
//!   One writer thread owns the file; concurrent appends share an fdatasync (group commit).
//!   Several processes may share a log: an advisory lock serializes their writers.
//! - Records are JSON Lines ([`codeward_core::AuditRecord`]): gapless `seq`, RFC 3339 `ts`,
//!   `type`, `severity`, `message`, `execution_id`, `principal`, `metadata`, and `prev`/`hash`
//!   forming a SHA-256 chain. Optional Ed25519-signed checkpoints ([`CheckpointOptions`]).
//! - Every string passes a [`codeward_core::PiiDetector`] ([`BuiltinDetector`] by default);
//!   hits and sensitive fields become keyed pseudonyms `hmac-sha256:<hex>` ([`Pseudonymizer`]),
//!   the key coming from a [`KeySource`] outside the log.
//! - Crash safety: batches are made durable in a zero-filled write-ahead file (`audit.wal`, an
//!   fdatasync there commits no metadata), from which an open restores what a power loss took
//!   from the segment; a torn tail is cut on open and the cut is recorded; segments rotate by
//!   size.
//!   A failed write or sync poisons the log: every later append fails ([`AuditError::Poisoned`]).
//! - Reading: [`AuditReader`] with a [`Query`]; [`verify`] names the first bad spot
//!   ([`Problem`]); [`ComplianceReport`] is computed from the files on disk.
//!
//! # Example
//!
//! ```
//! use codeward_audit::{AuditLog, AuditLogOptions, KeySource, VerifyOptions, verify};
//! use codeward_core::{AuditEvent, AuditKind, Severity};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = AuditLog::open(AuditLogOptions::new(dir.path().join("audit")).key(KeySource::Bytes([7; 32])))?;
//! let receipt = log
//!     .append(AuditEvent::new(AuditKind::Execution, Severity::Info, "ran for bob@example.com"))
//!     .await?;
//! assert_eq!(receipt.seq, 1);
//! // Durable now: the file holds the record, with the email pseudonymized.
//! let bytes = std::fs::read_to_string(dir.path().join("audit/audit-00000001.jsonl"))?;
//! assert!(bytes.contains(&log.pseudonym("bob@example.com")) && !bytes.contains("bob@"));
//! assert!(verify(log.dir(), &VerifyOptions::default())?.is_ok());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod canonical;
mod error;
mod key;
mod log;
mod options;
mod reader;
mod redact;
mod report;
mod segment;
mod verify;
mod wal;
mod writer;

pub use canonical::{GENESIS_HASH, canonical, record_hash};
pub use error::{AuditError, Result};
pub use key::KeySource;
pub use log::{AuditLog, AuditStats, log_has_records};
pub use options::{
    AuditLogOptions, CheckpointOptions, DEFAULT_WRITE_AHEAD_BYTES, Durability, IoHook,
};
pub use reader::{AuditReader, Query, Records, parse_ts};
pub use redact::{BuiltinDetector, PSEUDONYM_PREFIX, Pseudonymizer};
pub use report::{CheckStatus, ComplianceReport, ControlCheck, ExecutionStats, ReportOptions};
pub use segment::{list_segments, parse_segment_name, segment_name, sync_dir};
pub use verify::{Problem, ProblemKind, SignatureTrust, VerifyOptions, VerifyReport, verify};
pub use wal::MIN_WRITE_AHEAD_BYTES;

/// The Ed25519 public key for a 32-byte signing seed (what an auditor passes to
/// [`VerifyOptions::trust_key`]).
pub fn checkpoint_public_key(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .verifying_key()
        .to_bytes()
}
