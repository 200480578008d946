//! The shared vocabulary of codeward: domain types, seam traits and the shared error.
//!
//! Every layer crate (audit, discovery, codegen, security, sandbox, anomaly, mcp) depends on
//! this one and on nothing else of codeward's (dev-dependencies aside). The orchestrator,
//! which depends on all of them but mcp, wires them together through the traits defined here,
//! held as `Arc<dyn Trait>`.
//!
//! # Brief overview
//!
//! - Tools: [`ToolSchema`], [`ToolAnnotations`], [`ToolCall`], [`ToolResult`].
//! - Executions: [`Language`], [`ExecutionRequest`], [`ExecutionLimits`], [`ExecutionOutcome`],
//!   [`ExecutionMetrics`], [`ExecutionFailure`].
//! - Security: [`Severity`], [`Finding`], [`ValidationReport`], [`RiskAssessment`], approvals.
//! - Audit: [`AuditEvent`] (what layers report), [`AuditRecord`] (what the log stores),
//!   [`AuditReceipt`] (proof of durability, `#[must_use]`).
//! - Seams: [`ToolIndex`], [`ApiGenerator`], [`CodeValidator`], [`RiskAssessor`], [`Sandbox`],
//!   [`ToolInvoker`], [`ToolCallObserver`], [`PiiDetector`], [`PiiRedactor`],
//!   [`AnomalyDetector`], [`AuditSink`], [`ApprovalStore`], [`ResultCache`].
//! - Errors: [`Error`], the one error type that crosses seams.
//!
//! # Example
//!
//! ```
//! use codeward_core::{AuditEvent, AuditKind, Language, Severity, ToolAnnotations, ToolSchema};
//! use serde_json::json;
//!
//! let tool = ToolSchema::new("read_file", "Read a UTF-8 text file", json!({
//!     "type": "object",
//!     "properties": {"path": {"type": "string"}},
//!     "required": ["path"],
//! }))
//! .with_server("files")
//! .with_annotations(ToolAnnotations::read_only());
//! assert_eq!(tool.qualified_name(), "files.read_file");
//! assert!(!tool.annotations.is_destructive());
//!
//! let lang: Language = "py".parse()?;
//! assert_eq!(lang, Language::Python);
//!
//! let event = AuditEvent::new(AuditKind::Discovery, Severity::Info, "found 1 tool")
//!     .execution("exec-1")
//!     .sensitive("query", "notes of alice@example.com");
//! assert!(event.sensitive.contains("query"));
//! # Ok::<(), codeward_core::Error>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod anomaly;
mod audit;
pub mod duration;
mod error;
mod execution;
mod pii;
mod seams;
mod security;
mod tool;

pub use anomaly::{Anomaly, AnomalyKind, AnomalyReport, ExecutionObservation, ToolCallObservation};
pub use audit::{
    AuditEvent, AuditHealth, AuditKind, AuditReceipt, AuditRecord, RECORD_FORMAT_VERSION, keys,
};
pub use error::{BoxError, Error, Result};
pub use execution::{
    ExecutionFailure, ExecutionLimits, ExecutionMetrics, ExecutionOutcome, ExecutionRequest,
    ExecutionSummary, ExitState, Language, LimitKind, LimitOverrides, TokenEconomics,
};
pub use pii::{
    PiiKind, PiiReport, PiiSpan, card_windows, luhn_valid, merge_overlapping, non_overlapping,
};
pub use seams::{
    AnomalyDetector, ApiBinding, ApiGenerator, ApprovalStore, AuditSink, CodeValidator,
    GeneratedApi, PiiDetector, PiiRedactor, ResultCache, RiskAssessor, Sandbox, SandboxJob,
    SandboxOutput, SearchQuery, ToolCallObserver, ToolHit, ToolIndex, ToolInvoker,
};
pub use security::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, ApprovalTicket, Finding, FindingCategory,
    RiskAssessment, RiskFactor, RiskLevel, Severity, ValidationReport,
};
pub use tool::{ToolAnnotations, ToolCall, ToolResult, ToolSchema};
