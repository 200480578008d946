//! Sandbox configuration: which isolation layers are required, preferred or off, and the
//! host-side knobs (interpreters, parallelism, extra environment, disk, file and fd limits).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// One isolation layer. Each is detected at run time and named in the [`IsolationReport`].
///
/// [`IsolationReport`]: crate::IsolationReport
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Layer {
    /// A fresh environment from an allowlist; host variables never reach the program.
    /// Always on.
    Environment,
    /// A private working directory, removed afterwards. Always on. With a mount namespace it
    /// is a tmpfs of at most [`SandboxConfig::max_disk_bytes`], in the run's memory.
    WorkingDirectory,
    /// A new session and a parent-death signal. Always on.
    Session,
    /// rlimits: CPU time, file size, open files, no core dumps (and address space for
    /// Python). Always on.
    Rlimits,
    /// A user namespace: the program runs as an unprivileged, unmapped-on-the-host user.
    UserNamespace,
    /// A pid namespace with its own `/proc`: host processes are invisible and killing its
    /// init kills the whole tree.
    PidNamespace,
    /// A mount namespace: private `/proc`; `/tmp`, `/var/tmp`, `/dev/shm` and `/run` (host
    /// Unix sockets) hidden; the filesystem fallback without Landlock.
    MountNamespace,
    /// A network namespace with no interfaces up: no network (seccomp also denies sockets).
    NetworkNamespace,
    /// IPC and UTS namespaces (no shared SysV IPC, own hostname).
    IpcNamespace,
    /// Landlock: only the working directory is writable; outside it only the interpreter,
    /// system libraries and a minimal `/etc` are readable. TCP bind/connect denied (ABI 4+).
    Landlock,
    /// A seccomp denylist (ptrace, mount, unshare, bpf, keyctl, kexec, io_uring...); no
    /// sockets (`socket` denied, `socketpair` for connected AF_UNIX streams only); on x86_64
    /// any x32 syscall kills the process.
    Seccomp,
    /// A memory cgroup: the memory limit holds for the whole process tree.
    MemoryCgroup,
    /// A pids cgroup: the process-count limit holds for the whole process tree.
    PidsCgroup,
}

impl Layer {
    /// Every layer, in report order.
    pub const ALL: [Layer; 13] = [
        Layer::Environment,
        Layer::WorkingDirectory,
        Layer::Session,
        Layer::Rlimits,
        Layer::UserNamespace,
        Layer::PidNamespace,
        Layer::MountNamespace,
        Layer::NetworkNamespace,
        Layer::IpcNamespace,
        Layer::Landlock,
        Layer::Seccomp,
        Layer::MemoryCgroup,
        Layer::PidsCgroup,
    ];

    /// The layer's name in reports (`pid_namespace`, `landlock`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Environment => "environment",
            Layer::WorkingDirectory => "working_directory",
            Layer::Session => "session",
            Layer::Rlimits => "rlimits",
            Layer::UserNamespace => "user_namespace",
            Layer::PidNamespace => "pid_namespace",
            Layer::MountNamespace => "mount_namespace",
            Layer::NetworkNamespace => "network_namespace",
            Layer::IpcNamespace => "ipc_namespace",
            Layer::Landlock => "landlock",
            Layer::Seccomp => "seccomp",
            Layer::MemoryCgroup => "memory_cgroup",
            Layer::PidsCgroup => "pids_cgroup",
        }
    }

    /// Layers that need nothing from the host and cannot be turned off.
    pub fn is_always_on(self) -> bool {
        matches!(
            self,
            Layer::Environment | Layer::WorkingDirectory | Layer::Session | Layer::Rlimits
        )
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do about a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LayerPolicy {
    /// Use it; refuse to run when the host lacks it.
    Required,
    /// Use it when the host offers it (the report says when it did not).
    Preferred,
    /// Do not use it.
    Off,
}

impl fmt::Display for LayerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LayerPolicy::Required => "required",
            LayerPolicy::Preferred => "preferred",
            LayerPolicy::Off => "off",
        })
    }
}

