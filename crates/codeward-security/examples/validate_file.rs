//! Validates a program file and prints its findings and risk.
//!
//! `cargo run -p codeward-security --example validate_file -- path/to/agent.py`

use std::path::Path;
use std::process::ExitCode;

use codeward_core::{Language, RiskAssessor};
use codeward_security::{Risk, Validator};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: validate_file <program.py|program.ts>");
        return ExitCode::from(2);
    };
    let path = Path::new(&path);
    let Some(language) = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Language::from_extension)
    else {
        eprintln!("{}: unknown extension; use .py, .ts or .js", path.display());
        return ExitCode::from(2);
    };
    let code = match std::fs::read_to_string(path) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let validator = match Validator::new() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let report = match validator.check(&code, language, &[]) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    for f in &report.findings {
        println!(
            "{}:{}:{}: {} [{}] {}\n    {}\n    suggestion: {}",
            path.display(),
            f.line,
            f.column,
            f.severity,
            f.rule_id,
            f.message,
            f.snippet,
            f.suggestion
        );
    }
    let risk = Risk::new().assess(&code, language, &report, &[]);
    println!(
        "risk: {} ({}/100) with rules {}\nrecommendation: {}",
        risk.level, risk.score, report.rules_version, risk.recommendation
    );
    if risk.requires_approval() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
