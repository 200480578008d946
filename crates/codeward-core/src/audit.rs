//! Audit events (what a layer reports) and audit records (what the log stores).
//! Record shape and field names are part of the on-disk format; see `codeward-audit`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::security::Severity;

/// The type of an audit record (`type` in the JSON line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditKind {
    /// Phase 1: tools found for a request.
    Discovery,
    /// Phase 3 and 5: validation results, risk, anomalies.
    Security,
    /// Phase 4: written and durable before the sandbox starts.
    ExecutionStarted,
    /// Phase 4: the execution finished (or was served from cache).
    Execution,
    /// Phase 4: one tool call, written before it is dispatched.
    ToolCall,
    /// An approval was requested, granted, rejected, refused or expired.
    Approval,
    /// Any error on the way.
    Error,
    /// The log itself repaired a torn tail on open.
    Recovery,
    /// A signed checkpoint of the chain head.
    Checkpoint,
}

impl AuditKind {
    /// Every kind, in a stable order.
    pub const ALL: [AuditKind; 9] = [
        AuditKind::Discovery,
        AuditKind::Security,
        AuditKind::ExecutionStarted,
        AuditKind::Execution,
        AuditKind::ToolCall,
        AuditKind::Approval,
        AuditKind::Error,
        AuditKind::Recovery,
        AuditKind::Checkpoint,
    ];

    /// The snake_case name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Discovery => "discovery",
            AuditKind::Security => "security",
            AuditKind::ExecutionStarted => "execution_started",
            AuditKind::Execution => "execution",
            AuditKind::ToolCall => "tool_call",
            AuditKind::Approval => "approval",
            AuditKind::Error => "error",
            AuditKind::Recovery => "recovery",
            AuditKind::Checkpoint => "checkpoint",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid(
                    "audit record type",
                    format!("`{s}`; use one of {}", names.join(", ")),
                )
            })
    }
}

/// What a layer asks the audit log to record. The log adds seq, time and hashes,
/// redacts every string and pseudonymizes the fields marked sensitive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// The record type.
    pub kind: AuditKind,
    /// Its severity.
    pub severity: Severity,
    /// A short human message.
    pub message: String,
    /// The execution it belongs to.
    pub execution_id: Option<String>,
    /// Who caused it.
    pub principal: Option<String>,
    /// Structured details.
    pub metadata: Map<String, Value>,
    /// Metadata keys whose values must be stored only as keyed pseudonyms.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub sensitive: BTreeSet<String>,
}

impl AuditEvent {
    /// An event with a kind, severity and message.
    pub fn new(kind: AuditKind, severity: Severity, message: impl Into<String>) -> Self {
        AuditEvent {
            kind,
            severity,
            message: message.into(),
            execution_id: None,
            principal: None,
            metadata: Map::new(),
            sensitive: BTreeSet::new(),
        }
    }

    /// Sets the execution id.
    pub fn execution(mut self, id: impl Into<String>) -> Self {
        self.execution_id = Some(id.into());
        self
    }

    /// Sets the principal.
    pub fn principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// Adds a metadata field.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds a metadata field that the log must pseudonymize (only its keyed hash is stored).
    pub fn sensitive(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        self.sensitive.insert(key.clone());
        self.metadata.insert(key, value.into());
        self
    }
}

/// Current on-disk record format version.
pub const RECORD_FORMAT_VERSION: u32 = 1;

/// One stored record, exactly as a line of the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Format version.
    pub v: u32,
    /// Position in the log, gapless from 1.
    pub seq: u64,
    /// RFC 3339 UTC time the writer assigned.
    pub ts: String,
    /// The record type.
    #[serde(rename = "type")]
    pub kind: AuditKind,
    /// Severity.
    pub severity: Severity,
    /// Redacted message.
    pub message: String,
    /// The execution it belongs to.
    #[serde(default)]
    pub execution_id: Option<String>,
    /// Pseudonymized principal.
    #[serde(default)]
    pub principal: Option<String>,
    /// Redacted metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Number of PII items the log itself redacted in this record.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redacted: u64,
    /// Hash of the previous record (64 zeros for the first).
    pub prev: String,
    /// SHA-256 (hex) of this record's canonical form without `hash`.
    pub hash: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Proof that a record is durable: its position and hash.
///
/// Dropping a receipt unread is almost always a bug: it means nobody checked the write.
#[must_use = "an audit receipt proves the record is durable; check it or propagate the error"]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditReceipt {
    /// The record's seq.
    pub seq: u64,
    /// The record's hash.
    pub hash: String,
}

/// Health of an audit sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
#[non_exhaustive]
pub enum AuditHealth {
    /// Accepting records.
    Healthy,
    /// A write or sync failed; the sink refuses every record until reopened.
    Poisoned {
        /// The failure that poisoned it.
        reason: String,
    },
    /// Closed by shutdown.
    Closed,
}

/// Metadata keys with a shared meaning across producers (the orchestrator) and consumers
/// (the compliance report, anomaly replay). Using the constants keeps them from drifting.
pub mod keys {
    /// `execution`: bool, whether the program succeeded.
    pub const SUCCESS: &str = "success";
    /// `execution`: bool, served from the result cache.
    pub const CACHED: &str = "cached";
    /// `execution`: number of PII items tokenized in the result.
    pub const PII_TOKENIZED: &str = "pii_tokenized";
    /// `execution`: the limit that stopped the program (`timeout`, `memory`...) or null.
    pub const LIMIT_HIT: &str = "limit_hit";
    /// `security`: a category such as `validation`, `anomaly` or `sandbox_violation`.
    pub const CATEGORY: &str = "category";
    /// `approval`: what happened (`requested`, `approved`, `rejected`, `expired`, `pruned` from
    /// the approval store; `used`, `refused` from a run presenting an approval).
    pub const DECISION: &str = "decision";
    /// `approval`: the approval request id.
    pub const APPROVAL_ID: &str = "approval_id";
    /// `tool_call`: the qualified tool name.
    pub const TOOL: &str = "tool";
    /// `security`: the risk level of a validated program.
    pub const RISK_LEVEL: &str = "risk_level";
    /// `security`: the risk score of a validated program.
    pub const RISK_SCORE: &str = "risk_score";
    /// Category value for records about sandbox limit or isolation violations.
    pub const SANDBOX_VIOLATION: &str = "sandbox_violation";
}
