//! Fakes and mocks for every codeward seam, for tests (`publish = false`).
//!
//! Fakes implement the real traits and come with factory functions, as vector's do: an audit
//! sink that records, one that is slow (for tokio paused-clock tests), one that fails. For
//! everything else there are mockall mocks (`MockSandbox`, `MockToolIndex`, ...).
//!
//! # Brief overview
//!
//! - [`RecordingSink`]: keeps every event in memory with its seq; `events()`, `kinds()`.
//! - [`SlowSink`]: a recording sink whose `append` takes a configurable (tokio) time.
//! - [`FailingSink`]: every append fails with `AuditUnavailable`.
//! - [`HangingSink`]: every append waits forever (tests cancellation and timeouts).
//! - `Mock*`: mockall mocks of every seam trait in `codeward-core`.
//! - [`bench`](mod@bench): the target directory and result rows every bench target writes.
//!
//! # Example
//!
//! ```
//! use codeward_core::{AuditEvent, AuditKind, AuditSink, Severity};
//! use codeward_test_support::RecordingSink;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sink = RecordingSink::new();
//! let receipt = sink.append(AuditEvent::new(AuditKind::Discovery, Severity::Info, "found 2")).await.unwrap();
//! assert_eq!(receipt.seq, 1);
//! assert_eq!(sink.kinds(), vec![AuditKind::Discovery]);
//! # }
//! ```
#![deny(missing_docs)]

pub mod bench;
mod mocks;
mod sinks;

pub use mocks::{
    MockAnomalyDetector, MockApiGenerator, MockApprovalStore, MockAuditSink, MockCodeValidator,
    MockPiiDetector, MockPiiRedactor, MockResultCache, MockRiskAssessor, MockSandbox,
    MockToolCallObserver, MockToolIndex, MockToolInvoker,
};
pub use sinks::{FailingSink, HangingSink, RecordingSink, SlowSink};
