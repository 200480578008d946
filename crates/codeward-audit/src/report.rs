//! The compliance report, computed from the log on disk (never from memory): the successor
//! of the seed's `ComplianceReport`, with each control check citing the evidence it used.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use codeward_core::{AuditKind, AuditRecord, PiiDetector, Severity, keys};

use crate::error::Result;
use crate::reader::{AuditReader, Query, parse_ts};
use crate::redact::BuiltinDetector;
use crate::verify::{VerifyOptions, VerifyReport, verify};

/// What the report covers.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ReportOptions {
    /// Period start (inclusive); `None` = from the beginning.
    pub from: Option<DateTime<Utc>>,
    /// Period end (exclusive); `None` = until now.
    pub to: Option<DateTime<Utc>>,
    /// How to verify the chain.
    pub verify: VerifyOptions,
    /// The detector used to look for plaintext PII that slipped through (default: built-in).
    pub detector: Option<Arc<dyn PiiDetector>>,
}

impl ReportOptions {
    /// The whole log.
    pub fn all() -> Self {
        ReportOptions::default()
    }

    /// A period.
    pub fn period(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        ReportOptions {
            from,
            to,
            ..Default::default()
        }
    }
}

/// Whether a control check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The evidence supports the control.
    Pass,
    /// It does not.
    Fail,
}

/// One control and the evidence behind its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ControlCheck {
    /// `SOC 2`, `GDPR`, `HIPAA`.
    pub framework: &'static str,
    /// `CC4.1`, `Art. 30`, `164.312(b)`.
    pub control: &'static str,
    /// What the control asks.
    pub title: &'static str,
    /// Pass or fail.
    pub status: CheckStatus,
    /// The evidence, with numbers.
    pub evidence: String,
}

/// Execution counts for the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ExecutionStats {
    /// `execution_started` records.
    pub started: u64,
    /// `execution` records.
    pub completed: u64,
    /// Completed with success.
    pub succeeded: u64,
    /// Completed without success.
    pub failed: u64,
    /// Served from the cache.
    pub cached: u64,
    /// Executions that started but have no completion record.
    pub incomplete: Vec<String>,
    /// Completed executions without a validation (`security`) record.
    pub unvalidated: Vec<String>,
}

/// A compliance report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ComplianceReport {
    /// When it was generated.
    pub generated_at: String,
    /// The log directory.
    pub log_dir: String,
    /// Period start, if bounded.
    pub from: Option<String>,
    /// Period end, if bounded.
    pub to: Option<String>,
    /// Records in the period.
    pub records: u64,
    /// Records in the period by type.
    pub records_by_type: BTreeMap<String, u64>,
    /// Executions.
    pub executions: ExecutionStats,
    /// Security records of warning or worse, plus any critical record.
    pub security_incidents: u64,
    /// PII items tokenized in execution results (from `execution` records).
    pub pii_tokenized: u64,
    /// PII items the log itself pseudonymized in record text.
    pub pii_redacted_by_log: u64,
    /// Executions stopped by a limit, and sandbox-violation security records.
    pub sandbox_violations: u64,
    /// Approval events by decision.
    pub approvals: BTreeMap<String, u64>,
    /// Plaintext PII the detector still finds in record strings (must be 0).
    pub plaintext_pii_found: u64,
    /// Strings scanned for plaintext PII.
    pub strings_scanned: u64,
    /// The chain verification of the whole log.
    pub integrity: VerifyReport,
    /// The control checks.
    pub checks: Vec<ControlCheck>,
}

