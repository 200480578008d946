//! The crate's error type: what went wrong while loading tools or generating a module, with
//! the path, line and tool involved, and what to do about it.

use std::path::PathBuf;

/// Errors of `codeward-codegen`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodegenError {
    /// A schema file could not be read.
    #[error("cannot read tool schema file {}: {source}; check the path and its permissions", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A schema file is not JSON, or not a tool catalogue.
    #[error(
        "{}:{line}:{column}: {message}; expected an MCP tools/list result ({{\"tools\": [...]}}), an array of tools, or one tool",
        path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when the JSON parsed but its shape is wrong).
        line: usize,
        /// 1-based column (0 when the JSON parsed but its shape is wrong).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A tool cannot be turned into a function.
    #[error("invalid tool {tool:?}: {problem}")]
    InvalidTool {
        /// The tool's qualified name (or its position when it has no name).
        tool: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A template failed to compile or render: a bug in this crate.
    #[error(
        "template {template} failed: {source}; this is a bug in codeward-codegen, please report it"
    )]
    Template {
        /// The template's file name.
        template: &'static str,
        /// The engine's error.
        #[source]
        source: minijinja::Error,
    },
}

impl From<CodegenError> for codeward_core::Error {
    fn from(error: CodegenError) -> Self {
        match error {
            CodegenError::InvalidTool { tool, problem } => {
                codeward_core::Error::invalid(format!("tool {tool:?}"), problem)
            }
            CodegenError::Parse { .. } | CodegenError::Read { .. } => {
                codeward_core::Error::layer("loading tool schemas for code generation", error)
            }
            CodegenError::Template { .. } => {
                codeward_core::Error::layer("generating the code API", error)
            }
        }
    }
}
