//! The seam traits: one small trait per layer, object-safe, `Send + Sync`.
//! The orchestrator holds each as `Arc<dyn Trait>`; layer crates implement them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use crate::anomaly::{Anomaly, AnomalyReport, ExecutionObservation, ToolCallObservation};
use crate::audit::{AuditEvent, AuditHealth, AuditReceipt, AuditRecord};
use crate::error::{Error, Result};
use crate::execution::{ExecutionLimits, ExecutionMetrics, ExecutionOutcome, Language};
use crate::pii::{PiiReport, PiiSpan};
use crate::security::{
    ApprovalDecision, ApprovalRequest, ApprovalStatus, ApprovalTicket, RiskAssessment,
    ValidationReport,
};
use crate::tool::{ToolCall, ToolResult, ToolSchema};

// ---------------------------------------------------------------- discovery

/// A search over the tool catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SearchQuery {
    /// Natural-language text.
    pub text: String,
    /// At most this many hits.
    pub limit: usize,
    /// Hits scoring below this are dropped.
    pub min_score: f32,
    /// Only tools of this category.
    pub category: Option<String>,
    /// Only tools of this server.
    pub server: Option<String>,
}

impl SearchQuery {
    /// A query for `text` returning at most `limit` hits.
    pub fn new(text: impl Into<String>, limit: usize) -> Self {
        SearchQuery {
            text: text.into(),
            limit,
            min_score: 0.0,
            category: None,
            server: None,
        }
    }

    /// Restricts to a category.
    pub fn in_category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }

    /// Restricts to a server.
    pub fn on_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// Sets the minimum score.
    pub fn min_score(mut self, min_score: f32) -> Self {
        self.min_score = min_score;
        self
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolHit {
    /// The tool.
    pub tool: ToolSchema,
    /// Relevance (higher is better; comparable within one query).
    pub score: f32,
    /// Which fields matched (`name`, `description`, `parameters`...).
    pub matched_fields: Vec<String>,
}

impl ToolHit {
    /// A hit.
    pub fn new(tool: ToolSchema, score: f32, matched_fields: Vec<String>) -> Self {
        ToolHit {
            tool,
            score,
            matched_fields,
        }
    }
}

/// The tool catalogue, searchable.
pub trait ToolIndex: Send + Sync {
    /// The best tools for a query, best first; ties in a deterministic order.
    fn search(&self, query: &SearchQuery) -> Result<Vec<ToolHit>>;

    /// A tool by qualified name (`server.tool`).
    fn get(&self, qualified_name: &str) -> Option<ToolSchema>;

    /// Every tool (used for token economics).
    fn all(&self) -> Vec<ToolSchema>;

    /// How many tools the catalogue holds (override: the default clones every tool).
    fn len(&self) -> usize {
        self.all().len()
    }

    /// Whether the catalogue is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes whenever the catalogue changes (part of result-cache keys).
    fn version(&self) -> u64;
}

// ---------------------------------------------------------------- code API

/// A generated API module and its compact summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GeneratedApi {
    /// The module's language.
    pub language: Language,
    /// The full module, including the bridge client.
    pub module: String,
    /// Signatures only, for progressive disclosure.
    pub summary: String,
    /// Tokens of `module`.
    pub module_tokens: u64,
    /// Tokens of `summary`.
    pub summary_tokens: u64,
    /// Schema features that fell back to `unknown` / `Any`.
    pub warnings: Vec<String>,
    /// Which generated function calls which tool, by the exact identifiers the module uses
    /// (renamed ones included: a server `fs` may become `fs_`). A validator uses them to
    /// recognise tool calls instead of guessing the generator's naming.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<ApiBinding>,
}

/// One generated function: `object.function(...)` in the program calls `tool`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiBinding {
    /// The namespace object (one per MCP server), as the module names it.
    pub object: String,
    /// The function, as the module names it.
    pub function: String,
    /// The tool's qualified name (`server.tool`), as sent on the wire.
    pub tool: String,
}

impl ApiBinding {
    /// A binding from its parts.
    pub fn new(
        object: impl Into<String>,
        function: impl Into<String>,
        tool: impl Into<String>,
    ) -> Self {
        ApiBinding {
            object: object.into(),
            function: function.into(),
            tool: tool.into(),
        }
    }
}

impl GeneratedApi {
    /// An API from its parts.
    pub fn new(
        language: Language,
        module: String,
        summary: String,
        module_tokens: u64,
        summary_tokens: u64,
    ) -> Self {
        GeneratedApi {
            language,
            module,
            summary,
            module_tokens,
            summary_tokens,
            warnings: Vec::new(),
            bindings: Vec::new(),
        }
    }
}

