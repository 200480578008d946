//! Where catalogues come from: seed directories, MCP `tools/list` files, live data, the default.
//! Every source implements `CatalogueSource`; the MCP client feeds live servers through it.

use std::fs;
use std::path::{Path, PathBuf};

use codeward_core::ToolSchema;
use serde_json::Value;

use crate::formats::{check_tool, parse_mcp, parse_mcp_value, parse_seed};
use crate::report::{LoadProblem, LoadReport, LoadedTool, ProblemKind};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));
}

/// Something that yields tools. Loading never fails as a whole: problems go in the report.
///
/// Implement it to feed tools from anywhere (a live MCP server, a database); for data already
/// in memory use [`McpToolsList`] or [`StaticTools`].
pub trait CatalogueSource: Send + Sync {
    /// A short description for logs and reports (a path, a server name).
    fn describe(&self) -> String;

    /// Reads the tools and every problem met.
    fn load(&self) -> LoadReport;
}

/// Sorted entries of a directory, or the problem of reading it.
fn read_dir_sorted(dir: &Path, report: &mut LoadReport) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            let mut paths = Vec::new();
            for entry in entries {
                match entry {
                    Ok(entry) => paths.push(entry.path()),
                    Err(e) => report.problems.push(LoadProblem::new(
                        dir.display().to_string(),
                        ProblemKind::Unreadable,
                        format!("cannot list an entry: {e}"),
                    )),
                }
            }
            // Sorted so that load order, and thus which duplicate wins, never depends on the
            // file system.
            paths.sort();
            paths
        }
        Err(e) => {
            report.problems.push(LoadProblem::new(
                dir.display().to_string(),
                ProblemKind::Unreadable,
                format!("cannot read the directory: {e}; check the path"),
            ));
            Vec::new()
        }
    }
}

fn read_text(path: &Path, report: &mut LoadReport) -> Option<String> {
    match fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            report.problems.push(LoadProblem::new(
                path.display().to_string(),
                ProblemKind::Unreadable,
                format!("cannot read the file: {e}"),
            ));
            None
        }
    }
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A directory in the seed's format: `<dir>/<category>/<server>.json`, each file an array of
/// tools (or one tool) with `name`, `description`, `parameters`, `returns`, `examples`.
///
/// The category is the first directory under the root; the server (namespace) is the file
/// name without `.json`. Files directly under the root have no category.
#[derive(Debug, Clone)]
pub struct SeedDirectory {
    root: PathBuf,
}

impl SeedDirectory {
    /// The seed catalogue under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SeedDirectory { root: root.into() }
    }

    fn walk(&self, dir: &Path, category: Option<&str>, report: &mut LoadReport) {
        for path in read_dir_sorted(dir, report) {
            if path.is_dir() {
                let name = file_stem(&path);
                self.walk(&path, Some(category.unwrap_or(&name)), report);
            } else if is_json(&path) {
                let origin = path.display().to_string();
                if let Some(text) = read_text(&path, report) {
                    parse_seed(&text, &origin, &file_stem(&path), category, report);
                }
            }
        }
    }
}

impl CatalogueSource for SeedDirectory {
    fn describe(&self) -> String {
        format!("seed catalogue {}", self.root.display())
    }

    fn load(&self) -> LoadReport {
        let mut report = LoadReport::new();
        self.walk(&self.root, None, &mut report);
        report
    }
}

/// One file holding an MCP `tools/list` result. The server is the file name without `.json`
/// unless given.
#[derive(Debug, Clone)]
pub struct McpFile {
    path: PathBuf,
    server: Option<String>,
}

impl McpFile {
    /// The file at `path`; its tools go under the file's name.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        McpFile {
            path: path.into(),
            server: None,
        }
    }

    /// Puts the tools under `server` instead of the file name.
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }
}

impl CatalogueSource for McpFile {
    fn describe(&self) -> String {
        format!("MCP tools/list file {}", self.path.display())
    }

    fn load(&self) -> LoadReport {
        let mut report = LoadReport::new();
        if let Some(text) = read_text(&self.path, &mut report) {
            let server = self.server.clone().unwrap_or_else(|| file_stem(&self.path));
            parse_mcp(
                &text,
                &self.path.display().to_string(),
                &server,
                &mut report,
            );
        }
        report
    }
}

