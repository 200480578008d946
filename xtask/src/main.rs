//! Project automation, run as `cargo xtask <command>`:
//!
//! - `ci`: what `.ci/run` checks (rustfmt, clippy with warnings denied, the test suite).
//! - `tidy`: house-rule checks over the source tree (also run by `cargo test` as a test).
//! - `compliance`: SOC 2 / GDPR / HIPAA evidence from a live scenario (`target/compliance/`);
//!   exit 0 passed, 8 a check or control failed, 2 usage error, 70 the run could not finish.
//! - `bench [name...]`: runs the benchmarks and writes one table of figures and ratios
//!   (`target/bench/summary.md` and `summary.json`).

mod bench;
mod compliance;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    // compliance has its own exit codes: CI tells "the evidence says no" from "no evidence".
    if args.first().map(String::as_str) == Some("compliance") {
        return compliance::main(&root, &args[1..]);
    }
    match command(&root, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}

fn command(root: &Path, args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("ci") => ci(root),
        Some("tidy") => {
            let problems = tidy::check(root)?;
            if problems.is_empty() {
                println!("tidy: ok");
                Ok(())
            } else {
                for p in &problems {
                    eprintln!("tidy: {p}");
                }
                bail!("{} tidy problem(s)", problems.len())
            }
        }
        Some("bench") => bench::run(root, &args[1..]),
        Some(other) => bail!("unknown command `{other}`; use one of: ci, tidy, bench, compliance"),
        None => {
            eprintln!("usage: cargo xtask <ci|tidy|bench [name...]|compliance [--help]>");
            Ok(())
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(root: &Path, args: &[&str]) -> Result<()> {
    if !cargo_status(root, args)? {
        bail!("`cargo {}` failed", args.join(" "));
    }
    Ok(())
}

/// The cargo running us (`$CARGO`), so subcommands such as `cargo deny` are looked up by the
/// same cargo and toolchain, not whichever `cargo` comes first on `PATH`.
pub fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs cargo and reports whether it succeeded (for checks that record a failure).
fn cargo_status(root: &Path, args: &[&str]) -> Result<bool> {
    let cargo = cargo_bin();
    println!("$ cargo {}", args.join(" "));
    // Benches write their figures under the target directory; an absolute path makes sure
    // they and `cargo xtask bench` agree on where it is.
    Ok(Command::new(cargo)
        .args(args)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir(root))
        .status()
        .context("running cargo")?
        .success())
}

/// The target directory: `$CARGO_TARGET_DIR` (relative to the workspace root) or `target/`.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"))
}

/// The clippy invocation CI gates on (`.ci/run` runs the same).
pub const CLIPPY: &[&str] = &[
    "clippy",
    "--workspace",
    "--all-targets",
    "--",
    "-D",
    "warnings",
    "-D",
    "unused_must_use",
    "-D",
    "clippy::let_underscore_future",
];

fn ci(root: &Path) -> Result<()> {
    cargo(root, &["fmt", "--all", "--check"])?;
    cargo(root, CLIPPY)?;
    cargo(root, &["test", "--workspace"])
}

#[cfg(test)]
mod tests {
    /// The house rules, enforced by a plain `cargo test`.
    #[test]
    fn tidy() {
        let problems = super::tidy::check(&super::workspace_root()).unwrap();
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }
}
