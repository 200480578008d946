//! Clones the sandboxed process tree into fresh namespaces and sets it up with raw syscalls.
//! Everything the child touches is prepared before `clone`: after a fork in a multi-threaded
//! process only async-signal-safe calls are allowed, so the child never allocates or locks.
//!
//! Process layout: the host clones `init` (pid 1 of a new pid namespace when that layer is on),
//! which forks the `program` and reaps everything until the program exits. When `init` exits,
//! the kernel kills every process left in its pid namespace, so a double-forked daemon dies too.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int, c_void};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

/// Where the child failed while setting itself up (sent to the host with the errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Stage {
    Fds = 1,
    Sync = 2,
    MountPrivate = 3,
    MountProc = 4,
    HidePath = 5,
    Fork = 6,
    Chdir = 7,
    Rlimit = 8,
    DropIds = 9,
    NoNewPrivs = 10,
    Landlock = 11,
    Seccomp = 12,
    Exec = 13,
    Cgroup = 14,
    Workdir = 15,
}

impl Stage {
    fn from_u32(v: u32) -> Option<Stage> {
        use Stage::*;
        [
            Fds,
            Sync,
            MountPrivate,
            MountProc,
            HidePath,
            Fork,
            Chdir,
            Rlimit,
            DropIds,
            NoNewPrivs,
            Landlock,
            Seccomp,
            Exec,
            Cgroup,
            Workdir,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }

    /// What the child was doing, for error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stage::Fds => "arranging file descriptors",
            Stage::Sync => "waiting for the host to map user ids",
            Stage::MountPrivate => "making the mount namespace private",
            Stage::MountProc => "mounting a private /proc",
            Stage::HidePath => "hiding a host directory with an empty tmpfs",
            Stage::Fork => "forking the program from the namespace init",
            Stage::Chdir => "entering the working directory",
            Stage::Rlimit => "setting rlimits",
            Stage::DropIds => "dropping to the unprivileged user",
            Stage::NoNewPrivs => "setting no_new_privs",
            Stage::Landlock => "applying the Landlock ruleset",
            Stage::Seccomp => "installing the seccomp filter",
            Stage::Exec => "executing the interpreter",
            Stage::Cgroup => "joining the run's cgroup",
            Stage::Workdir => {
                "mounting the working directory's tmpfs and writing the program to it"
            }
        }
    }
}

/// A setup failure reported by the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildFailure {
    pub stage: Stage,
    pub errno: i32,
}

impl ChildFailure {
    /// Decodes the 8 bytes the child writes.
    pub(crate) fn decode(buf: &[u8]) -> Option<ChildFailure> {
        let stage = u32::from_ne_bytes(buf.get(0..4)?.try_into().ok()?);
        let errno = i32::from_ne_bytes(buf.get(4..8)?.try_into().ok()?);
        Some(ChildFailure {
            stage: Stage::from_u32(stage)?,
            errno,
        })
    }
}

/// One Landlock ruleset, as plain data (rights already fitted to files vs directories).
#[derive(Debug, Clone)]
pub(crate) struct LandlockPlan {
    pub abi: u32,
    pub handled_fs: u64,
    pub handled_net: u64,
    pub scoped: u64,
    pub rules: Vec<(CString, u64)>,
}

/// User and group ids mapped into the new user namespace (one of each).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdMap {
    pub inside_uid: u32,
    pub outside_uid: u32,
    pub inside_gid: u32,
    pub outside_gid: u32,
}

