//! The escape corpus: each attempt is contained, reported, and leaves nothing behind.
// Setting a fake secret in this process's environment needs `set_var`, which is unsafe in
// edition 2024 (other threads may read the environment at the same time).
#![allow(unsafe_code)]

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use codeward_core::{ExitState, Language, LimitKind};
use codeward_sandbox::{Layer, ProcessSandbox, SandboxConfig, SandboxError};

use crate::support::*;

const FAKE_SECRET: &str = "sk-live-codeward-test-4f9a2c";

fn set_fake_secret() {
    // SAFETY: the variable is only ever set to the same value; tests that read the
    // environment do so through /proc, not getenv.
    unsafe { std::env::set_var("CODEWARD_TEST_API_TOKEN", FAKE_SECRET) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_layer_is_active_on_this_host() {
    let sb = sandbox();
    let report = sb.isolation_report();
    println!("{report}");
    assert_all_layers(&report.active_names());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_environment_secrets_are_not_visible() {
    let _s = serial().await;
    set_fake_secret();
    let m = marker("env");
    let program = r#"
import os
seen = []
for k, v in os.environ.items():
    seen.append(k + "=" + v)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            seen.append(open("/proc/%s/environ" % pid, "rb").read().decode("latin-1"))
        except OSError as e:
            print("environ of", pid, "refused:", e.errno)
print("\n".join(seen))
print("pids:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
"#;
    let run = sandbox()
        .run_detailed(job(&m, Language::Python, program, limits()))
        .await
        .expect("runs");
    let out = &run.output;
    assert!(out.success, "{out:?}");
    assert!(
        !out.stdout.contains(FAKE_SECRET),
        "secret leaked: {}",
        out.stdout
    );
    assert!(!out.stdout.contains("CODEWARD_TEST_API_TOKEN"));
    // Host processes are invisible: init is pid 1 and the program pid 2.
    assert!(out.stdout.contains("pids: [1, 2]"), "{}", out.stdout);
    assert!(run.isolation.is_active(Layer::PidNamespace));
    assert!(run.isolation.is_active(Layer::Environment));
    assert_clean(&m);
}

#[test]
fn secret_looking_extra_variables_are_refused() {
    for name in [
        "OPENAI_API_KEY",
        "db_password",
        "GITHUB_TOKEN",
        "AWS_SECRET",
        "MY_AUTH",
        "X_CREDENTIALS",
    ] {
        let err = SandboxConfig::builder()
            .env(name, "x")
            .build()
            .expect_err(name);
        assert!(
            matches!(err, SandboxError::EnvRefused { .. }),
            "{name}: {err}"
        );
    }
    for name in ["LD_PRELOAD", "NODE_OPTIONS", "CODEWARD_BRIDGE_FDS"] {
        assert!(
            SandboxConfig::builder().env(name, "x").build().is_err(),
            "{name}"
        );
    }
    let ok = SandboxConfig::builder()
        .env("APP_MODE", "test")
        .build()
        .expect("plain name");
    assert_eq!(ok.env, vec![("APP_MODE".to_owned(), "test".to_owned())]);
}

#[test]
fn always_on_layers_cannot_be_turned_off() {
    let err = SandboxConfig::builder()
        .disable(Layer::Environment)
        .build()
        .expect_err("refused");
    assert!(err.to_string().contains("cannot be turned off"), "{err}");
}

const READ_OUTSIDE: &str = r#"
import sys
for path in sys.argv_paths:
    try:
        print("READ", path, open(path).read())
    except OSError as e:
        print("DENIED", path, e.errno)
"#;

struct RemoveOnDrop(Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn read_outside_with(sb: &ProcessSandbox, name: &str) -> (String, Vec<String>) {
    let m = marker(name);
    let in_root = format!("/root/codeward-test-{m}.txt");
    let in_tmp = std::env::temp_dir().join(format!("codeward-outside-{m}.txt"));
    // Removed even when an assertion below fails.
    let _files = RemoveOnDrop(vec![in_root.clone().into(), in_tmp.clone()]);
    std::fs::write(&in_root, "root secret").expect("write /root file");
    std::fs::write(&in_tmp, "tmp secret").expect("write tmp file");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&in_tmp, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let program = READ_OUTSIDE.replace(
        "sys.argv_paths",
        &format!(
            "[{in_root:?}, {:?}, '/etc/shadow']",
            in_tmp.display().to_string()
        ),
    );
    let run = sb
        .run_detailed(job(&m, Language::Python, &program, limits()))
        .await
        .expect("runs");
    assert!(
        !run.output.stdout.contains("secret"),
        "{}",
        run.output.stdout
    );
    assert_eq!(
        run.output.stdout.matches("DENIED").count(),
        3,
        "{}",
        run.output.stdout
    );
    assert_clean(&m);
    (run.output.stdout, run.output.isolation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_outside_the_working_directory_is_denied() {
    let _s = serial().await;
    let (_, active) = read_outside_with(&sandbox(), "read").await;
    assert!(active.iter().any(|a| a == "landlock"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_landlock_the_mount_namespace_and_user_still_deny_reads() {
    let _s = serial().await;
    let sb = ProcessSandbox::new(
        SandboxConfig::builder()
            .disable(Layer::Landlock)
            .build()
            .expect("config"),
    )
    .expect("sandbox");
    let (_, active) = read_outside_with(&sb, "read-noll").await;
    assert!(!active.iter().any(|a| a == "landlock"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_outside_the_working_directory_is_denied() {
    let _s = serial().await;
    let m = marker("write");
    let target = std::env::temp_dir().join(format!("codeward-escape-{m}"));
    let program = format!(
        r#"
import os
for path in [{:?}, "/root/codeward-escape-{m}", "/var/tmp/codeward-escape-{m}"]:
    try:
        open(path, "w").write("escaped")
        print("WROTE", path)
    except OSError as e:
        print("DENIED", path, e.errno)
open("inside.txt", "w").write("fine")
print("INSIDE", open("inside.txt").read())
"#,
        target.display().to_string()
    );
    let run = sandbox()
        .run_detailed(job(&m, Language::Python, &program, limits()))
        .await
        .expect("runs");
    let out = &run.output.stdout;
    assert_eq!(out.matches("DENIED").count(), 3, "{out}");
    assert!(out.contains("INSIDE fine"), "{out}");
    assert!(!target.exists());
    assert!(!std::path::Path::new(&format!("/root/codeward-escape-{m}")).exists());
    assert_clean(&m);
}

async fn tcp_attempt(sb: &ProcessSandbox, name: &str) -> String {
    let m = marker(name);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let program = format!(
        r#"
import socket
try:
    s = socket.create_connection(("127.0.0.1", {port}), timeout=2)
    s.sendall(b"escaped")
    print("CONNECTED")
except OSError as e:
    print("BLOCKED", e.errno)
"#
    );
    let run = sb
        .run_detailed(job(&m, Language::Python, &program, limits()))
        .await
        .expect("runs");
    assert!(run.output.stdout.contains("BLOCKED"), "{:?}", run.output);
    match listener.accept() {
        Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
        Ok((_, peer)) => panic!("the sandbox reached the host listener from {peer}"),
    }
    assert_clean(&m);
    run.output.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_to_a_host_listener_is_blocked() {
    let _s = serial().await;
    tcp_attempt(&sandbox(), "tcp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_network_namespace_or_landlock_seccomp_blocks_tcp() {
    let _s = serial().await;
    let sb = ProcessSandbox::new(
        SandboxConfig::builder()
            .disable(Layer::NetworkNamespace)
            .disable(Layer::Landlock)
            .require(Layer::Seccomp)
            .build()
            .expect("config"),
    )
    .expect("sandbox");
    let out = tcp_attempt(&sb, "tcp-seccomp").await;
    // EPERM from the seccomp filter.
    assert!(out.contains(&format!("BLOCKED {}", libc_eperm())), "{out}");
}

fn libc_eperm() -> i32 {
    1
}

/// Runs an escape attempt that a limit must stop: the run fails, names `limit`, and
/// nothing of it survives. Returns the output for further checks.
async fn stopped_by(
    name: &str,
    language: Language,
    program: &str,
    limits: codeward_core::ExecutionLimits,
    limit: LimitKind,
) -> codeward_core::SandboxOutput {
    let m = marker(name);
    let run = sandbox()
        .run_detailed(job(&m, language, program, limits))
        .await
        .expect("runs");
    let out = run.output;
    assert_eq!(out.metrics.limit_hit, Some(limit), "{out:?}");
    assert!(!out.success, "{out:?}");
    assert_clean(&m);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_bomb_hits_the_pids_limit() {
    let _s = serial().await;
    let program = r#"
import os, sys, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print("fork refused after", n, "errno", e.errno)
    sys.exit(3)
"#;
    let mut l = limits();
    l.max_processes = 16;
    let out = stopped_by("forkbomb", Language::Python, program, l, LimitKind::Pids).await;
    assert!(out.stdout.contains("fork refused"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_memory_bomb_hits_the_memory_limit() {
    let _s = serial().await;
    let program = "x = []\nwhile True:\n    x.append(bytearray(8 * 1024 * 1024))\n";
    let mut l = limits();
    l.memory_bytes = 128 * 1024 * 1024;
    let out = stopped_by(
        "membomb-py",
        Language::Python,
        program,
        l,
        LimitKind::Memory,
    )
    .await;
    assert!(out.metrics.peak_memory_bytes > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_memory_bomb_hits_the_memory_limit() {
    let _s = serial().await;
    let m = marker("membomb-ts");
    let program =
        "const keep: number[][] = [];\nwhile (true) { keep.push(new Array(1_000_000).fill(7)); }\n";
    let mut l = limits();
    l.memory_bytes = 256 * 1024 * 1024;
    let run = sandbox()
        .run_detailed(job(&m, Language::TypeScript, program, l))
        .await
        .expect("runs");
    let out = &run.output;
    assert_eq!(out.metrics.limit_hit, Some(LimitKind::Memory), "{out:?}");
    assert!(!out.success);
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_stopped_by_the_timeout() {
    let _s = serial().await;
    let mut l = limits();
    l.timeout = Duration::from_millis(800);
    let out = stopped_by(
        "loop",
        Language::TypeScript,
        "while (true) {}",
        l,
        LimitKind::Timeout,
    )
    .await;
    assert_eq!(out.metrics.exit, ExitState::Signal(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_spin_hits_the_cpu_limit() {
    let _s = serial().await;
    let mut l = limits();
    l.cpu_time = Duration::from_secs(1);
    let out = stopped_by(
        "spin",
        Language::Python,
        "while True:\n    pass\n",
        l,
        LimitKind::Cpu,
    )
    .await;
    // SIGXCPU from RLIMIT_CPU, or SIGKILL when the cgroup watchdog saw it first.
    assert!(
        matches!(
            out.metrics.exit,
            ExitState::Signal(24) | ExitState::Signal(9)
        ),
        "{out:?}"
    );
    assert!(out.metrics.cpu_time() > Duration::ZERO, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spin_spread_over_workers_hits_the_tree_cpu_limit() {
    let _s = serial().await;
    // Each worker stays under the per-process RLIMIT_CPU; only the cgroup sees the total.
    let program = r#"
import os, time
kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        end = time.process_time() + 1.5
        while time.process_time() < end:
            pass
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print("workers done")
"#;
    let mut l = limits();
    l.cpu_time = Duration::from_secs(2);
    let out = stopped_by("spread", Language::Python, program, l, LimitKind::Cpu).await;
    assert!(!out.stdout.contains("workers done"), "{out:?}");
}

const DAEMON: &str = r#"
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        # The grandchild keeps stdout open and outlives its parents.
        print("daemon up", flush=True)
        time.sleep(120)
        os._exit(0)
    os._exit(0)
time.sleep(0.2)
print("parent done", flush=True)
"#;

async fn daemon_with(sb: &ProcessSandbox, name: &str) {
    let m = marker(name);
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        sb.run_detailed(job(&m, Language::Python, DAEMON, limits())),
    )
    .await
    .expect("the run returns although the daemon holds stdout")
    .expect("runs");
    assert!(
        run.output.stdout.contains("parent done"),
        "{:?}",
        run.output
    );
    assert_eq!(run.output.metrics.exit, ExitState::Code(0));
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_forked_setsid_daemon_is_gone_after_return() {
    let _s = serial().await;
    daemon_with(&sandbox(), "daemon").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pid_namespace_the_cgroup_kills_the_daemon() {
    let _s = serial().await;
    let sb = ProcessSandbox::new(
        SandboxConfig::builder()
            .disable(Layer::PidNamespace)
            .require(Layer::PidsCgroup)
            .build()
            .expect("config"),
    )
    .expect("sandbox");
    daemon_with(&sb, "daemon-cg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_megabytes_of_stdout_is_capped() {
    let _s = serial().await;
    let m = marker("flood");
    let program = "import sys\nchunk = 'x' * (1024 * 1024)\nfor _ in range(100):\n    sys.stdout.write(chunk)\n";
    let run = sandbox()
        .run_detailed(job(&m, Language::Python, program, limits()))
        .await
        .expect("runs");
    let out = &run.output;
    assert!(run.stdout_truncated);
    assert!(
        out.stdout.contains("[codeward: output truncated"),
        "{}",
        &out.stdout[out.stdout.len() - 200..]
    );
    assert!(out.stdout.len() < 64 * 1024 + 200);
    assert!(out.metrics.output_bytes >= 100 * 1024 * 1024);
    assert_eq!(out.metrics.limit_hit, Some(LimitKind::Output));
    assert_eq!(out.metrics.exit, ExitState::Code(0));
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_past_the_timeout_is_killed() {
    let _s = serial().await;
    let m = marker("sleep");
    let mut l = limits();
    l.timeout = Duration::from_millis(500);
    let run = sandbox()
        .run_detailed(job(
            &m,
            Language::Python,
            "import time\ntime.sleep(120)\n",
            l,
        ))
        .await
        .expect("runs");
    assert_eq!(run.output.metrics.limit_hit, Some(LimitKind::Timeout));
    assert_eq!(run.output.metrics.exit, ExitState::Signal(9));
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_syscalls_are_denied_by_seccomp() {
    let _s = serial().await;
    let m = marker("seccomp");
    let program = r#"
import ctypes, ctypes.util
libc = ctypes.CDLL(None, use_errno=True)
for name, call in [
    ("unshare", lambda: libc.unshare(0x10000000)),
    ("ptrace", lambda: libc.ptrace(16, 1, 0, 0)),
    ("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    ("keyctl", lambda: libc.syscall(250, 0, 0, 0, 0, 0)),
]:
    r = call()
    print(name, r, ctypes.get_errno())
"#;
    let run = sandbox()
        .run_detailed(job(&m, Language::Python, program, limits()))
        .await
        .expect("runs");
    let out = &run.output.stdout;
    for name in ["unshare", "ptrace", "mount", "keyctl"] {
        assert!(
            out.contains(&format!("{name} -1 1")),
            "{name} not denied with EPERM: {out}"
        );
    }
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_mid_run_leaves_nothing() {
    let _s = serial().await;
    let m = marker("drop");
    let recorder = Arc::new(Recorder::default());
    let program = format!("{PY_CLIENT}\ncall('slow.wait', {{}})\n");
    // A call that would outlive the test unless dropped with the run.
    let mut limits = limits();
    limits.tool_call_timeout = Duration::from_secs(3600);
    let job = bridge_job(&m, Language::Python, &program, limits, recorder.clone());
    let sb = sandbox();
    let handle = tokio::spawn(async move { sb.run_detailed(job).await });
    // The program is running once it calls the tool.
    recorder.started.notified().await;
    assert!(!processes_with(&m).is_empty(), "the program runs");
    handle.abort();
    let joined = handle.await;
    assert!(joined.expect_err("aborted").is_cancelled());
    assert_clean(&m);
    // The tool call in flight went with the run: nothing keeps calling the MCP server.
    // (The bound only keeps a regression from hanging the suite; it is not a timing claim.)
    let dropped = tokio::time::timeout(Duration::from_secs(30), recorder.dropped.notified()).await;
    assert!(dropped.is_ok(), "the in-flight tool call was left running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_host_task_leaves_nothing() {
    let _s = serial().await;
    let m = marker("panic");
    let recorder = Arc::new(Recorder::default());
    let program = format!("{PY_CLIENT}\ncall('slow.wait', {{}})\n");
    let job = bridge_job(&m, Language::Python, &program, limits(), recorder.clone());
    let sb = sandbox();
    let rec = recorder.clone();
    let handle = tokio::spawn(async move {
        let run = sb.run_detailed(job);
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => {}
            _ = rec.started.notified() => panic!("the host task panics mid-run"),
        }
    });
    let joined = handle.await;
    assert!(joined.expect_err("panicked").is_panic());
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_right_after_the_clone_still_reaps_the_program() {
    let _s = serial().await;
    let m = marker("no-io");
    // A runtime without an I/O driver cannot watch the pidfd: the first step after init is
    // cloned fails (tokio panics). The program must not outlive that.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let sb = sandbox();
    let job = job(
        &m,
        Language::Python,
        "import time\ntime.sleep(120)\n",
        limits(),
    );
    let ran = std::thread::spawn(move || rt.block_on(sb.run_detailed(job))).join();
    assert!(
        !matches!(ran, Ok(Ok(_))),
        "the run cannot succeed without I/O"
    );
    assert_clean(&m);
}

/// Python with `libc.syscall` at hand, returning a long.
const CTYPES: &str = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_uring_is_denied() {
    let _s = serial().await;
    // io_uring would open sockets and files past the seccomp rules (IORING_OP_SOCKET).
    let program = format!(
        r#"{CTYPES}
params = ctypes.create_string_buffer(256)
for name, args in [
    ("io_uring_setup", (425, 8, params)),
    ("io_uring_enter", (426, 0, 0, 0, 0, 0, 0)),
    ("io_uring_register", (427, 0, 0, 0, 0)),
]:
    r = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    print(name, r, ctypes.get_errno())
"#
    );
    let run = run_clean(&sandbox(), "io-uring", Language::Python, &program).await;
    for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(
            run.output.stdout.contains(&format!("{name} -1 1")),
            "{name} not denied with EPERM: {:?}",
            run.output
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_x32_syscall_kills_the_program() {
    let _s = serial().await;
    // x32 numbers (nr | 0x40000000) pass the x86_64 architecture check and miss every rule
    // of a filter keyed on x86_64 numbers; 39 is getpid, harmless, but any call would do.
    let program = format!(
        r#"{CTYPES}
print("BEFORE", flush=True)
r = libc.syscall(ctypes.c_long(0x40000000 | 39))
print("AFTER", r, ctypes.get_errno(), flush=True)
"#
    );
    let out = run_clean(&sandbox(), "x32", Language::Python, &program)
        .await
        .output;
    assert!(out.stdout.contains("BEFORE"), "{out:?}");
    assert!(!out.stdout.contains("AFTER"), "{out:?}");
    assert_eq!(
        out.metrics.exit,
        ExitState::Signal(libc_sigsys()),
        "{out:?}"
    );
}

fn libc_sigsys() -> i32 {
    31
}

struct RemoveDirsOnDrop(Vec<std::path::PathBuf>);

impl Drop for RemoveDirsOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// A world-writable directory holding a stream listener and a datagram socket, both mode 777.
fn host_sockets(
    dir: &std::path::Path,
) -> (
    std::os::unix::net::UnixListener,
    std::os::unix::net::UnixDatagram,
) {
    use std::os::unix::fs::PermissionsExt;
    let open = || std::fs::Permissions::from_mode(0o777);
    std::fs::create_dir_all(dir).expect("socket dir");
    std::fs::set_permissions(dir, open()).expect("chmod dir");
    let stream = std::os::unix::net::UnixListener::bind(dir.join("host.sock")).expect("bind");
    stream.set_nonblocking(true).expect("nonblocking");
    let dgram = std::os::unix::net::UnixDatagram::bind(dir.join("dgram.sock")).expect("bind");
    dgram.set_nonblocking(true).expect("nonblocking");
    for name in ["host.sock", "dgram.sock"] {
        std::fs::set_permissions(dir.join(name), open()).expect("chmod socket");
    }
    (stream, dgram)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_unix_sockets_are_unreachable() {
    let _s = serial().await;
    // One under /tmp (hidden by the mount namespace) and one in a directory no layer hides,
    // where only seccomp stands between the program and the socket.
    let name = format!("codeward-sock-{}", marker("sock"));
    let dirs = vec![
        std::env::temp_dir().join(&name),
        std::path::PathBuf::from("/var/lib").join(&name),
    ];
    let _cleanup = RemoveDirsOnDrop(dirs.clone());
    let sockets: Vec<_> = dirs.iter().map(|d| host_sockets(d)).collect();
    let paths = |file: &str| -> Vec<String> {
        dirs.iter()
            .map(|d| d.join(file).display().to_string())
            .collect()
    };
    let program = format!(
        r#"
import socket
for path in {streams:?}:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"escaped")
        print("CONNECTED", path)
    except OSError as e:
        print("BLOCKED", e.errno)
for path in {dgrams:?}:
    try:
        # A datagram pair may still address any socket with sendto.
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        a.sendto(b"escaped", path)
        print("SENT", path)
    except OSError as e:
        print("BLOCKED", e.errno)
# A connected stream pair reaches nothing outside; runtimes use it for child processes.
a, b = socket.socketpair()
a.sendall(b"ping")
print("PAIR", b.recv(4).decode())
"#,
        streams = paths("host.sock"),
        dgrams = paths("dgram.sock"),
    );
    let out = run_clean(&sandbox(), "unix", Language::Python, &program)
        .await
        .output;
    assert_eq!(out.stdout.matches("BLOCKED").count(), 4, "{out:?}");
    assert!(out.stdout.contains("PAIR ping"), "{out:?}");
    for (stream, dgram) in &sockets {
        match stream.accept() {
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
            Ok(_) => panic!("the sandbox reached a host unix socket"),
        }
        let mut buf = [0u8; 16];
        match dgram.recv(&mut buf) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
            Ok(n) => panic!("the sandbox sent a datagram to the host: {:?}", &buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_the_disk_stops_at_the_working_directory_cap() {
    let _s = serial().await;
    // Files under the per-file limit, until something refuses.
    let program = r#"
n = 0
try:
    for i in range(64):
        with open("f%d" % i, "wb") as f:
            f.write(b"x" * (8 * 1024 * 1024))
        n += 1
    print("WROTE", n)
except OSError as e:
    print("FULL", n, e.errno)
"#;
    let cap_mib = sandbox().config().max_disk_bytes / (1024 * 1024);
    let out = stopped_by("disk", Language::Python, program, limits(), LimitKind::Disk).await;
    // ENOSPC once the default cap is reached.
    assert!(out.stdout.starts_with("FULL "), "{out:?}");
    assert!(out.stdout.trim().ends_with(" 28"), "{out:?}");
    let files: u64 = out
        .stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(files * 8 <= cap_mib, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_interfaces_works_but_no_other_socket_opens() {
    let _s = serial().await;
    let sb = sandbox();
    // node's os.networkInterfaces() opens a NETLINK_ROUTE socket: it must see the empty
    // namespace (no error), as libraries that call it at load expect.
    let ts = run_clean(
        &sb,
        "netlink-ts",
        Language::TypeScript,
        "import os from 'node:os';\nconsole.log(typeof os.networkInterfaces());\n",
    )
    .await
    .output;
    assert_eq!(ts.stdout.trim(), "object", "{ts:?}");
    // Any other netlink family, and every other socket family, stays denied.
    let py = run_clean(
        &sb,
        "netlink-py",
        Language::Python,
        "import socket\nfor args in [(socket.AF_NETLINK, socket.SOCK_RAW, 15), (socket.AF_INET, socket.SOCK_STREAM, 0), (socket.AF_UNIX, socket.SOCK_STREAM, 0)]:\n    try:\n        socket.socket(*args)\n        print('OPEN')\n    except OSError as e:\n        print('DENIED', e.errno)\n",
    )
    .await
    .output;
    assert_eq!(py.stdout.trim(), "DENIED 1\nDENIED 1\nDENIED 1", "{py:?}");
}
