//! `codeward-demo-server`: the demo MCP server on stdio.
//! Flags and environment variables pick the root folder and the data directory.

use clap::Parser;
use codeward_demo_server::{DemoOptions, serve_stdio};
use std::path::PathBuf;
use std::process::ExitCode;

/// A small offline MCP server (stdio): a notes store, read-only files under a root folder,
/// and text statistics. Speak MCP on stdin/stdout; logs go to stderr.
#[derive(Parser)]
#[command(name = "codeward-demo-server", version)]
struct Args {
    /// The folder the files_* tools may read [default: the current directory].
    #[arg(long, env = "CODEWARD_DEMO_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// Where notes.json is kept [default: $XDG_DATA_HOME/codeward-demo-server, else
    /// ~/.local/share/codeward-demo-server].
    #[arg(long, env = "CODEWARD_DEMO_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("codeward-demo-server")
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line on stderr: an MCP client shows its last lines when the start fails.
            eprintln!("codeward-demo-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = match args.root {
        Some(root) => root,
        None => std::env::current_dir()?,
    };
    let options = DemoOptions::new(root, args.data_dir.unwrap_or_else(default_data_dir));
    // One thread: the server answers one client, and starts faster without a pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(serve_stdio(&options))
        .map_err(|e| anyhow::anyhow!("{e}"))
}
