//! What this host offers, probed once: namespaces, Landlock, seccomp, cgroups.
//! Combined with the configured policies it decides which layers a run uses.

use serde::{Deserialize, Serialize};

use crate::cgroup::CgroupSupport;
use crate::child;
use crate::config::{Layer, LayerPolicy, SandboxConfig};
use crate::error::SandboxError;

/// One layer's state in a run: its policy, whether it was active, and why (not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LayerStatus {
    /// The layer.
    pub layer: Layer,
    /// Its configured policy.
    pub policy: LayerPolicy,
    /// Whether it was in force.
    pub active: bool,
    /// What it did here (`Landlock ABI 7`, `cgroup v1`), or why it was not used.
    pub detail: String,
}

/// Which isolation layers were in force for a run (or would be, for
/// [`ProcessSandbox::isolation_report`]).
///
/// [`ProcessSandbox::isolation_report`]: crate::ProcessSandbox::isolation_report
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IsolationReport {
    /// Every layer, in [`Layer::ALL`] order.
    pub layers: Vec<LayerStatus>,
}

impl IsolationReport {
    /// Whether `layer` was active.
    pub fn is_active(&self, layer: Layer) -> bool {
        self.layers.iter().any(|s| s.layer == layer && s.active)
    }

    /// Names of the active layers (what `SandboxOutput::isolation` carries).
    pub fn active_names(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter(|s| s.active)
            .map(|s| s.layer.as_str().to_owned())
            .collect()
    }

    /// The status of `layer`.
    pub fn get(&self, layer: Layer) -> Option<&LayerStatus> {
        self.layers.iter().find(|s| s.layer == layer)
    }
}

impl std::fmt::Display for IsolationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.layers {
            let state = if s.active { "active  " } else { "inactive" };
            writeln!(
                f,
                "{:<18} {:<9} {state} {}",
                s.layer.as_str(),
                s.policy.to_string(),
                s.detail
            )?;
        }
        Ok(())
    }
}

/// The host's capabilities (`Err` carries why a feature is missing).
#[derive(Debug, Clone)]
pub(crate) struct HostCapabilities {
    pub euid: u32,
    pub user_ns: Result<(), String>,
    pub pid_ns: Result<(), String>,
    pub mount_ns: Result<(), String>,
    pub net_ns: Result<(), String>,
    pub ipc_ns: Result<(), String>,
    pub landlock_abi: Option<u32>,
    pub seccomp: bool,
    pub cgroups: CgroupSupport,
}

fn probe(flags: i32, base: i32) -> Result<(), String> {
    child::probe_clone(flags | base).map_err(|errno| {
        format!(
            "clone with these namespace flags failed: {}",
            std::io::Error::from_raw_os_error(errno)
        )
    })
}

impl HostCapabilities {
    pub(crate) fn detect() -> HostCapabilities {
        let euid = child::geteuid();
        let user_ns = probe(libc::CLONE_NEWUSER, 0);
        // Without a user namespace only root may create the others.
        let base = if user_ns.is_ok() {
            libc::CLONE_NEWUSER
        } else {
            0
        };
        HostCapabilities {
            euid,
            pid_ns: probe(libc::CLONE_NEWPID | libc::CLONE_NEWNS, base),
            mount_ns: probe(libc::CLONE_NEWNS, base),
            net_ns: probe(libc::CLONE_NEWNET, base),
            ipc_ns: probe(libc::CLONE_NEWIPC | libc::CLONE_NEWUTS, base),
            user_ns,
            landlock_abi: child::landlock_abi(),
            seccomp: child::seccomp_available(),
            cgroups: CgroupSupport::detect(),
        }
    }

    /// Whether the host has `layer`, with a detail or the reason it does not.
    fn offers(&self, layer: Layer) -> Result<String, String> {
        match layer {
            Layer::Environment => Ok("fresh environment from an allowlist".to_owned()),
            Layer::WorkingDirectory => Ok("private directory, removed afterwards".to_owned()),
            Layer::Session => Ok("setsid + PR_SET_PDEATHSIG(SIGKILL)".to_owned()),
            Layer::Rlimits => Ok("CPU, FSIZE, NOFILE, CORE=0 (+AS for Python)".to_owned()),
            Layer::UserNamespace => self
                .user_ns
                .clone()
                .map(|()| "runs as an unprivileged user mapped to nobody".to_owned()),
            Layer::PidNamespace => self
                .pid_ns
                .clone()
                .map(|()| "own pid 1 and /proc; killing init kills the tree".to_owned()),
            Layer::MountNamespace => self
                .mount_ns
                .clone()
                .map(|()| "private mounts; /tmp, /var/tmp, /dev/shm, /run hidden".to_owned()),
            Layer::NetworkNamespace => self.net_ns.clone().map(|()| "no interfaces up".to_owned()),
            Layer::IpcNamespace => self
                .ipc_ns
                .clone()
                .map(|()| "own IPC and hostname".to_owned()),
            Layer::Landlock => match self.landlock_abi {
                Some(abi) => Ok(format!("Landlock ABI {abi}")),
                None => Err("the kernel has no Landlock (or it is disabled)".to_owned()),
            },
            Layer::Seccomp => {
                if self.seccomp {
                    Ok("syscall denylist, no sockets".to_owned())
                } else {
                    Err("the kernel has no seccomp filter support".to_owned())
                }
            }
            Layer::MemoryCgroup => match &self.cgroups.memory {
                Some(p) => Ok(format!("cgroup {:?} at {}", p.version, p.dir.display())),
                None => Err(self.cgroups.memory_reason.clone()),
            },
            Layer::PidsCgroup => match &self.cgroups.pids {
                Some(p) => Ok(format!("cgroup {:?} at {}", p.version, p.dir.display())),
                None => Err(self.cgroups.pids_reason.clone()),
            },
        }
    }

