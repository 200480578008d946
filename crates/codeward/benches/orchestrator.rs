//! Orchestration overhead per execution (everything except the sandboxed program and the
//! fsync) with a 1,000-tool catalogue, and throughput of concurrent executions with the real
//! audit log, with fdatasyncs per execution.
//!
//! Run: `cargo bench -p codeward --bench orchestrator` (or `cargo xtask bench orchestrator`).
//! Writes `target/bench/orchestrator.json`.

use codeward_test_support::bench::{row, target_dir};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};

use codeward::{Config, Orchestrator, OrchestratorBuilder};
use codeward_audit::{AuditLog, AuditLogOptions, KeySource};
use codeward_core::*;
use codeward_discovery::CatalogueIndex;

/// The sandbox stand-in: the program is not run; one tool call goes through the real observer.
struct NullSandbox;

#[async_trait]
impl Sandbox for NullSandbox {
    async fn run(&self, job: SandboxJob) -> Result<SandboxOutput> {
        let tool = job.tools[0].clone();
        let call = ToolCall::new(
            job.execution_id.clone(),
            1,
            tool.qualified_name(),
            json!({"query": "q"}),
        );
        job.observer.before_call(&call, &tool).await?;
        let r = job.invoker.call(&call.tool, call.arguments.clone()).await;
        job.observer
            .after_call(&call, &tool, &r, Duration::ZERO)
            .await;
        let m = ExecutionMetrics {
            exit: ExitState::Code(0),
            wall_time: Duration::from_millis(5),
            ..Default::default()
        };
        let mut out = SandboxOutput::new(true, "", m);
        out.result = Some(json!({"rows": 3, "owner": "dana@example.com"}));
        Ok(out)
    }
}

struct Echo;

#[async_trait]
impl ToolInvoker for Echo {
    async fn call(&self, _tool: &str, arguments: Value) -> Result<ToolResult> {
        Ok(ToolResult::ok(arguments))
    }
}

/// An audit sink without I/O: the overhead figure excludes the fsync by definition.
struct NullSink(std::sync::atomic::AtomicU64);

#[async_trait]
impl AuditSink for NullSink {
    async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        // Serialize as the log would, so the cost of building the record is counted.
        let bytes = serde_json::to_vec(&event).map(|v| v.len()).unwrap_or(0);
        let seq = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        Ok(AuditReceipt {
            seq,
            hash: bytes.to_string(),
        })
    }
}

fn catalogue(n: usize) -> CatalogueIndex {
    let verbs = [
        "get", "list", "create", "update", "delete", "search", "send", "sync", "export", "archive",
    ];
    let nouns = [
        "invoice", "customer", "ticket", "order", "report", "message", "event", "file", "contact",
        "payment", "task", "note", "repo", "issue", "user", "team", "record", "metric", "alert",
        "log",
    ];
    let index = CatalogueIndex::new().expect("index");
    for i in 0..n {
        let verb = verbs[i % verbs.len()];
        let noun = nouns[(i / verbs.len()) % nouns.len()];
        let server = format!("srv{}", i / (verbs.len() * nouns.len()));
        let tool = ToolSchema::new(
            format!("{verb}_{noun}"),
            format!("{verb} a {noun} in the {server} system; returns the {noun} fields"),
            json!({"type": "object", "properties": {"id": {"type": "string", "description": format!("{noun} id")}, "limit": {"type": "integer"}}, "required": ["id"]}),
        )
        .with_server(server)
        .with_annotations(if verb == "get" || verb == "list" || verb == "search" { ToolAnnotations::read_only() } else { ToolAnnotations::default() });
        index.insert(tool).expect("insert");
    }
    index
}

