//! `demo`, `run` and `approvals`: the commands that go through the orchestrator.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use codeward::{Config, Orchestrator};
use codeward_audit::{AuditReader, Query, VerifyOptions, verify};
use codeward_core::{
    ApprovalDecision, ExecutionFailure, ExecutionOutcome, ExecutionRequest, Language,
    LimitOverrides,
};

use crate::ApprovalAction;
use crate::exit::{Exit, Failure, OrUsage, usage};
use crate::output::Output;
use crate::setup;

const DEMO_INTENT: &str = "add notes to my notebook, search my notes and count the words of a text";

const DEMO_PYTHON: &str = r#"# The demo program: notes, search and text statistics through the demo MCP server.
from codeward_api import demo, set_result

demo.notes_add(title="Q3 plan", body="Ship the audit log. Ask alice@example.com about the sandbox.", tags=["plan"])
demo.notes_add(title="Groceries", body="milk, eggs, coffee", tags=["home"])
found = demo.notes_search(query="plan")
stats = demo.text_stats(text="Code mode lets an agent write one short program instead of many tool calls.")
set_result({"search": found, "words": stats["words"] if isinstance(stats, dict) else stats})
"#;

const DEMO_TYPESCRIPT: &str = r#"// The demo program: notes, search and text statistics through the demo MCP server.
import { demo, setResult } from "./codeward_api";

await demo.notesAdd({ title: "Q3 plan", body: "Ship the audit log. Ask alice@example.com about the sandbox.", tags: ["plan"] });
await demo.notesAdd({ title: "Groceries", body: "milk, eggs, coffee", tags: ["home"] });
const found = await demo.notesSearch({ query: "plan" });
const stats: any = await demo.textStats({ text: "Code mode lets an agent write one short program instead of many tool calls." });
setResult({ search: found, words: stats.words });
"#;

/// Arguments of `codeward run`.
pub struct RunArgs {
    pub file: PathBuf,
    pub intent: Option<String>,
    pub lang: Option<String>,
    pub approval: Option<String>,
    pub principal: String,
    pub tools: Option<usize>,
    pub timeout_ms: Option<u64>,
}

pub async fn demo(config: &Config, out: &Output, lang: &str) -> Result<Exit> {
    let language: Language = lang.parse().or_usage(|| "--lang".into())?;
    let program = match language {
        Language::Python => DEMO_PYTHON,
        _ => DEMO_TYPESCRIPT,
    };
    out.progress("starting the bundled demo MCP server and loading the catalogue");
    let pool = setup::mcp_pool(config)?;
    let orchestrator = setup::orchestrator(config, &pool).await?;
    out.line(format!(
        "codeward demo ({language}): {} tools in the catalogue",
        orchestrator.stats().tools
    ));
    let request = ExecutionRequest::new(DEMO_INTENT, language)
        .with_program(program)
        .with_principal("demo-user")
        .with_tool_limit(config.discovery.tool_limit.max(8));
    execute(config, orchestrator, pool, out, request).await
}

pub async fn run_file(config: &Config, out: &Output, args: RunArgs) -> Result<Exit> {
    let program = std::fs::read_to_string(&args.file)
        .or_usage(|| format!("cannot read {}", args.file.display()))?;
    let language: Language = match (&args.lang, args.file.extension().and_then(|e| e.to_str())) {
        (Some(l), _) => l.parse().or_usage(|| "--lang".into())?,
        (None, Some(ext)) => match Language::from_extension(ext) {
            Some(l) => l,
            None => usage!(
                "cannot tell the language of {} from `.{ext}`; pass --lang python|typescript",
                args.file.display()
            ),
        },
        (None, None) => usage!(
            "{} has no extension; pass --lang python|typescript",
            args.file.display()
        ),
    };
    let intent = match args.intent {
        Some(i) => i,
        None => match first_comment(&program) {
            Some(intent) => intent,
            None => usage!(
                "no --intent given and {} does not start with a comment saying what it does",
                args.file.display()
            ),
        },
    };
    let pool = setup::mcp_pool(config)?;
    let orchestrator = setup::orchestrator(config, &pool).await?;
    let mut limits = LimitOverrides::default();
    limits.timeout = args.timeout_ms.map(Duration::from_millis);
    let mut request = ExecutionRequest::new(intent, language)
        .with_program(program)
        .with_principal(args.principal)
        .with_tool_limit(args.tools.unwrap_or(config.discovery.tool_limit))
        .with_limits(limits);
    if let Some(id) = args.approval {
        request = request.with_approval(id);
    }
    execute(config, orchestrator, pool, out, request).await
}