    /// The layers a run uses under `config`; `Err` when a required layer is missing.
    pub(crate) fn plan(&self, config: &SandboxConfig) -> Result<IsolationReport, SandboxError> {
        let mut layers = Vec::new();
        for layer in Layer::ALL {
            let policy = config.policy(layer);
            let offered = self.offers(layer);
            let status = match (policy, offered) {
                (LayerPolicy::Off, _) => LayerStatus {
                    layer,
                    policy,
                    active: false,
                    detail: "turned off by configuration".to_owned(),
                },
                (_, Ok(detail)) => LayerStatus {
                    layer,
                    policy,
                    active: true,
                    detail,
                },
                (LayerPolicy::Required, Err(reason)) => {
                    return Err(SandboxError::LayerUnavailable { layer, reason });
                }
                (_, Err(reason)) => LayerStatus {
                    layer,
                    policy,
                    active: false,
                    detail: reason,
                },
            };
            layers.push(status);
        }
        let mut report = IsolationReport { layers };
        // A pid namespace needs its own /proc, which needs a mount namespace.
        let mount = report.is_active(Layer::MountNamespace);
        let user = report.is_active(Layer::UserNamespace);
        if !user && self.euid != 0 {
            for l in [
                Layer::PidNamespace,
                Layer::MountNamespace,
                Layer::NetworkNamespace,
                Layer::IpcNamespace,
            ] {
                demote(
                    &mut report,
                    l,
                    "needs a user namespace when not running as root",
                )?;
            }
        }
        if !mount {
            demote(
                &mut report,
                Layer::PidNamespace,
                "needs the mount namespace for its own /proc",
            )?;
        }
        Ok(report)
    }
}

fn demote(report: &mut IsolationReport, layer: Layer, reason: &str) -> Result<(), SandboxError> {
    if let Some(s) = report
        .layers
        .iter_mut()
        .find(|s| s.layer == layer && s.active)
    {
        if s.policy == LayerPolicy::Required {
            return Err(SandboxError::LayerUnavailable {
                layer,
                reason: reason.to_owned(),
            });
        }
        s.active = false;
        s.detail = reason.to_owned();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::CgroupSupport;

    fn bare_host() -> HostCapabilities {
        let missing = || Err("not on this test host".to_owned());
        HostCapabilities {
            euid: 1000,
            user_ns: missing(),
            pid_ns: missing(),
            mount_ns: missing(),
            net_ns: missing(),
            ipc_ns: missing(),
            landlock_abi: None,
            seccomp: false,
            cgroups: CgroupSupport::default(),
        }
    }

    #[test]
    fn a_required_layer_the_host_lacks_refuses_to_run() {
        let config = SandboxConfig::builder()
            .require(Layer::Landlock)
            .build()
            .expect("config");
        let err = bare_host().plan(&config).expect_err("refused");
        assert!(matches!(
            err,
            SandboxError::LayerUnavailable {
                layer: Layer::Landlock,
                ..
            }
        ));
        assert!(
            err.to_string().contains("set its policy to preferred"),
            "{err}"
        );
    }

    #[test]
    fn preferred_layers_the_host_lacks_are_reported_inactive() {
        let report = bare_host().plan(&SandboxConfig::default()).expect("plan");
        assert_eq!(
            report.active_names(),
            vec!["environment", "working_directory", "session", "rlimits"]
        );
        let landlock = report.get(Layer::Landlock).expect("listed");
        assert!(!landlock.active);
        assert_eq!(landlock.policy, LayerPolicy::Preferred);
    }

    #[test]
    fn a_pid_namespace_without_a_mount_namespace_is_demoted() {
        let mut host = bare_host();
        host.euid = 0;
        host.pid_ns = Ok(());
        let config = SandboxConfig::builder()
            .disable(Layer::MountNamespace)
            .build()
            .expect("config");
        let report = host.plan(&config).expect("plan");
        assert!(!report.is_active(Layer::PidNamespace));
        let required = SandboxConfig::builder()
            .disable(Layer::MountNamespace)
            .require(Layer::PidNamespace)
            .build()
            .expect("config");
        assert!(host.plan(&required).is_err());
    }
}
