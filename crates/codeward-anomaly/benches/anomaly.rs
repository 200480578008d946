//! Cost of `observe_execution` / `observe_tool_call` (p50, p99 per call) and memory per key,
//! against the seed's naive detector (3x the average of an unbounded list), in one run.
//!
//! Run: `cargo bench -p codeward-anomaly --bench anomaly`. Writes
//! `$CARGO_TARGET_DIR/bench/anomaly.json` (default `target/bench/anomaly.json`).

use codeward_anomaly::Detector;
use codeward_core::{
    AnomalyDetector, ExecutionObservation, Language, ToolAnnotations, ToolCallObservation,
};
use codeward_test_support::bench::target_dir;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

const OBSERVATIONS: usize = 200_000;
const PRINCIPALS: u64 = 1_000;
const TOOL_SETS: u64 = 5;
const TOOLS: u64 = 40;
const HOT_KEY_OBSERVATIONS: usize = 50_000;

/// splitmix64: small, seeded, good enough for synthetic observations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 1,000 principals x 5 tool sets x 2 languages (up to 10,000 keys), 40 tools each.
fn executions(rng: &mut Rng, n: usize, hot: bool) -> Vec<ExecutionObservation> {
    (0..n)
        .map(|i| {
            let p = if hot { 0 } else { rng.below(PRINCIPALS) };
            let set = if hot { 0 } else { rng.below(TOOL_SETS) };
            let tools = (0..3)
                .map(|k| format!("server{}.tool_{}", k, (set * 7 + k) % TOOLS))
                .collect();
            ExecutionObservation {
                execution_id: format!("exec-{i}"),
                principal: format!("principal-{p}"),
                language: if hot || rng.below(2) == 0 {
                    Language::Python
                } else {
                    Language::TypeScript
                },
                tools,
                success: rng.below(50) != 0,
                wall_time: Duration::from_millis(300 + rng.below(200)),
                cpu_time: Duration::from_millis(200 + rng.below(150)),
                peak_memory_bytes: (60 + rng.below(40)) << 20,
                critical_events: 0,
                timestamp_ms: 1_790_000_000_000 + i as u64 * 50,
            }
        })
        .collect()
}

fn tool_calls(rng: &mut Rng, n: usize) -> Vec<ToolCallObservation> {
    (0..n)
        .map(|i| {
            let p = rng.below(PRINCIPALS);
            ToolCallObservation {
                execution_id: format!("exec-{}", i / 4),
                principal: format!("principal-{p}"),
                tool: {
                    // Each principal uses 8 of the 40 tools, as agents keep to their habits.
                    let t = (p * 7 + rng.below(8)) % TOOLS;
                    format!("server{}.tool_{t}", t % 3)
                },
                annotations: ToolAnnotations::read_only(),
                sensitive_source: rng.below(20) == 0,
                response_bytes: 1000 + rng.below(20_000),
                success: true,
                timestamp_ms: 1_790_000_000_000 + i as u64 * 20,
            }
        })
        .collect()
}

/// The seed's approach: every sample kept in a list per key; a spike is 3x the average
/// of all samples after ten of them; failures kept in a list per principal.
#[derive(Default)]
struct Naive {
    samples: HashMap<String, Vec<(f64, f64, f64)>>,
    failures: HashMap<String, Vec<bool>>,
}

