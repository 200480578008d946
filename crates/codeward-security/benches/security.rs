//! Benchmark of codeward-security: validation latency of a typical 50-line agent program,
//! validation throughput on a 1,000-line program, PII tokenization throughput.
//!
//! Baselines measured in the same run: a predecessor-style regex scan of the raw program text
//! (what the old validator did), and PII detection without tokenization. Prints a table and
//! writes `$CARGO_TARGET_DIR/bench/security.json` (default `target/bench/security.json`).
//!
//! Run: `cargo bench -p codeward-security --bench security`

use codeward_test_support::bench::target_dir;
use std::hint::black_box;
use std::time::{Duration, Instant};

use codeward_core::{Language, PiiRedactor, ToolSchema};
use codeward_security::{PiiScanner, PiiTokenizer, Validator};
use regex::RegexSet;
use serde_json::{Value, json};

const PY_AGENT: &str = r###"""Weekly digest: collect notes, weather and open issues, post a summary."""
import json
from collections import defaultdict


def collect_notes(topic):
    notes = demo.notes_search(query=topic)
    return [n for n in notes if n.get("body")]


def group_by_author(notes):
    groups = defaultdict(list)
    for n in notes:
        groups[n.get("author", "unknown")].append(n["title"])
    return groups


def format_section(title, lines):
    if not lines:
        return f"## {title}\n(nothing)\n"
    return f"## {title}\n" + "\n".join(f"- {l}" for l in lines) + "\n"


def weather_lines(cities):
    out = []
    for city in cities:
        report = weather.get_weather(city=city)
        out.append(f"{city}: {report.get('summary', 'n/a')} ({report.get('temp_c', '?')} C)")
    return out


def main():
    """Build the digest, store it and post it."""
    notes = collect_notes("weekly")
    groups = group_by_author(notes)
    sections = []
    for author, titles in sorted(groups.items()):
        sections.append(format_section(author, titles))
    sections.append(format_section("weather", weather_lines(["Berlin", "Paris"])))
    rows = db.query(sql="select title from issues where state = 'open' limit 5")
    sections.append(format_section("open issues", [r["title"] for r in rows]))
    text = "\n".join(sections)
    files.write_file(path="digest.md", content=text)
    slack.post_message(channel="#team", text=text[:3000])
    return json.dumps({"sections": len(sections), "notes": len(notes)})


if __name__ == "__main__":
    # The program prints a compact JSON summary for the caller.
    print(main())
"###;

const TS_AGENT: &str = r###"// Weekly digest: collect notes, weather and open issues, post a summary.
type NoteT = { title: string; body?: string; author?: string };

async function collectNotes(topic: string): Promise<NoteT[]> {
  const notes = await demo.notesSearch({ query: topic });
  return notes.filter((n: NoteT) => Boolean(n.body));
}

function groupByAuthor(notes: NoteT[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const n of notes) {
    const key = n.author ?? "unknown";
    const list = groups.get(key) ?? [];
    list.push(n.title);
    groups.set(key, list);
  }
  return groups;
}

function section(title: string, lines: string[]): string {
  if (lines.length === 0) return `## ${title}\n(nothing)\n`;
  return `## ${title}\n` + lines.map((l) => `- ${l}`).join("\n") + "\n";
}

async function weatherLines(cities: string[]): Promise<string[]> {
  const reports = await Promise.all(cities.map((city) => weather.getWeather({ city })));
  return reports.map((r, i) => `${cities[i]}: ${r.summary ?? "n/a"} (${r.tempC ?? "?"} C)`);
}

/** Build the digest, store it and post it. */
async function main(): Promise<string> {
  // Notes first: every other section is optional.
  const notes = await collectNotes("weekly");
  const sections: string[] = [];
  for (const [author, titles] of [...groupByAuthor(notes).entries()].sort()) {
    sections.push(section(author, titles));
  }
  sections.push(section("weather", await weatherLines(["Berlin", "Paris"])));
  const rows = await db.query({ sql: "select title from issues where state = 'open' limit 5" });
  sections.push(section("open issues", rows.map((r: { title: string }) => r.title)));
  const text = sections.join("\n");
  await files.writeFile({ path: "digest.md", content: text });
  await slack.postMessage({ channel: "#team", text: text.slice(0, 3000) });
  return JSON.stringify({ sections: sections.length, notes: notes.length });
}

const result = await main();
// The program prints a compact JSON summary for the caller.
console.log(result);
// end of program
"###;

