//! Generation time for 5 and 100 tools in both languages, and the token economics of the
//! generated API against every catalogue definition. Prints a table and writes
//! `<target>/bench/codegen.json`.
//!
//! Run: `cargo bench -p codeward-codegen --bench codegen`

use std::path::Path;
use std::time::{Duration, Instant};

use codeward_codegen::{CodeGenerator, load_tools, token_economics, tools_list_json};
use codeward_core::{Language, ToolSchema};
use serde_json::{Value, json};

fn catalogue() -> Vec<ToolSchema> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let mut tools = Vec::new();
    for name in ["demo", "seed", "filesystem", "everything", "hard_cases"] {
        match load_tools(dir.join(format!("{name}.json"))) {
            Ok(more) => tools.extend(more),
            Err(error) => panic!("fixture {name}: {error}"),
        }
    }
    tools
}

/// `n` distinct tools: the fixtures again and again under numbered server names.
fn synthetic(base: &[ToolSchema], n: usize) -> Vec<ToolSchema> {
    (0..n)
        .map(|i| {
            let mut tool = base[i % base.len()].clone();
            let server = tool.server.clone().unwrap_or_default();
            tool.server = Some(format!("{server}{}", i / base.len()));
            tool
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let generator = CodeGenerator::new();
    let all = catalogue();
    // Loads the BPE once, outside the timings.
    let _ = codeward_codegen::count_tokens("warm up");
    let mut rows: Vec<Value> = Vec::new();
    for (n, runs, target_ms) in [(5usize, 30usize, 10.0f64), (100, 10, 200.0)] {
        let tools = synthetic(&all, n);
        let baseline = time(runs, || {
            std::hint::black_box(tools_list_json(&tools));
        });
        for language in Language::ALL {
            let ms = time(runs, || {
                if let Err(error) = generator.generate_api(&tools, language) {
                    panic!("generation failed: {error}");
                }
            });
            rows.push(json!({
                "metric": format!("generate_{n}_tools_{}_ms", language.extension()),
                "value": ms,
                "unit": "ms",
                "baseline": format!("serializing the same tools as tools/list JSON: {baseline:.3} ms"),
                "ratio": ms / baseline,
                "target": format!("<= {target_ms} ms"),
                "pass": ms <= target_ms,
            }));
        }
    }
    for selected in [1usize, 3, 5] {
        let chosen: Vec<ToolSchema> = all.iter().skip(5).take(selected).cloned().collect();
        for language in Language::ALL {
            let report = match token_economics(&generator, &chosen, &all, language) {
                Ok(report) => report,
                Err(error) => panic!("economics failed: {error}"),
            };
            let ratio = report.summary_tokens as f64 / report.all_definitions_tokens as f64;
            rows.push(json!({
                "metric": format!("summary_tokens_{selected}_of_{}_tools_{}", all.len(), language.extension()),
                "value": report.summary_tokens,
                "unit": "tokens (o200k_base)",
                "baseline": format!("all {} definitions as tools/list JSON: {} tokens", all.len(), report.all_definitions_tokens),
                "ratio": ratio,
                "target": "<= 0.2 of all definitions",
                "pass": ratio <= 0.2,
            }));
            rows.push(json!({
                "metric": format!("module_tokens_{selected}_of_{}_tools_{}", all.len(), language.extension()),
                "value": report.module_tokens,
                "unit": "tokens (o200k_base)",
                "baseline": format!("the same {selected} definitions as tools/list JSON: {} tokens", report.selected_definitions_tokens),
                "ratio": report.module_tokens as f64 / report.selected_definitions_tokens as f64,
                "target": Value::Null,
                "pass": Value::Null,
            }));
        }
    }
    // A larger catalogue, as agents with many servers have: the summary stays the same size.
    let large = synthetic(&all, 300);
    let chosen: Vec<ToolSchema> = all.iter().skip(5).take(5).cloned().collect();
    for language in Language::ALL {
        let report = match token_economics(&generator, &chosen, &large, language) {
            Ok(report) => report,
            Err(error) => panic!("economics failed: {error}"),
        };
        let ratio = report.summary_tokens as f64 / report.all_definitions_tokens as f64;
        rows.push(json!({
            "metric": format!("summary_tokens_5_of_300_tools_{}", language.extension()),
            "value": report.summary_tokens,
            "unit": "tokens (o200k_base)",
            "baseline": format!("all 300 definitions as tools/list JSON: {} tokens", report.all_definitions_tokens),
            "ratio": ratio,
            "target": "<= 0.02 of all definitions",
            "pass": ratio <= 0.02,
        }));
    }
    println!("{:<44} {:>12} {:>10}  baseline", "metric", "value", "ratio");
    for row in &rows {
        println!(
            "{:<44} {:>12.3} {:>10.3}  {}",
            row["metric"].as_str().unwrap_or_default(),
            row["value"].as_f64().unwrap_or_default(),
            row["ratio"].as_f64().unwrap_or_default(),
            row["baseline"].as_str().unwrap_or_default()
        );
    }
    let target = codeward_test_support::bench::target_dir();
    let dir = target.join("bench");
    let report = json!({"bench": "codegen", "rows": rows});
    if let Err(error) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("codegen.json"), format!("{report:#}\n")))
    {
        panic!("cannot write {}: {error}", dir.display());
    }
    println!("wrote {}", dir.join("codegen.json").display());
}
