//! `search`, `api`, `check` and `doctor`: commands that look without running anything.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use serde_json::json;

use codeward::Config;
use codeward_core::{
    ApiGenerator, CodeValidator, Language, RiskAssessor, SearchQuery, ToolIndex, ToolSchema,
};

use crate::exit::{Exit, OrUsage, usage};
use crate::output::Output;
use crate::setup;

pub async fn search(config: &Config, out: &Output, query: &str, limit: usize) -> Result<Exit> {
    let index = codeward::catalogue(config)?;
    let servers = setup::server_names(config)?;
    let hits = index.search(&SearchQuery::new(query, limit))?;
    // The catalogue lists tools of servers that are not configured here: a program calling
    // them would fail, so each hit says whether a configured server serves it.
    let served = |tool: &ToolSchema| tool.server.as_ref().is_some_and(|s| servers.contains(s));
    out.json(&hits.iter().map(|h| json!({"tool": h.tool.qualified_name(), "score": h.score, "matched": h.matched_fields, "description": h.tool.description, "server": h.tool.server, "server_configured": served(&h.tool)})).collect::<Vec<_>>());
    if hits.is_empty() {
        out.line(format!("no tool matches `{query}`"));
        return Ok(Exit::NoTools);
    }
    let mut missing = BTreeSet::new();
    for h in &hits {
        let first = h.tool.description.lines().next().unwrap_or("");
        let mark = if served(&h.tool) {
            ""
        } else {
            missing.insert(h.tool.server.clone().unwrap_or_default());
            "  (no server)"
        };
        out.line(format!(
            "{:>7.2}  {:<40} {}  [{}]{mark}",
            h.score,
            h.tool.qualified_name(),
            first,
            h.matched_fields.join(",")
        ));
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing
            .iter()
            .map(|s| if s.is_empty() { "(none)" } else { s.as_str() })
            .collect();
        out.line(format!(
            "(no server): no configured MCP server serves these tools ({}; configured: {}), so \
             a program cannot call them; add the server to the MCP servers file \
             ([mcp] servers_file or CODEWARD_MCP_CONFIG)",
            names.join(", "),
            if servers.is_empty() {
                "none".to_owned()
            } else {
                servers.iter().cloned().collect::<Vec<_>>().join(", ")
            }
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
    let mut api = codeward_codegen::CodeGenerator::new().generate(&tools, language)?;
    // As in `search`: a tool no configured server serves would fail when a program calls it.
    let servers = setup::server_names(config)?;
    for tool in &tools {
        if !tool.server.as_ref().is_some_and(|s| servers.contains(s)) {
            api.warnings.push(format!(
                "`{}`: no configured MCP server serves it (server `{}`), so a program calling it \
                 fails; add the server to the MCP servers file ([mcp] servers_file or \
                 CODEWARD_MCP_CONFIG)",
                tool.qualified_name(),
                tool.server.as_deref().unwrap_or("(none)")
            ));
        }
    }
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
    // Everything a run needs, checked without running anything or writing a record: each
    // problem found is one that makes runs fail.
    let mut problems: Vec<String> = Vec::new();
    let sandbox = codeward_sandbox::ProcessSandbox::with_defaults();
    let (isolation, interpreters) = match &sandbox {
        Ok(s) => (
            json!(s.isolation_report()),
            json!({
                "python": s.interpreter(Language::Python).map(|p| p.display().to_string()),
                "node": s.interpreter(Language::TypeScript).map(|p| p.display().to_string()),
            }),
        ),
        Err(e) => {
            problems.push(format!("the sandbox cannot start: {e}"));
            (json!({"error": e.to_string()}), json!(null))
        }
    };

    let data_dir = &config.data_dir;
    let data_problem = dir_problem(data_dir, "the data directory");
    problems.extend(data_problem.clone());
    // Paths under an unusable data directory fail for the same reason: said once.
    let check = |path: &Path, what: &str, problems: &mut Vec<String>| {
        if data_problem.is_none() || !path.starts_with(data_dir) {
            problems.extend(dir_problem(path, what));
        }
    };
    check(
        &config.workspaces_dir(),
        "the workspaces directory",
        &mut problems,
    );
    if let Some(parent) = config.approvals_file().parent() {
        check(parent, "the approvals directory", &mut problems);
    }

    let key_file = config.audit_key_file();
    let key_checked = data_problem.is_none() || !key_file.starts_with(data_dir);
    let key_problem = match std::fs::symlink_metadata(&key_file) {
        _ if !key_checked => None,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && config.audit.create_key
                && codeward_audit::log_has_records(&config.audit_dir()).unwrap_or(false) =>
        {
            Some(format!(
                "the audit pseudonym key {} is missing but the log has records made with it: \
                 runs refuse to make a new one; restore it from your backup",
                key_file.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && config.audit.create_key => {
            // The first run creates it.
            let mut found = Vec::new();
            if let Some(parent) = key_file.parent() {
                check(parent, "the audit key directory", &mut found);
            }
            found.pop()
        }
        _ => codeward_audit::KeySource::file(&key_file)
            .load()
            .err()
            .map(|e| format!("the audit pseudonym key cannot be loaded: {e}")),
    };
    problems.extend(key_problem.clone());

    let audit_dir = config.audit_dir();
    let mut audit_problems = Vec::new();
    let audit = if audit_dir.is_dir() {
        audit_problems.extend(dir_problem(&audit_dir, "the audit directory"));
        audit_problems.extend(log_files_problems(&audit_dir));
        // As `audit verify` checks it: the configured signing key's checkpoints must be its.
        let verified = codeward::verify_options(config)
            .map_err(anyhow::Error::from)
            .and_then(|opts| Ok(codeward_audit::verify(&audit_dir, &opts)?));
        match verified {
            Ok(r) => {
                if let Some(p) = &r.problem {
                    audit_problems.push(format!("the audit chain is broken: {p}"));
                }
                // `restorable` records (a power loss took them from the newest segment) are
                // not a problem for a run: its open restores them.
                let write_ahead = std::fs::metadata(audit_dir.join("audit.wal"))
                    .ok()
                    .map(|m| m.len());
                json!({"dir": audit_dir, "records": r.records, "segments": r.segments, "chain_ok": r.is_ok(), "problem": r.problem.map(|p| p.to_string()), "restorable": r.restorable, "write_ahead_bytes": write_ahead})
            }
            Err(e) => {
                audit_problems.push(format!("the audit log cannot be read: {e}"));
                json!({"dir": audit_dir, "error": e.to_string()})
            }
        }
    } else {
        let mut found = Vec::new();
        check(&audit_dir, "the audit directory", &mut found);
        audit_problems.extend(found);
        json!({"dir": audit_dir, "records": 0, "note": "no log yet; the first run creates it"})
    };
    problems.extend(audit_problems);

    // The bundled demo server lives in the data directory: it cannot start without it.
    let pool = if data_problem.is_some() && config.mcp.servers_file.is_none() {
        None
    } else {
        match setup::mcp_pool(config) {
            Ok(pool) => Some(pool),
            // A servers file that does not load is the user's to fix (exit 2, as elsewhere).
            Err(e) if crate::exit::Failure::exit_of(&e) == Exit::Usage => return Err(e),
            Err(e) => {
                problems.push(format!("the MCP servers cannot be prepared: {e:#}"));
                None
            }
        }
    };
    let (load, servers) = match &pool {
        Some(pool) => {
            let load = pool.load_tools().await;
            let servers = pool.status();
            pool.shutdown().await;
            (Some(load), json!(servers))
        }
        None => (None, json!([])),
    };
    for failure in load.iter().flat_map(|l| l.failures()) {
        problems.push(format!(
            "MCP server `{}` did not load: {:?}",
            failure.server, failure.outcome
        ));
    }

    let healthy = problems.is_empty();
    out.json(&json!({
        "isolation": isolation,
        "interpreters": interpreters,
        "servers": servers,
        "data_dir": data_dir,
        "key": {"file": key_file, "ok": key_checked.then_some(key_problem.is_none())},
        "audit": audit,
        "problems": problems,
        "healthy": healthy,
    }));
    if !out.json {
        out.line("isolation layers:");
        match &sandbox {
            Ok(s) => out.line(format!("{}", s.isolation_report())),
            Err(e) => out.line(format!("  sandbox unavailable: {e}")),
        }
        out.line(format!("interpreters: {interpreters}"));
        out.line("MCP servers:");
        for s in load.iter().flat_map(|l| &l.servers) {
            out.line(format!("  {:<16} {:?}", s.server, s.outcome));
        }
        out.line(format!("audit log: {audit}"));
        if healthy {
            out.line("healthy: a run has what it needs");
        } else {
            out.line(format!("unhealthy: {} problem(s):", problems.len()));
            for p in &problems {
                out.line(format!("  - {p}"));
            }
        }
    }
    Ok(if healthy {
        Exit::Success
    } else {
        Exit::CheckFailed
    })
}

/// Why `dir` cannot serve as `what` (a directory codeward creates files in), if it cannot:
/// it must be a writable directory, or be creatable under its nearest existing ancestor.
/// Probes by creating and removing a file, which is what a run will do.
fn dir_problem(dir: &Path, what: &str) -> Option<String> {
    let mut existing = dir;
    loop {
        match std::fs::metadata(existing) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) if existing == dir => {
                return Some(format!("{what} {} is not a directory", dir.display()));
            }
            Ok(_) => {
                return Some(format!(
                    "{what} {} cannot be created: {} is not a directory",
                    dir.display(),
                    existing.display()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match existing.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
                // A relative path: the rest is under the working directory.
                _ => {
                    existing = Path::new(".");
                    break;
                }
            },
            Err(e) => return Some(format!("{what} {} cannot be read: {e}", existing.display())),
        }
    }
    let probe = existing.join(format!(".codeward-doctor-{}", std::process::id()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) if existing == dir => Some(format!("{what} {} is not writable: {e}", dir.display())),
        Err(e) => Some(format!(
            "{what} {} cannot be created in {}: {e}",
            dir.display(),
            existing.display()
        )),
    }
}

/// The files the audit writer opens for writing (the lock, the write-ahead file, the first
/// and the newest segment): each must open for writing. Opening writes nothing.
fn log_files_problems(dir: &Path) -> Vec<String> {
    let mut files = vec![dir.join("audit.lock"), dir.join("audit.wal")];
    if let Ok(segments) = codeward_audit::list_segments(dir) {
        files.extend(segments.first().map(|(_, p)| p.clone()));
        files.extend(segments.last().map(|(_, p)| p.clone()));
    }
    files.dedup();
    files
        .iter()
        .filter(|f| f.exists())
        .filter_map(|f| {
            std::fs::OpenOptions::new()
                .append(true)
                .open(f)
                .err()
                .map(|e| format!("the audit log file {} cannot be written: {e}", f.display()))
        })
        .collect()
}
