//! The demo server's error type: what a tool call or start-up can fail with.
//! Tool errors become `isError` results whose text is this error's message.

use std::path::PathBuf;

/// What went wrong in the demo server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The arguments do not match the tool's input schema.
    #[error("invalid arguments for {tool}: {problem}")]
    InvalidArguments {
        /// The tool that was called.
        tool: String,
        /// What is wrong, naming the field.
        problem: String,
    },
    /// No tool of that name.
    #[error("unknown tool {0}: call tools/list for the tools this server offers")]
    UnknownTool(String),
    /// A path leaves the root folder (absolute, `..` or a symlink pointing outside).
    #[error("path {path:?} is outside the root folder; use a path relative to the root")]
    OutsideRoot {
        /// The path as given.
        path: String,
    },
    /// A path does not exist under the root.
    #[error("no such file or directory under the root: {path:?}")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// The path names a directory where a file is needed, or the other way round.
    #[error("{path:?} is not a {expected}")]
    WrongKind {
        /// The path as given.
        path: String,
        /// `file` or `directory`.
        expected: &'static str,
    },
    /// The file is not UTF-8 text.
    #[error("{path:?} is not a UTF-8 text file")]
    NotText {
        /// The path as given.
        path: String,
    },
    /// A regular expression does not compile.
    #[error("invalid regular expression {pattern:?}: {problem}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        problem: String,
    },
    /// No note with that id.
    #[error("no note with id {0:?}; notes_list shows the ids")]
    NoSuchNote(String),
    /// The notes file cannot be read or parsed.
    #[error("notes file {path} is unreadable: {problem}; fix or move it away and start again")]
    NotesFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The root folder is not usable.
    #[error("root folder {path}: {problem}")]
    Root {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// Any other I/O failure, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What the server was doing.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl DemoError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DemoError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn args(tool: &str, problem: impl Into<String>) -> Self {
        DemoError::InvalidArguments {
            tool: tool.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Result alias of the demo server.
pub type Result<T, E = DemoError> = std::result::Result<T, E>;
