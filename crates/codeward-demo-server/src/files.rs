//! `files_list`, `files_read` and `files_search` under one root folder.
//! Every path is checked twice: lexically (no absolute paths, no `..` above the root) and
//! after resolving symlinks (the real path must stay under the root).

use crate::error::{DemoError, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use regex::{Regex, RegexBuilder};
use serde::Serialize;
use std::fs;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Component, Path, PathBuf};

/// Files larger than this are skipped by `files_search` (they are rarely text worth grepping).
const SEARCH_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Matching lines longer than this are cut, so one minified file cannot flood the result.
const MAX_LINE_CHARS: usize = 1000;

/// One directory entry, shaped as `files_list`'s output schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Relative to the root, `/`-separated.
    pub path: String,
    /// `file` or `directory`.
    pub kind: &'static str,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Last modification, RFC 3339 UTC.
    pub modified: String,
}

/// `files_read`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileContent {
    /// The path as resolved, relative to the root.
    pub path: String,
    /// The (possibly truncated) text.
    pub content: String,
    /// The whole file's size in bytes.
    pub size: u64,
    /// Whether `content` is shorter than the file.
    pub truncated: bool,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineMatch {
    /// The file, relative to the root.
    pub path: String,
    /// 1-based line number.
    pub line: u64,
    /// The line's text.
    pub text: String,
}

/// `files_search`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchResult {
    /// Matching lines in path order, then line order.
    pub matches: Vec<LineMatch>,
    /// More lines matched than `max_results`.
    pub truncated: bool,
}

