//! `ProcessSandbox`: one execution from job to output: working directory, cgroups, clone,
//! limits, capture, bridge, metrics, and guards that leave nothing behind on any outcome.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use codeward_core::{
    ExecutionMetrics, ExitState, Language, LimitKind, Sandbox, SandboxJob, SandboxOutput,
};
use seccompiler::BpfProgram;
use tokio::io::AsyncReadExt;
use tokio::sync::{Semaphore, oneshot};

use crate::bridge::{self, BridgeContext, BridgeStats, MAX_PROTOCOL_ERRORS};
use crate::cgroup::{CgroupLimits, CgroupRun};
use crate::child::{
    self, ChildFailure, ChildPlan, ChildStdio, IdMap, SpawnError, Spawned, WorkdirTmpfs,
};
use crate::config::{Layer, SandboxConfig};
use crate::error::SandboxError;
use crate::host::{HostCapabilities, IsolationReport};
use crate::output;
use crate::runtime::{self, Interpreter};
use crate::{landlock, seccomp, transpile};

/// The uid/gid the program runs as inside a user namespace.
const INSIDE_ID: u32 = 1000;
/// The host uid/gid that inside id maps to (`nobody`).
const NOBODY: u32 = 65534;
/// Where host services keep their Unix sockets (and scratch files): always hidden by empty
/// tmpfs mounts in the mount namespace. Landlock hides their files but not `connect` to them.
const HIDDEN_ALWAYS: [&str; 5] = ["/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run"];
/// Hidden by empty tmpfs mounts when Landlock is not available.
const HIDDEN_WITHOUT_LANDLOCK: [&str; 5] = ["/root", "/home", "/mnt", "/media", "/srv"];
/// How long to wait for pipes to reach EOF once the process tree is gone.
const DRAIN_GRACE: Duration = Duration::from_millis(250);

/// Everything one run produced, with the isolation report and bridge statistics.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SandboxRun {
    /// What the core seam returns.
    pub output: SandboxOutput,
    /// Which layers were in force.
    pub isolation: IsolationReport,
    /// What the tool bridge saw.
    pub bridge: BridgeStats,
    /// stdout was cut at the cap.
    pub stdout_truncated: bool,
    /// stderr was cut at the cap.
    pub stderr_truncated: bool,
    /// Where the time went, for tuning start-up.
    pub timings: Timings,
}

/// Host-side phases of one run, each measured from the start of `run_detailed`'s work
/// (after the parallelism permit was granted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timings {
    /// Working directory, program files, cgroups and the child plan are ready.
    pub prepared: Duration,
    /// The namespace init is cloned and released.
    pub spawned: Duration,
    /// The interpreter was executed (the error pipe closed).
    pub executing: Duration,
    /// init was reaped (the program and everything it started are gone).
    pub reaped: Duration,
    /// Output, bridge and cgroups collected and everything removed.
    pub finished: Duration,
}

type SpawnRequest = (
    ChildPlan,
    ChildStdio,
    oneshot::Sender<Result<Spawned, SpawnError>>,
);

/// A long-lived thread that clones every sandbox. `PR_SET_PDEATHSIG` fires when the thread
/// that created a child exits, so cloning from short-lived pool threads would kill runs.
struct Spawner {
    tx: Mutex<std::sync::mpsc::Sender<SpawnRequest>>,
}

impl Spawner {
    /// Starts the thread; with `shared_network` it first moves itself into an empty
    /// network namespace that every sandbox it clones shares (a fresh one costs ~0.7 ms a
    /// run). Returns whether that worked.
    fn start(shared_network: bool) -> Result<(Spawner, bool), SandboxError> {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<bool>();
        std::thread::Builder::new()
            .name("codeward-sandbox-spawner".to_owned())
            .spawn(move || {
                let shared = shared_network && child::unshare_thread_network().is_ok();
                let _ = ready_tx.send(shared);
                while let Ok((plan, stdio, reply)) = rx.recv() {
                    let r = child::spawn(&plan, stdio);
                    if let Err(Ok(spawned)) = reply.send(r) {
                        // The run was dropped while we cloned: do not leave the child.
                        child::kill_and_reap(spawned.pid);
                    }
                }
            })
            .map_err(|e| SandboxError::io("starting the spawner thread", "", e))?;
        let shared = ready_rx.recv().unwrap_or(false);
        Ok((Spawner { tx: Mutex::new(tx) }, shared))
    }