/// Reports a run whose outcome is known, once (one JSON document with `--json`), given how
/// closing the log and reading back its records went, and returns its exit. When the log was
/// already down before anything ran, those fail for the reason the outcome gives: exit 4
/// with the outcome's message. Otherwise a failure there comes after the program ran:
/// internal (70), never 4.
fn conclude(
    config: &Config,
    out: &Output,
    outcome: &ExecutionOutcome,
    read: Result<ReadBack>,
    closed: Result<()>,
) -> Result<Exit> {
    let trouble = match (&read, &closed) {
        (Ok(_), Ok(())) => None,
        (Err(e), _) | (Ok(_), Err(e)) => Some(match &outcome.error {
            Some(failure @ ExecutionFailure::AuditUnavailable { .. }) => {
                tracing::warn!(error = %describe(e), "reading back or closing the unavailable audit log");
                (Exit::AuditUnavailable, failure.to_string())
            }
            _ => (
                Exit::Internal,
                format!(
                    "after the program ran (records written before this are durable): {}",
                    describe(e)
                ),
            ),
        }),
    };
    print_run(
        config,
        out,
        outcome,
        read.as_ref().ok(),
        trouble.as_ref().map(|(_, m)| m.as_str()),
    );
    match trouble {
        None if Orchestrator::was_cancelled(outcome) => Ok(Exit::Interrupted),
        None => Ok(Exit::of(outcome.error.as_ref())),
        Some((exit, message)) => Err(Failure::shown(exit, message)),
    }
}

/// An error's own text, with its root cause when the text does not already include it.
fn describe(e: &anyhow::Error) -> String {
    let (top, root) = (e.to_string(), e.root_cause().to_string());
    if top.contains(&root) {
        top
    } else {
        format!("{top}: {root}")
    }
}

/// The first comment line of a program (`# ...` or `// ...`), used as the intent.
fn first_comment(program: &str) -> Option<String> {
    program
        // Editors on Windows start files with a byte-order mark.
        .trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        // A shebang or an encoding declaration is not what the program is for.
        .find(|l| {
            let preamble = l.starts_with("#!") || (l.starts_with('#') && l.contains("coding"));
            !preamble
        })
        .and_then(|l| {
            l.strip_prefix('#')
                .or_else(|| l.strip_prefix("//"))
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
        })
}

/// Runs the request, shuts down, reads back what the log holds for it and reports it. The
/// log's head from just before the run lets the read-back verify only what was appended
/// since (not the whole log, which grows with every run).
async fn execute(
    config: &Config,
    orchestrator: Orchestrator,
    pool: codeward_mcp::McpPool,
    out: &Output,
    request: ExecutionRequest,
) -> Result<Exit> {
    let head = AuditReader::new(config.audit_dir()).head()?;
    out.progress(&format!("executing: {}", request.intent));
    // Ctrl-C (or SIGTERM, SIGHUP) cancels the run, which is recorded as cancelled before
    // the process exits: a signal's default action would leave an execution without its
    // completion records.
    let outcome = orchestrator
        .execute_cancellable(request, async {
            let name = crate::exit::stop_signal().await;
            eprintln!("codeward: {name} received; stopping the run and recording it");
        })
        .await;
    let closed = orchestrator.shutdown(Duration::from_secs(10)).await;
    pool.shutdown().await;
    let read = read_back(config, &outcome, head);
    conclude(
        config,
        out,
        &outcome,
        read,
        closed.map(drop).map_err(Into::into),
    )
}

