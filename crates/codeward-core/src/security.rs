//! Findings, risk and approvals: the language of the validation phase.
//! Produced by `codeward-security`, consumed by the orchestrator and the audit log.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::execution::Language;

/// How serious something is. Ordered: `Info < Warning < Error < Critical`.
///
/// Deliberately not `#[non_exhaustive]` (the house rule's exception): a fixed, ordered scale
/// shared with the audit record format, which callers are meant to match exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine.
    Info,
    /// Worth a look.
    Warning,
    /// Something failed.
    Error,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// The lowercase name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "warning" | "warn" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            "critical" => Ok(Severity::Critical),
            other => Err(Error::invalid(
                "severity",
                format!("`{other}`; use info, warning, error or critical"),
            )),
        }
    }
}

/// What a validation rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingCategory {
    /// eval, exec, Function, dynamic imports.
    DynamicCode,
    /// subprocess, child_process, os.system.
    ProcessSpawn,
    /// Writing or deleting files.
    Filesystem,
    /// Sockets, HTTP clients, fetch.
    Network,
    /// Environment variables and secrets.
    SecretAccess,
    /// Reflection and sandbox-escape shapes.
    Reflection,
    /// Obfuscated code.
    Obfuscation,
    /// Unbounded loops, fork.
    ResourceAbuse,
    /// The program does not parse.
    Syntax,
}

/// One thing a validator found in a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// Stable rule id (`py.process.os-system`).
    pub rule_id: String,
    /// The rule's category.
    pub category: FindingCategory,
    /// How serious it is.
    pub severity: Severity,
    /// What was found.
    pub message: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The offending source text.
    pub snippet: String,
    /// What to do instead.
    pub suggestion: String,
}

impl Finding {
    /// A finding at a position; snippet and suggestion empty.
    pub fn new(
        rule_id: impl Into<String>,
        category: FindingCategory,
        severity: Severity,
        message: impl Into<String>,
        line: u32,
        column: u32,
    ) -> Self {
        Finding {
            rule_id: rule_id.into(),
            category,
            severity,
            message: message.into(),
            line,
            column,
            snippet: String::new(),
            suggestion: String::new(),
        }
    }
}

/// The result of validating one program.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ValidationReport {
    /// Everything found, in source order.
    pub findings: Vec<Finding>,
    /// Qualified names of the catalogue tools the program calls.
    pub tools_used: Vec<String>,
    /// The tools called at call sites inside loops: one entry per (site, tool), so a tool
    /// called from two loops appears twice and a site whose tool is chosen at run time lists
    /// every tool it may reach. What a risk assessor counts, so it need not read tool names
    /// back out of finding messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub looped_tools: Vec<String>,
    /// Version of the rule set that produced the findings.
    pub rules_version: String,
}

impl ValidationReport {
    /// The most severe finding's severity, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether any finding is a syntax error (the program must not run).
    pub fn has_syntax_error(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.category == FindingCategory::Syntax)
    }
}

/// The coarse risk level. Ordered: `Low < Medium < High < Critical`.
///
/// Deliberately not `#[non_exhaustive]`: a fixed, ordered scale that the approval policy
/// matches exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// Runs without approval.
    Low,
    /// Runs without approval; worth logging.
    Medium,
    /// Needs approval.
    High,
    /// Needs approval.
    Critical,
}

