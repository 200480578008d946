//! Latency of a `tools/call` to the demo server through `McpPool`, against a raw rmcp client
//! on the same server binary in the same run (the pool's own overhead: routing, health,
//! stats, the protocol-checking transport, result mapping).
//!
//! Run: `cargo bench -p codeward-mcp --bench mcp`. Writes `target/bench/mcp.json`.
//! The bench binary doubles as the demo server (`--serve-demo ROOT DATA`), so it needs
//! nothing built beforehand.

use codeward_demo_server::{DemoOptions, serve_stdio};
use codeward_mcp::{McpConfig, McpPool, PoolOptions, StdioServer};
use codeward_test_support::bench::target_dir;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SERVE_FLAG: &str = "--serve-demo";
const WARMUP: usize = 200;
const ITERATIONS: usize = 3000;
/// The pool may cost this much more than a raw client at the median before it is a problem.
const MAX_P50_RATIO: f64 = 1.5;

fn arguments() -> Value {
    json!({"text": "the quick brown fox jumps over the lazy dog and the cat", "top": 3})
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

struct Row {
    metric: String,
    value: f64,
    unit: &'static str,
    baseline: Option<String>,
    ratio: Option<f64>,
    target: Option<String>,
    pass: Option<bool>,
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(SERVE_FLAG) {
        let (Some(root), Some(data)) = (args.get(2), args.get(3)) else {
            return Err("usage: mcp --serve-demo ROOT DATA".into());
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(serve_stdio(&DemoOptions::new(root, data)));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let exe = std::env::current_exe()?;
    let root = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let server_args = [
        SERVE_FLAG.to_owned(),
        root.path().display().to_string(),
        data.path().display().to_string(),
    ];

    // Raw rmcp client over rmcp's own child-process transport.
    let mut command = tokio::process::Command::new(&exe);
    command.args(&server_args);
    let raw = ().serve(TokioChildProcess::new(command)?).await?;
    let Value::Object(raw_args) = arguments() else {
        return Err("arguments must be an object".into());
    };

    // The same server through the pool.
    let server = StdioServer::new(exe.display().to_string()).args(server_args.iter().cloned());
    let pool = McpPool::new(
        McpConfig::new().with_server("demo", server)?,
        PoolOptions::default(),
    );
    let started = Instant::now();
    let load = pool.load_tools().await;
    let startup = started.elapsed();
    if load.failures().count() > 0 {
        return Err(format!("the demo server did not load: {load:?}").into());
    }

    // Calls alternate between the two clients, so machine noise (this host is shared)
    // hits both samples alike.
    let mut raw_times = Vec::with_capacity(ITERATIONS);
    let mut pool_times = Vec::with_capacity(ITERATIONS);
    for i in 0..WARMUP + ITERATIONS {
        let mut params = CallToolRequestParams::new("text_stats");
        params.arguments = Some(raw_args.clone());
        let started = Instant::now();
        let result = raw.call_tool(params).await?;
        let raw_elapsed = started.elapsed();
        if result.is_error == Some(true) {
            return Err(format!("raw call failed: {result:?}").into());
        }
        let started = Instant::now();
        let result = pool.call_tool("demo.text_stats", arguments()).await?;
        let pool_elapsed = started.elapsed();
        if result.is_error {
            return Err(format!("pool call failed: {}", result.value).into());
        }
        if i >= WARMUP {
            raw_times.push(raw_elapsed);
            pool_times.push(pool_elapsed);
        }
    }
    raw.cancel().await?;
    pool.shutdown().await;

    raw_times.sort();
    pool_times.sort();
    let (raw_p50, raw_p99) = (percentile(&raw_times, 0.5), percentile(&raw_times, 0.99));
    let (pool_p50, pool_p99) = (percentile(&pool_times, 0.5), percentile(&pool_times, 0.99));
    let p50_ratio = pool_p50 / raw_p50;
    let rows = vec![
        Row {
            metric: "tools/call p50 via McpPool".into(),
            value: pool_p50,
            unit: "us",
            baseline: Some(format!("raw rmcp client p50 {raw_p50:.1} us")),
            ratio: Some(p50_ratio),
            target: Some(format!("<= {MAX_P50_RATIO}x raw rmcp")),
            pass: Some(p50_ratio <= MAX_P50_RATIO),
        },
        Row {
            metric: "tools/call p99 via McpPool".into(),
            value: pool_p99,
            unit: "us",
            baseline: Some(format!("raw rmcp client p99 {raw_p99:.1} us")),
            ratio: Some(pool_p99 / raw_p99),
            target: None,
            pass: None,
        },
        Row {
            metric: "tools/call p50 raw rmcp client".into(),
            value: raw_p50,
            unit: "us",
            baseline: None,
            ratio: None,
            target: None,
            pass: None,
        },
        Row {
            metric: "tools/call p99 raw rmcp client".into(),
            value: raw_p99,
            unit: "us",
            baseline: None,
            ratio: None,
            target: None,
            pass: None,
        },
        Row {
            metric: "start + initialize + tools/list of the demo server".into(),
            value: startup.as_secs_f64() * 1e3,
            unit: "ms",
            baseline: None,
            ratio: None,
            target: None,
            pass: None,
        },
    ];

    println!(
        "mcp: {ITERATIONS} text_stats calls per client, alternating (after {WARMUP} warm-up calls each)"
    );
    println!(
        "{:<52} {:>12} {:>5} {:>8}  baseline / target",
        "metric", "value", "unit", "ratio"
    );
    for row in &rows {
        let ratio = row.ratio.map(|r| format!("{r:.2}x")).unwrap_or_default();
        let note = [
            row.baseline.clone(),
            row.target.clone(),
            row.pass
                .map(|p| if p { "PASS".into() } else { "FAIL".into() }),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        println!(
            "{:<52} {:>12.1} {:>5} {:>8}  {}",
            row.metric, row.value, row.unit, ratio, note
        );
    }
    let json = json!({
        "bench": "mcp",
        "rows": rows.iter().map(|r| json!({
            "metric": r.metric, "value": r.value, "unit": r.unit, "baseline": r.baseline,
            "ratio": r.ratio, "target": r.target, "pass": r.pass,
        })).collect::<Vec<_>>(),
    });
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("mcp.json"), serde_json::to_string_pretty(&json)?)?;
    println!("wrote {}", dir.join("mcp.json").display());
    Ok(())
}