/// How the sandbox is set up. Build it with [`SandboxConfig::builder`].
///
/// Defaults: every layer [`LayerPolicy::Preferred`]; interpreters resolved once
/// (`/usr/bin/python3` when present, else `python3` on `PATH` resolved through
/// `sys.executable`, so a pyenv shim is paid for once; `node` on `PATH`); at most 8
/// executions at once; files up to 64 MiB; 128 MiB of working directory; 256 open files; no
/// extra environment variables.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// Policy per layer; layers not listed are [`LayerPolicy::Preferred`].
    pub policies: BTreeMap<Layer, LayerPolicy>,
    /// The Python interpreter; `None` resolves one.
    pub python: Option<PathBuf>,
    /// The node binary; `None` finds `node` on `PATH`.
    pub node: Option<PathBuf>,
    /// Executions running at once; more wait.
    pub max_parallel: usize,
    /// Largest file the program may write (RLIMIT_FSIZE).
    pub max_file_bytes: u64,
    /// Most bytes the program may write to its working directory, all files together.
    ///
    /// With a mount namespace the working directory is a tmpfs of this size (plus the
    /// program's own files) in the run's mount namespace: a write past it fails with ENOSPC
    /// and the run reports `LimitKind::Disk`. Its pages count against the run's memory
    /// limit. Without a mount namespace only `max_file_bytes` holds.
    pub max_disk_bytes: u64,
    /// Most open descriptors per process (RLIMIT_NOFILE).
    pub max_open_files: u64,
    /// Extra environment variables for the program (names that look like secrets are
    /// refused by the builder).
    pub env: Vec<(String, String)>,
    /// Where private working directories are created (`None`: the system temp dir).
    pub work_root: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            policies: BTreeMap::new(),
            python: None,
            node: None,
            max_parallel: 8,
            max_file_bytes: 64 * 1024 * 1024,
            max_disk_bytes: 128 * 1024 * 1024,
            max_open_files: 256,
            env: Vec::new(),
            work_root: None,
        }
    }
}

impl SandboxConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> SandboxConfigBuilder {
        SandboxConfigBuilder {
            config: SandboxConfig::default(),
        }
    }

    /// The policy of `layer` (always-on layers report [`LayerPolicy::Required`]).
    pub fn policy(&self, layer: Layer) -> LayerPolicy {
        if layer.is_always_on() {
            return LayerPolicy::Required;
        }
        self.policies
            .get(&layer)
            .copied()
            .unwrap_or(LayerPolicy::Preferred)
    }
}

/// Builds a [`SandboxConfig`] and checks its rules.
#[derive(Debug, Clone)]
pub struct SandboxConfigBuilder {
    config: SandboxConfig,
}

/// Substrings of variable names that look like secrets (compared case-insensitively).
pub const SECRET_NAME_PARTS: [&str; 7] = [
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
];

/// Variables that change what the interpreter loads or runs; never passed through.
const CONTROL_VARS: [&str; 6] = [
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "PYTHONSTARTUP",
];

/// Why an environment variable name is refused, if it is.
pub(crate) fn refused_env_name(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    if let Some(part) = SECRET_NAME_PARTS.iter().find(|p| upper.contains(*p)) {
        return Some(format!(
            "its name contains `{part}`, so it looks like a secret; secrets never enter the \
             sandbox: hand the program a tool that uses the secret on the host instead"
        ));
    }
    if CONTROL_VARS.contains(&upper.as_str()) || upper.starts_with("LD_") {
        return Some("it changes what the interpreter loads; remove it".to_owned());
    }
    if upper.starts_with("CODEWARD_") {
        return Some("the `CODEWARD_` prefix is reserved for the sandbox itself".to_owned());
    }
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Some("it is not a valid variable name".to_owned());
    }
    None
}