/// What the audit log holds for a run, read back from disk (proof that the records are
/// durable): only what follows the head from before the run, and the chain checked from there.
struct ReadBack {
    records: Vec<codeward_core::AuditRecord>,
    chain_ok: bool,
    problem: Option<String>,
    from: u64,
}

fn read_back(
    config: &Config,
    outcome: &ExecutionOutcome,
    head: Option<(u64, String)>,
) -> Result<ReadBack> {
    let from = head.as_ref().map_or(1, |(seq, _)| seq.saturating_add(1));
    // Only what follows the head in the files: exactly the part the check below covers.
    let mut query = Query::all().execution(outcome.execution_id.as_str());
    if let Some((seq, hash)) = &head {
        query = query.after(*seq, hash.clone());
    }
    let records = AuditReader::new(config.audit_dir())
        .records(query)?
        .collect::<codeward_audit::Result<Vec<_>>>()?;
    let options = match head {
        Some((seq, hash)) => VerifyOptions::default().after(seq, hash),
        None => VerifyOptions::default(),
    };
    let report = verify(&config.audit_dir(), &options)?;
    Ok(ReadBack {
        records,
        chain_ok: report.is_ok(),
        problem: report.problem.as_ref().map(|p| format!("{p:?}")),
        from,
    })
}

/// Prints the outcome with each phase as the audit log has it, and `trouble` (a failure
/// reading back or closing the log) in the same document.
fn print_run(
    config: &Config,
    out: &Output,
    outcome: &ExecutionOutcome,
    read: Option<&ReadBack>,
    trouble: Option<&str>,
) {
    if out.json {
        let mut doc = json!({ "outcome": outcome });
        if let Some(r) = read {
            doc["audit"] = json!({
                "dir": config.audit_dir(),
                "records": r.records.iter().map(|r| json!({"seq": r.seq, "type": r.kind, "severity": r.severity, "message": r.message})).collect::<Vec<_>>(),
                "chain_ok": r.chain_ok,
                "verified_from_seq": r.from,
            });
        }
        if let Some(t) = trouble {
            doc["error"] = json!(t);
        }
        out.json(&doc);
        return;
    }
    out.line(format!("execution {}", outcome.execution_id));
    for r in read.map(|r| r.records.as_slice()).unwrap_or_default() {
        let phase = match r.kind {
            codeward_core::AuditKind::Discovery => "1 discovery",
            codeward_core::AuditKind::Security => "3 validation",
            codeward_core::AuditKind::Approval => "3 approval",
            codeward_core::AuditKind::ExecutionStarted => "4 sandbox",
            codeward_core::AuditKind::ToolCall => "4 tool call",
            codeward_core::AuditKind::Execution => "5 results",
            _ => "  error",
        };
        out.line(format!(
            "  [{phase:<12}] seq {:>5} {:<8} {}",
            r.seq,
            r.severity.as_str(),
            r.message
        ));
    }
    let t = &outcome.summary.tokens;
    out.line(format!("  tools: {}", outcome.summary.tools.join(", ")));
    out.line(format!(
        "  tokens: API {} vs every definition {} ({:.1}% saved), output {}",
        t.api_tokens,
        t.all_definitions_tokens,
        t.saved_percent(),
        t.output_tokens
    ));
    let m = &outcome.metrics;
    out.line(format!(
        "  metrics: wall {:.0} ms, cpu {:.0} ms, peak memory {:.1} MiB, {} tool call(s), {} PII item(s) tokenized",
        m.wall_time.as_secs_f64() * 1000.0,
        m.cpu_time().as_secs_f64() * 1000.0,
        m.peak_memory_bytes as f64 / (1024.0 * 1024.0),
        m.tool_calls,
        outcome.pii_tokenized
    ));
    match &outcome.error {
        None => out.line(format!(
            "result: {}",
            serde_json::to_string_pretty(&outcome.output).unwrap_or_default()
        )),
        Some(e) => out.line(format!("failed: {e}")),
    }
    if let Some(codeward_core::ExecutionFailure::ApprovalRequired { approval_id }) = &outcome.error
    {
        out.line(format!(
            "  an operator can approve it: codeward approvals approve {approval_id}"
        ));
        out.line(format!("  then run again with --approval {approval_id}"));
    }
    match read {
        Some(r) => out.line(format!(
            "audit: {} record(s) durable in {}, chain {}",
            r.records.len(),
            config.audit_dir().display(),
            if r.chain_ok {
                format!(
                    "verified from seq {} (`codeward audit verify` checks all of it)",
                    r.from
                )
            } else {
                format!("BROKEN: {}", r.problem.as_deref().unwrap_or("?"))
            }
        )),
        None => out.line(format!(
            "audit: could not read back {}",
            config.audit_dir().display()
        )),
    }
    if let Some(t) = trouble {
        eprintln!("error: {t}");
    }
}