/// Generates a typed API for a set of tools.
pub trait ApiGenerator: Send + Sync {
    /// The module for `tools` in `language`.
    fn generate(&self, tools: &[ToolSchema], language: Language) -> Result<GeneratedApi>;

    /// Tokens a model would spend reading `text`.
    fn count_tokens(&self, text: &str) -> u64 {
        text.len().div_ceil(4) as u64
    }
}

// ---------------------------------------------------------------- validation and risk

/// Parses a program and reports dangerous constructs.
pub trait CodeValidator: Send + Sync {
    /// Findings for `code`; a program that does not parse yields a syntax finding, not an `Err`.
    /// `Err` means the validator itself failed.
    fn validate(
        &self,
        code: &str,
        language: Language,
        tools: &[ToolSchema],
    ) -> Result<ValidationReport>;

    /// [`CodeValidator::validate`] for a program written against `api`, whose
    /// [`GeneratedApi::bindings`] name the exact functions that call tools. The default
    /// ignores them; a validator that matches tool calls should use them.
    fn validate_for_api(
        &self,
        code: &str,
        api: &GeneratedApi,
        tools: &[ToolSchema],
    ) -> Result<ValidationReport> {
        self.validate(code, api.language, tools)
    }
}

/// Scores a validated program.
pub trait RiskAssessor: Send + Sync {
    /// The program's risk given its findings and the tools it may call.
    fn assess(
        &self,
        code: &str,
        language: Language,
        report: &ValidationReport,
        tools: &[ToolSchema],
    ) -> RiskAssessment;
}

/// Stores approval requests and operators' decisions.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Files a request and returns its ticket (status pending).
    async fn request(&self, request: ApprovalRequest) -> Result<ApprovalTicket>;

    /// Approves or rejects a pending request.
    async fn decide(&self, id: &str, decision: ApprovalDecision) -> Result<ApprovalTicket>;

    /// A ticket by id.
    async fn get(&self, id: &str) -> Result<Option<ApprovalTicket>>;

    /// Every ticket, oldest first.
    async fn list(&self) -> Result<Vec<ApprovalTicket>>;

    /// The ticket if it approves exactly this code hash, else the reason it does not.
    async fn authorize(&self, id: &str, code_hash: &str) -> Result<ApprovalTicket> {
        let refused = |reason: &str| Error::ApprovalRefused {
            approval_id: id.to_owned(),
            reason: reason.to_owned(),
        };
        let ticket = self
            .get(id)
            .await?
            .ok_or_else(|| refused("no such approval request"))?;
        match &ticket.status {
            ApprovalStatus::Approved { .. } if ticket.request.code_hash == code_hash => Ok(ticket),
            ApprovalStatus::Approved { .. } => {
                Err(refused("the program differs from the approved one"))
            }
            ApprovalStatus::Pending => Err(refused("still pending; an operator must approve it")),
            ApprovalStatus::Rejected { .. } => Err(refused("rejected by an operator")),
            ApprovalStatus::Expired => Err(refused("expired; run again to file a new request")),
        }
    }
}

// ---------------------------------------------------------------- sandbox and tools

/// Calls tools on real MCP servers.
#[async_trait]
pub trait ToolInvoker: Send + Sync {
    /// Calls `tool` (qualified name) with `arguments`.
    async fn call(&self, tool: &str, arguments: Value) -> Result<ToolResult>;

    /// [`ToolInvoker::call`] that the caller will give up on after `timeout`. An invoker with
    /// its own deadline handling overrides it so that it, not the caller, sees the deadline
    /// pass (an MCP pool counts timeouts to find a hung server) and answers
    /// [`crate::Error::Timeout`]. The default ignores `timeout`: the caller enforces it.
    async fn call_within(
        &self,
        tool: &str,
        arguments: Value,
        timeout: std::time::Duration,
    ) -> Result<ToolResult> {
        let _ = timeout;
        self.call(tool, arguments).await
    }
}

/// Told about every tool call, before it is dispatched and after it returns.
#[async_trait]
pub trait ToolCallObserver: Send + Sync {
    /// Called before dispatch; an `Err` refuses the call (fail closed).
    async fn before_call(&self, call: &ToolCall, tool: &ToolSchema) -> Result<()>;

    /// Called after the call returned (or failed).
    async fn after_call(
        &self,
        call: &ToolCall,
        tool: &ToolSchema,
        result: &Result<ToolResult>,
        elapsed: Duration,
    ) {
        let _ = (call, tool, result, elapsed);
    }
}

/// What the sandbox runs.
#[derive(Clone)]
#[non_exhaustive]
pub struct SandboxJob {
    /// The execution id.
    pub execution_id: String,
    /// The language.
    pub language: Language,
    /// The agent's program.
    pub program: String,
    /// The generated API module the program imports.
    pub api: Option<GeneratedApi>,
    /// Limits.
    pub limits: ExecutionLimits,
    /// The only tools the program may call.
    pub tools: Vec<ToolSchema>,
    /// Dispatches tool calls.
    pub invoker: Arc<dyn ToolInvoker>,
    /// Sees every call before and after.
    pub observer: Arc<dyn ToolCallObserver>,
}

