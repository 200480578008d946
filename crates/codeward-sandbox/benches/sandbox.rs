//! Sandbox start-to-exit latency against bare interpreters measured in the same run,
//! throughput at concurrency 8, and what a warm pool could save (cold vs pre-started).
//! Prints a table and writes JSON to `$CARGO_TARGET_DIR or target`/bench/sandbox.json.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use codeward_core::{
    ExecutionLimits, Language, SandboxJob, ToolCall, ToolCallObserver, ToolInvoker, ToolResult,
    ToolSchema,
};
use codeward_sandbox::ProcessSandbox;
use serde_json::{Value, json};

const RUNS: usize = 60;

struct Row {
    metric: String,
    value: f64,
    unit: &'static str,
    baseline: Option<String>,
    ratio: Option<f64>,
    target: Option<String>,
    pass: Option<bool>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn bare_once(program: &str, args: &[&str]) -> Duration {
    // A clean environment, as the sandbox gives: host variables slow node down.
    let t = Instant::now();
    let status = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("bare interpreter runs");
    assert!(status.success());
    t.elapsed()
}

/// Hands the program its code through a tool call, to time a pre-started interpreter.
struct Pool {
    /// When the program was handed over (the warm clock starts here).
    at: std::sync::Mutex<Option<Instant>>,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            at: std::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl ToolInvoker for Pool {
    async fn call(&self, _tool: &str, _arguments: Value) -> codeward_core::Result<ToolResult> {
        *self.at.lock().expect("clock") = Some(Instant::now());
        Ok(ToolResult::ok(json!("pass")))
    }
}

#[async_trait]
impl ToolCallObserver for Pool {
    async fn before_call(&self, _call: &ToolCall, _tool: &ToolSchema) -> codeward_core::Result<()> {
        Ok(())
    }
}

fn limits() -> ExecutionLimits {
    let mut l = ExecutionLimits::default();
    l.timeout = Duration::from_secs(20);
    l
}

fn job(id: String, language: Language, program: &str) -> SandboxJob {
    let pool = Arc::new(Pool::new());
    SandboxJob::new(id, language, program, limits(), pool.clone(), pool)
}

async fn sandboxed_once(
    sb: &ProcessSandbox,
    i: usize,
    language: Language,
    program: &str,
) -> Duration {
    let t = Instant::now();
    let run = sb
        .run_detailed(job(format!("bench-{i}"), language, program))
        .await
        .expect("sandbox runs");
    assert!(run.output.success, "{:?}", run.output);
    let e = t.elapsed();
    if std::env::var_os("CODEWARD_BENCH_PHASES").is_some() {
        let tm = run.timings;
        eprintln!(
            "{language:?} prepared {:.2} spawned {:.2} executing {:.2} reaped {:.2} finished {:.2} total {:.2}",
            ms(tm.prepared),
            ms(tm.spawned),
            ms(tm.executing),
            ms(tm.reaped),
            ms(tm.finished),
            ms(e)
        );
    }
    e
}

/// The interpreter is already up inside the sandbox and blocked on a tool call; the clock
/// starts when the call is answered with the program and stops when the run returns.
/// This is the best a warm pool could do.
async fn warm_once(sb: &ProcessSandbox, i: usize) -> Duration {
    let program = "import os, json\nw = os.fdopen(3, 'w')\nr = os.fdopen(4)\n\
                   w.write(json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'tools/call', \
                   'params': {'name': 'pool.next', 'arguments': {}}}) + '\\n'); w.flush()\n\
                   exec(json.loads(r.readline())['result']['structuredContent'])\n";
    let tool =
        ToolSchema::new("next", "next program", json!({"type": "object"})).with_server("pool");
    let pool = Arc::new(Pool::new());
    let mut j = SandboxJob::new(
        format!("warm-{i}"),
        Language::Python,
        program,
        limits(),
        pool.clone(),
        pool.clone(),
    );
    j.tools = vec![tool];
    let sb2 = sb.clone();
    let handle = tokio::spawn(async move { sb2.run_detailed(j).await });
    let run = handle.await.expect("joins").expect("runs");
    let done = Instant::now();
    assert!(run.output.success, "{:?}", run.output);
    let handed = pool
        .at
        .lock()
        .expect("clock")
        .expect("the program asked for its code");
    done - handed
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async_main());
}

async fn async_main() {
    let sb = ProcessSandbox::with_defaults().expect("sandbox");
    println!("isolation on this host:\n{}", sb.isolation_report());
    let node = sb
        .interpreter(Language::TypeScript)
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("node"));
    let python = sb
        .interpreter(Language::Python)
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"));

