//! The seccomp denylist, compiled to BPF on the host before fork (seccompiler).
//! Denied calls fail with EPERM; `clone3` fails with ENOSYS so libc falls back to `clone`,
//! whose namespace flags can be inspected (clone3 passes them in memory, out of BPF's reach).

// Syscall numbers are `c_long` in libc, which is i64 only on 64-bit targets.
#![allow(clippy::unnecessary_cast)]

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::SandboxError;

/// Calls no agent program needs and every escape wants.
fn denied() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_ptrace,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_bpf,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_perf_event_open,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_userfaultfd,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_syslog,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_quotactl,
        libc::SYS_fanotify_init,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_mount_setattr,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_personality,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_uselib,
        libc::SYS_lookup_dcookie,
    ]);
    v.into_iter().map(|n| n as i64).collect()
}

fn arch() -> Result<TargetArch, SandboxError> {
    #[cfg(target_arch = "x86_64")]
    return Ok(TargetArch::x86_64);
    #[cfg(target_arch = "aarch64")]
    return Ok(TargetArch::aarch64);
    #[allow(unreachable_code)]
    Err(SandboxError::Config(
        "seccomp filters are built for x86_64 and aarch64 only; set the seccomp policy to off"
            .to_owned(),
    ))
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    action: SeccompAction,
) -> Result<BpfProgram, SandboxError> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch()?)
        .map_err(|e| SandboxError::Config(format!("seccomp filter rejected: {e}")))?;
    filter.try_into().map_err(|e: seccompiler::BackendError| {
        SandboxError::Config(format!("seccomp filter does not compile: {e}"))
    })
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SandboxError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .map_err(|e| SandboxError::Config(format!("seccomp condition rejected: {e}")))
}

fn rule(conds: Vec<SeccompCondition>) -> Result<SeccompRule, SandboxError> {
    SeccompRule::new(conds).map_err(|e| SandboxError::Config(format!("seccomp rule rejected: {e}")))
}

/// The filters to install, in order. `deny_inet` adds AF_INET/AF_INET6 socket denial (used
/// when there is no network namespace).
pub(crate) fn filters(deny_inet: bool) -> Result<Vec<BpfProgram>, SandboxError> {
    let mut eperm: BTreeMap<i64, Vec<SeccompRule>> =
        denied().into_iter().map(|n| (n, Vec::new())).collect();
    // clone with any namespace flag (one rule per flag: rules are OR-ed).
    let mut ns_rules = Vec::new();
    for flag in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ] {
        let f = flag as u64;
        ns_rules.push(rule(vec![cond(0, SeccompCmpOp::MaskedEq(f), f)?])?);
    }
    eperm.insert(libc::SYS_clone as i64, ns_rules);
    if deny_inet {
        eperm.insert(
            libc::SYS_socket as i64,
            vec![
                rule(vec![cond(0, SeccompCmpOp::Eq, libc::AF_INET as u64)?])?,
                rule(vec![cond(0, SeccompCmpOp::Eq, libc::AF_INET6 as u64)?])?,
            ],
        );
    }
    let first = compile(eperm, SeccompAction::Errno(libc::EPERM as u32))?;
    let mut enosys = BTreeMap::new();
    enosys.insert(libc::SYS_clone3 as i64, Vec::new());
    let second = compile(enosys, SeccompAction::Errno(libc::ENOSYS as u32))?;
    Ok(vec![first, second])
}