/// Everything the child needs, prepared on the host before `clone`.
#[derive(Debug, Clone)]
pub(crate) struct ChildPlan {
    /// `CLONE_NEW*` flags.
    pub namespaces: c_int,
    pub id_map: Option<IdMap>,
    pub exe: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub workdir: CString,
    pub mount_private: bool,
    pub mount_proc: bool,
    pub hide_paths: Vec<CString>,
    /// The working directory as a size-capped tmpfs in the mount namespace.
    pub workdir_tmpfs: Option<WorkdirTmpfs>,
    pub set_hostname: bool,
    pub subreaper: bool,
    pub rlimits: Vec<(u32, u64, u64)>,
    /// `setresuid`/`setresgid` target when there is no user namespace and the host runs as root.
    pub drop_to: Option<(u32, u32)>,
    /// The host is root: it may write id maps without denying setgroups, so the program
    /// can drop the host's supplementary groups.
    pub privileged_map: bool,
    pub landlock: Option<LandlockPlan>,
    /// seccomp programs, installed in order.
    pub seccomp: Vec<Vec<seccompiler::sock_filter>>,
    /// v2 `cgroup.procs` files the host writes the child's pid into before releasing it.
    pub cgroup_procs: Vec<PathBuf>,
    /// v1 `tasks` files init writes `0` into itself: moving the calling thread skips the
    /// global threadgroup lock whose RCU grace period makes a host-side move cost ~10 ms.
    pub cgroup_tasks: Vec<CString>,
}

/// The working directory as a tmpfs: a hard cap on what the program can write, and nothing
/// it writes reaches the host's disk. Its pages are charged to the run's memory cgroup.
#[derive(Debug, Clone)]
pub(crate) struct WorkdirTmpfs {
    /// Mount data: `size=...,nr_inodes=...,mode=0700,uid=...,gid=...`.
    pub options: CString,
    /// Mount points to create first, when the working directory lies under a hidden path.
    pub mkdirs: Vec<CString>,
    /// The id that creates the mount points and files (the program's). In a user namespace
    /// init's own uid is unmapped and could not create files at all.
    pub fs_id: Option<u32>,
    /// The program's files: absolute path and contents.
    pub files: Vec<(CString, Vec<u8>)>,
}

/// The program's standard streams and bridge descriptors (child ends).
pub(crate) struct ChildStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// fd 3 in the program: it writes requests.
    pub bridge_req: OwnedFd,
    /// fd 4 in the program: it reads responses.
    pub bridge_resp: OwnedFd,
}

/// A started sandbox init process.
pub(crate) struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Read end: the program's raw wait status (4 bytes) once it exits, then 4 bytes whose
    /// first is 1 when the working directory's tmpfs was full.
    pub status: OwnedFd,
    /// Read end: a setup failure (8 bytes), or EOF once the interpreter is executing.
    pub errors: OwnedFd,
    /// A reference to the child's mount namespace. Tearing a mount namespace down waits for
    /// an RCU grace period; holding this moves that wait off init's exit (and so off the
    /// run's latency) to whoever drops it.
    pub mount_ns: Option<OwnedFd>,
}

/// Why `spawn` failed on the host side.
#[derive(Debug)]
pub(crate) enum SpawnError {
    Io(&'static str, std::io::Error),
}

// Fixed descriptor numbers inside `init`, above the 0..=4 the program uses.
const FD_SYNC: c_int = 10;
const FD_STATUS: c_int = 11;
const FD_ERR: c_int = 12;
const FD_STDIN: c_int = 13;
const FD_STDOUT: c_int = 14;
const FD_STDERR: c_int = 15;
const FD_REQ: c_int = 16;
const FD_RESP: c_int = 17;
const FD_LAST: c_int = FD_RESP;

const STACK_SIZE: usize = 256 * 1024;

/// Exit code of `init` when setup failed (the details went to the error pipe).
pub(crate) const INIT_SETUP_FAILED: i32 = 121;

const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: c_int = 1;

#[repr(C)]
struct LandlockRulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct LandlockPathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const seccompiler::sock_filter,
}