impl ComplianceReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status == CheckStatus::Pass)
    }

    /// Computes the report from the log in `dir`.
    pub fn from_log(dir: &Path, opts: &ReportOptions) -> Result<ComplianceReport> {
        let integrity = verify(dir, &opts.verify)?;
        let detector: Arc<dyn PiiDetector> = opts
            .detector
            .clone()
            .unwrap_or_else(|| Arc::new(BuiltinDetector::new()));
        let query = Query::all().time_range(opts.from, opts.to);
        let mut acc = Accumulator {
            detector: Some(detector.as_ref()),
            ..Default::default()
        };
        for record in AuditReader::new(dir).records(query)? {
            acc.add(&record?);
        }
        Ok(acc.finish(dir, opts, integrity))
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let period = format!(
            "{} to {}",
            self.from.as_deref().unwrap_or("the beginning"),
            self.to.as_deref().unwrap_or("now")
        );
        let _ = writeln!(md, "# codeward compliance report\n");
        let _ = writeln!(
            md,
            "- Log: `{}`\n- Period: {period}\n- Generated: {}",
            self.log_dir, self.generated_at
        );
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(md, "- Overall: **{verdict}**\n");
        let _ = writeln!(
            md,
            "## Controls\n\n| framework | control | requirement | status | evidence |\n|---|---|---|---|---|"
        );
        for c in &self.checks {
            let status = match c.status {
                CheckStatus::Pass => "pass",
                CheckStatus::Fail => "**FAIL**",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {status} | {} |",
                c.framework,
                c.control,
                c.title,
                c.evidence.replace('|', "\\|")
            );
        }
        let e = &self.executions;
        let _ = writeln!(md, "\n## Activity\n\n| measure | value |\n|---|---|");
        for (name, value) in [
            ("records", self.records),
            ("executions started", e.started),
            ("executions completed", e.completed),
            ("succeeded", e.succeeded),
            ("failed", e.failed),
            ("served from cache", e.cached),
            ("security incidents", self.security_incidents),
            ("sandbox violations", self.sandbox_violations),
            ("PII items tokenized in results", self.pii_tokenized),
            (
                "PII items pseudonymized by the log",
                self.pii_redacted_by_log,
            ),
        ] {
            let _ = writeln!(md, "| {name} | {value} |");
        }
        if !self.approvals.is_empty() {
            let _ = writeln!(md, "\n## Approvals\n\n| decision | count |\n|---|---|");
            for (d, n) in &self.approvals {
                let _ = writeln!(md, "| {d} | {n} |");
            }
        }
        let _ = writeln!(md, "\n## Records by type\n\n| type | count |\n|---|---|");
        for (t, n) in &self.records_by_type {
            let _ = writeln!(md, "| {t} | {n} |");
        }
        if !e.incomplete.is_empty() {
            let _ = writeln!(md, "\n## Executions without a completion record\n");
            for id in &e.incomplete {
                let _ = writeln!(md, "- `{id}`");
            }
        }
        if let Some(p) = &self.integrity.problem {
            let _ = writeln!(md, "\n## Integrity problem\n\n{p}");
        }
        md
    }
}

#[derive(Default)]
struct Accumulator<'a> {
    detector: Option<&'a dyn PiiDetector>,
    records: u64,
    by_type: BTreeMap<String, u64>,
    started: BTreeSet<String>,
    completed: BTreeSet<String>,
    /// Completed executions that ran an agent program (not `mode: api_only`).
    programs: BTreeSet<String>,
    validated: BTreeSet<String>,
    exec: ExecutionStats,
    incidents: u64,
    pii_tokenized: u64,
    pii_redacted: u64,
    violations: u64,
    approvals: BTreeMap<String, u64>,
    plaintext: u64,
    strings: u64,
    bad_ts: u64,
}

