//! House-rule checks over the source tree: crate layout and docs, no ignored
//! tests or placeholders, and no audit write that can be dropped or fired and forgotten.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

/// Every problem found, as `path: what`.
pub fn check(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for krate in crates(root)? {
        check_crate(root, &krate, &mut problems);
    }
    for file in rust_files(&root.join("crates"))?
        .into_iter()
        .chain(rust_files(&root.join("tests"))?)
    {
        let text = fs::read_to_string(&file)?;
        check_source(&rel(root, &file), &text, &mut problems);
    }
    Ok(problems)
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn crates(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let dir = root.join("crates");
    if dir.is_dir() {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.join("Cargo.toml").is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn check_crate(root: &Path, krate: &Path, problems: &mut Vec<String>) {
    let name = rel(root, krate);
    if !krate.join("README.md").is_file() {
        problems.push(format!(
            "{name}: no README.md (every crate shows its use alone)"
        ));
    }
    let lib = krate.join("src/lib.rs");
    if lib.is_file() {
        let text = fs::read_to_string(&lib).unwrap_or_default();
        if !text.trim_start().starts_with("//!") {
            problems.push(format!("{name}/src/lib.rs: must open with //! docs"));
        }
        if !text.contains("```") {
            problems.push(format!(
                "{name}/src/lib.rs: the crate docs need a runnable example"
            ));
        }
        if !text.contains("#![deny(missing_docs)]") {
            problems.push(format!("{name}/src/lib.rs: add #![deny(missing_docs)]"));
        }
    }
    let has_tests = krate.join("tests").is_dir();
    if has_tests && !krate.join("tests/it/main.rs").is_file() {
        problems.push(format!(
            "{name}: integration tests live in one binary, tests/it/main.rs"
        ));
    }
    if !has_tests {
        problems.push(format!("{name}: no tests/it/main.rs"));
    }
}

/// Source-level rules. The audit rules catch the predecessor's bug shape: an audit write
/// whose future or result is thrown away.
pub fn check_source(path: &str, text: &str, problems: &mut Vec<String>) {
    let is_xtask_rule_file = path.ends_with("xtask/src/tidy.rs");
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let code = line.split("//").next().unwrap_or("");
        if !is_xtask_rule_file {
            if line.contains("#[ignore") {
                problems.push(format!("{path}:{n}: ignored test; fix it or delete it"));
            }
            if code.contains("todo!(") || code.contains("unimplemented!(") {
                problems.push(format!("{path}:{n}: placeholder (todo!/unimplemented!)"));
            }
        }
        let prev_line = if i > 0 {
            text.lines().nth(i - 1).unwrap_or("")
        } else {
            ""
        };
        if !is_audit_append(code, prev_line) {
            continue;
        }
        let compact: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
        if compact.contains("let _ =") || compact.contains("let _=") {
            problems.push(format!(
                "{path}:{n}: audit result bound to `_`; await it and handle the error"
            ));
        }
        if compact.contains("spawn(") {
            problems.push(format!(
                "{path}:{n}: audit write spawned fire-and-forget; await it in the caller"
            ));
        }
        if compact.contains(".append(")
            && !compact.contains(".await")
            && !compact.contains("append_blocking")
        {
            // A multi-line call may put .await on a later line: look ahead a few lines.
            let ahead: String = text.lines().skip(i).take(6).collect::<Vec<_>>().join(" ");
            let is_definition = compact.contains("fn append");
            if !is_definition && !ahead.contains(".await") && !ahead.contains("returning") {
                problems.push(format!("{path}:{n}: audit append without .await"));
            }
        }
    }
}

/// Whether `code` calls `append` on something that looks like an audit log or sink
/// (`audit.append(`, `self.sink.append(`, `log\n    .append(`), not `OpenOptions::append(true)`.
fn is_audit_append(code: &str, prev_line: &str) -> bool {
    let Some(at) = code.find(".append(") else {
        return false;
    };
    let arg = code[at + 8..].trim_start();
    if arg.starts_with("true") || arg.starts_with("false") {
        return false;
    }
    let before = code[..at].trim();
    let receiver = if before.is_empty() {
        prev_line.trim()
    } else {
        before
    };
    let last = receiver
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .next()
        .unwrap_or("");
    let lower = last.to_ascii_lowercase();
    ["audit", "sink", "log"].iter().any(|w| lower.contains(w))
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                if !path.ends_with("target") && !path.ends_with("node_modules") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::check_source;

    fn check(src: &str) -> Vec<String> {
        let mut p = Vec::new();
        check_source("x.rs", src, &mut p);
        p
    }

    #[test]
    fn the_seed_bug_shapes_are_caught() {
        assert_eq!(check("let _ = audit.append(ev).await;").len(), 1);
        assert_eq!(
            check("tokio::spawn(async move { audit.append(ev).await });").len(),
            1
        );
        assert_eq!(check("self.audit.append(ev);").len(), 1);
        assert!(check("let receipt = self.audit.append(ev).await?;").is_empty());
        assert!(check("let r = audit\n    .append(ev)\n    .await?;").is_empty());
        assert!(check("OpenOptions::new().append(true).open(p)").is_empty());
        assert!(check("buf.append(&mut other);").is_empty());
        assert_eq!(check("#[ignore]\nfn t() {}").len(), 1);
        assert_eq!(check("fn f() { todo!() }").len(), 1);
    }
}
