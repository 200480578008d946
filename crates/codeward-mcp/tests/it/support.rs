//! Shared helpers: the scriptable fake server, fast pool options, process checks.

use codeward_mcp::{McpConfig, McpPool, PoolOptions, RestartPolicy, StdioServer};
use std::path::Path;
use std::time::Duration;

/// The real interpreter: a pyenv shim costs 140 ms a start.
pub fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// The fake server in `mode`, keeping state (crash markers) in `state`.
pub fn fake(mode: &str, state: &Path) -> StdioServer {
    StdioServer::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/fake_server.py"
        ))
        .arg(mode)
        .arg(state.display().to_string())
}

/// Short deadlines and backoffs so fault tests run fast; nothing asserts on them.
pub fn options() -> PoolOptions {
    PoolOptions::default()
        .call_timeout(Duration::from_secs(20))
        .startup_timeout(Duration::from_secs(20))
        .restart(
            RestartPolicy::default().backoff(Duration::from_millis(10), Duration::from_millis(40)),
        )
        .shutdown_grace(Duration::from_millis(500))
}

/// A pool of named servers.
pub fn pool(servers: Vec<(&str, StdioServer)>, options: PoolOptions) -> McpPool {
    let mut config = McpConfig::new();
    for (name, server) in servers {
        config = config.with_server(name, server).unwrap();
    }
    McpPool::new(config, options)
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// How many times the fake server with this state folder was started.
pub fn starts(state: &Path) -> usize {
    std::fs::read_to_string(state.join("starts")).map_or(0, |s| s.lines().count())
}