impl SandboxConfigBuilder {
    /// Sets the policy of `layer`.
    pub fn policy(mut self, layer: Layer, policy: LayerPolicy) -> Self {
        self.config.policies.insert(layer, policy);
        self
    }

    /// Requires `layer` (refuse to run without it).
    pub fn require(self, layer: Layer) -> Self {
        self.policy(layer, LayerPolicy::Required)
    }

    /// Turns `layer` off.
    pub fn disable(self, layer: Layer) -> Self {
        self.policy(layer, LayerPolicy::Off)
    }

    /// Requires every layer.
    pub fn require_all(mut self) -> Self {
        for layer in Layer::ALL {
            self = self.require(layer);
        }
        self
    }

    /// Sets the Python interpreter.
    pub fn python(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.python = Some(path.into());
        self
    }

    /// Sets the node binary.
    pub fn node(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.node = Some(path.into());
        self
    }

    /// Sets how many executions may run at once (at least 1).
    pub fn max_parallel(mut self, n: usize) -> Self {
        self.config.max_parallel = n;
        self
    }

    /// Sets the largest file the program may write.
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.config.max_file_bytes = bytes;
        self
    }

    /// Sets the most bytes the program may write to its working directory.
    pub fn max_disk_bytes(mut self, bytes: u64) -> Self {
        self.config.max_disk_bytes = bytes;
        self
    }

    /// Sets the most open descriptors per process.
    pub fn max_open_files(mut self, n: u64) -> Self {
        self.config.max_open_files = n;
        self
    }

    /// Adds an environment variable for the program.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.env.push((name.into(), value.into()));
        self
    }

    /// Sets where working directories are created.
    pub fn work_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.work_root = Some(dir.into());
        self
    }

    /// Checks the rules and returns the configuration.
    ///
    /// Refuses: turning off an always-on layer, `max_parallel` of 0, and environment
    /// variables whose names look like secrets (KEY, SECRET, TOKEN, PASSWORD, CREDENTIAL,
    /// AUTH) or that change what the interpreter loads (`LD_*`, `NODE_OPTIONS`...).
    pub fn build(self) -> Result<SandboxConfig, SandboxError> {
        let c = self.config;
        for (layer, policy) in &c.policies {
            if layer.is_always_on() && *policy == LayerPolicy::Off {
                return Err(SandboxError::Config(format!(
                    "layer `{layer}` cannot be turned off; remove that policy"
                )));
            }
        }
        if c.max_parallel == 0 {
            return Err(SandboxError::Config(
                "max_parallel must be at least 1".to_owned(),
            ));
        }
        for (name, value) in &c.env {
            if let Some(reason) = refused_env_name(name) {
                return Err(SandboxError::EnvRefused {
                    name: name.clone(),
                    reason,
                });
            }
            if value.contains('\0') {
                return Err(SandboxError::EnvRefused {
                    name: name.clone(),
                    reason: "its value contains a NUL byte".to_owned(),
                });
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names_are_refused_case_insensitively() {
        for name in [
            "api_key",
            "Secret",
            "X-TOKEN",
            "PASSWORD",
            "passwd",
            "credentials",
            "AUTHORIZATION",
        ] {
            assert!(refused_env_name(name).is_some(), "{name}");
        }
        for name in ["APP_MODE", "TZ", "LANGUAGE"] {
            assert_eq!(refused_env_name(name), None, "{name}");
        }
    }

    #[test]
    fn defaults_prefer_every_layer() {
        let c = SandboxConfig::builder().build().expect("defaults");
        for layer in Layer::ALL {
            let want = if layer.is_always_on() {
                LayerPolicy::Required
            } else {
                LayerPolicy::Preferred
            };
            assert_eq!(c.policy(layer), want, "{layer}");
        }
        assert!(SandboxConfig::builder().max_parallel(0).build().is_err());
    }
}