impl RiskLevel {
    /// Whether this level stops at the approval gate.
    pub fn requires_approval(self) -> bool {
        self >= RiskLevel::High
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One contribution to a risk score, kept so the score can be explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RiskFactor {
    /// Factor name (`findings.critical`, `tools.destructive`...).
    pub name: String,
    /// Points added (negative lowers risk).
    pub points: f64,
    /// Why.
    pub detail: String,
}

impl RiskFactor {
    /// A factor.
    pub fn new(name: impl Into<String>, points: f64, detail: impl Into<String>) -> Self {
        RiskFactor {
            name: name.into(),
            points,
            detail: detail.into(),
        }
    }
}

/// A program's risk: score 0-100, level and the factors behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RiskAssessment {
    /// 0 (harmless) to 100.
    pub score: u8,
    /// The level the score maps to.
    pub level: RiskLevel,
    /// The contributions, in the order they were computed.
    pub factors: Vec<RiskFactor>,
    /// What the operator should do.
    pub recommendation: String,
}

impl RiskAssessment {
    /// An assessment from its parts.
    pub fn new(
        score: u8,
        level: RiskLevel,
        factors: Vec<RiskFactor>,
        recommendation: impl Into<String>,
    ) -> Self {
        RiskAssessment {
            score,
            level,
            factors,
            recommendation: recommendation.into(),
        }
    }

    /// Whether the program must be approved before it runs.
    pub fn requires_approval(&self) -> bool {
        self.level.requires_approval()
    }
}

/// A request for an operator's approval, bound to the exact code and tool set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApprovalRequest {
    /// The execution that asked.
    pub execution_id: String,
    /// Who asked.
    pub principal: String,
    /// SHA-256 (hex) of the program, the language and the sorted tool set.
    pub code_hash: String,
    /// The tools the program may call.
    pub tools: Vec<String>,
    /// The assessment that triggered the gate.
    pub risk: RiskAssessment,
    /// The program itself, so the operator reads what they approve (the hash binds it).
    /// `None` in requests filed before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// The program's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
}

impl ApprovalRequest {
    /// A request binding `code_hash` (of the program, language and tool set) to `tools`.
    pub fn new(
        execution_id: impl Into<String>,
        principal: impl Into<String>,
        code_hash: impl Into<String>,
        tools: Vec<String>,
        risk: RiskAssessment,
    ) -> Self {
        ApprovalRequest {
            execution_id: execution_id.into(),
            principal: principal.into(),
            code_hash: code_hash.into(),
            tools,
            risk,
            program: None,
            language: None,
        }
    }

    /// Keeps the program text (and its language) in the request for the operator to read.
    pub fn with_program(mut self, language: Language, program: impl Into<String>) -> Self {
        self.language = Some(language);
        self.program = Some(program.into());
        self
    }
}

/// Where an approval request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
#[non_exhaustive]
pub enum ApprovalStatus {
    /// Waiting for an operator.
    Pending,
    /// Approved.
    Approved {
        /// Who approved.
        approver: String,
        /// Why.
        reason: String,
    },
    /// Rejected.
    Rejected {
        /// Who rejected.
        approver: String,
        /// Why.
        reason: String,
    },
    /// Expired before a decision.
    Expired,
}

/// An operator's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApprovalDecision {
    /// Approve (true) or reject (false).
    pub approve: bool,
    /// Who decides.
    pub approver: String,
    /// Why.
    pub reason: String,
}

impl ApprovalDecision {
    /// An approval.
    pub fn approve(approver: impl Into<String>, reason: impl Into<String>) -> Self {
        ApprovalDecision {
            approve: true,
            approver: approver.into(),
            reason: reason.into(),
        }
    }

    /// A rejection.
    pub fn reject(approver: impl Into<String>, reason: impl Into<String>) -> Self {
        ApprovalDecision {
            approve: false,
            approver: approver.into(),
            reason: reason.into(),
        }
    }
}

/// A stored approval request with its id and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApprovalTicket {
    /// The id operators approve by.
    pub id: String,
    /// The request.
    pub request: ApprovalRequest,
    /// Its status.
    pub status: ApprovalStatus,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Expiry time, milliseconds since the Unix epoch.
    pub expires_ms: u64,
}

impl ApprovalTicket {
    /// A pending ticket for `request`, created at `created_ms` and expiring at `expires_ms`.
    pub fn pending(
        id: impl Into<String>,
        request: ApprovalRequest,
        created_ms: u64,
        expires_ms: u64,
    ) -> Self {
        ApprovalTicket {
            id: id.into(),
            request,
            status: ApprovalStatus::Pending,
            created_ms,
            expires_ms,
        }
    }
}