impl<'a> Accumulator<'a> {
    fn add(&mut self, r: &AuditRecord) {
        self.records += 1;
        *self.by_type.entry(r.kind.to_string()).or_default() += 1;
        self.pii_redacted += r.redacted;
        if parse_ts(&r.ts).is_none() {
            self.bad_ts += 1;
        }
        let id = r.execution_id.clone().unwrap_or_default();
        let meta = |k: &str| r.metadata.get(k);
        match r.kind {
            AuditKind::ExecutionStarted => {
                self.exec.started += 1;
                self.started.insert(id);
            }
            AuditKind::Execution => {
                self.exec.completed += 1;
                let cached = meta(keys::CACHED).and_then(Value::as_bool).unwrap_or(false);
                if cached {
                    self.exec.cached += 1;
                }
                if meta(keys::SUCCESS)
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    self.exec.succeeded += 1;
                } else {
                    self.exec.failed += 1;
                }
                self.pii_tokenized += meta(keys::PII_TOKENIZED)
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                if meta(keys::LIMIT_HIT).is_some_and(|v| !v.is_null()) {
                    self.violations += 1;
                }
                if !cached {
                    // Progressive disclosure (no agent program) has nothing to validate.
                    if meta("mode").and_then(Value::as_str) != Some("api_only") {
                        self.programs.insert(id.clone());
                    }
                    self.completed.insert(id);
                }
            }
            AuditKind::Security => {
                self.validated.insert(id);
                if r.severity >= Severity::Warning {
                    self.incidents += 1;
                }
                if meta(keys::CATEGORY).and_then(Value::as_str) == Some(keys::SANDBOX_VIOLATION) {
                    self.violations += 1;
                }
            }
            AuditKind::Approval => {
                let d = meta(keys::DECISION)
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned();
                *self.approvals.entry(d).or_default() += 1;
            }
            _ => {}
        }
        if r.kind != AuditKind::Security && r.severity == Severity::Critical {
            self.incidents += 1;
        }
        self.scan(&r.message);
        for v in r.metadata.values() {
            self.scan_value(v);
        }
    }

    fn scan_value(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.scan(s),
            Value::Array(items) => items.iter().for_each(|i| self.scan_value(i)),
            Value::Object(map) => map.values().for_each(|i| self.scan_value(i)),
            _ => {}
        }
    }

    fn scan(&mut self, s: &str) {
        self.strings += 1;
        if let Some(d) = self.detector {
            self.plaintext += d.detect(s).len() as u64;
        }
    }

    fn finish(
        mut self,
        dir: &Path,
        opts: &ReportOptions,
        integrity: VerifyReport,
    ) -> ComplianceReport {
        let ts = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        self.exec.incomplete = self.started.difference(&self.completed).cloned().collect();
        let never_started: Vec<String> =
            self.completed.difference(&self.started).cloned().collect();
        self.exec.unvalidated = self.programs.difference(&self.validated).cloned().collect();
        let status = |ok: bool| {
            if ok {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            }
        };
        let chain = match &integrity.problem {
            None => format!(
                "chain verified: {} records in {} segment(s), head seq {}, {} signed checkpoint(s)",
                integrity.records,
                integrity.segments,
                integrity.head.as_ref().map_or(0, |h| h.0),
                integrity.signed_checkpoints
            ),
            Some(p) => format!("chain broken: {p}"),
        };
        let e = &self.exec;
        let checks = vec![
            ControlCheck {
                framework: "SOC 2",
                control: "CC4.1",
                title: "Monitoring activities: the audit trail is complete and tamper-evident",
                status: status(integrity.is_ok()),
                evidence: chain.clone(),
            },
            ControlCheck {
                framework: "SOC 2",
                control: "CC7.2",
                title: "Security events are detected and recorded",
                status: status(e.unvalidated.is_empty()),
                evidence: format!(
                    "{} of {} completed program executions have a validation record; {} security incident(s), {} sandbox violation(s) recorded",
                    self.programs.len() - e.unvalidated.len(),
                    self.programs.len(),
                    self.incidents,
                    self.violations
                ),
            },
            ControlCheck {
                framework: "GDPR",
                control: "Art. 30",
                title: "Records of processing activities",
                status: status(e.incomplete.is_empty() && never_started.is_empty()),
                evidence: format!(
                    "{} started, {} completed ({} from cache); {} without completion, {} without a start record",
                    e.started,
                    e.completed,
                    e.cached,
                    e.incomplete.len(),
                    never_started.len()
                ),
            },
            ControlCheck {
                framework: "GDPR",
                control: "Art. 32",
                title: "Security of processing: personal data pseudonymized",
                status: status(self.plaintext == 0),
                evidence: format!(
                    "{} strings scanned, {} plaintext PII match(es); {} item(s) pseudonymized by the log, {} tokenized in results",
                    self.strings, self.plaintext, self.pii_redacted, self.pii_tokenized
                ),
            },
            ControlCheck {
                framework: "HIPAA",
                control: "164.312(b)",
                title: "Audit controls: activity is recorded and can be examined",
                status: status(integrity.is_ok() && self.bad_ts == 0),
                evidence: format!(
                    "{chain}; {} record(s) with an unreadable time stamp",
                    self.bad_ts
                ),
            },
        ];
        ComplianceReport {
            generated_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            log_dir: dir.display().to_string(),
            from: ts(opts.from),
            to: ts(opts.to),
            records: self.records,
            records_by_type: self.by_type,
            executions: self.exec,
            security_incidents: self.incidents,
            pii_tokenized: self.pii_tokenized,
            pii_redacted_by_log: self.pii_redacted,
            sandbox_violations: self.violations,
            approvals: self.approvals,
            plaintext_pii_found: self.plaintext,
            strings_scanned: self.strings,
            integrity,
            checks,
        }
    }
}
