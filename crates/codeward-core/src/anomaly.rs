//! Behavioural observations and the anomalies found in them.
//! Produced by the orchestrator and the tool bridge; judged by `codeward-anomaly`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::execution::Language;
use crate::security::{RiskLevel, Severity};
use crate::tool::ToolAnnotations;

/// The kinds of anomaly (the seed's four, plus the tool-call stream detectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnomalyKind {
    /// Wall time or memory far above the baseline.
    ResourceSpike,
    /// Critical security events or error bursts in the recent window.
    SuspiciousPattern,
    /// Several failures in a row.
    RepeatedFailures,
    /// Too fast to have run, or too slow.
    UnusualTiming,
    /// Tool calls per minute far above the baseline.
    CallRateSpike,
    /// A tool this principal has never used before.
    NewTool,
    /// Bytes returned to the model far above the baseline.
    DataEgressSpike,
    /// A read from a sensitive source followed by an open-world or destructive call.
    Exfiltration,
}

/// One anomaly, with the numbers that triggered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Anomaly {
    /// What kind.
    pub kind: AnomalyKind,
    /// Description including the observed value and the baseline.
    pub description: String,
    /// How serious.
    pub severity: Severity,
    /// When, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl Anomaly {
    /// An anomaly.
    pub fn new(
        kind: AnomalyKind,
        severity: Severity,
        description: impl Into<String>,
        timestamp_ms: u64,
    ) -> Self {
        Anomaly {
            kind,
            severity,
            description: description.into(),
            timestamp_ms,
        }
    }
}

/// What one execution did, as the anomaly detector sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionObservation {
    /// Execution id.
    pub execution_id: String,
    /// Who ran it.
    pub principal: String,
    /// Its language.
    pub language: Language,
    /// The tool set (qualified names, sorted).
    pub tools: Vec<String>,
    /// Whether it succeeded.
    pub success: bool,
    /// Wall time.
    #[serde(with = "crate::duration")]
    pub wall_time: Duration,
    /// CPU time.
    #[serde(with = "crate::duration")]
    pub cpu_time: Duration,
    /// Peak memory in bytes.
    pub peak_memory_bytes: u64,
    /// Critical security findings or events attached to this execution.
    pub critical_events: u32,
    /// When it finished, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// One tool call, as the anomaly detector sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallObservation {
    /// Execution id.
    pub execution_id: String,
    /// Who ran it.
    pub principal: String,
    /// Qualified tool name.
    pub tool: String,
    /// The tool's MCP hints.
    pub annotations: ToolAnnotations,
    /// Whether the tool reads a source the operator marked sensitive.
    pub sensitive_source: bool,
    /// Bytes of result returned to the program.
    pub response_bytes: u64,
    /// Whether the call succeeded.
    pub success: bool,
    /// When, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// The anomalies of one execution and the overall level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AnomalyReport {
    /// What was found.
    pub anomalies: Vec<Anomaly>,
    /// Overall risk of the execution's behaviour.
    pub risk: RiskLevel,
}

impl AnomalyReport {
    /// A report with these anomalies, risk from the worst severity.
    pub fn from_anomalies(anomalies: Vec<Anomaly>) -> Self {
        let risk = match anomalies.iter().map(|a| a.severity).max() {
            None | Some(Severity::Info) => RiskLevel::Low,
            Some(Severity::Warning) => RiskLevel::Medium,
            Some(Severity::Error) => RiskLevel::High,
            Some(Severity::Critical) => RiskLevel::Critical,
        };
        AnomalyReport { anomalies, risk }
    }

    /// Raises the overall risk to at least `level` (for example from anomalies of the
    /// execution's tool calls that were reported when the calls were observed).
    pub fn with_risk_at_least(mut self, level: RiskLevel) -> Self {
        self.risk = self.risk.max(level);
        self
    }

    /// Whether anything was found.
    pub fn detected(&self) -> bool {
        !self.anomalies.is_empty()
    }
}