    async fn spawn(&self, plan: ChildPlan, stdio: ChildStdio) -> Result<Spawned, SandboxError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .lock()
            .map_err(|_| SandboxError::Internal("spawner lock poisoned".to_owned()))?
            .send((plan, stdio, reply))
            .map_err(|_| SandboxError::Internal("spawner thread is gone".to_owned()))?;
        let r = rx
            .await
            .map_err(|_| SandboxError::Internal("spawner dropped the request".to_owned()))?;
        r.map_err(|SpawnError::Io(context, source)| SandboxError::io(context, "", source))
    }
}

struct Inner {
    config: SandboxConfig,
    host: HostCapabilities,
    report: IsolationReport,
    python: Result<Interpreter, String>,
    node: Result<Interpreter, String>,
    filters: Vec<BpfProgram>,
    semaphore: Arc<Semaphore>,
    spawner: Spawner,
    /// Sandboxes share the spawner thread's empty network namespace.
    shared_network: bool,
    /// Generated TypeScript API modules already transpiled, newest last. The same tools give
    /// the same module (the orchestrator caches it per tool set), so most runs reuse one.
    transpiled_apis: std::sync::Mutex<Vec<(Arc<str>, Arc<str>)>>,
}

/// How many transpiled API modules a sandbox keeps.
const TRANSPILED_APIS: usize = 16;

impl Inner {
    /// The JavaScript of a generated API module, transpiled once per distinct module.
    fn api_javascript(&self, module: &str) -> Result<Arc<str>, SandboxError> {
        let cached = |apis: &mut Vec<(Arc<str>, Arc<str>)>| {
            let i = apis.iter().position(|(m, _)| &**m == module)?;
            let entry = apis.remove(i);
            let js = entry.1.clone();
            apis.push(entry);
            Some(js)
        };
        if let Some(js) = self
            .transpiled_apis
            .lock()
            .ok()
            .and_then(|mut a| cached(&mut a))
        {
            return Ok(js);
        }
        let js: Arc<str> = transpile::to_javascript(module, "codeward_api.ts")?.into();
        if let Ok(mut apis) = self.transpiled_apis.lock() {
            if apis.len() >= TRANSPILED_APIS {
                apis.remove(0);
            }
            apis.push((module.into(), js.clone()));
        }
        Ok(js)
    }
}

/// Numbers runs process-wide: cgroup and directory names must not collide between sandboxes.
static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

/// Runs programs in isolated processes; implements [`codeward_core::Sandbox`].
///
/// Cheap to clone (shared state). Creating one probes the host and resolves the
/// interpreters once.
#[derive(Clone)]
pub struct ProcessSandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ProcessSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessSandbox")
            .field("active", &self.inner.report.active_names())
            .finish_non_exhaustive()
    }
}

impl ProcessSandbox {
    /// Probes the host, checks required layers, resolves interpreters.
    ///
    /// Fails when a required layer is missing ([`SandboxError::LayerUnavailable`]). A
    /// missing interpreter fails only runs in that language.
    pub fn new(config: SandboxConfig) -> Result<ProcessSandbox, SandboxError> {
        let host = HostCapabilities::detect();
        let report = host.plan(&config)?;
        let python = runtime::resolve_python(config.python.as_deref()).map_err(|e| e.to_string());
        let node = runtime::resolve_node(config.node.as_deref()).map_err(|e| e.to_string());
        let filters = if report.is_active(Layer::Seccomp) {
            seccomp::filters(report.is_active(Layer::NetworkNamespace))?
        } else {
            Vec::new()
        };
        let semaphore = Arc::new(Semaphore::new(config.max_parallel));
        // One empty network namespace for all runs is as tight as one per run when nothing
        // can cross it: loopback stays down (no IP at all), no sandbox holds capabilities
        // over it, and Landlock (ABI 6+) scopes abstract unix sockets to each sandbox (and
        // with seccomp no program can open a socket at all).
        let can_share = report.is_active(Layer::NetworkNamespace)
            && report.is_active(Layer::Landlock)
            && host.landlock_abi.unwrap_or(0) >= 6
            && host.euid == 0;
        let report_mount_ns = report.is_active(Layer::MountNamespace);
        let (spawner, shared_network) = Spawner::start(can_share)?;
        let mut report = report;
        if let Some(s) = report
            .layers
            .iter_mut()
            .find(|s| s.layer == Layer::WorkingDirectory)
        {
            s.detail = if report_mount_ns {
                format!(
                    "private tmpfs of at most {} KiB beyond the program's files, in the run's \
                     memory, gone with the run",
                    config.max_disk_bytes / 1024
                )
            } else {
                "private directory, removed afterwards; no size cap without a mount namespace \
                 (only the per-file limit)"
                    .to_owned()
            };
        }
        if shared_network
            && let Some(s) = report
                .layers
                .iter_mut()
                .find(|s| s.layer == Layer::NetworkNamespace)
        {
            s.detail = "one empty namespace shared by this sandbox's runs: loopback down, no \
                        capabilities over it, abstract unix sockets scoped by Landlock"
                .to_owned();
        }
        Ok(ProcessSandbox {
            inner: Arc::new(Inner {
                config,
                host,
                report,
                python,
                node,
                filters,
                semaphore,
                spawner,
                shared_network,
                transpiled_apis: Default::default(),
            }),
        })
    }

