//! Code validation, risk scoring, an approval gate and PII tokenization for codeward.
//!
//! Agent-written programs are untrusted. This crate explains their risk before anything
//! runs and stops what should not run; the sandbox remains the hard boundary. Each piece
//! implements a `codeward-core` seam and is useful on its own.
//!
//! # Brief overview
//!
//! - [`Validator`] ([`CodeValidator`](codeward_core::CodeValidator)): parses Python and
//!   TypeScript/JavaScript with tree-sitter, resolves imports, aliases and attribute chains,
//!   and matches the versioned rules in `rules/*.toml` ([`RuleSet`]). Strings and comments
//!   never match. Reports the catalogue tools the program calls.
//! - [`Risk`] ([`RiskAssessor`](codeward_core::RiskAssessor)): findings, tool annotations,
//!   loops, size and egress potential to a 0-100 score and a level, with [`RiskWeights`].
//! - [`FileApprovalStore`] ([`ApprovalStore`](codeward_core::ApprovalStore)): durable
//!   approvals bound to [`approval_code_hash`], audited through an
//!   [`AuditSink`](codeward_core::AuditSink), expiring on a [`Clock`].
//! - [`PiiScanner`] ([`PiiDetector`](codeward_core::PiiDetector)) and [`PiiTokenizer`]
//!   ([`PiiRedactor`](codeward_core::PiiRedactor)): validated detection and scoped tokens
//!   like `[EMAIL_1]` keyed by HMAC, never plaintext.
//! - [`SecurityError`]: the crate's error type.
//!
//! # Example
//!
//! ```
//! use codeward_core::{Language, PiiRedactor, RiskAssessor, RiskLevel};
//! use codeward_security::{PiiTokenizer, Risk, Validator};
//!
//! let validator = Validator::new()?;
//! let code = "import os as o\n# o.system('in a comment is fine')\no.system('id')\n";
//! let report = validator.check(code, Language::Python, &[])?;
//! assert_eq!(report.findings.len(), 1);
//! assert_eq!(report.findings[0].rule_id, "py.process.os-system");
//! assert_eq!((report.findings[0].line, report.findings[0].column), (3, 1));
//!
//! let risk = Risk::new().assess(code, Language::Python, &report, &[]);
//! assert!(risk.level >= RiskLevel::High && risk.requires_approval());
//!
//! let tokenizer = PiiTokenizer::new()?;
//! let mut value = serde_json::json!({"to": "alice@example.com", "cc": ["alice@example.com"]});
//! let counts = tokenizer.tokenize(&mut value, "exec-1");
//! assert_eq!(value, serde_json::json!({"to": "[EMAIL_1]", "cc": ["[EMAIL_1]"]}));
//! assert_eq!(counts.total(), 2);
//! # Ok::<(), codeward_security::SecurityError>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod approval;
mod error;
mod pii;
mod risk;
mod rules;
mod validate;

pub use approval::{
    Clock, DEFAULT_APPROVAL_TTL, DEFAULT_APPROVED_TTL, FileApprovalStore, FileApprovalStoreBuilder,
    ManualClock, SystemClock, approval_code_hash, approval_request,
};
pub use error::SecurityError;
pub use pii::{PiiScanner, PiiTokenizer, PiiTokenizerBuilder};
pub use risk::{Risk, RiskWeights};
pub use rules::RuleSet;
pub use validate::{Validator, ValidatorBuilder};
