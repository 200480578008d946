//! Errors of building and configuring the orchestrator (execution failures are outcomes,
//! not errors: see `ExecutionFailure`).

use std::path::PathBuf;

/// What can go wrong before the orchestrator runs anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodewardError {
    /// The configuration file cannot be read.
    #[error("cannot read config {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has an unknown key or a bad value.
    #[error("config {path}: {message}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// An environment override has a bad value.
    #[error("environment variable {var}={value:?}: {problem}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// The audit log cannot be opened (nothing may run without it).
    #[error(transparent)]
    Audit(#[from] codeward_audit::AuditError),
    /// The approval store cannot be opened (locked by another process, unreadable, or the
    /// audit log refused a record of expired requests).
    #[error("cannot open the approval store")]
    Approvals(#[source] codeward_security::SecurityError),
    /// A layer could not be built.
    #[error("cannot set up {layer}: {message}")]
    Layer {
        /// Which layer.
        layer: &'static str,
        /// Why.
        message: String,
    },
}

/// Result alias.
pub type Result<T, E = CodewardError> = std::result::Result<T, E>;
