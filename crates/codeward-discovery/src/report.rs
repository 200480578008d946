//! What loading a catalogue produced: the tools, and every problem met on the way.
//! Nothing is skipped silently: each dropped file, tool or field has a `LoadProblem`.

use std::fmt;

use codeward_core::ToolSchema;

/// The kind of a catalogue problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A file or directory could not be read.
    Unreadable,
    /// A file is not valid JSON (the problem carries line and column).
    Malformed,
    /// Valid JSON, but not a catalogue (wrong top-level shape, a tool that is not an object).
    UnexpectedShape,
    /// A tool without a `name`.
    MissingName,
    /// A tool or server name that cannot be used (empty, whitespace, a `.` in a server name).
    InvalidName,
    /// An input or output schema, a parameter or annotations that cannot be used.
    InvalidSchema,
    /// The same qualified name twice within one source; the first one is kept.
    Duplicate,
    /// A qualified name already in the index from another source; the existing one is kept.
    Collision,
}

/// One problem met while loading, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadProblem {
    /// The file path, or the label of an in-memory source.
    pub origin: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// 1-based column in the file, when known.
    pub column: Option<usize>,
    /// The tool concerned (qualified name, or `#index` when it has no name).
    pub tool: Option<String>,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What is wrong and what to do.
    pub message: String,
    /// Whether the tool (or the whole file) was left out because of it.
    pub skipped: bool,
}

impl LoadProblem {
    /// A problem that made the loader leave something out.
    pub fn new(origin: impl Into<String>, kind: ProblemKind, message: impl Into<String>) -> Self {
        LoadProblem {
            origin: origin.into(),
            line: None,
            column: None,
            tool: None,
            kind,
            message: message.into(),
            skipped: true,
        }
    }

    /// Sets the position in the file.
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// Names the tool concerned.
    pub fn tool(mut self, tool: impl Into<String>) -> Self {
        self.tool = Some(tool.into());
        self
    }

    /// Marks the problem as a warning: the tool was still loaded.
    pub fn kept(mut self) -> Self {
        self.skipped = false;
        self
    }
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": ")?;
        if let Some(tool) = &self.tool {
            write!(f, "tool {tool}: ")?;
        }
        write!(f, "{}", self.message)?;
        if !self.skipped {
            write!(f, " (loaded anyway)")?;
        }
        Ok(())
    }
}

/// A tool and where it came from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadedTool {
    /// The normalized tool.
    pub tool: ToolSchema,
    /// The file path or source label it came from.
    pub origin: String,
}

impl LoadedTool {
    /// A tool from `origin`.
    pub fn new(tool: ToolSchema, origin: impl Into<String>) -> Self {
        LoadedTool {
            tool,
            origin: origin.into(),
        }
    }
}

/// The outcome of loading a catalogue source (or of adding one to an index).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LoadReport {
    /// Tools loaded (after `CatalogueIndex::load`: the tools actually added).
    pub tools: Vec<LoadedTool>,
    /// Every problem met, in the order met.
    pub problems: Vec<LoadProblem>,
    /// Files read.
    pub files: usize,
}

impl LoadReport {
    /// An empty report.
    pub fn new() -> Self {
        LoadReport::default()
    }

    /// True when there was no problem at all.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Qualified names of the loaded tools, in load order.
    pub fn qualified_names(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.tool.qualified_name()).collect()
    }

    /// Problems of one kind.
    pub fn problems_of(&self, kind: ProblemKind) -> impl Iterator<Item = &LoadProblem> {
        self.problems.iter().filter(move |p| p.kind == kind)
    }

    /// Appends another report's tools, problems and file count.
    pub fn merge(&mut self, other: LoadReport) {
        self.tools.extend(other.tools);
        self.problems.extend(other.problems);
        self.files += other.files;
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tools from {} files, {} problems",
            self.tools.len(),
            self.files,
            self.problems.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}