async fn build(audit: Arc<dyn AuditSink>, dir: &Path, index: Arc<CatalogueIndex>) -> Orchestrator {
    let mut config = Config::default();
    config.data_dir = dir.to_owned();
    OrchestratorBuilder::new(config)
        .audit(audit)
        .index(index)
        .sandbox(Arc::new(NullSandbox))
        .invoker(Arc::new(Echo))
        .without_cache()
        .build()
        .await
        .expect("orchestrator")
}

const PROGRAM: &str = "from codeward_api import srv0, set_result\n\
rows = srv0.search_invoice(id='42')\n\
total = 0\n\
for r in rows or []:\n    total += 1\n\
set_result({'total': total})\n";

fn request(i: usize) -> ExecutionRequest {
    ExecutionRequest::new("search invoices of a customer", Language::Python)
        .with_program(format!("{PROGRAM}# run {i}\n"))
        .with_principal(format!("agent-{}", i % 8))
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let root = target_dir().join("bench-tmp/orchestrator");
    let _ = std::fs::remove_dir_all(&root);
    let index = Arc::new(catalogue(1000));
    let mut rows = Vec::new();

    // Overhead: sequential executions, null sandbox, audit without I/O.
    let (mut times, discovery_p50) = rt.block_on(async {
        let orch = build(
            Arc::new(NullSink(Default::default())),
            &root.join("overhead"),
            index.clone(),
        )
        .await;
        for i in 0..50 {
            let _warm = orch.execute(request(i)).await;
        }
        let mut times = Vec::new();
        for i in 0..1000 {
            let t = Instant::now();
            let o = orch.execute(request(1000 + i)).await;
            times.push(t.elapsed());
            assert!(o.success, "{:?}", o.error);
        }
        // The search alone, for context.
        let mut d = Vec::new();
        for _ in 0..1000 {
            let t = Instant::now();
            let _hits = index.search(&SearchQuery::new("search invoices of a customer", 5));
            d.push(t.elapsed());
        }
        (times, percentile(&mut d, 0.5))
    });
    let p50 = percentile(&mut times, 0.5);
    let p99 = percentile(&mut times, 0.99);
    println!(
        "orchestration overhead, 1,000 tools: p50 {:.0} us, p99 {:.0} us (of which discovery p50 {:.0} us)",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        discovery_p50.as_secs_f64() * 1e6
    );
    rows.push(row(
        "orchestration overhead p50 (1,000 tools, no sandbox, no fsync)",
        p50.as_secs_f64() * 1e6,
        "us",
        None,
        None,
        Some("<= 1000 us"),
        Some(p50 <= Duration::from_millis(1)),
    ));
    rows.push(row(
        "orchestration overhead p99",
        p99.as_secs_f64() * 1e6,
        "us",
        None,
        None,
        None,
        None,
    ));
    rows.push(row(
        "of which discovery p50",
        discovery_p50.as_secs_f64() * 1e6,
        "us",
        None,
        None,
        None,
        None,
    ));

    // Where the time goes: each layer alone on the same inputs.
    {
        let hits = index
            .search(&SearchQuery::new("search invoices of a customer", 5))
            .expect("search");
        let tools: Vec<ToolSchema> = hits.into_iter().map(|h| h.tool).collect();
        let time = |name: &str, f: &mut dyn FnMut()| {
            let mut v = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                f();
                v.push(t.elapsed());
            }
            let p = percentile(&mut v, 0.5);
            println!("  {name:<28} p50 {:>8.0} us", p.as_secs_f64() * 1e6);
            p
        };
        let generator = codeward_codegen::CodeGenerator::new();
        let validator = codeward_security::Validator::new().expect("validator");
        let tokenizer = codeward_security::PiiTokenizer::new().expect("tokenizer");
        let gen_p50 = time("generate API (5 tools)", &mut || {
            let _ = generator.generate(&tools, Language::Python);
        });
        let api = generator.generate(&tools, Language::Python).expect("api");
        time("count tokens of the module", &mut || {
            let _ = generator.count_tokens(&api.module);
        });
        let val_p50 = time("validate program", &mut || {
            let _ = validator.validate(PROGRAM, Language::Python, &tools);
        });
        time("tokenize output", &mut || {
            let mut v = json!({"rows": 3, "owner": "dana@example.com"});
            let _ = tokenizer.tokenize(&mut v, "scope");
        });
        let wm = codeward::WorkspaceManager::new(root.join("ws-bench"));
        let mut n = 0;
        time("workspace open/status/drop", &mut || {
            n += 1;
            let mut ws = wm.open(&format!("w{n}")).expect("workspace");
            ws.set_status(codeward::WorkspaceStatus::Running);
            ws.set_status(codeward::WorkspaceStatus::Completed);
        });
        let risk = codeward_security::Risk::new();
        let report = validator
            .validate(PROGRAM, Language::Python, &tools)
            .expect("report");
        time("assess risk", &mut || {
            let _ = codeward_core::RiskAssessor::assess(
                &risk,
                PROGRAM,
                Language::Python,
                &report,
                &tools,
            );
        });
        let detector = codeward_anomaly::Detector::default();
        let obs: ExecutionObservation = serde_json::from_value(json!({"execution_id": "e", "principal": "p", "language": "python", "tools": ["a"], "success": true, "wall_time": 5.0, "cpu_time": 2.0, "peak_memory_bytes": 1000, "critical_events": 0, "timestamp_ms": 1})).expect("obs");
        time("anomaly observe", &mut || {
            let _ = detector.observe_execution(&obs);
        });
        rows.push(row(
            "generate API for 5 tools p50",
            gen_p50.as_secs_f64() * 1e6,
            "us",
            None,
            None,
            None,
            None,
        ));
        rows.push(row(
            "validate the program p50",
            val_p50.as_secs_f64() * 1e6,
            "us",
            None,
            None,
            None,
            None,
        ));
    }

    // Throughput with the real audit log (fsync), sequential vs 16 concurrent executions.
    for concurrency in [1usize, 16] {
        let dir = root.join(format!("log-{concurrency}"));
        let (rate, syncs_per_exec, records_per_exec) = rt.block_on(async {
            let log = AuditLog::open(
                AuditLogOptions::new(dir.join("audit")).key(KeySource::Bytes([1; 32])),
            )
            .expect("log");
            let orch = build(Arc::new(log.clone()), &dir, index.clone()).await;
            let total = 400usize;
            let t = Instant::now();
            let mut tasks = Vec::new();
            for w in 0..concurrency {
                let orch = orch.clone();
                tasks.push(tokio::spawn(async move {
                    let mut i = w;
                    while i < total {
                        let o = orch.execute(request(i)).await;
                        assert!(o.success, "{:?}", o.error);
                        i += concurrency;
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
            let rate = total as f64 / t.elapsed().as_secs_f64();
            let s = log.stats();
            let _ = log.close().await;
            (
                rate,
                s.syncs as f64 / total as f64,
                s.records as f64 / total as f64,
            )
        });
        println!(
            "real audit log, {concurrency} concurrent: {rate:.0} executions/s, {syncs_per_exec:.2} fdatasync and {records_per_exec:.1} records per execution"
        );
        rows.push(row(
            &format!("executions/s with the real audit log, {concurrency} concurrent"),
            rate,
            "exec/s",
            None,
            None,
            None,
            None,
        ));
        rows.push(row(
            &format!("fdatasyncs per execution, {concurrency} concurrent"),
            syncs_per_exec,
            "syncs",
            Some(&format!("{records_per_exec:.1} records per execution")),
            Some(syncs_per_exec / records_per_exec),
            None,
            None,
        ));
    }

    let out = target_dir().join("bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("orchestrator.json"),
        serde_json::to_string_pretty(&json!({"bench": "orchestrator", "rows": rows}))
            .unwrap_or_default(),
    );
    let _ = std::fs::remove_dir_all(&root);
}
