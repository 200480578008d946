//! Configuration: one TOML file plus environment overrides, every key with a default.
//! Paths left unset derive from `data_dir`, so an empty file (or none) is a working setup.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use codeward_core::ExecutionLimits;

use crate::error::{CodewardError, Result};

/// The whole configuration. Every field has a default; see the README's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Base directory for everything codeward keeps (default `./codeward-data`,
    /// env `CODEWARD_DATA_DIR`).
    pub data_dir: PathBuf,
    /// The audit log.
    pub audit: AuditConfig,
    /// Tool catalogues.
    pub catalogue: CatalogueConfig,
    /// Discovery.
    pub discovery: DiscoveryConfig,
    /// Default execution limits.
    pub limits: LimitsConfig,
    /// The result cache.
    pub cache: CacheConfig,
    /// Approvals.
    pub approvals: ApprovalsConfig,
    /// Per-execution workspaces.
    pub workspaces: WorkspacesConfig,
    /// The sandbox.
    pub sandbox: SandboxSection,
    /// MCP servers.
    pub mcp: McpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("codeward-data"),
            audit: AuditConfig::default(),
            catalogue: CatalogueConfig::default(),
            discovery: DiscoveryConfig::default(),
            limits: LimitsConfig::default(),
            cache: CacheConfig::default(),
            approvals: ApprovalsConfig::default(),
            workspaces: WorkspacesConfig::default(),
            sandbox: SandboxSection::default(),
            mcp: McpConfig::default(),
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditConfig {
    /// Log directory (default `<data_dir>/audit`, env `CODEWARD_AUDIT_DIR`).
    pub dir: Option<PathBuf>,
    /// Pseudonym key file, mode 0600 (default `<data_dir>/keys/audit.key`,
    /// env `CODEWARD_AUDIT_KEY_FILE`).
    pub key_file: Option<PathBuf>,
    /// Create the key file when missing (default true).
    pub create_key: bool,
    /// `fsync` (default) or `flush` (page cache only; weaker).
    pub durability: String,
    /// Segment rotation size (default 64 MiB).
    pub max_segment_bytes: u64,
    /// Wait for another process's writer at most this long (default 10000 ms).
    pub lock_timeout_ms: u64,
    /// Ed25519 checkpoint signing key file (64 hex characters, mode 0600; created when
    /// missing if `create_key`). When set, a signed checkpoint of the chain head is written
    /// every `checkpoint_every` records, and `audit verify` / `audit report` trust its public
    /// key. Default: none (no checkpoints).
    pub signing_key_file: Option<PathBuf>,
    /// Records between signed checkpoints (default 1000).
    pub checkpoint_every: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            dir: None,
            key_file: None,
            create_key: true,
            durability: "fsync".into(),
            max_segment_bytes: 64 * 1024 * 1024,
            lock_timeout_ms: 10_000,
            signing_key_file: None,
            checkpoint_every: 1000,
        }
    }
}

/// `[catalogue]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CatalogueConfig {
    /// Load the embedded default catalogue (default true).
    pub builtin: bool,
    /// Extra directories in the seed format (`<dir>/<category>/<file>.json`).
    pub seed_dirs: Vec<PathBuf>,
    /// Extra directories of MCP `tools/list` JSON files (server name = file stem).
    pub mcp_dirs: Vec<PathBuf>,
}

impl Default for CatalogueConfig {
    fn default() -> Self {
        CatalogueConfig {
            builtin: true,
            seed_dirs: Vec::new(),
            mcp_dirs: Vec::new(),
        }
    }
}

/// `[discovery]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// Tools per request when the request does not say (default 5).
    pub tool_limit: usize,
    /// Hits scoring below this are dropped (default 0).
    pub min_score: f32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            tool_limit: 5,
            min_score: 0.0,
        }
    }
}

