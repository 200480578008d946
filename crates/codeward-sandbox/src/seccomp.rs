//! The seccomp denylist, compiled to BPF on the host before fork (seccompiler).
//! Denied calls fail with EPERM; `clone3` fails with ENOSYS so libc falls back to `clone`,
//! whose namespace flags can be inspected (clone3 passes them in memory, out of BPF's reach).
//! No program may open a socket: `socket` is denied for every family (but a NETLINK_ROUTE one
//! inside the run's empty network namespace, to list its interfaces) and `socketpair` allowed
//! only for connected AF_UNIX streams. On x86_64 any x32 syscall kills the process.

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
        // io_uring performs calls in the kernel on the program's behalf, out of this
        // filter's sight (IORING_OP_SOCKET opens a socket without `socket`).
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
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

/// `socketpair` is allowed for connected AF_UNIX streams only (node's child processes and
/// Python's asyncio use them). A datagram pair could `sendto` any socket file by path.
fn socketpair_rules() -> Result<Vec<SeccompRule>, SandboxError> {
    const SOCK_TYPE_MASK: u64 = 0xf;
    let mut rules = vec![rule(vec![cond(
        0,
        SeccompCmpOp::Ne,
        libc::AF_UNIX as u64,
    )?])?];
    for ty in 0..=SOCK_TYPE_MASK {
        if ty != libc::SOCK_STREAM as u64 {
            rules.push(rule(vec![cond(
                1,
                SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK),
                ty,
            )?])?);
        }
    }
    Ok(rules)
}

/// Kills the process on any x32 syscall. x32 calls carry the x86_64 audit architecture, so
/// seccompiler's architecture check lets them through, and their numbers (`nr | 0x40000000`)
/// match none of its rules: a denylist would allow them all.
#[cfg(target_arch = "x86_64")]
fn x32_filter() -> BpfProgram {
    use seccompiler::sock_filter;
    // BPF_LD | BPF_W | BPF_ABS, BPF_JMP | BPF_JEQ | BPF_K, BPF_JMP | BPF_JGE | BPF_K,
    // BPF_RET | BPF_K.
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    // Offsets in struct seccomp_data.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        op(LD_W_ABS, 0, 0, ARCH),
        // Another architecture: the main filter kills it.
        op(JEQ_K, 0, 2, AUDIT_ARCH_X86_64),
        op(LD_W_ABS, 0, 0, NR),
        op(JGE_K, 1, 0, X32_SYSCALL_BIT),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        op(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
    ]
}

/// No program needs a socket: the bridge is a pair of pipes, there is no network, and
/// Landlock does not govern `connect` to a socket file. With `netlink_route` (the run is in an
/// empty network namespace) a NETLINK_ROUTE socket stays allowed: it lists interfaces (only
/// `lo` there), which node's `os.networkInterfaces()` and libraries calling it at load need,
/// and changing anything through it takes a capability the program does not have.
fn socket_rules(netlink_route: bool) -> Result<Vec<SeccompRule>, SandboxError> {
    if !netlink_route {
        // No condition: every `socket` call is denied.
        return Ok(Vec::new());
    }
    let netlink = libc::AF_NETLINK as u64;
    Ok(vec![
        rule(vec![cond(0, SeccompCmpOp::Ne, netlink)?])?,
        rule(vec![
            cond(0, SeccompCmpOp::Eq, netlink)?,
            cond(2, SeccompCmpOp::Ne, libc::NETLINK_ROUTE as u64)?,
        ])?,
    ])
}

/// The filters to install, in order (the kernel applies the strictest verdict of all).
/// `netlink_route`: the runs get an empty network namespace (see [`socket_rules`]).
pub(crate) fn filters(netlink_route: bool) -> Result<Vec<BpfProgram>, SandboxError> {
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
    eperm.insert(libc::SYS_socketpair as i64, socketpair_rules()?);
    eperm.insert(libc::SYS_socket as i64, socket_rules(netlink_route)?);
    let first = compile(eperm, SeccompAction::Errno(libc::EPERM as u32))?;
    let mut enosys = BTreeMap::new();
    enosys.insert(libc::SYS_clone3 as i64, Vec::new());
    let second = compile(enosys, SeccompAction::Errno(libc::ENOSYS as u32))?;
    #[cfg(target_arch = "x86_64")]
    return Ok(vec![x32_filter(), first, second]);
    #[cfg(not(target_arch = "x86_64"))]
    Ok(vec![first, second])
}
