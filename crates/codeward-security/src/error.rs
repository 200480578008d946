//! The crate's one error type, with the context an operator needs to fix the problem.
//! Converts into `codeward_core::Error` at the seams.

use std::path::PathBuf;

/// What went wrong inside codeward-security.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// A rule file is not valid TOML or does not match the rule schema.
    #[error(
        "rule file {path}: {message}; fix the file or remove the override to use the built-in rules"
    )]
    RuleSyntax {
        /// The file (or `<builtin python>`).
        path: PathBuf,
        /// The parser's message, including line and column.
        message: String,
    },
    /// A rule is well-formed TOML but makes no sense (unknown check, empty matcher...).
    #[error("rule file {path}, rule `{rule_id}`: {problem}")]
    RuleInvalid {
        /// The file (or `<builtin python>`).
        path: PathBuf,
        /// The rule's id.
        rule_id: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A rule file could not be read.
    #[error(
        "cannot read rule file {path}: {source}; check the path in the validator configuration"
    )]
    RuleIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The parser could not be set up for a language (a grammar/ABI mismatch).
    #[error(
        "cannot set up the {language} parser: {message}; rebuild with matching tree-sitter grammar versions"
    )]
    Parser {
        /// The language.
        language: &'static str,
        /// The parser's message.
        message: String,
    },
    /// The approval file could not be read, written or synced.
    #[error("approval store {path}: {action} failed: {source}; check permissions and free space")]
    ApprovalIo {
        /// The store file.
        path: PathBuf,
        /// What was being done (`read`, `write temp file`, `rename`, `fsync directory`).
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The approval file exists but is not a valid store document.
    #[error(
        "approval store {path} is corrupt: {message}; restore it from a backup or move it away"
    )]
    ApprovalCorrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another process held the approval store's lock for longer than the lock timeout.
    #[error(
        "approval store {path} is locked by another process (waited {waited:?}); retry, or look for a hung codeward process"
    )]
    ApprovalLocked {
        /// The store file.
        path: PathBuf,
        /// How long this process waited.
        waited: std::time::Duration,
    },
    /// No approval request has this id.
    #[error("approval request {id} not found; list requests to find the right id")]
    ApprovalNotFound {
        /// The id looked up.
        id: String,
    },
    /// The request was already decided or has expired.
    #[error("approval request {id} is {status}, not pending; file a new request by running again")]
    ApprovalNotPending {
        /// The id.
        id: String,
        /// Its current status.
        status: &'static str,
    },
    /// A decision is missing what the audit trail needs.
    #[error("decision on approval request {id} rejected: {problem}")]
    InvalidDecision {
        /// The request id.
        id: String,
        /// What is missing.
        problem: &'static str,
    },
    /// The audit sink refused an approval event, so the change was not made (fail closed).
    #[error("audit sink refused the approval event, change not made: {0}")]
    Audit(#[source] codeward_core::Error),
    /// The operating system's random number generator failed.
    #[error("cannot draw a random key: {message}; check that the OS RNG (getrandom) is available")]
    Random {
        /// The RNG error.
        message: String,
    },
    /// An internal value could not be (de)serialized.
    #[error("internal serialization failed while {context}: {source}")]
    Serde {
        /// What was being done.
        context: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

impl From<SecurityError> for codeward_core::Error {
    fn from(err: SecurityError) -> Self {
        match err {
            SecurityError::Audit(inner) => inner,
            SecurityError::ApprovalNotFound { id } => codeward_core::Error::NotFound {
                kind: "approval request",
                name: id,
            },
            SecurityError::ApprovalNotPending { id, status } => {
                codeward_core::Error::ApprovalRefused {
                    approval_id: id,
                    reason: format!("it is {status}, not pending"),
                }
            }
            SecurityError::InvalidDecision { id, problem } => {
                codeward_core::Error::invalid(format!("decision on approval {id}"), problem)
            }
            other @ (SecurityError::RuleSyntax { .. }
            | SecurityError::RuleInvalid { .. }
            | SecurityError::RuleIo { .. }) => {
                codeward_core::Error::invalid("validation rules", other.to_string())
            }
            other => codeward_core::Error::layer("codeward-security", other),
        }
    }
}
