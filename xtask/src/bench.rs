//! `cargo xtask bench`: runs each crate's bench target and merges the JSON they write under
//! `target/bench/` into one table of figures and ratios (`summary.md`, `summary.json`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// (short name, package, bench target)
const BENCHES: [(&str, &str, &str); 9] = [
    ("audit", "codeward-audit", "audit"),
    ("discovery", "codeward-discovery", "discovery"),
    ("codegen", "codeward-codegen", "codegen"),
    ("security", "codeward-security", "security"),
    ("sandbox", "codeward-sandbox", "sandbox"),
    ("anomaly", "codeward-anomaly", "anomaly"),
    ("mcp", "codeward-mcp", "mcp"),
    ("orchestrator", "codeward", "orchestrator"),
    ("bridge", "codeward-cli", "bridge"),
];

pub fn run(root: &Path, names: &[String]) -> Result<()> {
    let out = crate::target_dir(root).join("bench");
    for (short, package, bench) in BENCHES {
        if !names.is_empty() && !names.iter().any(|n| n == short) {
            continue;
        }
        if !root
            .join("crates")
            .join(package)
            .join("benches")
            .join(format!("{bench}.rs"))
            .is_file()
        {
            println!("bench {short}: no bench target in {package} yet, skipped");
            continue;
        }
        crate::cargo(root, &["bench", "-p", package, "--bench", bench])?;
    }
    let mut tables = Vec::new();
    for (short, _, _) in BENCHES {
        let path = out.join(format!("{short}.json"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            let doc: Value = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            tables.push(doc);
        }
    }
    let machine = machine();
    let mut md = format!("# codeward benchmarks\n\nMachine: {machine}\n\n");
    md.push_str("| bench | measure | value | unit | baseline | ratio | target | pass |\n|---|---|---:|---|---|---:|---|---|\n");
    for doc in &tables {
        let bench = doc["bench"].as_str().unwrap_or("?");
        for row in doc["rows"].as_array().into_iter().flatten() {
            let s = |k: &str| row[k].as_str().unwrap_or("").replace('|', "\\|");
            let num = |k: &str| row[k].as_f64().map(fmt_num).unwrap_or_default();
            let pass = match row["pass"].as_bool() {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                md,
                "| {bench} | {} | {} | {} | {} | {} | {} | {pass} |",
                s("metric"),
                num("value"),
                s("unit"),
                s("baseline"),
                num("ratio"),
                s("target")
            );
        }
    }
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("summary.md"), &md)?;
    let summary = serde_json::json!({"machine": machine, "benches": tables});
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    println!("{md}");
    println!("written: {}", out.join("summary.md").display());
    Ok(())
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "{cores} cores, {cpu}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
