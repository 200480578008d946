//! `codeward audit verify | tail | show | report | hash`.

use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use serde_json::json;

use codeward::Config;
use codeward_audit::{
    AuditReader, ComplianceReport, KeySource, Pseudonymizer, Query, ReportOptions, SignatureTrust,
    VerifyOptions, verify,
};
use codeward_core::AuditRecord;

use crate::exit::{Exit, Failure, OrUsage, usage};
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the whole chain and name the first bad spot.
    Verify {
        /// The log must reach at least this seq (the last receipt you kept).
        #[arg(long)]
        expect_seq: Option<u64>,
        /// Trust checkpoints signed by this Ed25519 public key (64 hex characters; repeat
        /// for several). Without it the configured `[audit] signing_key_file` is trusted
        /// (which needs read access to it; `audit public-key` prints the key to give here).
        #[arg(long, value_name = "HEX")]
        trust_key: Vec<String>,
    },
    /// The last records.
    Tail {
        /// How many.
        #[arg(short, long, default_value_t = 20)]
        n: usize,
    },
    /// Every record of one execution.
    Show {
        /// The execution id.
        execution_id: String,
    },
    /// The compliance report for a period, computed from the log on disk.
    Report {
        /// Period start (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Period end, exclusive (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        /// md or json.
        #[arg(long, default_value = "md", value_parser = ["md", "markdown", "json"])]
        format: String,
        /// Write to this file instead of stdout (never inside the audit log or key
        /// directories, nor over the approval store).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Replace the --output file if it exists.
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// The public key of the configured checkpoint signing key, for `verify --trust-key`
    /// by someone who may not read the signing key itself.
    PublicKey,
    /// The pseudonym the log stores for a value (to search for it).
    Hash {
        /// The value (an email, a principal...).
        value: String,
    },
}

/// An Ed25519 public key given as 64 hex characters.
fn parse_public_key(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    match bytes {
        Some(key) => Ok(key),
        None => usage!("--trust-key `{text}` is not an Ed25519 public key (64 hex characters)"),
    }
}

/// Refuses a report path that would destroy what the report is about (a segment of the log,
/// the pseudonym or signing key, the approval store) or, without `--force`, any file.
fn check_output(config: &Config, path: &std::path::Path, force: bool) -> Result<()> {
    // Compare real locations: `./data/../data/audit/x` is the audit directory too.
    let real = |p: &std::path::Path| -> Option<PathBuf> {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = std::fs::canonicalize(parent.unwrap_or(std::path::Path::new("."))).ok()?;
        Some(dir.join(p.file_name()?))
    };
    let Some(target) = real(path) else {
        // A missing directory or no file name: the write reports it with the path.
        return Ok(());
    };
    let protected_dirs = [
        config.audit_dir(),
        config
            .audit_key_file()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
    ];
    for dir in protected_dirs
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
    {
        if target.starts_with(&dir) {
            usage!(
                "--output {} is inside {}, which holds the audit log or its keys; write the \
                 report somewhere else",
                path.display(),
                dir.display()
            );
        }
    }
    let store = config.approvals_file();
    let mut store_lock = store.clone().into_os_string();
    store_lock.push(".lock");
    let store_lock = PathBuf::from(store_lock);
    if [store, store_lock]
        .iter()
        .any(|s| real(s).as_ref() == Some(&target))
    {
        usage!(
            "--output {} is the approval store; write the report somewhere else",
            path.display()
        );
    }
    if !force && target.exists() {
        usage!(
            "--output {} exists; pass --force to replace it",
            path.display()
        );
    }
    Ok(())
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    if let Some(t) = codeward_audit::parse_ts(s) {
        return Ok(t);
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_usage(|| format!("`{s}` is not RFC 3339 or YYYY-MM-DD"))?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_default())
}

fn print_record(out: &Output, r: &AuditRecord) {
    out.line(format!(
        "{:>6} {} {:<17} {:<8} {:<28} {}",
        r.seq,
        r.ts,
        r.kind.as_str(),
        r.severity.as_str(),
        r.execution_id.as_deref().unwrap_or("-"),
        r.message
    ));
}

pub fn run(config: &Config, out: &Output, action: AuditAction) -> Result<Exit> {
    let dir = config.audit_dir();
    if !matches!(action, AuditAction::Hash { .. }) && !dir.is_dir() {
        return Err(Failure::error(
            Exit::AuditUnavailable,
            format!(
                "no audit log at {}; run something first (codeward demo) or set [audit] dir",
                dir.display()
            ),
        ));
    }
    // A damaged log met while reading is a failed check (8), like `verify` finding it.
    read_action(config, out, action, dir).map_err(|e| {
        let damaged = e.chain().any(|c| {
            matches!(
                c.downcast_ref::<codeward_audit::AuditError>(),
                Some(
                    codeward_audit::AuditError::Tampered { .. }
                        | codeward_audit::AuditError::Malformed { .. }
                )
            )
        });
        if damaged {
            Failure::error(
                Exit::CheckFailed,
                format!(
                    "{}; `codeward audit verify` names the first bad spot",
                    crate::exit::chain_text(&e)
                ),
            )
        } else {
            e
        }
    })
}