impl SandboxJob {
    /// A job; `api` empty.
    pub fn new(
        execution_id: impl Into<String>,
        language: Language,
        program: impl Into<String>,
        limits: ExecutionLimits,
        invoker: Arc<dyn ToolInvoker>,
        observer: Arc<dyn ToolCallObserver>,
    ) -> Self {
        SandboxJob {
            execution_id: execution_id.into(),
            language,
            program: program.into(),
            api: None,
            limits,
            tools: Vec::new(),
            invoker,
            observer,
        }
    }
}

impl std::fmt::Debug for SandboxJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxJob")
            .field("execution_id", &self.execution_id)
            .field("language", &self.language)
            .field("program_bytes", &self.program.len())
            .field(
                "tools",
                &self
                    .tools
                    .iter()
                    .map(|t| t.qualified_name())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What came out of the sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxOutput {
    /// Exit code 0 and no limit hit.
    pub success: bool,
    /// Captured stdout (capped).
    pub stdout: String,
    /// Captured stderr (capped).
    pub stderr: String,
    /// The value the program returned through the bridge, if any.
    pub result: Option<Value>,
    /// Measured resource use.
    pub metrics: ExecutionMetrics,
    /// Isolation layers that were active.
    pub isolation: Vec<String>,
}

impl SandboxOutput {
    /// An output with stdout and metrics.
    pub fn new(success: bool, stdout: impl Into<String>, metrics: ExecutionMetrics) -> Self {
        SandboxOutput {
            success,
            stdout: stdout.into(),
            stderr: String::new(),
            result: None,
            metrics,
            isolation: Vec::new(),
        }
    }
}

/// Runs untrusted programs in isolation.
#[async_trait]
pub trait Sandbox: Send + Sync {
    /// Runs `job` to completion (or to a limit). `Err` means the sandbox itself failed.
    async fn run(&self, job: SandboxJob) -> Result<SandboxOutput>;
}

// ---------------------------------------------------------------- results

/// Finds personal data and secrets in text.
pub trait PiiDetector: Send + Sync {
    /// Non-overlapping spans, in order.
    fn detect(&self, text: &str) -> Vec<PiiSpan>;
}

/// Replaces personal data in results with execution-scoped tokens (`[EMAIL_1]`).
pub trait PiiRedactor: Send + Sync {
    /// Tokenizes every string inside `value`; the same value gets the same token within `scope`.
    fn tokenize(&self, value: &mut Value, scope: &str) -> PiiReport;

    /// Called once when the execution `scope` names has ended, so that a long-running process
    /// does not keep a token table per finished execution: the redactor may drop what it keeps
    /// for `scope`, and a later `tokenize` in it may start numbering afresh. Default: nothing
    /// (for redactors that keep no state per scope).
    fn end_scope(&self, scope: &str) {
        let _ = scope;
    }
}

/// Watches behaviour and reports anomalies.
pub trait AnomalyDetector: Send + Sync {
    /// Judges one finished execution and learns from it.
    fn observe_execution(&self, observation: &ExecutionObservation) -> AnomalyReport;

    /// Judges one tool call and learns from it.
    fn observe_tool_call(&self, observation: &ToolCallObservation) -> Vec<Anomaly>;

    /// Before dispatch, without learning: an anomaly serious enough to refuse the call
    /// (e.g. the exfiltration shape). Default: nothing.
    fn precheck_tool_call(&self, observation: &ToolCallObservation) -> Option<Anomaly> {
        let _ = observation;
        None
    }

    /// Rebuilds baselines from past audit records (oldest first); returns how many were used.
    fn replay(&self, records: &mut dyn Iterator<Item = AuditRecord>) -> usize {
        let _ = records;
        0
    }
}

/// Caches outcomes of safe programs.
pub trait ResultCache: Send + Sync {
    /// A cached outcome.
    fn get(&self, key: &str) -> Option<ExecutionOutcome>;

    /// Stores an outcome.
    fn insert(&self, key: String, outcome: ExecutionOutcome);
}

// ---------------------------------------------------------------- audit

/// Where audit events go. `append` returns only once the record is durable.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Records `event`; resolves after it is durable. Never drop the future or the receipt.
    async fn append(&self, event: AuditEvent) -> Result<AuditReceipt>;

    /// Waits until everything appended so far is durable.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Whether the sink accepts records.
    fn health(&self) -> AuditHealth {
        AuditHealth::Healthy
    }
}