/// `[limits]`: the defaults for every execution (a request may override them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Wall-clock timeout (default 30000 ms).
    pub timeout_ms: u64,
    /// CPU time (default 30000 ms).
    pub cpu_ms: u64,
    /// Memory (default 512 MiB).
    pub memory_bytes: u64,
    /// stdout / stderr cap each (default 1 MiB).
    pub max_output_bytes: u64,
    /// Tool calls per execution (default 100).
    pub max_tool_calls: u32,
    /// One tool call (default 30000 ms).
    pub tool_call_timeout_ms: u64,
    /// Processes inside the sandbox (default 64).
    pub max_processes: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = ExecutionLimits::default();
        LimitsConfig {
            timeout_ms: d.timeout.as_millis() as u64,
            cpu_ms: d.cpu_time.as_millis() as u64,
            memory_bytes: d.memory_bytes,
            max_output_bytes: d.max_output_bytes,
            max_tool_calls: d.max_tool_calls,
            tool_call_timeout_ms: d.tool_call_timeout.as_millis() as u64,
            max_processes: d.max_processes,
        }
    }
}

impl LimitsConfig {
    /// The first limit set to 0 where 0 cannot work (every run would fail on it at once, with
    /// a message about the limit rather than the setting), with its default. `max_tool_calls =
    /// 0` is allowed: a program that may not call tools is a policy.
    fn zero_limit(&self) -> Option<(&'static str, u64)> {
        let d = LimitsConfig::default();
        [
            ("timeout_ms", self.timeout_ms, d.timeout_ms),
            ("cpu_ms", self.cpu_ms, d.cpu_ms),
            ("memory_bytes", self.memory_bytes, d.memory_bytes),
            (
                "max_output_bytes",
                self.max_output_bytes,
                d.max_output_bytes,
            ),
            (
                "tool_call_timeout_ms",
                self.tool_call_timeout_ms,
                d.tool_call_timeout_ms,
            ),
            (
                "max_processes",
                u64::from(self.max_processes),
                u64::from(d.max_processes),
            ),
        ]
        .into_iter()
        .find(|(_, value, _)| *value == 0)
        .map(|(key, _, default)| (key, default))
    }

    /// As core limits.
    pub fn to_limits(&self) -> ExecutionLimits {
        let mut l = ExecutionLimits::default();
        l.timeout = Duration::from_millis(self.timeout_ms);
        l.cpu_time = Duration::from_millis(self.cpu_ms);
        l.memory_bytes = self.memory_bytes;
        l.max_output_bytes = self.max_output_bytes;
        l.max_tool_calls = self.max_tool_calls;
        l.tool_call_timeout = Duration::from_millis(self.tool_call_timeout_ms);
        l.max_processes = self.max_processes;
        l
    }
}

/// `[cache]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Cache results of safe programs (default true).
    pub enabled: bool,
    /// Time to live (default 300 s).
    pub ttl_secs: u64,
    /// Entries kept at most (default 1000).
    pub max_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            ttl_secs: 300,
            max_entries: 1000,
        }
    }
}

/// The longest `[cache] ttl_secs` accepted: one year.
pub const MAX_CACHE_TTL_SECS: u64 = 365 * 24 * 3600;

/// `[approvals]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ApprovalsConfig {
    /// The approval store file (default `<data_dir>/approvals.json`).
    pub file: Option<PathBuf>,
    /// How long a request waits for a decision (default 86400 s).
    pub ttl_secs: u64,
    /// How long an approval authorizes its program after the decision (default 604800 s,
    /// 7 days); then a run files a new request.
    pub approved_ttl_secs: u64,
    /// How long an operation waits for another process holding the store's lock (default
    /// 10000 ms), then fails saying the store is locked.
    pub lock_timeout_ms: u64,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            file: None,
            ttl_secs: 24 * 3600,
            approved_ttl_secs: 7 * 24 * 3600,
            lock_timeout_ms: 10_000,
        }
    }
}

/// `[workspaces]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkspacesConfig {
    /// Where per-execution workspaces live (default `<data_dir>/workspaces`).
    pub dir: Option<PathBuf>,
    /// Workspaces of dead executions older than this are removed (default 3600 s).
    pub stale_after_secs: u64,
}

impl Default for WorkspacesConfig {
    fn default() -> Self {
        WorkspacesConfig {
            dir: None,
            stale_after_secs: 3600,
        }
    }
}

/// `[sandbox]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SandboxSection {
    /// Executions running at once (default 4).
    pub max_concurrent: usize,
}