    /// A sandbox with the default configuration (every layer preferred).
    pub fn with_defaults() -> Result<ProcessSandbox, SandboxError> {
        ProcessSandbox::new(SandboxConfig::default())
    }

    /// The layers every run uses on this host.
    pub fn isolation_report(&self) -> &IsolationReport {
        &self.inner.report
    }

    /// How many more runs could start now without waiting (`max_parallel` minus running).
    pub fn available_slots(&self) -> usize {
        self.inner.semaphore.available_permits()
    }

    /// The configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The interpreter used for `language`, if it was found.
    pub fn interpreter(&self, language: Language) -> Option<&Path> {
        self.interp(language).ok().map(|i| i.exe.as_path())
    }

    fn interp(&self, language: Language) -> Result<&Interpreter, SandboxError> {
        let (r, name) = match language {
            Language::Python => (&self.inner.python, "python"),
            _ => (&self.inner.node, "typescript"),
        };
        r.as_ref().map_err(|reason| SandboxError::Interpreter {
            language: name.to_owned(),
            reason: reason.clone(),
        })
    }

    /// Runs `job` and returns everything measured, including the isolation report.
    pub async fn run_detailed(&self, job: SandboxJob) -> Result<SandboxRun, SandboxError> {
        let _permit = self
            .inner
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SandboxError::Internal("semaphore closed".to_owned()))?;
        self.run_admitted(job).await
    }

    async fn run_admitted(&self, job: SandboxJob) -> Result<SandboxRun, SandboxError> {
        let inner = &*self.inner;
        let report = &inner.report;
        let interp = self.interp(job.language)?;
        let limits = &job.limits;
        let t0 = Instant::now();
        let mut timings = Timings::default();
        let seq = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let tag = format!(
            "codeward-{}-{seq}-{}",
            std::process::id(),
            safe_id(&job.execution_id)
        );

        // 1. The private working directory (removed by its guard on every path out). With a
        // mount namespace it is only the mount point of the run's tmpfs, which init fills
        // with the program's files; without one the files are written here.
        let workdir = make_workdir(inner, &tag)?;
        let wd = workdir.path().to_path_buf();
        let (files, program_js) = program_files(inner, &job)?;
        let files = if report.is_active(Layer::MountNamespace) {
            files
        } else {
            write_files(&wd, &files)?;
            Vec::new()
        };
        // As root the program runs as nobody (mapped or dropped to); otherwise it runs as the
        // host user (mapped when in a user namespace), who already owns the directory.
        if inner.host.euid == 0 {
            chown_tree(&wd, NOBODY)?;
        }

        // 2. cgroups.
        let cg_limits = CgroupLimits {
            memory_bytes: Some(limits.memory_bytes),
            max_pids: Some(u64::from(limits.max_processes.max(1))),
        };
        let cgroups = CgroupRun::create(
            &inner.host.cgroups,
            report.is_active(Layer::MemoryCgroup),
            report.is_active(Layer::PidsCgroup),
            // cgroup.kill only matters when there is no pid namespace to tear down.
            !report.is_active(Layer::PidNamespace),
            &tag,
            cg_limits,
        )
        .map_err(|e| SandboxError::io("creating the run's cgroups", &tag, e))?;
        let mut guard = RunGuard {
            process: None,
            cgroups,
            workdir: Some(workdir),
        };

        // 3. Pipes and the plan.
        let pipe = |what| child::pipe().map_err(|e| SandboxError::io(what, "", e));
        let (out_r, out_w) = pipe("creating the stdout pipe")?;
        let (err_r, err_w) = pipe("creating the stderr pipe")?;
        let (req_r, req_w) = pipe("creating the bridge request pipe")?;
        let (resp_r, resp_w) = pipe("creating the bridge response pipe")?;
        let stdin: OwnedFd = std::fs::File::open("/dev/null")
            .map_err(|e| SandboxError::io("opening /dev/null", "/dev/null", e))?
            .into();
        let plan = self.child_plan(
            &job,
            interp,
            &wd,
            &guard.cgroups,
            program_js.as_deref(),
            files,
        )?;

        // 4. Start.
        timings.prepared = t0.elapsed();
        let started = Instant::now();
        let spawned = inner
            .spawner
            .spawn(
                plan,
                ChildStdio {
                    stdin,
                    stdout: out_w,
                    stderr: err_w,
                    bridge_req: req_w,
                    bridge_resp: resp_r,
                },
            )
            .await?;
        let Spawned {
            pid,
            pidfd,
            status: status_r,
            errors: errors_r,
            mount_ns,
        } = spawned;
        // Guard init first: from here on every way out (an error, a panic, a dropped future)
        // kills and reaps it.
        guard.process = Some(ProcessGuard { pid, reaped: false });
        let pidfd =
            child::watch_pidfd(pidfd).map_err(|e| SandboxError::io("watching the pidfd", "", e))?;

        let cap = limits.max_output_bytes;
        let stdout =
            output::capture(out_r, cap).map_err(|e| SandboxError::io("capturing stdout", "", e))?;
        let stderr =
            output::capture(err_r, cap).map_err(|e| SandboxError::io("capturing stderr", "", e))?;
        let captures = CaptureGuard(vec![stdout.task, stderr.task]);
        let mut bridge = bridge::serve(
            req_r,
            resp_w,
            BridgeContext {
                execution_id: job.execution_id.clone(),
                tools: job.tools.clone(),
                invoker: job.invoker.clone(),
                observer: job.observer.clone(),
                max_calls: limits.max_tool_calls,
                call_timeout: limits.tool_call_timeout,
            },
        )
        .map_err(|e| SandboxError::io("serving the tool bridge", "", e))?;

        timings.spawned = t0.elapsed();
        // 5. Setup failures arrive on the error pipe; EOF means the interpreter is running.
        let deadline = tokio::time::Instant::from_std(started) + limits.timeout;
        if let Some(failure) = read_failure(errors_r, deadline).await {
            return Err(SandboxError::Setup {
                stage: failure.stage.describe(),
                source: std::io::Error::from_raw_os_error(failure.errno),
            });
        }

        timings.executing = t0.elapsed();
        // 6. Wait for init, or kill the whole tree at the deadline.
        // RLIMIT_CPU holds per process; the cgroup's accounting makes the limit hold for
        // the whole tree (a program that spreads a spin over workers).
        let mut timed_out = false;
        let mut cpu_exceeded = false;
        let mut bridge_ended = false;
        let watch_cpu = guard.cgroups.cpu_usage().is_some();
        let mut cpu_tick = tokio::time::interval(
            (limits.cpu_time / 10).clamp(Duration::from_millis(10), Duration::from_millis(100)),
        );
        cpu_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (init_status, usage) = loop {
            let ready = tokio::select! {
                r = pidfd.readable() => Some(r),
                _ = tokio::time::sleep_until(deadline), if !timed_out => None,
                _ = cpu_tick.tick(), if watch_cpu && !cpu_exceeded && !timed_out => {
                    let used = guard.cgroups.cpu_usage().map(|u| u.total()).unwrap_or_default();
                    if used > limits.cpu_time {
                        cpu_exceeded = true;
                        child::kill_pidfd(pidfd.get_ref());
                        guard.cgroups.kill_all();
                    }
                    continue;
                }
                // The program broke the bridge protocol too often: the bridge stopped
                // reading, so the run ends here.
                _ = bridge.end_requested(), if !bridge_ended && !timed_out => {
                    bridge_ended = true;
                    child::kill_pidfd(pidfd.get_ref());
                    guard.cgroups.kill_all();
                    continue;
                }
            };
            match ready {
                None => {
                    timed_out = true;
                    child::kill_pidfd(pidfd.get_ref());
                    guard.cgroups.kill_all();
                }
                Some(Ok(mut g)) => {
                    if let Some(r) = child::try_reap(pid) {
                        break r;
                    }
                    g.clear_ready();
                }
                Some(Err(e)) => return Err(SandboxError::io("waiting for the sandbox", "", e)),
            }
        };
        let wall_time = started.elapsed();
        timings.reaped = t0.elapsed();
        if let Some(ns) = mount_ns {
            // The namespace's teardown waits for an RCU grace period: not on our time.
            tokio::task::spawn_blocking(move || drop(ns));
        }
        if let Some(p) = guard.process.as_mut() {
            p.reaped = true;
        }
        // Anything that escaped init's namespace (only possible without a pid namespace).
        guard.cgroups.kill_all();
        let (program_status, disk_full) = read_status(&status_r);

        // 7. Collect output and the bridge; never wait for EOF forever.
        let drain = tokio::time::Instant::now() + DRAIN_GRACE;
        let mut captures = captures;
        for h in captures.0.iter_mut() {
            let _ = tokio::time::timeout_at(drain, h).await;
        }
        drop(captures);
        let bridge_out = bridge.finish(DRAIN_GRACE).await;
        let cg = guard.cgroups.stats();

        let (stdout_text, stdout_truncated, out_total) = take(&stdout.shared);
        let (mut stderr_text, stderr_truncated, err_total) = take(&stderr.shared);
        if bridge_out.stats.protocol_limit_hit {
            stderr_text.push_str(&format!(
                "\n[codeward: the run was stopped: it sent {MAX_PROTOCOL_ERRORS} messages on the \
                 tool bridge (fd 3) that are not JSON-RPC requests; speak \
                 docs/bridge-protocol.md there, or leave fd 3 alone]\n"
            ));
        }

        // 8. Metrics and the limit that stopped it.
        // When init died without reporting the program (killed from outside), its own status
        // is the honest answer; decode_status never yields both a code and a signal.
        let exit = match child::decode_status(program_status.unwrap_or(init_status)) {
            (Some(code), _) => ExitState::Code(code),
            (_, Some(sig)) => ExitState::Signal(sig),
            _ => ExitState::Unknown,
        };
        // The cgroup counts every process of the tree, including ones init never reaped.
        let tree = guard.cgroups.cpu_usage().unwrap_or_default();
        let cpu_user = usage.user.max(tree.user);
        let cpu_system = usage.system.max(tree.system);
        let cpu = cpu_user + cpu_system;
        let memory_text = exit != ExitState::Code(0)
            && (stderr_text.contains("MemoryError") || stderr_text.contains("heap out of memory"));
        let limit_hit = if timed_out {
            Some(LimitKind::Timeout)
        } else if cg.oom_killed
            || (cg.memory_limit_hit && !matches!(exit, ExitState::Code(0)))
            || memory_text
        {
            Some(LimitKind::Memory)
        } else if cpu_exceeded
            || exit == ExitState::Signal(libc::SIGXCPU)
            || (exit == ExitState::Signal(libc::SIGKILL) && cpu >= limits.cpu_time)
        {
            Some(LimitKind::Cpu)
        } else if cg.pids_limit_hit {
            Some(LimitKind::Pids)
        } else if disk_full {
            Some(LimitKind::Disk)
        } else if stdout_truncated || stderr_truncated {
            Some(LimitKind::Output)
        } else if bridge_out.stats.budget_exceeded {
            Some(LimitKind::ToolCalls)
        } else {
            None
        };
        let peak = cg.peak_memory_bytes.unwrap_or(0).max(usage.max_rss_bytes);
        let metrics = ExecutionMetrics {
            wall_time,
            cpu_user,
            cpu_system,
            peak_memory_bytes: peak,
            output_bytes: out_total + err_total,
            tool_calls: bridge_out.stats.dispatched,
            exit,
            limit_hit,
        };

        // 9. Clean up now (the guard would on any earlier exit) and report. Removing the
        // cgroups may wait for the kernel to let go of them (rmdir retries for up to 200 ms)
        // and the working directory is a tree to delete: off the async workers.
        if tokio::task::spawn_blocking(move || guard.finish())
            .await
            .is_err()
        {
            tracing::warn!(
                "cleaning up a sandbox run panicked or was cancelled at shutdown; its cgroups or working directory may remain"
            );
        }
        timings.finished = t0.elapsed();
        let success = exit == ExitState::Code(0)
            && limit_hit.is_none()
            && !bridge_out.stats.protocol_limit_hit;
        let mut out = SandboxOutput::new(success, stdout_text, metrics);
        out.stderr = stderr_text;
        out.result = bridge_out.result;
        out.isolation = report.active_names();
        Ok(SandboxRun {
            output: out,
            isolation: report.clone(),
            bridge: bridge_out.stats,
            stdout_truncated,
            stderr_truncated,
            timings,
        })
    }

    // The rlimit resource type is u32 on glibc and c_int on musl: the casts are for those.
    #[allow(clippy::unnecessary_cast)]
    fn child_plan(
        &self,
        job: &SandboxJob,
        interp: &Interpreter,
        wd: &Path,
        cgroups: &CgroupRun,
        program_js: Option<&str>,
        files: Vec<(&'static str, String)>,
    ) -> Result<ChildPlan, SandboxError> {
        let inner = &*self.inner;
        let report = &inner.report;
        let on = |l| report.is_active(l);
        let limits = &job.limits;
        let mut ns = 0;
        if on(Layer::UserNamespace) {
            ns |= libc::CLONE_NEWUSER;
        }
        if on(Layer::MountNamespace) {
            ns |= libc::CLONE_NEWNS;
        }
        if on(Layer::PidNamespace) {
            ns |= libc::CLONE_NEWPID;
        }
        if on(Layer::NetworkNamespace) && !inner.shared_network {
            ns |= libc::CLONE_NEWNET;
        }
        if on(Layer::IpcNamespace) {
            ns |= libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        }
        let cstr = |s: &str, what: &str| {
            CString::new(s).map_err(|_| SandboxError::Config(format!("{what} contains a NUL byte")))
        };
        let argv = runtime::argv(
            job.language,
            interp,
            limits.memory_bytes,
            on(Layer::MemoryCgroup),
            program_js,
        );
        let env = runtime::environment(wd, &job.execution_id, &inner.config.env);
        let cpu_secs = limits.cpu_time.as_secs_f64().ceil().max(1.0) as u64;
        let mut rlimits = vec![
            (libc::RLIMIT_CPU as u32, cpu_secs, cpu_secs + 1),
            (
                libc::RLIMIT_FSIZE as u32,
                inner.config.max_file_bytes,
                inner.config.max_file_bytes,
            ),
            (
                libc::RLIMIT_NOFILE as u32,
                inner.config.max_open_files,
                inner.config.max_open_files,
            ),
            (libc::RLIMIT_CORE as u32, 0, 0),
        ];
        if job.language == Language::Python {
            // Address space covers mappings, not just the heap: leave room for libraries.
            let bytes = limits.memory_bytes.saturating_add(64 * 1024 * 1024);
            rlimits.push((libc::RLIMIT_AS as u32, bytes, bytes));
        }
        if !on(Layer::PidsCgroup) {
            let n = u64::from(limits.max_processes.max(1));
            rlimits.push((libc::RLIMIT_NPROC as u32, n, n));
        }
        let landlock = match (on(Layer::Landlock), inner.host.landlock_abi) {
            (true, Some(abi)) => Some(landlock::plan(abi, wd, &interp.read_paths)),
            _ => None,
        };
        // The mount namespace hides scratch and runtime directories (empty read-only tmpfs),
        // and without Landlock home directories too; the working directory's own tmpfs gets
        // a mount point created inside them when it lies below one.
        let mut hide_paths = Vec::new();
        let mut mkdirs = Vec::new();
        if on(Layer::MountNamespace) {
            let without_landlock: &[&str] = if landlock.is_none() {
                &HIDDEN_WITHOUT_LANDLOCK
            } else {
                &[]
            };
            for &dir in HIDDEN_ALWAYS.iter().chain(without_landlock) {
                let p = Path::new(dir);
                let needed =
                    interp.read_paths.iter().any(|r| r.starts_with(p)) || interp.exe.starts_with(p);
                let is_mount_dir = std::fs::symlink_metadata(p)
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                if !is_mount_dir || needed {
                    continue;
                }
                hide_paths.push(cstr(dir, "path")?);
                if let Ok(rest) = wd.strip_prefix(p) {
                    let mut cur = p.to_path_buf();
                    for part in rest.components() {
                        cur.push(part);
                        mkdirs.push(path_cstr(&cur)?);
                    }
                }
            }
        }
        let drop_to = if on(Layer::UserNamespace) {
            Some((INSIDE_ID, INSIDE_ID))
        } else if inner.host.euid == 0 {
            Some((NOBODY, NOBODY))
        } else {
            None
        };
        let workdir_tmpfs = if on(Layer::MountNamespace) {
            Some(workdir_tmpfs(
                wd,
                inner.config.max_disk_bytes,
                drop_to.map(|(uid, _)| uid),
                mkdirs,
                files,
            )?)
        } else {
            None
        };
        Ok(ChildPlan {
            namespaces: ns,
            id_map: on(Layer::UserNamespace).then_some(IdMap {
                inside_uid: INSIDE_ID,
                outside_uid: if inner.host.euid == 0 {
                    NOBODY
                } else {
                    inner.host.euid
                },
                inside_gid: INSIDE_ID,
                outside_gid: if inner.host.euid == 0 {
                    NOBODY
                } else {
                    child::getegid()
                },
            }),
            exe: CString::new(interp.exe.as_os_str().as_bytes())
                .map_err(|_| SandboxError::Config("interpreter path contains NUL".to_owned()))?,
            argv: argv
                .iter()
                .map(|a| cstr(a, "an argument"))
                .collect::<Result<_, _>>()?,
            envp: env
                .iter()
                .map(|(k, v)| cstr(&format!("{k}={v}"), "an environment variable"))
                .collect::<Result<_, _>>()?,
            workdir: CString::new(wd.as_os_str().as_bytes())
                .map_err(|_| SandboxError::Config("working directory contains NUL".to_owned()))?,
            mount_private: on(Layer::MountNamespace),
            mount_proc: on(Layer::PidNamespace) && on(Layer::MountNamespace),
            hide_paths,
            workdir_tmpfs,
            set_hostname: on(Layer::IpcNamespace),
            subreaper: !on(Layer::PidNamespace),
            rlimits,
            drop_to,
            privileged_map: inner.host.euid == 0,
            landlock,
            seccomp: inner.filters.clone(),
            cgroup_procs: cgroups.procs_files(),
            cgroup_tasks: cgroups
                .tasks_files()
                .iter()
                .map(|p| path_cstr(p))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[async_trait]
impl Sandbox for ProcessSandbox {
    async fn run(&self, job: SandboxJob) -> codeward_core::Result<SandboxOutput> {
        Ok(self.run_detailed(job).await?.output)
    }
}

/// Kills and reaps init if the run ends early; then cgroups and the working directory go.
struct RunGuard {
    process: Option<ProcessGuard>,
    cgroups: CgroupRun,
    workdir: Option<tempfile::TempDir>,
}

struct ProcessGuard {
    pid: i32,
    reaped: bool,
}

impl RunGuard {
    fn finish(&mut self) {
        if let Some(p) = self.process.as_mut()
            && !p.reaped
        {
            child::kill_and_reap(p.pid);
            p.reaped = true;
        }
        self.cgroups.remove();
        if let Some(wd) = self.workdir.take() {
            let path = wd.path().to_path_buf();
            if let Err(e) = wd.close() {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a sandbox working directory");
            }
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Aborts the capture tasks when the run ends early.
struct CaptureGuard(Vec<tokio::task::JoinHandle<()>>);

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

fn take(shared: &Arc<Mutex<output::Captured>>) -> (String, bool, u64) {
    let c = shared.lock().unwrap_or_else(|p| p.into_inner());
    let (text, truncated) = c.text();
    (text, truncated, c.total)
}

fn path_cstr(p: &Path) -> Result<CString, SandboxError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| SandboxError::Config(format!("path {} contains a NUL byte", p.display())))
}

/// The execution id reduced to characters safe in file and cgroup names.
fn safe_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect()
}

fn make_workdir(inner: &Inner, tag: &str) -> Result<tempfile::TempDir, SandboxError> {
    let root = inner
        .config
        .work_root
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix(&format!("{tag}-"))
        .tempdir_in(&root)
        .map_err(|e| SandboxError::io("creating the working directory", &root, e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| SandboxError::io("restricting the working directory", dir.path(), e))?;
    Ok(dir)
}

/// The program and the API module as (file name, contents), and the program's JavaScript
/// for node.
type ProgramFiles = (Vec<(&'static str, String)>, Option<String>);

fn program_files(inner: &Inner, job: &SandboxJob) -> Result<ProgramFiles, SandboxError> {
    let mut files = Vec::new();
    match job.language {
        Language::Python => {
            files.push(("main.py", job.program.clone()));
            if let Some(api) = &job.api {
                files.push(("codeward_api.py", api.module.clone()));
            }
            Ok((files, None))
        }
        _ => {
            let js = transpile::to_javascript(&job.program, "main.ts")?;
            files.push(("main.mjs", js.clone()));
            if let Some(api) = &job.api {
                files.push((
                    "codeward_api.mjs",
                    inner.api_javascript(&api.module)?.to_string(),
                ));
            }
            Ok((files, Some(js)))
        }
    }
}

/// Writes the program's files to the working directory on the host (no mount namespace).
fn write_files(wd: &Path, files: &[(&'static str, String)]) -> Result<(), SandboxError> {
    for (name, text) in files {
        let p = wd.join(name);
        std::fs::write(&p, text).map_err(|e| SandboxError::io("writing a program file", p, e))?;
    }
    Ok(())
}

/// The working directory's tmpfs: `max_disk_bytes` for the program on top of its own files,
/// and an inode count in proportion (a zero size or count would mean no limit at all).
fn workdir_tmpfs(
    wd: &Path,
    max_disk_bytes: u64,
    owner: Option<u32>,
    mkdirs: Vec<CString>,
    files: Vec<(&'static str, String)>,
) -> Result<WorkdirTmpfs, SandboxError> {
    const PAGE: u64 = 4096;
    let pages = |bytes: u64| bytes.div_ceil(PAGE);
    let file_pages: u64 = files.iter().map(|(_, t)| pages(t.len() as u64)).sum();
    let size_pages = pages(max_disk_bytes).saturating_add(file_pages).max(1);
    let inodes = pages(max_disk_bytes)
        .saturating_add(files.len() as u64 + 64)
        .min(1 << 20);
    // A huge cap (`u64::MAX` as "no limit") must not wrap to a tiny size.
    let size = size_pages.saturating_mul(PAGE).min(u64::MAX / 2);
    let mut options = format!("size={size},nr_inodes={inodes},mode=0700");
    if let Some(id) = owner {
        options.push_str(&format!(",uid={id},gid={id}"));
    }
    let options = CString::new(options)
        .map_err(|_| SandboxError::Internal("tmpfs options contain NUL".to_owned()))?;
    let files = files
        .into_iter()
        .map(|(name, text)| Ok((path_cstr(&wd.join(name))?, text.into_bytes())))
        .collect::<Result<_, SandboxError>>()?;
    Ok(WorkdirTmpfs {
        options,
        mkdirs,
        fs_id: owner,
        files,
    })
}

fn chown_tree(dir: &Path, id: u32) -> Result<(), SandboxError> {
    child::chown(dir, id, id).map_err(|e| {
        SandboxError::io("handing the working directory to the sandbox user", dir, e)
    })?;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| SandboxError::io("listing the working directory", dir, e))?;
    for entry in entries.flatten() {
        let p = entry.path();
        child::chown(&p, id, id)
            .map_err(|e| SandboxError::io("handing a program file to the sandbox user", &p, e))?;
    }
    Ok(())
}

/// Reads the error pipe to EOF (or the deadline): a decoded failure, or `None` when the
/// interpreter started.
async fn read_failure(fd: OwnedFd, deadline: tokio::time::Instant) -> Option<ChildFailure> {
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok()?;
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 16];
        loop {
            match rx.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, read).await;
    ChildFailure::decode(&buf)
}

/// The program's wait status as init reported it, and whether the working directory's tmpfs
/// was full (init is reaped, so this never waits).
fn read_status(fd: &OwnedFd) -> (Option<i32>, bool) {
    let mut buf = [0u8; 8];
    if child::read_now(fd, &mut buf) != 8 {
        return (None, false);
    }
    let status = i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    (Some(status), buf[4] == 1)
}
