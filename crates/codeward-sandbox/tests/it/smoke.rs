//! Plain runs: both languages work, and parallel runs do not interfere.

use std::sync::Arc;
use std::time::Duration;

use codeward_core::{ExitState, Language, LimitKind};
use codeward_sandbox::{Layer, ProcessSandbox, SandboxConfig, SandboxError};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_runs_as_an_unprivileged_pid_2_with_a_clean_environment() {
    let _s = serial().await;
    let m = marker("py");
    let run = sandbox()
        .run_detailed(job(
            &m,
            Language::Python,
            "import os\nprint(6 * 7, os.getuid(), os.getpid(), sorted(os.environ))",
            limits(),
        ))
        .await
        .expect("runs");
    assert!(run.output.success, "{:?}", run.output);
    assert_eq!(
        run.output.stdout.trim(),
        "42 1000 2 ['CODEWARD_BRIDGE_FDS', 'CODEWARD_EXECUTION_ID', 'HOME', 'LANG', 'PATH', 'TMPDIR']"
    );
    assert_eq!(run.output.metrics.exit, ExitState::Code(0));
    assert!(run.output.metrics.wall_time > Duration::ZERO);
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_is_transpiled_and_run_as_a_module() {
    let _s = serial().await;
    let m = marker("ts");
    let program = "const x: number = 6 * 7;\nconst y = await Promise.resolve(x);\nconsole.log(y, process.pid);";
    let run = sandbox()
        .run_detailed(job(&m, Language::TypeScript, program, limits()))
        .await
        .expect("runs");
    assert!(run.output.success, "{:?}", run.output);
    assert_eq!(run.output.stdout.trim(), "42 2");
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_does_not_parse_is_refused_and_leaves_nothing() {
    let _s = serial().await;
    let m = marker("syntax");
    let err = sandbox()
        .run_detailed(job(&m, Language::TypeScript, "const = ;", limits()))
        .await
        .expect_err("refused");
    assert!(matches!(err, SandboxError::Transpile { .. }), "{err}");
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_program_reports_its_exit_code_and_stderr() {
    let _s = serial().await;
    let m = marker("fail");
    let run = sandbox()
        .run_detailed(job(
            &m,
            Language::Python,
            "import sys\nprint('bad', file=sys.stderr)\nsys.exit(7)",
            limits(),
        ))
        .await
        .expect("runs");
    assert!(!run.output.success);
    assert_eq!(run.output.metrics.exit, ExitState::Code(7));
    assert_eq!(run.output.metrics.limit_hit, None);
    assert_eq!(run.output.stderr.trim(), "bad");
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_size_limit_holds() {
    let _s = serial().await;
    let m = marker("fsize");
    let sb = ProcessSandbox::new(
        SandboxConfig::builder()
            .max_file_bytes(1024 * 1024)
            .build()
            .expect("config"),
    )
    .expect("sandbox");
    let program = "try:\n    open('big', 'wb').write(b'x' * (4 * 1024 * 1024))\n    print('WROTE')\nexcept OSError as e:\n    print('REFUSED', e.errno)\n";
    let run = sb
        .run_detailed(job(&m, Language::Python, program, limits()))
        .await
        .expect("runs");
    // EFBIG: Python ignores SIGXFSZ, so the write fails instead of killing it.
    assert_eq!(run.output.stdout.trim(), "REFUSED 27", "{:?}", run.output);
    assert_clean(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_runs_do_not_interfere() {
    let _s = serial().await;
    let sb = sandbox();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..24 {
        let sb = sb.clone();
        set.spawn(async move {
            let m = marker(&format!("par{i}"));
            let (language, program) = if i % 3 == 0 {
                (Language::TypeScript, format!("console.log('{m}')"))
            } else {
                (Language::Python, format!("import os\nopen('own', 'w').write('{m}')\nprint(open('own').read(), sorted(os.listdir('.')))"))
            };
            let run = sb.run_detailed(job(&m, language, &program, limits())).await.expect("runs");
            (m, language, run.output)
        });
    }
    while let Some(r) = set.join_next().await {
        let (m, language, out) = r.expect("joins");
        assert!(out.success, "{out:?}");
        let first = out.stdout.split_whitespace().next().unwrap_or_default();
        assert_eq!(first, m, "{out:?}");
        if language == Language::Python {
            // Each run sees only its own working directory.
            assert!(out.stdout.contains("['main.py', 'own']"), "{out:?}");
        }
        assert_clean_except_zombies(&m);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parallelism_bound_is_held() {
    let _s = serial().await;
    let sb = ProcessSandbox::new(
        SandboxConfig::builder()
            .max_parallel(2)
            .build()
            .expect("config"),
    )
    .expect("sandbox");
    assert_eq!(sb.available_slots(), 2);
    let program = format!("{PY_CLIENT}\ncall('slow.wait', {{}})\n");
    let mut handles = Vec::new();
    let mut recorders = Vec::new();
    for i in 0..2 {
        let rec = Arc::new(Recorder::default());
        let mut l = limits();
        l.timeout = Duration::from_secs(30);
        l.tool_call_timeout = Duration::from_millis(300);
        let job = bridge_job(
            &marker(&format!("slot{i}")),
            Language::Python,
            &program,
            l,
            rec.clone(),
        );
        let sb = sb.clone();
        handles.push(tokio::spawn(async move { sb.run_detailed(job).await }));
        recorders.push(rec);
    }
    for rec in &recorders {
        rec.started.notified().await;
    }
    assert_eq!(sb.available_slots(), 0);
    for h in handles {
        h.await.expect("joins").expect("runs");
    }
    assert_eq!(sb.available_slots(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_processes_and_event_loops_still_work_without_sockets() {
    // Both runtimes wire these up with connected AF_UNIX stream pairs, which seccomp allows.
    let _s = serial().await;
    let program = "import { execFileSync } from \"node:child_process\";\nconsole.log(execFileSync(\"/bin/echo\", [\"child\"]).toString().trim());\n";
    let run = run_clean(&sandbox(), "socketpair", Language::TypeScript, program).await;
    assert_eq!(run.output.stdout.trim(), "child", "{:?}", run.output);
    let program = "import asyncio\nasync def main():\n    await asyncio.sleep(0)\n    return 42\nprint(asyncio.run(main()))\n";
    let run = run_clean(&sandbox(), "asyncio", Language::Python, program).await;
    assert_eq!(run.output.stdout.trim(), "42", "{:?}", run.output);
}

fn sandbox_with(config: codeward_sandbox::SandboxConfigBuilder) -> ProcessSandbox {
    ProcessSandbox::new(config.build().expect("config")).expect("sandbox")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_disk_cap_holds_and_the_program_still_sees_its_files() {
    let _s = serial().await;
    let sb = sandbox_with(SandboxConfig::builder().max_disk_bytes(1024 * 1024));
    let program = "import os\nprint(sorted(os.listdir('.')), len(open('main.py').read()) > 0)\ntry:\n    open('big', 'wb').write(b'x' * (2 * 1024 * 1024))\n    print('WROTE')\nexcept OSError as e:\n    print('FULL', e.errno)\n";
    let out = run_clean(&sb, "small-disk", Language::Python, program)
        .await
        .output;
    assert_eq!(out.stdout.trim(), "['main.py'] True\nFULL 28", "{out:?}");
    assert_eq!(out.metrics.limit_hit, Some(LimitKind::Disk));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlimited_disk_cap_does_not_wrap_to_a_tiny_one() {
    let _s = serial().await;
    let sb = sandbox_with(SandboxConfig::builder().max_disk_bytes(u64::MAX));
    let program = "open('f', 'wb').write(b'x' * 65536)\nprint('WROTE')\n";
    let out = run_clean(&sb, "no-disk-cap", Language::Python, program)
        .await
        .output;
    assert_eq!(out.stdout.trim(), "WROTE", "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_mount_namespace_the_program_runs_from_the_host_directory() {
    let _s = serial().await;
    let sb = sandbox_with(SandboxConfig::builder().disable(Layer::MountNamespace));
    let detail = &sb
        .isolation_report()
        .get(Layer::WorkingDirectory)
        .expect("listed")
        .detail;
    assert!(detail.contains("no size cap"), "{detail}");
    let program = "import os\nprint(sorted(os.listdir('.')))";
    let out = run_clean(&sb, "no-mount-ns", Language::Python, program)
        .await
        .output;
    assert_eq!(out.stdout.trim(), "['main.py']", "{out:?}");
}
