//! Turning configuration into running parts: the MCP pool (the bundled demo server unless
//! servers are configured), the catalogue with the live servers' tools, the orchestrator.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use codeward::{Config, Orchestrator, OrchestratorBuilder};
use codeward_core::ToolSchema;
use codeward_mcp::{McpConfig, McpPool, PoolOptions, StdioServer};

use crate::exit::{Failure, OrUsage};

/// The configuration: `--config`, else `./codeward.toml` when present, else defaults; then
/// `CODEWARD_*` environment overrides.
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    // A config the user wrote that does not load is a usage error (exit 2); the messages
    // name the file and the key.
    let config = match path {
        Some(p) => Config::from_file(p).map_err(|e| Failure::usage(e.to_string()))?,
        None if Path::new("codeward.toml").is_file() => {
            Config::from_file(Path::new("codeward.toml"))
                .map_err(|e| Failure::usage(e.to_string()))?
        }
        None => Config::default(),
    };
    config.with_env().map_err(|e| Failure::usage(e.to_string()))
}

/// The MCP servers: the configured file, or the bundled demo server run by this binary.
pub fn mcp_pool(config: &Config) -> Result<McpPool> {
    let mcp = mcp_config(config)?;
    if config.mcp.servers_file.is_none() {
        let root = demo_root(config);
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        seed_demo_files(&root)?;
    }
    Ok(McpPool::new(
        mcp,
        PoolOptions::default()
            .call_timeout(Duration::from_millis(config.limits.tool_call_timeout_ms)),
    ))
}

/// The servers' configuration, without starting or preparing anything: the configured file,
/// else the bundled demo server.
pub fn mcp_config(config: &Config) -> Result<McpConfig> {
    match &config.mcp.servers_file {
        Some(file) => Ok(McpConfig::from_file(file)
            .or_usage(|| format!("loading MCP servers from {}", file.display()))?),
        None => {
            let exe = std::env::current_exe()
                .context("locating the codeward binary to start the demo server")?;
            let notes = config.data_dir.join("demo-notes");
            let server = StdioServer::new(exe.display().to_string())
                .arg("demo-server")
                .arg("--root")
                .arg(demo_root(config).display().to_string())
                .arg("--data-dir")
                .arg(notes.display().to_string());
            Ok(McpConfig::new().with_server("demo", server)?)
        }
    }
}

/// The names of the configured MCP servers (the namespaces of the tools a run can call).
pub fn server_names(config: &Config) -> Result<BTreeSet<String>> {
    Ok(mcp_config(config)?.servers.into_keys().collect())
}

fn demo_root(config: &Config) -> PathBuf {
    config.data_dir.join("demo-files")
}

/// A few files for the demo's files_* tools, written once.
fn seed_demo_files(root: &Path) -> Result<()> {
    let files = [
        (
            "README.txt",
            "Demo files for codeward. The notes tools keep notes; the files tools read this folder.\n",
        ),
        (
            "plan.md",
            "# Q3 plan\n\n- ship the audit log\n- measure the sandbox\n- write the compliance report\n",
        ),
        (
            "contacts.csv",
            "name,email\nAlice,alice@example.com\nBob,bob@example.org\n",
        ),
    ];
    for (name, text) in files {
        let path = root.join(name);
        if !path.exists() {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Loads the live servers' tools (reporting servers that fail) and returns them.
pub async fn live_tools(pool: &McpPool) -> Vec<ToolSchema> {
    let load = pool.load_tools().await;
    for failure in load.failures() {
        tracing::warn!(server = %failure.server, outcome = ?failure.outcome, "MCP server unavailable");
    }
    load.tools
}

/// The orchestrator over the catalogue (embedded + configured + live tools) and the pool.
pub async fn orchestrator(config: &Config, pool: &McpPool) -> Result<Orchestrator> {
    let index = codeward::catalogue(config)?;
    for tool in live_tools(pool).await {
        // Live definitions replace the bundled snapshot of the same tool.
        index
            .upsert(tool)
            .context("adding a live tool to the catalogue")?;
    }
    // Discovery offers only tools a configured server can serve.
    let orchestrator = OrchestratorBuilder::new(config.clone())
        .index(Arc::new(index))
        .invoker(Arc::new(pool.clone()))
        .servers(pool.server_names())
        .build()
        .await?;
    Ok(orchestrator)
}