/// Every `*.json` file of a directory (not recursive), each an MCP `tools/list` result whose
/// server is the file name.
#[derive(Debug, Clone)]
pub struct McpDirectory {
    root: PathBuf,
}

impl McpDirectory {
    /// The MCP files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        McpDirectory { root: root.into() }
    }
}

impl CatalogueSource for McpDirectory {
    fn describe(&self) -> String {
        format!("MCP tools/list directory {}", self.root.display())
    }

    fn load(&self) -> LoadReport {
        let mut report = LoadReport::new();
        for path in read_dir_sorted(&self.root, &mut report) {
            if path.is_file() && is_json(&path) {
                report.merge(McpFile::new(path).load());
            }
        }
        report
    }
}

/// A `tools/list` result already in memory, e.g. just received from a live MCP server.
#[derive(Debug, Clone)]
pub struct McpToolsList {
    server: String,
    result: Value,
}

impl McpToolsList {
    /// The tools `server` listed (`{"tools": [...]}` or an array of tools).
    pub fn new(server: impl Into<String>, result: Value) -> Self {
        McpToolsList {
            server: server.into(),
            result,
        }
    }
}

impl CatalogueSource for McpToolsList {
    fn describe(&self) -> String {
        format!("MCP server {}", self.server)
    }

    fn load(&self) -> LoadReport {
        let mut report = LoadReport::new();
        let origin = format!("mcp:{}", self.server);
        parse_mcp_value(self.result.clone(), &origin, &self.server, &mut report);
        report
    }
}

/// Tools already normalized, under a label. Each is checked (names, object input schema).
#[derive(Debug, Clone)]
pub struct StaticTools {
    label: String,
    tools: Vec<ToolSchema>,
}

impl StaticTools {
    /// `tools`, reported as coming from `label`.
    pub fn new(label: impl Into<String>, tools: Vec<ToolSchema>) -> Self {
        StaticTools {
            label: label.into(),
            tools,
        }
    }
}

impl CatalogueSource for StaticTools {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn load(&self) -> LoadReport {
        let mut report = LoadReport::new();
        let mut seen = std::collections::BTreeSet::new();
        for tool in &self.tools {
            let qualified = tool.qualified_name();
            if let Err(problem) = check_tool(tool) {
                report.problems.push(
                    LoadProblem::new(&self.label, ProblemKind::InvalidName, problem)
                        .tool(qualified),
                );
            } else if !seen.insert(qualified.clone()) {
                report.problems.push(
                    LoadProblem::new(
                        &self.label,
                        ProblemKind::Duplicate,
                        "given twice; the first one is kept",
                    )
                    .tool(qualified),
                );
            } else {
                report
                    .tools
                    .push(LoadedTool::new(tool.clone(), self.label.clone()));
            }
        }
        report
    }
}

/// The catalogue shipped inside the crate (`catalogue/` in the repository): the demo MCP
/// server's tools, `tools/list` captures of real MCP servers (filesystem, everything, memory)
/// and the seed's example tools in several categories.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultCatalogue;

impl DefaultCatalogue {
    /// The embedded files: (path relative to `catalogue/`, contents), sorted by path.
    pub fn files() -> &'static [(&'static str, &'static str)] {
        embedded::FILES
    }
}

impl CatalogueSource for DefaultCatalogue {
    fn describe(&self) -> String {
        "default catalogue (embedded)".into()
    }

    fn load(&self) -> LoadReport {
        let mut report = LoadReport::new();
        for (path, text) in embedded::FILES {
            let origin = format!("catalogue/{path}");
            let parts: Vec<&str> = path.split('/').collect();
            let stem = parts
                .last()
                .map(|f| f.trim_end_matches(".json"))
                .unwrap_or_default();
            match parts.as_slice() {
                ["mcp", _] => parse_mcp(text, &origin, stem, &mut report),
                ["seed", category, _] => {
                    parse_seed(text, &origin, stem, Some(category), &mut report);
                }
                _ => report.problems.push(LoadProblem::new(
                    origin,
                    ProblemKind::UnexpectedShape,
                    "not under mcp/ or seed/<category>/; move it there",
                )),
            }
        }
        report
    }
}