/// The predecessor's approach: regexes over raw text (strings and comments included).
const BASELINE_PATTERNS: &[&str] = &[
    r"\beval\s*\(",
    r"\bexec\s*\(",
    r"\bcompile\s*\(",
    r"__import__",
    r"importlib",
    r"os\.system",
    r"os\.popen",
    r"subprocess",
    r"child_process",
    r"Deno\.run",
    r"new\s+Function",
    r"\bFunction\s*\(",
    r"socket",
    r"urllib",
    r"requests\.",
    r"\bfetch\s*\(",
    r"WebSocket",
    r"os\.environ",
    r"process\.env",
    r"__builtins__",
    r"__subclasses__",
    r"__mro__",
    r"constructor\.constructor",
    r"__proto__",
    r"getattr\s*\(",
    r"setattr\s*\(",
    r"base64",
    r"\bchr\s*\(",
    r"while\s*\(?\s*(True|true|1)\s*\)?",
    r"os\.fork",
    r"writeFile",
    r"unlink",
    r"rmtree",
];

fn catalogue() -> Vec<ToolSchema> {
    let text = include_str!("../tests/it/corpus/tools.json");
    serde_json::from_str(text).unwrap_or_default()
}

/// Per-iteration durations of `f`, run for at least `budget` and `min_iters` iterations.
fn sample(budget: Duration, min_iters: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..20 {
        f();
    }
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < min_iters || start.elapsed() < budget {
        let t = Instant::now();
        f();
        out.push(t.elapsed().as_secs_f64());
        if out.len() > 2_000_000 {
            break;
        }
    }
    out.sort_by(|a, b| a.total_cmp(b));
    out
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
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

fn big_program(lines: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "def step_{i}(items):\n    total = 0\n    for item in items:\n        if item.get(\"ok\"):\n            total += len(item[\"title\"])\n    notes = demo.notes_search(query=\"topic {i}\")\n    return total + len(notes)\n\n\n"
        ));
        i += 1;
    }
    out
}

fn pii_payload(target_bytes: usize) -> Value {
    let mut rows = Vec::new();
    let mut size = 0;
    let mut i = 0u64;
    while size < target_bytes {
        let row = json!({
            "id": i,
            "name": format!("Customer {i}"),
            "email": format!("customer{i}@example.com"),
            "phone": "+1 415 555 2671",
            "note": format!("Order {i} shipped on 2024-01-15 from 10.0.{}.{}; card 4111 1111 1111 1111 on file. Version 1.2.{i} of the app, build 20240115.{i}; see the ticket for details and the long description that follows with ordinary words and numbers like 42 and 3.14.", i % 250, i % 200),
            "tags": ["priority", "retail", "eu-west"],
        });
        size += row.to_string().len();
        rows.push(row);
        i += 1;
    }
    Value::Array(rows)
}