pub async fn approvals(config: &Config, out: &Output, action: ApprovalAction) -> Result<Exit> {
    // Nothing has ever been filed here (no store, no audit log): looking must not create the
    // data directory, a log and a key. Deciding or showing an id that cannot exist is the
    // same usage error it is with an empty store.
    if !config.approvals_file().exists() && !config.audit_dir().exists() {
        return match action {
            ApprovalAction::List | ApprovalAction::Prune { .. } => {
                out.json(&Vec::<()>::new());
                out.line(match action {
                    ApprovalAction::List => "no approval requests".to_owned(),
                    _ => "no settled approval requests".to_owned(),
                });
                Ok(Exit::Success)
            }
            ApprovalAction::Show { id }
            | ApprovalAction::Approve { id, .. }
            | ApprovalAction::Reject { id, .. } => usage!(
                "no approval request {id}: nothing has been filed in {} (is CODEWARD_DATA_DIR \
                 or --config the one the server uses?)",
                config.approvals_file().display()
            ),
        };
    }
    // Approvals need the store and the audit log it records to, nothing else.
    let log = codeward::audit_log(
        config,
        std::sync::Arc::new(codeward_security::PiiScanner::new()),
    )?;
    let store = codeward::approval_store(config, std::sync::Arc::new(log.clone())).await?;
    let result = match action {
        ApprovalAction::List => {
            let tickets = codeward_core::ApprovalStore::list(&store).await?;
            if out.json {
                out.json(&tickets);
            } else if tickets.is_empty() {
                out.line("no approval requests");
            } else {
                for t in &tickets {
                    let status = serde_json::to_value(&t.status)
                        .ok()
                        .and_then(|v| v["status"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    out.line(format!(
                        "{}  {:<9} risk {} ({})  tools {}  execution {}",
                        t.id,
                        status,
                        t.request.risk.level,
                        t.request.risk.score,
                        t.request.tools.join(","),
                        t.request.execution_id
                    ));
                }
            }
            Exit::Success
        }
        ApprovalAction::Show { id } => {
            let tickets = codeward_core::ApprovalStore::list(&store).await?;
            let Some(t) = tickets.iter().find(|t| t.id == id) else {
                usage!("no approval request {id}; `codeward approvals list` shows them");
            };
            out.json(t);
            let status = serde_json::to_value(&t.status)
                .ok()
                .and_then(|v| v["status"].as_str().map(str::to_owned))
                .unwrap_or_default();
            out.line(format!("request {}  {status}", t.id));
            out.line(format!(
                "asked by {} for execution {}",
                visible(&t.request.principal),
                t.request.execution_id
            ));
            out.line(format!(
                "risk {} ({}): {}",
                t.request.risk.level, t.request.risk.score, t.request.risk.recommendation
            ));
            for f in &t.request.risk.factors {
                out.line(format!("  +{:.0} {}: {}", f.points, f.name, f.detail));
            }
            out.line(format!("tools: {}", t.request.tools.join(", ")));
            match (&t.request.program, t.request.language) {
                (Some(program), language) => {
                    let language = language.map(|l| l.to_string()).unwrap_or_default();
                    out.line(format!("program ({language}, sha256-bound):"));
                    out.line("----");
                    // Escape sequences in the program must not redraw what the operator reads.
                    out.line(visible(program.trim_end()));
                    out.line("----");
                }
                (None, _) => out.line("program: not kept (filed before requests kept programs)"),
            }
            Exit::Success
        }
        ApprovalAction::Approve {
            id,
            approver,
            reason,
        } => {
            decide(
                out,
                &store,
                &id,
                ApprovalDecision::approve(approver, reason),
            )
            .await?
        }
        ApprovalAction::Reject {
            id,
            approver,
            reason,
        } => decide(out, &store, &id, ApprovalDecision::reject(approver, reason)).await?,
        ApprovalAction::Prune { older_than_days } => {
            let age = Duration::from_secs(older_than_days.saturating_mul(86_400));
            let pruned = store.prune(age).await?;
            out.json(&pruned);
            out.line(match pruned.len() {
                0 => format!("no settled approval requests older than {older_than_days} day(s)"),
                n => format!(
                    "pruned {n} approval request(s) (recorded in the audit log): {}",
                    pruned
                        .iter()
                        .map(|t| t.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            Exit::Success
        }
    };
    log.close().await?;
    Ok(result)
}

async fn decide(
    out: &Output,
    store: &dyn codeward_core::ApprovalStore,
    id: &str,
    decision: ApprovalDecision,
) -> Result<Exit> {
    let verb = if decision.approve {
        "approved"
    } else {
        "rejected"
    };
    match store.decide(id, decision).await {
        Ok(ticket) => {
            out.json(&ticket);
            out.line(format!("{id} {verb} (recorded in the audit log)"));
            Ok(Exit::Success)
        }
        Err(codeward_core::Error::NotFound { .. }) => {
            usage!("no approval request {id}; list them with `codeward approvals list`")
        }
        // Deciding twice, or without naming the approver: the operator's mistake.
        Err(
            e @ (codeward_core::Error::ApprovalRefused { .. }
            | codeward_core::Error::InvalidInput { .. }),
        ) => usage!("{e}"),
        Err(e @ codeward_core::Error::AuditUnavailable { .. }) => Err(Failure::error(
            Exit::AuditUnavailable,
            format!("{e}; nothing was decided"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `text` with control characters other than newline and tab shown as escapes (`\x1b`,
/// `\r`), so a terminal prints what is there instead of obeying it.
fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{first_comment, visible};

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            visible("run()  # \x1b[2K\rprint(1)\n\tok"),
            "run()  # \\x1b[2K\\rprint(1)\n\tok"
        );
    }

    #[test]
    fn the_intent_is_the_first_comment_after_a_bom_shebang_or_encoding_line() {
        let cases = [
            ("# list my notes\nprint(1)\n", Some("list my notes")),
            ("\u{feff}# list my notes\n", Some("list my notes")),
            (
                "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# count words\n",
                Some("count words"),
            ),
            (
                "\n\n  // search the docs\nconsole.log(1)\n",
                Some("search the docs"),
            ),
            ("print(1)\n# too late\n", None),
            ("#\nprint(1)\n", None),
        ];
        for (program, intent) in cases {
            assert_eq!(first_comment(program).as_deref(), intent, "{program:?}");
        }
    }
}