/// The root folder every file tool is confined to.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// A root at `dir`, which must be an existing directory (symlinks resolved once, here).
    pub fn new(dir: &Path) -> Result<Self> {
        let dir = fs::canonicalize(dir).map_err(|e| DemoError::Root {
            path: dir.to_path_buf(),
            problem: format!("{e}; pass an existing directory with --root"),
        })?;
        if !dir.is_dir() {
            return Err(DemoError::Root {
                path: dir,
                problem: "is not a directory; pass a directory with --root".into(),
            });
        }
        Ok(Root { dir })
    }

    /// The canonical root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Resolves `rel` to a real path under the root and its `/`-separated relative form.
    fn resolve(&self, rel: &str) -> Result<(PathBuf, String)> {
        let outside = || DemoError::OutsideRoot {
            path: rel.to_owned(),
        };
        let mut depth = 0usize;
        for component in Path::new(rel).components() {
            match component {
                Component::Normal(_) => depth += 1,
                Component::CurDir => {}
                Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(outside)?,
                Component::RootDir | Component::Prefix(_) => return Err(outside()),
            }
        }
        let real = fs::canonicalize(self.dir.join(rel)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DemoError::NotFound {
                path: rel.to_owned(),
            },
            _ => DemoError::io(format!("resolving {rel:?}"), e),
        })?;
        let shown = self.relative(&real).ok_or_else(outside)?;
        Ok((real, shown))
    }

    /// `real` relative to the root (`.` for the root itself), or `None` when it is outside.
    fn relative(&self, real: &Path) -> Option<String> {
        let rest = real.strip_prefix(&self.dir).ok()?;
        let parts: Vec<_> = rest.iter().map(|p| p.to_string_lossy()).collect();
        Some(if parts.is_empty() {
            ".".into()
        } else {
            parts.join("/")
        })
    }

    /// Lists a directory, optionally recursively, sorted by path.
    pub fn list(&self, rel: &str, recursive: bool) -> Result<Vec<FileEntry>> {
        let (real, shown) = self.resolve(rel)?;
        if !real.is_dir() {
            return Err(DemoError::WrongKind {
                path: rel.to_owned(),
                expected: "directory",
            });
        }
        let mut entries = Vec::new();
        let _complete = self.walk(&real, &shown, recursive, &mut |entry, _| {
            entries.push(entry);
            ControlFlow::Continue(())
        })?;
        Ok(entries)
    }

    /// Reads a text file, at most `max_bytes` of it (cut back to a character boundary).
    pub fn read(&self, rel: &str, max_bytes: u64) -> Result<FileContent> {
        let (real, shown) = self.resolve(rel)?;
        if !real.is_file() {
            return Err(DemoError::WrongKind {
                path: rel.to_owned(),
                expected: "file",
            });
        }
        let io = |e| DemoError::io(format!("reading {rel:?}"), e);
        let file = fs::File::open(&real).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let mut bytes = Vec::new();
        file.take(max_bytes).read_to_end(&mut bytes).map_err(io)?;
        let truncated = size > bytes.len() as u64;
        let content = match String::from_utf8(bytes) {
            Ok(text) => text,
            // The cut may split a multi-byte character: keep the whole characters before it.
            Err(e) if truncated && e.utf8_error().error_len().is_none() => {
                let valid = e.utf8_error().valid_up_to();
                let mut bytes = e.into_bytes();
                bytes.truncate(valid);
                String::from_utf8(bytes).map_err(|_| DemoError::NotText {
                    path: rel.to_owned(),
                })?
            }
            Err(_) => {
                return Err(DemoError::NotText {
                    path: rel.to_owned(),
                });
            }
        };
        Ok(FileContent {
            path: shown,
            content,
            size,
            truncated,
        })
    }

    /// Searches text files under `rel` for `pattern`, stopping after `max_results` lines.
    pub fn search(
        &self,
        pattern: &str,
        rel: &str,
        regex: bool,
        max_results: usize,
    ) -> Result<SearchResult> {
        let matcher = compile(pattern, regex)?;
        let (real, shown) = self.resolve(rel)?;
        let mut result = SearchResult {
            matches: Vec::new(),
            truncated: false,
        };
        let mut search_file = |path: &str, abs: &Path| -> ControlFlow<()> {
            let Some(text) = read_text(abs) else {
                return ControlFlow::Continue(());
            };
            for (index, line) in text.lines().enumerate() {
                if !matcher.is_match(line) {
                    continue;
                }
                if result.matches.len() == max_results {
                    result.truncated = true;
                    return ControlFlow::Break(());
                }
                result.matches.push(LineMatch {
                    path: path.to_owned(),
                    line: index as u64 + 1,
                    text: line.chars().take(MAX_LINE_CHARS).collect(),
                });
            }
            ControlFlow::Continue(())
        };
        if real.is_file() {
            let _ = search_file(&shown, &real);
        } else {
            let _stopped_early = self.walk(&real, &shown, true, &mut |entry, abs| {
                if entry.kind == "file" {
                    search_file(&entry.path, abs)
                } else {
                    ControlFlow::Continue(())
                }
            })?;
        }
        Ok(result)
    }

    /// Visits the entries of `dir` in name order. Symlinks are followed only when their
    /// target stays under the root, and never recursed into (no cycles, no escapes).
    fn walk(
        &self,
        dir: &Path,
        shown: &str,
        recursive: bool,
        visit: &mut dyn FnMut(FileEntry, &Path) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let io = |e| DemoError::io(format!("listing {shown:?}"), e);
        let mut children: Vec<_> = fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .collect();
        children.sort();
        for abs in children {
            let Some(name) = abs.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let path = if shown == "." {
                name
            } else {
                format!("{shown}/{name}")
            };
            let Ok(link_meta) = fs::symlink_metadata(&abs) else {
                continue;
            };
            let is_link = link_meta.file_type().is_symlink();
            let (target, meta) = if is_link {
                match fs::canonicalize(&abs) {
                    Ok(real) if self.relative(&real).is_some() => match fs::metadata(&real) {
                        Ok(meta) => (real, meta),
                        Err(_) => continue,
                    },
                    _ => continue,
                }
            } else {
                (abs.clone(), link_meta)
            };
            let is_dir = meta.is_dir();
            let entry = FileEntry {
                path,
                kind: if is_dir { "directory" } else { "file" },
                size: if is_dir { 0 } else { meta.len() },
                modified: meta.modified().map(rfc3339).unwrap_or_default(),
            };
            let child_shown = entry.path.clone();
            if visit(entry, &target).is_break() {
                return Ok(ControlFlow::Break(()));
            }
            if recursive
                && is_dir
                && !is_link
                && self.walk(&target, &child_shown, true, visit)?.is_break()
            {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

fn compile(pattern: &str, regex: bool) -> Result<Regex> {
    // Plain text matches case-insensitively (what a person searching for a word expects);
    // a regular expression is taken as written (add `(?i)` for case-insensitivity).
    let source = if regex {
        pattern.to_owned()
    } else {
        regex::escape(pattern)
    };
    RegexBuilder::new(&source)
        .case_insensitive(!regex)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| DemoError::BadPattern {
            pattern: pattern.to_owned(),
            problem: e.to_string(),
        })
}

/// The file's text, or `None` for big, binary or non-UTF-8 files.
fn read_text(path: &Path) -> Option<String> {
    let meta = fs::metadata(path).ok()?;
    if meta.len() > SEARCH_MAX_FILE_BYTES {
        return None;
    }
    let bytes = fs::read(path).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

pub(crate) fn rfc3339(time: std::time::SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Secs, true)
}
