//! `search`, `api`, `check` and `doctor`: commands that look without running anything.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use codeward::Config;
use codeward_core::{ApiGenerator, CodeValidator, Language, RiskAssessor, SearchQuery, ToolIndex};

use crate::exit::{Exit, OrUsage, usage};
use crate::output::Output;
use crate::setup;

pub async fn search(config: &Config, out: &Output, query: &str, limit: usize) -> Result<Exit> {
    let index = codeward::catalogue(config)?;
    let hits = index.search(&SearchQuery::new(query, limit))?;
    out.json(&hits.iter().map(|h| json!({"tool": h.tool.qualified_name(), "score": h.score, "matched": h.matched_fields, "description": h.tool.description})).collect::<Vec<_>>());
    if hits.is_empty() {
        out.line(format!("no tool matches `{query}`"));
        return Ok(Exit::NoTools);
    }
    for h in &hits {
        let first = h.tool.description.lines().next().unwrap_or("");
        out.line(format!(
            "{:>7.2}  {:<40} {}  [{}]",
            h.score,
            h.tool.qualified_name(),
            first,
            h.matched_fields.join(",")
        ));
    }
    Ok(Exit::Success)
}

pub async fn api(
    config: &Config,
    out: &Output,
    names: &[String],
    lang: &str,
    summary: bool,
) -> Result<Exit> {
    let language: Language = lang.parse().or_usage(|| "--lang".into())?;
    let index = codeward::catalogue(config)?;
    let mut tools = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            usage!("`{name}` is listed twice; pass each tool once");
        }
        match index.get(name) {
            Some(t) => tools.push(t),
            None => usage!(
                "no tool `{name}` in the catalogue; find names with `codeward search <words>`"
            ),
        }
    }
    let api = codeward_codegen::CodeGenerator::new().generate(&tools, language)?;
    out.json(&api);
    if !out.json {
        out.line(if summary { &api.summary } else { &api.module });
        eprintln!(
            "({} tokens full, {} tokens summary; {} warning(s))",
            api.module_tokens,
            api.summary_tokens,
            api.warnings.len()
        );
        for w in &api.warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(Exit::Success)
}

pub async fn check(config: &Config, out: &Output, file: &Path, lang: Option<&str>) -> Result<Exit> {
    let code =
        std::fs::read_to_string(file).or_usage(|| format!("cannot read {}", file.display()))?;
    let language = match lang {
        Some(l) => l.parse().or_usage(|| "--lang".into())?,
        None => match file
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Language::from_extension)
        {
            Some(l) => l,
            None => usage!(
                "cannot tell the language of {}; pass --lang python|typescript",
                file.display()
            ),
        },
    };
    let tools = codeward::catalogue(config)?.all();
    let validator = codeward_security::Validator::new()?;
    // Matched by the usual spellings: an API generated here for the whole catalogue could
    // name a colliding server differently than a run's (which `codeward run` validates with
    // its own API's exact names).
    let report = validator.validate(&code, language, &tools)?;
    let risk = codeward_security::Risk::new().assess(&code, language, &report, &tools);
    out.json(&json!({"file": file, "language": language, "findings": report.findings, "tools_used": report.tools_used, "risk": risk}));
    for f in &report.findings {
        out.line(format!(
            "{}:{}:{}: {} [{}] {}",
            file.display(),
            f.line,
            f.column,
            f.severity,
            f.rule_id,
            f.message
        ));
        if !f.snippet.is_empty() {
            out.line(format!("    | {}", f.snippet.lines().next().unwrap_or("")));
        }
        if !f.suggestion.is_empty() {
            out.line(format!("    = {}", f.suggestion));
        }
    }
    out.line(format!(
        "risk: {} ({}/100): {}",
        risk.level, risk.score, risk.recommendation
    ));
    Ok(if report.has_syntax_error() {
        Exit::InvalidProgram
    } else if risk.requires_approval() {
        Exit::ApprovalRequired
    } else {
        Exit::Success
    })
}

pub async fn doctor(config: &Config, out: &Output) -> Result<Exit> {
    let sandbox = codeward_sandbox::ProcessSandbox::with_defaults();
    let (isolation, interpreters) = match &sandbox {
        Ok(s) => (
            json!(s.isolation_report()),
            json!({
                "python": s.interpreter(Language::Python).map(|p| p.display().to_string()),
                "node": s.interpreter(Language::TypeScript).map(|p| p.display().to_string()),
            }),
        ),
        Err(e) => (json!({"error": e.to_string()}), json!(null)),
    };
    let pool = setup::mcp_pool(config)?;
    let load = pool.load_tools().await;
    let servers = pool.status();
    pool.shutdown().await;
    let audit_dir = config.audit_dir();
    let audit = if audit_dir.is_dir() {
        match codeward_audit::verify(&audit_dir, &codeward_audit::VerifyOptions::default()) {
            Ok(r) => {
                json!({"dir": audit_dir, "records": r.records, "segments": r.segments, "chain_ok": r.is_ok(), "problem": r.problem.map(|p| p.to_string())})
            }
            Err(e) => json!({"dir": audit_dir, "error": e.to_string()}),
        }
    } else {
        json!({"dir": audit_dir, "records": 0, "note": "no log yet; the first run creates it"})
    };
    let healthy = load.failures().next().is_none()
        && audit.get("error").is_none()
        && audit["chain_ok"] != json!(false);
    out.json(&json!({"isolation": isolation, "interpreters": interpreters, "servers": servers, "audit": audit, "healthy": healthy}));
    if !out.json {
        out.line("isolation layers:");
        match &sandbox {
            Ok(s) => out.line(format!("{}", s.isolation_report())),
            Err(e) => out.line(format!("  sandbox unavailable: {e}")),
        }
        out.line(format!("interpreters: {interpreters}"));
        out.line("MCP servers:");
        for s in &load.servers {
            out.line(format!("  {:<16} {:?}", s.server, s.outcome));
        }
        out.line(format!("audit log: {audit}"));
    }
    Ok(if healthy {
        Exit::Success
    } else {
        Exit::CheckFailed
    })
}
