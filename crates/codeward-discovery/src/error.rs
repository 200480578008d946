//! The crate's one error type, with the context a caller needs to act on it.
//! Converted into `codeward_core::Error` at the `ToolIndex` seam.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = DiscoveryError> = std::result::Result<T, E>;

/// What went wrong in discovery. Problems in catalogue *files* are not errors: they are
/// listed in a [`crate::LoadReport`] while the rest still loads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A catalogue path could not be read.
    #[error("cannot read {path}: {source}; check that the path exists and is readable")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The search engine failed.
    #[error(
        "search index failed while {context}: {source}; this is a bug or the process ran out of memory, rebuild the index"
    )]
    Index {
        /// What the index was doing.
        context: &'static str,
        /// The engine's error.
        #[source]
        source: tantivy::TantivyError,
    },
    /// A tool with this qualified name is already in the catalogue.
    #[error(
        "tool {name} already exists (from {origin}); remove it first, or use upsert to replace it on purpose"
    )]
    AlreadyExists {
        /// The qualified name.
        name: String,
        /// Where the existing tool came from.
        origin: String,
    },
    /// A tool cannot be indexed as given.
    #[error("invalid tool {name:?}: {problem}")]
    InvalidTool {
        /// The tool's (qualified) name as given.
        name: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The index configuration breaks a rule.
    #[error("invalid index configuration: {0}")]
    InvalidConfig(String),
    /// No tool has this qualified name.
    #[error("tool {0} not found; names are qualified as server.tool, see stats() for the servers")]
    NotFound(String),
}

impl DiscoveryError {
    pub(crate) fn index(context: &'static str, source: tantivy::TantivyError) -> Self {
        DiscoveryError::Index { context, source }
    }
}

impl From<DiscoveryError> for codeward_core::Error {
    fn from(error: DiscoveryError) -> Self {
        match error {
            DiscoveryError::NotFound(name) => codeward_core::Error::NotFound { kind: "tool", name },
            DiscoveryError::InvalidTool { name, problem } => {
                codeward_core::Error::invalid(format!("tool {name}"), problem)
            }
            DiscoveryError::InvalidConfig(problem) => {
                codeward_core::Error::invalid("discovery configuration", problem)
            }
            other => codeward_core::Error::layer("tool discovery", other),
        }
    }
}