fn read_action(config: &Config, out: &Output, action: AuditAction, dir: PathBuf) -> Result<Exit> {
    match action {
        AuditAction::Verify {
            expect_seq,
            trust_key,
        } => {
            // Keys given explicitly replace the configured one (an auditor need not be able
            // to read the signing key).
            let mut opts = if trust_key.is_empty() {
                codeward::verify_options(config)?
            } else {
                VerifyOptions::default()
            };
            for key in &trust_key {
                opts = opts.trust_key(parse_public_key(key)?);
            }
            if let Some(seq) = expect_seq {
                opts = opts.expect_seq(seq);
            }
            let report = verify(&dir, &opts)?;
            out.json(&report);
            if report.restorable > 0 {
                // A power loss took them from the newest segment; they are durable in the
                // write-ahead file, and restoring them means writing, which verify never does.
                out.line(format!(
                    "INCOMPLETE: the newest segment lacks {} acknowledged record(s) that the \
                     write-ahead file (audit.wal) holds, after a power loss or OS crash; the next \
                     command that opens the log for writing (e.g. `codeward run`) restores them \
                     and records the restore",
                    report.restorable
                ));
            }
            match &report.problem {
                None if report.restorable > 0 => Ok(Exit::CheckFailed),
                None => {
                    let trust = match report.signatures {
                        SignatureTrust::Trusted => "signed by a trusted key",
                        SignatureTrust::SelfSigned => {
                            "self-signed: pass --trust-key to check who signed"
                        }
                        _ => "no signatures: only the hash chain protects the records",
                    };
                    out.line(format!(
                        "ok: {} records in {} segment(s), head seq {}, {} signed checkpoint(s), {trust}",
                        report.records,
                        report.segments,
                        report.head.as_ref().map_or(0, |h| h.0),
                        report.signed_checkpoints
                    ));
                    Ok(Exit::Success)
                }
                Some(p) => {
                    out.line(format!("BROKEN: {p}"));
                    Ok(Exit::CheckFailed)
                }
            }
        }
        AuditAction::Tail { n } => {
            let records = AuditReader::new(&dir).tail(n, Query::all())?;
            out.json(&records);
            records.iter().for_each(|r| print_record(out, r));
            Ok(Exit::Success)
        }
        AuditAction::Show { execution_id } => {
            let records = AuditReader::new(&dir).execution(&execution_id)?;
            if records.is_empty() {
                usage!(
                    "no records for execution {execution_id}; list recent ones with `codeward audit tail`"
                );
            }
            out.json(&records);
            for r in &records {
                print_record(out, r);
                if !out.json && !r.metadata.is_empty() {
                    out.line(format!(
                        "       {}",
                        serde_json::to_string(&r.metadata).unwrap_or_default()
                    ));
                }
            }
            Ok(Exit::Success)
        }
        AuditAction::Report {
            from,
            to,
            format,
            output,
            force,
        } => {
            if let Some(path) = &output {
                check_output(config, path, force)?;
            }
            let from = from.as_deref().map(parse_time).transpose()?;
            let to = to.as_deref().map(parse_time).transpose()?;
            if let (Some(f), Some(t)) = (from, to)
                && f >= t
            {
                usage!("--from {f} is not before --to {t} (the period is [from, to))");
            }
            let mut options = ReportOptions::period(from, to);
            options.verify = codeward::verify_options(config)?;
            let report = ComplianceReport::from_log(&dir, &options)?;
            // `--json` asks for machine-readable output from every command.
            let format = if out.json && output.is_none() {
                "json".to_owned()
            } else {
                format
            };
            let text = match format.as_str() {
                "md" | "markdown" => report.to_markdown(),
                "json" => serde_json::to_string_pretty(&report)?,
                other => usage!("unknown report format `{other}`; use md or json"),
            };
            match output {
                Some(path) => {
                    write_whole(&path, text.as_bytes()).map_err(|e| {
                        use std::io::ErrorKind as K;
                        let what = format!("cannot write the report to {}", path.display());
                        match e.kind() {
                            // The path the user gave does not work; a full disk or an I/O
                            // error is not their mistake.
                            K::NotFound
                            | K::PermissionDenied
                            | K::IsADirectory
                            | K::NotADirectory
                            | K::ReadOnlyFilesystem
                            | K::InvalidFilename => Failure::usage(format!("{what}: {e}")),
                            _ => anyhow::Error::new(e).context(what),
                        }
                    })?;
                    out.json(&json!({"written": path, "passed": report.passed()}));
                    out.line(format!(
                        "report written to {} ({})",
                        path.display(),
                        if report.passed() { "pass" } else { "FAIL" }
                    ));
                }
                None => crate::output::print(&text),
            }
            Ok(if report.passed() {
                Exit::Success
            } else {
                Exit::CheckFailed
            })
        }
        AuditAction::PublicKey => {
            let Some(path) = &config.audit.signing_key_file else {
                usage!("no [audit] signing_key_file is configured, so there is no public key");
            };
            let seed = KeySource::file(path).load()?;
            let public = hex::encode(codeward_audit::checkpoint_public_key(&seed));
            out.json(&json!({"public_key": public, "signing_key_file": path}));
            out.line(&public);
            Ok(Exit::Success)
        }
        AuditAction::Hash { value } => {
            let key = KeySource::file(config.audit_key_file()).load()?;
            let pseudonym = Pseudonymizer::new(key).pseudonym(&value);
            out.json(&json!({"pseudonym": pseudonym}));
            out.line(&pseudonym);
            Ok(Exit::Success)
        }
    }
}

/// Writes `path` whole or not at all: a temporary file beside it, synced, then renamed over
/// it, so a full disk never leaves half a report behind.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidFilename))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let result = written.and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
