//! The crate's one error type; it converts into `codeward_core::Error` at the seam.
//! Every message says what to do next.

use std::path::PathBuf;

use crate::config::Layer;

/// What went wrong in the sandbox itself (a program that fails is not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The configuration breaks a rule.
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// An extra environment variable was refused.
    #[error("environment variable `{name}` refused: {reason}")]
    EnvRefused {
        /// The variable's name.
        name: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A required layer is not available on this host.
    #[error(
        "isolation layer `{layer}` is required but unavailable on this host: {reason}; \
         run on a host that offers it or set its policy to preferred"
    )]
    LayerUnavailable {
        /// The layer.
        layer: Layer,
        /// Why the host lacks it.
        reason: String,
    },
    /// The interpreter for a language was not found or does not work.
    #[error("{language} interpreter unavailable: {reason}")]
    Interpreter {
        /// The language (`python`, `typescript`).
        language: String,
        /// What failed; install it or configure its path.
        reason: String,
    },
    /// The TypeScript program or API module does not parse or transform.
    #[error("cannot transpile {file} to JavaScript: {message}")]
    Transpile {
        /// `program.ts` or `codeward_api.ts`.
        file: String,
        /// The first diagnostics.
        message: String,
    },
    /// An I/O step on the host failed.
    #[error("{context} ({path}): {source}")]
    Io {
        /// What the sandbox was doing.
        context: &'static str,
        /// The path involved (empty when none).
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The child failed while setting up isolation, before the program started.
    #[error(
        "sandbox setup failed while {stage}: {source}; check that the host allows it or set \
         the layer's policy to off"
    )]
    Setup {
        /// What the child was doing.
        stage: &'static str,
        /// The errno it got.
        #[source]
        source: std::io::Error,
    },
    /// The sandbox's own task panicked or was cancelled.
    #[error("sandbox task failed: {0}; this is a bug in codeward-sandbox, please report it")]
    Internal(String),
}

impl SandboxError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        SandboxError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

impl From<SandboxError> for codeward_core::Error {
    fn from(e: SandboxError) -> Self {
        match e {
            SandboxError::LayerUnavailable { .. } => {
                codeward_core::Error::Unsupported(e.to_string())
            }
            SandboxError::Interpreter { .. } => codeward_core::Error::Unsupported(e.to_string()),
            SandboxError::Config(_) | SandboxError::EnvRefused { .. } => {
                codeward_core::Error::invalid("sandbox configuration", e.to_string())
            }
            SandboxError::Transpile { .. } => {
                codeward_core::Error::invalid("program", e.to_string())
            }
            other => codeward_core::Error::layer("sandbox", other),
        }
    }
}
