//! Issue 9's figures: token economics on the real servers' combined catalogue (every tool
//! definition loaded vs search results plus the API of the tools used), and the latency of a
//! tool call through the sandbox bridge vs a direct call on the same MCP pool, same run.
//!
//! Run: `cargo bench -p codeward-cli --bench bridge` (or `cargo xtask bench bridge`).
//! Writes `target/bench/bridge.json`.

use codeward_test_support::bench::{row, target_dir};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;

use codeward::Config;
use codeward_codegen::CodeGenerator;
use codeward_core::*;
use codeward_mcp::{McpConfig, McpPool, PoolOptions, StdioServer};

struct Quiet;

#[async_trait]
impl ToolCallObserver for Quiet {
    async fn before_call(&self, _call: &ToolCall, _tool: &ToolSchema) -> Result<()> {
        Ok(())
    }
}

fn p50(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut rows = Vec::new();
    let generator = CodeGenerator::new();

    // Token economics on the captured catalogues of the real servers.
    let index = codeward::catalogue(&Config::default()).expect("catalogue");
    let real: Vec<ToolSchema> = index
        .all()
        .into_iter()
        .filter(|t| {
            matches!(
                t.server.as_deref(),
                Some("filesystem" | "everything" | "memory")
            )
        })
        .collect();
    let all_json = json!({"tools": real.iter().map(|t| json!({"name": t.qualified_name(), "title": t.title, "description": t.description, "inputSchema": t.input_schema, "outputSchema": t.output_schema, "annotations": t.annotations})).collect::<Vec<_>>()});
    let all_tokens = generator.count_tokens(&all_json.to_string());
    println!(
        "{} tools from filesystem, everything and memory: {all_tokens} tokens of definitions",
        real.len()
    );
    let tasks: [(&str, &[&str]); 4] = [
        (
            "read a text file and count its lines",
            &["filesystem.read_text_file"],
        ),
        (
            "find files matching a pattern and read them",
            &["filesystem.search_files", "filesystem.read_multiple_files"],
        ),
        (
            "remember that alice works on the audit log in the knowledge graph",
            &["memory.create_entities", "memory.add_observations"],
        ),
        (
            "add two numbers and echo the result",
            &["everything.get-sum", "everything.echo"],
        ),
    ];
    let mut reductions = Vec::new();
    for (task, used) in tasks {
        let hits = index.search(&SearchQuery::new(task, 5)).expect("search");
        let search_json = json!({"tools": hits.iter().map(|h| json!({"name": h.tool.qualified_name(), "description": h.tool.description})).collect::<Vec<_>>()});
        let tools: Vec<ToolSchema> = used.iter().filter_map(|n| index.get(n)).collect();
        let api = generator.generate(&tools, Language::Python).expect("api");
        let with = generator.count_tokens(&search_json.to_string()) + api.summary_tokens;
        let reduction = 100.0 * (1.0 - with as f64 / all_tokens as f64);
        reductions.push(reduction);
        println!("  {task:<66} {with:>6} tokens with codeward ({reduction:.1}% fewer)");
        rows.push(row(
            &format!("tokens with codeward: {task}"),
            with as f64,
            "tokens",
            Some(&format!("every definition: {all_tokens} tokens")),
            Some(with as f64 / all_tokens as f64),
            None,
            None,
        ));
    }
    let mean = reductions.iter().sum::<f64>() / reductions.len() as f64;
    println!("mean reduction {mean:.1}% (the seed claims 98.7% on its own catalogue)");
    rows.push(row(
        "mean token reduction on the real servers' catalogue",
        mean,
        "%",
        Some("seed's claim: 98.7%"),
        None,
        None,
        None,
    ));

    // Latency: direct pool call vs the same call from a program in the sandbox.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data = target_dir().join("bench-tmp/bridge");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(data.join("root")).expect("dirs");
    rt.block_on(async {
        let server = StdioServer::new(env!("CARGO_BIN_EXE_codeward"))
            .arg("demo-server")
            .arg("--root")
            .arg(data.join("root").display().to_string())
            .arg("--data-dir")
            .arg(data.join("notes").display().to_string());
        let pool = McpPool::new(McpConfig::new().with_server("demo", server).expect("config"), PoolOptions::default());
        let load = pool.load_tools().await;
        let tool = load.tools.iter().find(|t| t.name == "text_stats").cloned().expect("text_stats");
        let n = 300;
        let args = json!({"text": "one two three"});
        let mut direct = Vec::new();
        for _ in 0..50 {
            let _ = pool.call_tool("demo.text_stats", args.clone()).await;
        }
        for _ in 0..n {
            let t = Instant::now();
            let _ = pool.call_tool("demo.text_stats", args.clone()).await.expect("call");
            direct.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let sandbox = codeward_sandbox::ProcessSandbox::with_defaults().expect("sandbox");
        let api = generator.generate(std::slice::from_ref(&tool), Language::Python).expect("api");
        let program = format!(
            "import time\nfrom codeward_api import demo, set_result\n\
             for _ in range(50): demo.text_stats(text='one two three')\n\
             t = []\n\
             for _ in range({n}):\n    s = time.perf_counter(); demo.text_stats(text='one two three'); t.append((time.perf_counter() - s) * 1e6)\n\
             t.sort(); set_result(t[len(t) // 2])\n"
        );
        let mut limits = ExecutionLimits::default();
        limits.max_tool_calls = 1000;
        limits.timeout = Duration::from_secs(60);
        let mut job = SandboxJob::new("bench", Language::Python, program, limits, Arc::new(pool.clone()), Arc::new(Quiet));
        job.api = Some(api);
        job.tools = vec![tool];
        let out = sandbox.run(job).await.expect("sandbox run");
        let bridge = out.result.and_then(|v| v.as_f64()).unwrap_or_else(|| panic!("no result: {}", out.stderr));
        let direct_p50 = p50(&mut direct);
        println!("tool call p50: direct on the pool {direct_p50:.0} us, through the sandbox bridge {bridge:.0} us (x{:.2})", bridge / direct_p50);
        rows.push(row("tool call p50, direct on the MCP pool", direct_p50, "us", None, None, None, None));
        rows.push(row("tool call p50 from a sandboxed program through the bridge", bridge, "us", Some("direct pool call"), Some(bridge / direct_p50), None, None));
        pool.shutdown().await;
    });
    let out = target_dir().join("bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("bridge.json"),
        serde_json::to_string_pretty(&json!({"bench": "bridge", "rows": rows})).unwrap_or_default(),
    );
    let _ = std::fs::remove_dir_all(&data);
}