/// Pointers into a [`ChildPlan`], built before clone so the child only reads.
struct ChildCtx<'a> {
    plan: &'a ChildPlan,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    fds: [RawFd; 8],
    progs: Vec<SockFprog>,
    /// Top of the stack the program runs on until it execs (it shares init's memory).
    prog_stack_top: usize,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cvt(ret: c_int, what: &'static str) -> Result<c_int, SpawnError> {
    if ret < 0 {
        Err(SpawnError::Io(what, std::io::Error::last_os_error()))
    } else {
        Ok(ret)
    }
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts `init` for `plan`; returns once the child is released (ids mapped, cgroups joined).
pub(crate) fn spawn(plan: &ChildPlan, stdio: ChildStdio) -> Result<Spawned, SpawnError> {
    let io = |what| move |e| SpawnError::Io(what, e);
    let (sync_r, sync_w) = pipe().map_err(io("creating the sync pipe"))?;
    let (status_r, status_w) = pipe().map_err(io("creating the status pipe"))?;
    let (err_r, err_w) = pipe().map_err(io("creating the error pipe"))?;

    let mut argv: Vec<*const c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = plan.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let progs = plan
        .seccomp
        .iter()
        .map(|p| SockFprog {
            len: p.len() as u16,
            filter: p.as_ptr(),
        })
        .collect();
    let mut prog_stack = vec![0u8; STACK_SIZE];
    // SAFETY: the top stays inside the allocation.
    let prog_top = unsafe { prog_stack.as_mut_ptr().add(STACK_SIZE - 64) } as usize & !15usize;
    let ctx = ChildCtx {
        prog_stack_top: prog_top,
        plan,
        argv,
        envp,
        fds: [
            sync_r.as_raw_fd(),
            status_w.as_raw_fd(),
            err_w.as_raw_fd(),
            stdio.stdin.as_raw_fd(),
            stdio.stdout.as_raw_fd(),
            stdio.stderr.as_raw_fd(),
            stdio.bridge_req.as_raw_fd(),
            stdio.bridge_resp.as_raw_fd(),
        ],
        progs,
    };
    let mut stack = vec![0u8; STACK_SIZE];
    // SAFETY: the stack top stays inside the allocation; x86_64 and aarch64 stacks grow down.
    let top = unsafe { stack.as_mut_ptr().add(STACK_SIZE - 64) } as usize & !15usize;
    // SAFETY: without CLONE_VM the child gets a private copy of this address space, so `ctx`
    // and the stack stay valid for it; `init_main` only makes async-signal-safe calls.
    let pid = unsafe {
        libc::clone(
            init_main,
            top as *mut c_void,
            plan.namespaces | libc::SIGCHLD,
            &ctx as *const ChildCtx<'_> as *mut c_void,
        )
    };
    // The child has its own copies now; close ours so EOFs come when the child's close.
    drop(stdio);
    drop(sync_r);
    drop(status_w);
    drop(err_w);
    drop(stack);
    drop(prog_stack);
    let pid = cvt(pid, "cloning the sandbox init process")?;

    let released = release(pid, plan, sync_w);
    let pidfd = released.and_then(|()| pidfd_open(pid));
    match pidfd {
        Ok(pidfd) => {
            let mount_ns = (plan.namespaces & libc::CLONE_NEWNS != 0)
                .then(|| std::fs::File::open(format!("/proc/{pid}/ns/mnt")).ok())
                .flatten()
                .map(OwnedFd::from);
            Ok(Spawned {
                pid,
                pidfd,
                status: status_r,
                errors: err_r,
                mount_ns,
            })
        }
        Err(e) => {
            kill_and_reap(pid);
            Err(e)
        }
    }
}

/// Maps ids, joins cgroups and lets the child go on.
fn release(pid: i32, plan: &ChildPlan, sync_w: OwnedFd) -> Result<(), SpawnError> {
    let io = |what| move |e| SpawnError::Io(what, e);
    if let Some(map) = plan.id_map {
        if !plan.privileged_map {
            std::fs::write(format!("/proc/{pid}/setgroups"), "deny")
                .map_err(io("denying setgroups in the user namespace"))?;
        }
        std::fs::write(
            format!("/proc/{pid}/uid_map"),
            format!("{} {} 1\n", map.inside_uid, map.outside_uid),
        )
        .map_err(io("writing uid_map"))?;
        std::fs::write(
            format!("/proc/{pid}/gid_map"),
            format!("{} {} 1\n", map.inside_gid, map.outside_gid),
        )
        .map_err(io("writing gid_map"))?;
    }
    for procs in &plan.cgroup_procs {
        std::fs::write(procs, pid.to_string()).map_err(io("moving the child into its cgroup"))?;
    }
    let one = [1u8];
    // SAFETY: writes one byte from a valid buffer to a descriptor we own.
    let n = unsafe { libc::write(sync_w.as_raw_fd(), one.as_ptr().cast(), 1) };
    if n != 1 {
        return Err(SpawnError::Io(
            "releasing the child",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn pidfd_open(pid: i32) -> Result<OwnedFd, SpawnError> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(SpawnError::Io(
            "opening a pidfd for the child",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Registers a pidfd with the reactor; it turns readable when the process exits.
pub(crate) fn watch_pidfd(fd: OwnedFd) -> std::io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the descriptor stays open and
    // refers to the same pidfd until the AsyncFd is dropped.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(Into::into)
}

/// SIGKILL through the pidfd (no pid-reuse race).
pub(crate) fn kill_pidfd(pidfd: &OwnedFd) {
    // SAFETY: sends a signal through a pidfd we own; a null siginfo is allowed.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<c_void>(),
            0,
        );
    }
}

/// SIGKILL to a pid (used on host processes found in a cgroup we own).
pub(crate) fn kill_pid(pid: i32) {
    if pid > 0 {
        // SAFETY: kill has no memory effects; pid > 0 targets exactly one process.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Resource use of a reaped child and its reaped descendants.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub user: Duration,
    pub system: Duration,
    pub max_rss_bytes: u64,
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// Reads what is in a pipe right now without waiting (the writer is gone).
pub(crate) fn read_now(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    // SAFETY: poll with a zero timeout on a descriptor we own, then read into a
    // valid buffer of the given length.
    unsafe {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut pfd, 1, 0) <= 0 || pfd.revents & libc::POLLIN == 0 {
            return 0;
        }
        let n = libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
        n.max(0) as usize
    }
}

/// Reaps `pid` if it has exited: `(raw wait status, usage)`.
pub(crate) fn try_reap(pid: i32) -> Option<(i32, Usage)> {
    reap(pid, libc::WNOHANG)
}

fn reap(pid: i32, flags: c_int) -> Option<(i32, Usage)> {
    let mut status: c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to a status int and a rusage struct.
        let r = unsafe { libc::wait4(pid, &mut status, flags | libc::__WALL, &mut ru) };
        if r == pid {
            let usage = Usage {
                user: tv(ru.ru_utime),
                system: tv(ru.ru_stime),
                max_rss_bytes: (ru.ru_maxrss.max(0) as u64) * 1024,
            };
            return Some((status, usage));
        }
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        return None;
    }
}

/// SIGKILL and a blocking reap; for drop guards and failed starts.
pub(crate) fn kill_and_reap(pid: i32) -> Option<(i32, Usage)> {
    kill_pid(pid);
    reap(pid, 0)
}

/// Decodes a raw wait status: `(exit code, signal)`.
pub(crate) fn decode_status(status: i32) -> (Option<i32>, Option<i32>) {
    if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    }
}

// ------------------------------------------------------------------ probes (host side)

extern "C" fn probe_main(_arg: *mut c_void) -> c_int {
    // SAFETY: _exit is async-signal-safe and ends the probe child at once.
    unsafe { libc::_exit(0) }
}

/// Whether `clone` with these namespace flags works here (`Err(errno)` otherwise).
pub(crate) fn probe_clone(flags: c_int) -> Result<(), i32> {
    let mut stack = vec![0u8; 64 * 1024];
    // SAFETY: the top stays inside the allocation.
    let top = unsafe { stack.as_mut_ptr().add(64 * 1024 - 64) } as usize & !15usize;
    // SAFETY: the probe child only calls _exit; without CLONE_VM it has its own memory.
    let pid = unsafe {
        libc::clone(
            probe_main,
            top as *mut c_void,
            flags | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    };
    if pid < 0 {
        return Err(errno());
    }
    reap(pid, 0);
    drop(stack);
    Ok(())
}

/// The Landlock ABI version the kernel offers, if any.
pub(crate) fn landlock_abi() -> Option<u32> {
    // SAFETY: with a null attribute and size 0 the VERSION flag only queries the ABI.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (v > 0).then_some(v as u32)
}

/// Whether the kernel supports seccomp filters.
pub(crate) fn seccomp_available() -> bool {
    // SAFETY: PR_GET_SECCOMP only reads the calling thread's mode.
    let r = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    r >= 0
}

/// The effective uid of the host process.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Moves the calling thread into a fresh, empty network namespace (root only). Children
/// cloned from this thread without `CLONE_NEWNET` share it.
pub(crate) fn unshare_thread_network() -> std::io::Result<()> {
    // SAFETY: unshare(CLONE_NEWNET) only changes the calling thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The effective gid of the host process.
pub(crate) fn getegid() -> u32 {
    // SAFETY: getegid cannot fail.
    unsafe { libc::getegid() }
}

/// Changes the owner of a path (the working directory, for the mapped sandbox user).
pub(crate) fn chown(path: &std::path::Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

// ------------------------------------------------------------------ the child (no allocation)

/// Writes the failure to the host and exits. Async-signal-safe.
unsafe fn fail(stage: Stage, err: i32) -> ! {
    let mut buf = [0u8; 8];
    let s = (stage as u32).to_ne_bytes();
    let e = err.to_ne_bytes();
    let mut i = 0;
    while i < 4 {
        buf[i] = s[i];
        buf[4 + i] = e[i];
        i += 1;
    }
    // SAFETY: plain syscalls on a descriptor we arranged; nothing allocates.
    unsafe {
        libc::write(FD_ERR, buf.as_ptr().cast(), 8);
        libc::_exit(INIT_SETUP_FAILED)
    }
}

unsafe fn check(ret: c_int, stage: Stage) {
    if ret < 0 {
        // SAFETY: `fail` only makes async-signal-safe calls.
        unsafe { fail(stage, errno()) }
    }
}

extern "C" fn init_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildCtx` the parent built; this process has a private copy of
    // the parent's memory (no CLONE_VM), and the context is only read.
    let ctx = unsafe { &*(arg as *const ChildCtx<'_>) };
    // SAFETY: everything below is a raw, async-signal-safe syscall sequence.
    unsafe { init_run(ctx) }
}

unsafe fn reset_signals() {
    // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask; sigprocmask with a
    // zeroed (empty) set unblocks everything. Both are async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let dfl: libc::sigaction = std::mem::zeroed();
        let mut sig = 1;
        while sig < 65 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
            sig += 1;
        }
    }
}

unsafe fn init_run(ctx: &ChildCtx<'_>) -> ! {
    // SAFETY (whole function): only async-signal-safe syscalls on data prepared before clone.
    unsafe {
        reset_signals();
        // Move the descriptors we need to fixed numbers, then close everything else: this
        // process never execs, so it must not keep other executions' pipes open.
        let mut base = 64;
        for fd in ctx.fds {
            if fd >= base {
                base = fd + 1;
            }
        }
        let mut high = [0 as c_int; 8];
        let mut i = 0;
        while i < 8 {
            high[i] = libc::fcntl(ctx.fds[i], libc::F_DUPFD, base);
            if high[i] < 0 {
                libc::_exit(INIT_SETUP_FAILED);
            }
            i += 1;
        }
        i = 0;
        while i < 8 {
            if libc::dup2(high[i], FD_SYNC + i as c_int) < 0 {
                libc::_exit(INIT_SETUP_FAILED);
            }
            i += 1;
        }
        libc::close_range(3, (FD_SYNC - 1) as u32, 0);
        libc::close_range((FD_LAST + 1) as u32, u32::MAX, 0);

        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        let mut byte = 0u8;
        loop {
            let n = libc::read(FD_SYNC, (&mut byte as *mut u8).cast(), 1);
            if n == 1 && byte == 1 {
                break;
            }
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            // The host went away before releasing us.
            fail(Stage::Sync, errno());
        }
        libc::close(FD_SYNC);

        let plan = ctx.plan;
        for tasks in &plan.cgroup_tasks {
            let fd = libc::open(tasks.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            check(fd, Stage::Cgroup);
            let zero = b"0";
            if libc::write(fd, zero.as_ptr().cast(), 1) != 1 {
                fail(Stage::Cgroup, errno());
            }
            libc::close(fd);
        }
        if plan.mount_private {
            check(
                libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ),
                Stage::MountPrivate,
            );
        }
        if plan.mount_proc {
            check(
                libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ),
                Stage::MountProc,
            );
        }
        for p in &plan.hide_paths {
            check(
                libc::mount(
                    c"tmpfs".as_ptr(),
                    p.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    // World-writable until remounted read-only below, so the mount point for the
                    // working directory can be created by the mapped user.
                    c"size=64k,mode=1777".as_ptr().cast(),
                ),
                Stage::HidePath,
            );
        }
        if let Some(wt) = &plan.workdir_tmpfs {
            prepare_workdir(wt, &plan.workdir);
        }
        for p in &plan.hide_paths {
            check(
                libc::mount(
                    std::ptr::null(),
                    p.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REMOUNT
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | libc::MS_NODEV
                        | libc::MS_NOEXEC,
                    std::ptr::null(),
                ),
                Stage::HidePath,
            );
        }
        if plan.set_hostname {
            let name = b"codeward";
            libc::sethostname(name.as_ptr().cast(), name.len());
        }
        if plan.subreaper {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        libc::setsid();

        // The program shares init's memory until it execs (CLONE_VM | CLONE_VFORK: init
        // waits), which spares copying the page tables of the host's address space again.
        // glibc's clone only switches stacks; it takes no locks.
        let prog = libc::clone(
            program_main,
            ctx.prog_stack_top as *mut c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            ctx as *const ChildCtx<'_> as *mut c_void,
        );
        if prog < 0 {
            fail(Stage::Fork, errno());
        }
        let prog = prog as libc::pid_t;
        libc::close_range(FD_ERR as u32, FD_LAST as u32, 0);
        libc::close_range(0, 2, 0);

        loop {
            let mut status: c_int = 0;
            let r = libc::wait4(-1, &mut status, libc::__WALL, std::ptr::null_mut());
            if r == prog {
                // The status, then whether the working directory's tmpfs is full (seen from
                // in here: the host has no view of this mount namespace).
                let mut report = [0u8; 8];
                let bytes = status.to_ne_bytes();
                let full = plan.workdir_tmpfs.is_some() && workdir_full(&plan.workdir);
                let mut i = 0;
                while i < 4 {
                    report[i] = bytes[i];
                    i += 1;
                }
                report[4] = full as u8;
                libc::write(FD_STATUS, report.as_ptr().cast(), 8);
                libc::_exit(0);
            }
            if r < 0 && errno() != libc::EINTR {
                libc::_exit(INIT_SETUP_FAILED);
            }
        }
    }
}

/// Mounts the working directory's tmpfs (creating its mount point under a hidden path first)
/// and writes the program's files to it, as the program's id. init keeps that fsuid: it
/// creates nothing else, and the program starts from it.
unsafe fn prepare_workdir(wt: &WorkdirTmpfs, workdir: &CString) {
    // SAFETY (whole function): raw syscalls on data prepared before clone; nothing allocates.
    unsafe {
        if let Some(id) = wt.fs_id {
            libc::syscall(libc::SYS_setfsgid, id);
            libc::syscall(libc::SYS_setfsuid, id);
        }
        for d in &wt.mkdirs {
            libc::mkdir(d.as_ptr(), 0o755);
        }
        check(
            libc::mount(
                c"tmpfs".as_ptr(),
                workdir.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                wt.options.as_ptr().cast(),
            ),
            Stage::Workdir,
        );
        for (path, bytes) in &wt.files {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o644,
            );
            check(fd, Stage::Workdir);
            let mut off = 0usize;
            while off < bytes.len() {
                let n = libc::write(fd, bytes.as_ptr().add(off).cast(), bytes.len() - off);
                if n < 0 {
                    if errno() == libc::EINTR {
                        continue;
                    }
                    fail(Stage::Workdir, errno());
                }
                off += n as usize;
            }
            libc::close(fd);
        }
    }
}

/// Whether the working directory's tmpfs has no block or no inode left.
unsafe fn workdir_full(workdir: &CString) -> bool {
    // SAFETY: statfs fills a plain-data struct from a NUL-terminated path.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(workdir.as_ptr(), &mut st) == 0 && (st.f_bfree == 0 || st.f_ffree == 0)
    }
}

extern "C" fn program_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildCtx` init received; with CLONE_VM this process shares init's
    // memory, and init is suspended (CLONE_VFORK) until this process execs or exits.
    let ctx = unsafe { &*(arg as *const ChildCtx<'_>) };
    // SAFETY: only async-signal-safe syscalls follow, ending in execve or _exit.
    unsafe { program_run(ctx) }
}

unsafe fn program_run(ctx: &ChildCtx<'_>) -> ! {
    // SAFETY (whole function): only async-signal-safe syscalls on data prepared before clone.
    unsafe {
        let plan = ctx.plan;
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        let pairs = [
            (FD_STDIN, 0),
            (FD_STDOUT, 1),
            (FD_STDERR, 2),
            (FD_REQ, 3),
            (FD_RESP, 4),
        ];
        for (from, to) in pairs {
            check(libc::dup2(from, to), Stage::Fds);
        }
        libc::close_range(5, (FD_ERR - 1) as u32, 0);
        libc::close_range((FD_ERR + 1) as u32, u32::MAX, 0);
        libc::fcntl(FD_ERR, libc::F_SETFD, libc::FD_CLOEXEC);

        check(libc::chdir(plan.workdir.as_ptr()), Stage::Chdir);
        for &(resource, soft, hard) in &plan.rlimits {
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            check(libc::setrlimit(resource as _, &lim), Stage::Rlimit);
        }
        if let Some((uid, gid)) = plan.drop_to {
            // Raw syscalls: glibc's set*id wrappers signal every thread glibc believes the
            // process has and wait on a futex for them; in a clone of a multi-threaded
            // process those threads do not exist, so the wrappers hang.
            // Denied (EPERM) in an unprivileged user namespace, where the host's groups are
            // the unprivileged user's own anyway.
            let r = libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>());
            if r < 0 && plan.privileged_map {
                fail(Stage::DropIds, errno());
            }
            if libc::syscall(libc::SYS_setresgid, gid, gid, gid) < 0 {
                fail(Stage::DropIds, errno());
            }
            if libc::syscall(libc::SYS_setresuid, uid, uid, uid) < 0 {
                fail(Stage::DropIds, errno());
            }
        }
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            Stage::NoNewPrivs,
        );
        if let Some(ll) = &plan.landlock {
            apply_landlock(ll);
        }
        for prog in &ctx.progs {
            let r = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                prog as *const SockFprog,
            );
            if r < 0 {
                fail(Stage::Seccomp, errno());
            }
        }
        libc::execve(plan.exe.as_ptr(), ctx.argv.as_ptr(), ctx.envp.as_ptr());
        fail(Stage::Exec, errno())
    }
}

unsafe fn apply_landlock(ll: &LandlockPlan) {
    // SAFETY (whole function): raw Landlock syscalls with stack-allocated attributes.
    unsafe {
        let attr = LandlockRulesetAttr {
            handled_access_fs: ll.handled_fs,
            handled_access_net: ll.handled_net,
            scoped: ll.scoped,
        };
        // Older ABIs know only the leading fields; the kernel rejects unknown non-zero tails.
        let size = match ll.abi {
            0..=3 => 8usize,
            4..=5 => 16,
            _ => 24,
        };
        let rs = libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const LandlockRulesetAttr,
            size,
            0u32,
        );
        if rs < 0 {
            fail(Stage::Landlock, errno());
        }
        let rs = rs as c_int;
        for (path, access) in &ll.rules {
            let fd = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            if fd < 0 {
                // A path missing on this host grants nothing; skip it.
                continue;
            }
            let rule = LandlockPathBeneathAttr {
                allowed_access: *access,
                parent_fd: fd,
            };
            let r = libc::syscall(
                libc::SYS_landlock_add_rule,
                rs,
                LANDLOCK_RULE_PATH_BENEATH,
                &rule as *const LandlockPathBeneathAttr,
                0u32,
            );
            libc::close(fd);
            if r < 0 {
                fail(Stage::Landlock, errno());
            }
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, rs, 0u32) < 0 {
            fail(Stage::Landlock, errno());
        }
        libc::close(rs);
    }
}
