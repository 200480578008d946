//! The one error type that crosses seam boundaries.
//! Layer crates keep their own rich error enums and convert into this at the seam.

use std::error::Error as StdError;

/// A boxed source error, kept so callers can walk the chain.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Result alias used by every seam trait.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong at a seam. Every variant says what to do next in its message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The audit log cannot take records; nothing may run (fail closed).
    #[error("audit log unavailable: {reason}")]
    AuditUnavailable {
        /// Why the log refused the record.
        reason: String,
        /// The underlying failure, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The caller gave input the layer cannot use.
    #[error("invalid {what}: {problem}")]
    InvalidInput {
        /// Which input (a file, a field, a tool name).
        what: String,
        /// What is wrong with it and how to fix it.
        problem: String,
    },
    /// A named thing (tool, approval, execution) does not exist.
    #[error("{kind} not found: {name}")]
    NotFound {
        /// What kind of thing was looked up.
        kind: &'static str,
        /// The name that was looked up.
        name: String,
    },
    /// The program needs an operator's approval before it may run.
    #[error("approval required: approve request {approval_id} and run again with it")]
    ApprovalRequired {
        /// The id to approve (`codeward approvals approve <id>`).
        approval_id: String,
    },
    /// An approval exists but does not allow this run.
    #[error("approval {approval_id} refused: {reason}")]
    ApprovalRefused {
        /// The approval id that was presented.
        approval_id: String,
        /// Why it does not apply (rejected, expired, different code).
        reason: String,
    },
    /// An MCP tool returned an error or could not be reached.
    #[error("tool {tool} failed: {message}")]
    Tool {
        /// The qualified tool name.
        tool: String,
        /// The server's message.
        message: String,
    },
    /// An operation exceeded its deadline.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// What timed out.
        operation: String,
        /// The deadline that was exceeded.
        after: std::time::Duration,
    },
    /// The host lacks something the configuration requires.
    #[error("unsupported on this host: {0}")]
    Unsupported(String),
    /// Any other failure inside a layer, with its context.
    #[error("{context}")]
    Layer {
        /// What the layer was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// An [`Error::InvalidInput`] from anything printable.
    pub fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            problem: problem.into(),
        }
    }

    /// An [`Error::Layer`] wrapping a source error with context.
    pub fn layer(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Layer {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// An [`Error::AuditUnavailable`] wrapping a source error.
    pub fn audit_unavailable(reason: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::AuditUnavailable {
            reason: reason.into(),
            source,
        }
    }
}