    // Warm up caches once, then interleave bare and sandboxed runs so that load from
    // other processes on the machine hits both alike.
    let py = python.to_string_lossy().into_owned();
    let nd = node.to_string_lossy().into_owned();
    let _ = sandboxed_once(&sb, 0, Language::Python, "pass").await;
    let _ = sandboxed_once(&sb, 0, Language::TypeScript, "0;").await;
    let (mut bp, mut sp, mut bn, mut st) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut wp = Vec::new();
    for i in 0..RUNS {
        bp.push(bare_once(&py, &["-I", "-c", "pass"]));
        sp.push(sandboxed_once(&sb, i, Language::Python, "pass").await);
        bn.push(bare_once(&nd, &["-e", "0"]));
        st.push(sandboxed_once(&sb, i, Language::TypeScript, "const x: number = 0;").await);
        wp.push(warm_once(&sb, i).await);
    }
    let fastest = |v: &Vec<Duration>| v.iter().copied().min().unwrap_or_default();
    let (min_bp, min_sp, min_bn, min_st) = (fastest(&bp), fastest(&sp), fastest(&bn), fastest(&st));
    let min_wp = fastest(&wp);
    let warm_py = median(wp);
    let (bare_py, sb_py, bare_node, sb_ts) = (median(bp), median(sp), median(bn), median(st));

    // Throughput: 200 trivial executions, 8 at a time (the sandbox's semaphore).
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200 {
        let sb = sb.clone();
        set.spawn(async move {
            sb.run_detailed(job(format!("tp-{i}"), Language::Python, "pass"))
                .await
                .map(|r| r.output.success)
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        if matches!(r, Ok(Ok(true))) {
            ok += 1;
        }
    }
    let total = t.elapsed();
    assert_eq!(ok, 200, "every throughput run succeeds");
    let per_sec = 200.0 / total.as_secs_f64();

    let ratio_py = ms(sb_py) / ms(bare_py);
    let ratio_ts = ms(sb_ts) / ms(bare_node);
    let pool_gain = ms(sb_py) / ms(warm_py);
    let rows = vec![
        Row {
            metric: "python_trivial_start_to_exit_median".into(),
            value: ms(sb_py),
            unit: "ms",
            baseline: Some(format!(
                "/usr/bin/python3 -I -c pass = {:.2} ms",
                ms(bare_py)
            )),
            ratio: Some(ratio_py),
            target: Some("ratio <= 1.30".into()),
            pass: Some(ratio_py <= 1.30),
        },
        Row {
            metric: "typescript_trivial_start_to_exit_median".into(),
            value: ms(sb_ts),
            unit: "ms",
            baseline: Some(format!("node -e 0 = {:.2} ms", ms(bare_node))),
            ratio: Some(ratio_ts),
            target: Some("ratio <= 1.30".into()),
            pass: Some(ratio_ts <= 1.30),
        },
        Row {
            metric: "python_trivial_start_to_exit_fastest".into(),
            value: ms(min_sp),
            unit: "ms",
            baseline: Some(format!("fastest bare python = {:.2} ms", ms(min_bp))),
            ratio: Some(ms(min_sp) / ms(min_bp)),
            target: Some("ratio <= 1.30 (load-free estimate)".into()),
            pass: Some(ms(min_sp) / ms(min_bp) <= 1.30),
        },
        Row {
            metric: "typescript_trivial_start_to_exit_fastest".into(),
            value: ms(min_st),
            unit: "ms",
            baseline: Some(format!("fastest node -e 0 = {:.2} ms", ms(min_bn))),
            ratio: Some(ms(min_st) / ms(min_bn)),
            target: Some("ratio <= 1.30 (load-free estimate)".into()),
            pass: Some(ms(min_st) / ms(min_bn) <= 1.30),
        },
        Row {
            metric: "throughput_200_python_concurrency_8".into(),
            value: per_sec,
            unit: "exec/s",
            baseline: None,
            ratio: None,
            target: None,
            pass: None,
        },
        Row {
            metric: "warm_interpreter_program_to_exit_median".into(),
            value: ms(warm_py),
            unit: "ms",
            baseline: Some(format!("cold sandboxed python = {:.2} ms", ms(sb_py))),
            ratio: Some(pool_gain),
            target: Some("build a warm pool only if cold/warm >= 5".into()),
            pass: None,
        },
        Row {
            metric: "warm_interpreter_program_to_exit_fastest".into(),
            value: ms(min_wp),
            unit: "ms",
            baseline: Some(format!(
                "fastest cold sandboxed python = {:.2} ms",
                ms(min_sp)
            )),
            ratio: Some(ms(min_sp) / ms(min_wp)),
            target: Some("build a warm pool only if cold/warm >= 5".into()),
            pass: None,
        },
    ];

    println!(
        "{:<45} {:>10} {:<7} {:>7}  {:<45} target",
        "metric", "value", "unit", "ratio", "baseline"
    );
    for r in &rows {
        println!(
            "{:<45} {:>10.2} {:<7} {:>7}  {:<45} {}{}",
            r.metric,
            r.value,
            r.unit,
            r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default(),
            r.baseline.clone().unwrap_or_default(),
            r.target.clone().unwrap_or_default(),
            match r.pass {
                Some(true) => "  PASS",
                Some(false) => "  FAIL",
                None => "",
            }
        );
    }
    let json = json!({
        "bench": "sandbox",
        "rows": rows.iter().map(|r| json!({
            "metric": r.metric,
            "value": r.value,
            "unit": r.unit,
            "baseline": r.baseline,
            "ratio": r.ratio,
            "target": r.target,
            "pass": r.pass,
        })).collect::<Vec<_>>(),
    });
    let dir = codeward_test_support::bench::target_dir().join("bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = dir.join("sandbox.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write json");
    println!("wrote {}", path.display());
}