impl Default for SandboxSection {
    fn default() -> Self {
        SandboxSection { max_concurrent: 4 }
    }
}

/// `[mcp]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct McpConfig {
    /// A JSON file in the `{"mcpServers": {...}}` format (env `CODEWARD_MCP_CONFIG`); default:
    /// the bundled demo server only.
    pub servers_file: Option<PathBuf>,
}

impl Config {
    /// Reads `path` (TOML); unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| CodewardError::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses TOML text (`path` only names it in errors).
    ///
    /// Besides TOML's own checks: `[audit] durability` is `fsync` or `flush`, `[cache]
    /// ttl_secs` is at most a year, `[approvals] ttl_secs` and `approved_ttl_secs` are not 0,
    /// and no `[limits]` value but `max_tool_calls` is 0.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| CodewardError::ConfigParse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // Values TOML's types cannot check, reported like any parse error (file and key).
        let problem = if !matches!(config.audit.durability.as_str(), "fsync" | "flush") {
            Some(format!(
                "[audit] durability = \"{}\" is not \"fsync\" or \"flush\"",
                config.audit.durability
            ))
        } else if config.cache.ttl_secs > MAX_CACHE_TTL_SECS {
            Some(format!(
                "[cache] ttl_secs = {} is more than a year ({MAX_CACHE_TTL_SECS}); cached tool \
                 results should not outlive that",
                config.cache.ttl_secs
            ))
        } else if config.approvals.approved_ttl_secs == 0 {
            Some(
                "[approvals] approved_ttl_secs = 0 would expire every approval as it is given; \
                 give the seconds an approval stays valid (default 604800)"
                    .to_owned(),
            )
        } else if config.approvals.ttl_secs == 0 {
            Some(
                "[approvals] ttl_secs = 0 would expire every request before an operator could \
                 approve it; give the seconds a request may wait (default 86400)"
                    .to_owned(),
            )
        } else {
            config.limits.zero_limit().map(|(key, default)| {
                format!(
                    "[limits] {key} = 0 would stop every program as it starts; give a positive \
                     value (default {default})"
                )
            })
        };
        match problem {
            Some(message) => Err(CodewardError::ConfigParse {
                path: path.to_owned(),
                message,
            }),
            None => Ok(config),
        }
    }

    /// Applies `CODEWARD_*` environment overrides.
    pub fn with_env(mut self) -> Result<Config> {
        self.apply_env(|k| std::env::var(k).ok())?;
        Ok(self)
    }

    /// Applies overrides from a lookup function (testable without touching the environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = get("CODEWARD_DATA_DIR") {
            if v.trim().is_empty() {
                // An empty value would scatter audit/, keys/ and the rest into the current
                // directory.
                return Err(CodewardError::Env {
                    var: "CODEWARD_DATA_DIR",
                    value: v,
                    problem: "is empty; unset it or name a directory".into(),
                });
            }
            self.data_dir = v.into();
        }
        if let Some(v) = get("CODEWARD_AUDIT_DIR") {
            self.audit.dir = Some(v.into());
        }
        if let Some(v) = get("CODEWARD_AUDIT_KEY_FILE") {
            self.audit.key_file = Some(v.into());
        }
        if let Some(v) = get("CODEWARD_MCP_CONFIG") {
            self.mcp.servers_file = Some(v.into());
        }
        if let Some(v) = get("CODEWARD_TIMEOUT_MS") {
            self.limits.timeout_ms =
                v.parse()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| CodewardError::Env {
                        var: "CODEWARD_TIMEOUT_MS",
                        value: v.clone(),
                        problem: "expected milliseconds as a whole number above 0".into(),
                    })?;
        }
        Ok(())
    }

    /// The audit log directory.
    pub fn audit_dir(&self) -> PathBuf {
        self.audit
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit"))
    }

    /// The pseudonym key file.
    pub fn audit_key_file(&self) -> PathBuf {
        self.audit
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys/audit.key"))
    }

    /// The approval store file.
    pub fn approvals_file(&self) -> PathBuf {
        self.approvals
            .file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("approvals.json"))
    }

    /// The workspaces directory.
    pub fn workspaces_dir(&self) -> PathBuf {
        self.workspaces
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("workspaces"))
    }
}
