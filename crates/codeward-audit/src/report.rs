//! The compliance report, computed from the log on disk (never from memory): the successor
//! of the seed's `ComplianceReport`, with each control check citing the evidence it used.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use codeward_core::{AuditKind, AuditRecord, PiiDetector, Severity, keys};

use crate::error::Result;
use crate::reader::{AuditReader, Query, parse_ts};
use crate::redact::{BuiltinDetector, PSEUDONYM_PREFIX};
use crate::verify::{SignatureTrust, VerifyOptions, VerifyReport, verify};

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
#[non_exhaustive]
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
///
/// An execution belongs to the period it starts in: its start, completion and validation
/// records are paired over the whole log, so one that straddles a bound is judged whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ExecutionStats {
    /// `execution_started` records in the period.
    pub started: u64,
    /// `execution` records in the period.
    pub completed: u64,
    /// Completed with success.
    pub succeeded: u64,
    /// Completed without success.
    pub failed: u64,
    /// Served from the cache.
    pub cached: u64,
    /// Executions started in the period without a completion record anywhere in the log.
    pub incomplete: Vec<String>,
    /// Completed program executions started in the period (or completed in it without any
    /// start record) that have no validation (`security`) record anywhere in the log.
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
    /// Records in the period (with a period set, a record whose time stamp cannot be read is
    /// in none; it is counted as unreadable).
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
    /// Plaintext PII the detector still finds in record strings (must be 0): message, ids,
    /// principal, metadata keys and values, and any time stamp or hash that is not one. Spans
    /// inside a pseudonym (`hmac-sha256:<hex>`) do not count.
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
        let mut acc = Accumulator {
            detector: Some(detector.as_ref()),
            ..Default::default()
        };
        // The whole log is read: an execution's records may lie on both sides of a bound, and
        // an unreadable time stamp counts whatever the period.
        for record in AuditReader::new(dir).records(Query::all())? {
            let record = record?;
            let in_period = match parse_ts(&record.ts) {
                Some(ts) => opts.from.is_none_or(|f| ts >= f) && opts.to.is_none_or(|t| ts < t),
                None => {
                    acc.bad_ts += 1;
                    opts.from.is_none() && opts.to.is_none()
                }
            };
            acc.add(&record, in_period);
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

/// What the whole log says about one execution.
#[derive(Default)]
struct Pairing {
    started: bool,
    started_in_period: bool,
    /// Completed, not from the cache.
    completed: bool,
    completed_in_period: bool,
    /// Completed after running an agent program (not `mode: api_only`, not cached).
    program: bool,
    /// Has a validation (`security`) record.
    validated: bool,
}

impl Pairing {
    /// Whether the period answers for it: it started there, or it completed there and has
    /// no start record anywhere.
    fn judged(&self) -> bool {
        self.started_in_period || self.completed_in_period && !self.started
    }
}

#[derive(Default)]
struct Accumulator<'a> {
    detector: Option<&'a dyn PiiDetector>,
    records: u64,
    by_type: BTreeMap<String, u64>,
    executions: BTreeMap<String, Pairing>,
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
    /// Every record of the log, in order; only those `in_period` are counted.
    fn add(&mut self, r: &AuditRecord, in_period: bool) {
        let meta = |k: &str| r.metadata.get(k);
        let cached = meta(keys::CACHED).and_then(Value::as_bool).unwrap_or(false);
        if matches!(
            r.kind,
            AuditKind::ExecutionStarted | AuditKind::Execution | AuditKind::Security
        ) {
            let id = r.execution_id.clone().unwrap_or_default();
            let e = self.executions.entry(id).or_default();
            match r.kind {
                AuditKind::ExecutionStarted => {
                    e.started = true;
                    e.started_in_period |= in_period;
                }
                // A cached result ran nothing: nothing to pair.
                AuditKind::Execution if !cached => {
                    e.completed = true;
                    e.completed_in_period |= in_period;
                    // Progressive disclosure (no agent program) has nothing to validate.
                    e.program |= meta("mode").and_then(Value::as_str) != Some("api_only");
                }
                AuditKind::Security => e.validated = true,
                _ => {}
            }
        }
        if !in_period {
            return;
        }
        self.records += 1;
        *self.by_type.entry(r.kind.to_string()).or_default() += 1;
        // Counts written in the file are not trusted to add up.
        self.pii_redacted = self.pii_redacted.saturating_add(r.redacted);
        match r.kind {
            AuditKind::ExecutionStarted => self.exec.started += 1,
            AuditKind::Execution => {
                self.exec.completed += 1;
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
                self.pii_tokenized = self.pii_tokenized.saturating_add(
                    meta(keys::PII_TOKENIZED)
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                );
                if meta(keys::LIMIT_HIT).is_some_and(|v| !v.is_null()) {
                    self.violations += 1;
                }
            }
            AuditKind::Security => {
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
        self.scan_record(r);
    }

    /// Scans every string of the record. A readable time stamp and a 64-hex `prev` or `hash`
    /// hold nothing else; anything else there is scanned too.
    fn scan_record(&mut self, r: &AuditRecord) {
        if parse_ts(&r.ts).is_none() {
            self.scan(&r.ts);
        }
        for digest in [&r.prev, &r.hash] {
            if !is_digest(digest) {
                self.scan(digest);
            }
        }
        self.scan(&r.message);
        for s in [&r.execution_id, &r.principal].into_iter().flatten() {
            self.scan(s);
        }
        for (k, v) in &r.metadata {
            self.scan(k);
            self.scan_value(v);
        }
    }

    fn scan_value(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.scan(s),
            Value::Array(items) => items.iter().for_each(|i| self.scan_value(i)),
            Value::Object(map) => {
                for (k, i) in map {
                    self.scan(k);
                    self.scan_value(i);
                }
            }
            _ => {}
        }
    }

    fn scan(&mut self, s: &str) {
        self.strings += 1;
        if let Some(d) = self.detector {
            let spans = d.detect(s);
            if spans.is_empty() {
                return;
            }
            // What the log pseudonymized is not PII, whatever a detector makes of its hex.
            let pseudonyms = pseudonym_ranges(s);
            let found = spans
                .iter()
                .filter(|p| {
                    !pseudonyms
                        .iter()
                        .any(|r| r.start <= p.start && p.end <= r.end)
                })
                .count();
            self.plaintext = self.plaintext.saturating_add(found as u64);
        }
    }

    fn finish(
        mut self,
        dir: &Path,
        opts: &ReportOptions,
        integrity: VerifyReport,
    ) -> ComplianceReport {
        let ts = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        let judged = || self.executions.iter().filter(|(_, e)| e.judged());
        let ids = |keep: fn(&Pairing) -> bool| -> Vec<String> {
            judged()
                .filter(|(_, e)| keep(e))
                .map(|(id, _)| id.clone())
                .collect()
        };
        self.exec.incomplete = ids(|e| e.started_in_period && !e.completed);
        let never_started = ids(|e| !e.started);
        self.exec.unvalidated = ids(|e| e.program && !e.validated);
        let programs = judged().filter(|(_, e)| e.program).count();
        let status = |ok: bool| {
            if ok {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            }
        };
        let trust = match integrity.signatures {
            SignatureTrust::Trusted => "signed by a trusted key",
            SignatureTrust::SelfSigned => "self-signed, no trusted key given",
            _ => "no signatures",
        };
        let chain = match &integrity.problem {
            None => format!(
                "chain verified: {} records in {} segment(s), head seq {}, {} signed checkpoint(s) ({trust})",
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
                    programs.saturating_sub(e.unvalidated.len()),
                    programs,
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

/// Whether `s` is a SHA-256 in lowercase hex, as `prev` and `hash` are.
fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The byte ranges of `s` that are pseudonyms (`hmac-sha256:` and 64 hex digits).
fn pseudonym_ranges(s: &str) -> Vec<std::ops::Range<usize>> {
    s.match_indices(PSEUDONYM_PREFIX)
        .filter_map(|(start, prefix)| {
            let end = start + prefix.len() + 64;
            s.get(start + prefix.len()..end)
                .filter(|hex| is_digest(hex))
                .map(|_| start..end)
        })
        .collect()
}