impl Naive {
    fn observe(&mut self, o: &ExecutionObservation) -> usize {
        let key = format!("{}|{}|{}", o.principal, o.tools.join(","), o.language);
        let sample = (
            o.wall_time.as_secs_f64() * 1000.0,
            o.cpu_time.as_secs_f64() * 1000.0,
            o.peak_memory_bytes as f64,
        );
        let list = self.samples.entry(key).or_default();
        let mut found = 0;
        if list.len() >= 10 {
            let n = list.len() as f64;
            let (w, c, m) = list
                .iter()
                .fold((0.0, 0.0, 0.0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
            found += usize::from(sample.0 > 3.0 * w / n)
                + usize::from(sample.1 > 3.0 * c / n)
                + usize::from(sample.2 > 3.0 * m / n);
        }
        list.push(sample);
        let failures = self.failures.entry(o.principal.clone()).or_default();
        failures.push(!o.success);
        found + usize::from(failures.iter().rev().take(3).all(|f| *f) && failures.len() >= 3)
    }

    fn bytes(&self) -> usize {
        let per_entry = |k: &String| std::mem::size_of::<String>() + k.capacity();
        self.samples
            .iter()
            .map(|(k, v)| {
                per_entry(k) + std::mem::size_of::<Vec<(f64, f64, f64)>>() + v.capacity() * 24
            })
            .sum::<usize>()
            + self
                .failures
                .iter()
                .map(|(k, v)| per_entry(k) + std::mem::size_of::<Vec<bool>>() + v.capacity())
                .sum::<usize>()
    }
}

/// Per-call latencies in ns (each call timed on its own), and the timer's own cost.
fn time_each<T>(items: &[T], mut f: impl FnMut(&T)) -> Vec<u64> {
    let mut ns: Vec<u64> = items
        .iter()
        .map(|item| {
            let t = Instant::now();
            f(item);
            t.elapsed().as_nanos() as u64
        })
        .collect();
    ns.sort_unstable();
    ns
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64
}

struct Row {
    metric: String,
    value: f64,
    unit: &'static str,
    baseline: Option<(f64, String)>,
    target: Option<(&'static str, bool)>,
}

fn main() {
    let mut rng = Rng(0xC0DE_5EED);
    let execs = executions(&mut rng, OBSERVATIONS, false);
    let calls = tool_calls(&mut rng, OBSERVATIONS);
    let hot = executions(&mut rng, HOT_KEY_OBSERVATIONS, true);

    let timer = time_each(&execs[..10_000], |_| {});
    let timer_p50 = pct(&timer, 0.5);

    let detector = Detector::default();
    let mut found = 0usize;
    let exec_ns = time_each(&execs, |o| {
        found += black_box(detector.observe_execution(o)).anomalies.len()
    });
    let call_ns = time_each(&calls, |o| {
        found += black_box(detector.observe_tool_call(o)).len()
    });
    let stats = detector.stats();

    let mut naive = Naive::default();
    let naive_ns = time_each(&execs, |o| found += black_box(naive.observe(o)));
    let naive_keys = naive.samples.len();
    let naive_bytes_per_key = naive.bytes() as f64 / naive_keys as f64;

    // One key observed 50,000 times: the naive list and its average keep growing.
    let hot_detector = Detector::default();
    let hot_ns = time_each(&hot, |o| {
        found += black_box(hot_detector.observe_execution(o)).anomalies.len()
    });
    let mut hot_naive = Naive::default();
    let hot_naive_ns = time_each(&hot, |o| found += black_box(hot_naive.observe(o)));
    let hot_naive_bytes = hot_naive.bytes() as f64;
    let hot_bytes = hot_detector.stats().bytes as f64;

    let ours_per_key = stats.key_bytes as f64 / stats.keys.max(1) as f64;
    let ours_per_principal = stats.principal_bytes as f64 / stats.principals.max(1) as f64;
    let p = |v: &[u64], q| pct(v, q);
    let rows = vec![
        Row {
            metric: "observe_execution p50".into(),
            value: p(&exec_ns, 0.5),
            unit: "ns",
            baseline: Some((
                p(&naive_ns, 0.5),
                "seed: 3x average over unbounded Vec".into(),
            )),
            target: Some(("<= 2000 ns", p(&exec_ns, 0.5) <= 2000.0)),
        },
        Row {
            metric: "observe_execution p99".into(),
            value: p(&exec_ns, 0.99),
            unit: "ns",
            baseline: Some((
                p(&naive_ns, 0.99),
                "seed: 3x average over unbounded Vec".into(),
            )),
            target: None,
        },
        Row {
            metric: "observe_tool_call p50".into(),
            value: p(&call_ns, 0.5),
            unit: "ns",
            baseline: None,
            target: Some(("<= 2000 ns", p(&call_ns, 0.5) <= 2000.0)),
        },
        Row {
            metric: "observe_tool_call p99".into(),
            value: p(&call_ns, 0.99),
            unit: "ns",
            baseline: None,
            target: None,
        },
        Row {
            metric: format!("hot key ({HOT_KEY_OBSERVATIONS} obs) observe_execution p50"),
            value: p(&hot_ns, 0.5),
            unit: "ns",
            baseline: Some((p(&hot_naive_ns, 0.5), "seed, same key".into())),
            target: None,
        },
        Row {
            metric: format!("hot key ({HOT_KEY_OBSERVATIONS} obs) observe_execution p99"),
            value: p(&hot_ns, 0.99),
            unit: "ns",
            baseline: Some((p(&hot_naive_ns, 0.99), "seed, same key".into())),
            target: None,
        },
        Row {
            metric: "timer overhead per call (included above) p50".into(),
            value: timer_p50,
            unit: "ns",
            baseline: None,
            target: None,
        },
        Row {
            metric: format!("state bytes per key after 200k obs ({} keys)", stats.keys),
            value: ours_per_key,
            unit: "bytes",
            baseline: Some((naive_bytes_per_key, format!("seed ({naive_keys} keys)"))),
            target: None,
        },
        Row {
            metric: format!(
                "state bytes per principal after 200k obs ({} principals, {} tools)",
                stats.principals, stats.tools
            ),
            value: ours_per_principal,
            unit: "bytes",
            baseline: None,
            target: None,
        },
        Row {
            metric: format!("hot key state bytes after {HOT_KEY_OBSERVATIONS} obs"),
            value: hot_bytes,
            unit: "bytes",
            baseline: Some((
                hot_naive_bytes,
                "seed, same key (grows without bound)".into(),
            )),
            target: None,
        },
        Row {
            metric: "bound: bytes per key with the key map full".into(),
            value: stats.bytes_per_key as f64,
            unit: "bytes",
            baseline: None,
            target: Some(("bounded", true)),
        },
        Row {
            metric: "bound: bytes per principal, worst case (64 tools, 8 open executions)".into(),
            value: stats.bytes_per_principal as f64,
            unit: "bytes",
            baseline: None,
            target: Some(("bounded", true)),
        },
        Row {
            metric: "bound: whole detector, defaults (100k keys, 10k principals)".into(),
            value: stats.bound_bytes as f64,
            unit: "bytes",
            baseline: None,
            target: Some(("bytes <= bound", stats.bytes <= stats.bound_bytes)),
        },
        Row {
            metric: "detector state now".into(),
            value: stats.bytes as f64,
            unit: "bytes",
            baseline: None,
            target: None,
        },
    ];

    println!(
        "{} executions + {} tool calls; {} principals, {} keys, {} tools tracked; {found} findings",
        execs.len(),
        calls.len(),
        stats.principals,
        stats.keys,
        stats.tools
    );
    println!(
        "{:<72} {:>12} {:>6} {:>12} {:>8}  target",
        "metric", "value", "unit", "baseline", "ratio"
    );
    let mut json_rows = Vec::new();
    for r in &rows {
        let ratio = r.baseline.as_ref().map(|(b, _)| r.value / b);
        println!(
            "{:<72} {:>12.1} {:>6} {:>12} {:>8}  {}",
            r.metric,
            r.value,
            r.unit,
            r.baseline
                .as_ref()
                .map_or("-".into(), |(b, _)| format!("{b:.1}")),
            ratio.map_or("-".into(), |x| format!("{x:.3}")),
            r.target.map_or(String::new(), |(t, ok)| format!(
                "{t} {}",
                if ok { "PASS" } else { "FAIL" }
            ))
        );
        json_rows.push(json!({
            "metric": r.metric,
            "value": r.value,
            "unit": r.unit,
            "baseline": r.baseline.as_ref().map(|(b, what)| format!("{what}: {b:.1} {}", r.unit)),
            "ratio": ratio,
            "target": r.target.map(|(t, _)| t),
            "pass": r.target.map(|(_, ok)| ok),
        }));
    }
    let doc: Value = json!({"bench": "anomaly", "rows": json_rows});
    let dir = target_dir().join("bench");
    let path = dir.join("anomaly.json");
    match std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap_or_default()))
    {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