fn main() {
    let validator = match Validator::new() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("cannot build the validator: {e}");
            std::process::exit(1);
        }
    };
    let tools = catalogue();
    let baseline = match RegexSet::new(BASELINE_PATTERNS) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("baseline regexes: {e}");
            std::process::exit(1);
        }
    };
    let mut rows = Vec::new();
    let budget = Duration::from_secs(3);

    for (language, code) in [
        (Language::Python, PY_AGENT),
        (Language::TypeScript, TS_AGENT),
    ] {
        let lines = code.lines().count();
        let ours = sample(budget, 1000, || {
            black_box(
                validator
                    .check(black_box(code), language, &tools)
                    .map(|r| r.findings.len())
                    .unwrap_or(0),
            );
        });
        let base = sample(budget, 1000, || {
            black_box(baseline.matches(black_box(code)).iter().count());
        });
        let grammar: tree_sitter::Language = match language {
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            _ => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        };
        let mut parser = tree_sitter::Parser::new();
        if parser.set_language(&grammar).is_err() {
            eprintln!("grammar mismatch");
            std::process::exit(1);
        }
        let parse_only = sample(budget, 1000, || {
            black_box(
                parser
                    .parse(black_box(code), None)
                    .map(|t| t.root_node().child_count()),
            );
        });
        let p50 = pct(&ours, 0.5) * 1e3;
        let b50 = pct(&base, 0.5) * 1e3;
        rows.push(Row {
            metric: format!(
                "validate {lines}-line {} agent program, p50",
                language.as_str()
            ),
            value: p50,
            unit: "ms",
            baseline: Some(format!(
                "regex scan of raw text (predecessor) p50 {b50:.4} ms"
            )),
            ratio: Some(p50 / b50),
            target: Some("<= 1 ms".into()),
            pass: Some(p50 <= 1.0),
        });
        rows.push(Row {
            metric: format!(
                "tree-sitter parse only, {lines}-line {}, p50",
                language.as_str()
            ),
            value: pct(&parse_only, 0.5) * 1e3,
            unit: "ms",
            baseline: None,
            ratio: None,
            target: None,
            pass: None,
        });
        rows.push(Row {
            metric: format!(
                "validate {lines}-line {} agent program, p99",
                language.as_str()
            ),
            value: pct(&ours, 0.99) * 1e3,
            unit: "ms",
            baseline: None,
            ratio: None,
            target: None,
            pass: None,
        });
    }

    let big = big_program(1000);
    let big_lines = big.lines().count();
    let ours = sample(budget, 50, || {
        black_box(
            validator
                .check(black_box(&big), Language::Python, &tools)
                .map(|r| r.findings.len())
                .unwrap_or(0),
        );
    });
    let base = sample(budget, 50, || {
        black_box(baseline.matches(black_box(&big)).iter().count());
    });
    let lps = big_lines as f64 / pct(&ours, 0.5);
    let base_lps = big_lines as f64 / pct(&base, 0.5);
    rows.push(Row {
        metric: format!("validation throughput, {big_lines}-line python program"),
        value: lps,
        unit: "lines/s",
        baseline: Some(format!("regex scan {base_lps:.0} lines/s")),
        ratio: Some(lps / base_lps),
        target: None,
        pass: None,
    });

    let tokenizer = match PiiTokenizer::builder().key([3; 32]).build() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tokenizer: {e}");
            std::process::exit(1);
        }
    };
    let payload = pii_payload(1 << 20);
    let bytes = payload.to_string().len() as f64;
    let mut scope = 0u64;
    let tok = sample(budget, 5, || {
        let mut v = payload.clone();
        scope += 1;
        let s = scope.to_string();
        black_box(tokenizer.tokenize(&mut v, &s).total());
        tokenizer.end_scope(&s);
    });
    let clone_only = sample(Duration::from_millis(500), 5, || {
        black_box(payload.clone());
    });
    let texts: Vec<String> = {
        let mut out = Vec::new();
        let mut stack = vec![&payload];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => out.push(s.clone()),
                // tokenize scans numbers' decimal text too.
                Value::Number(n) => out.push(n.to_string()),
                Value::Array(a) => stack.extend(a),
                Value::Object(m) => stack.extend(m.values()),
                _ => {}
            }
        }
        out
    };
    let scanner = PiiScanner::new();
    let detect = sample(budget, 5, || {
        black_box(texts.iter().map(|s| scanner.scan(s).len()).sum::<usize>());
    });
    let tok_secs = (pct(&tok, 0.5) - pct(&clone_only, 0.5)).max(1e-9);
    let mbps = bytes / 1e6 / tok_secs;
    let detect_mbps = bytes / 1e6 / pct(&detect, 0.5);
    rows.push(Row {
        metric: format!("PII tokenization of {:.1} MB nested JSON", bytes / 1e6),
        value: mbps,
        unit: "MB/s",
        baseline: Some(format!("detection only {detect_mbps:.1} MB/s")),
        ratio: Some(mbps / detect_mbps),
        target: None,
        pass: None,
    });

    println!(
        "{:<58} {:>14} {:<8} {:>8}  {:<10} baseline",
        "metric", "value", "unit", "ratio", "target"
    );
    for r in &rows {
        println!(
            "{:<58} {:>14.4} {:<8} {:>8} {:<10} {}",
            r.metric,
            r.value,
            r.unit,
            r.ratio
                .map(|x| if x < 0.01 {
                    format!("{x:.1e}")
                } else {
                    format!("{x:.2}")
                })
                .unwrap_or_else(|| "-".into()),
            r.target.clone().unwrap_or_else(|| "-".into()),
            r.baseline.clone().unwrap_or_else(|| "-".into()),
        );
    }
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "metric": r.metric, "value": r.value, "unit": r.unit, "baseline": r.baseline,
                "ratio": r.ratio, "target": r.target, "pass": r.pass,
            })
        })
        .collect();
    let doc = json!({"bench": "security", "rows": json_rows});
    let dir = target_dir().join("bench");
    let path = dir.join("security.json");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap_or_default()));
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}
