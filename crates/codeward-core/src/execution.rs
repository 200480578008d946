//! What an agent asks codeward to run, and what it gets back.
//! These are the seed's `ExecutionRequest` / `ExecutionResult`, made precise.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// A language the agent's program is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// TypeScript, transpiled on the host and run by node.
    TypeScript,
    /// Python 3.
    Python,
}

impl Language {
    /// Every supported language.
    pub const ALL: [Language; 2] = [Language::TypeScript, Language::Python];

    /// The canonical name (`typescript`, `python`).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::TypeScript => "typescript",
            Language::Python => "python",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Language::TypeScript => "ts",
            Language::Python => "py",
        }
    }

    /// The language of a file extension (`ts`, `mts`, `js`, `mjs`, `py`), if known.
    pub fn from_extension(ext: &str) -> Option<Language> {
        match ext.to_ascii_lowercase().as_str() {
            "ts" | "mts" | "cts" | "js" | "mjs" | "cjs" => Some(Language::TypeScript),
            "py" => Some(Language::Python),
            _ => None,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "typescript" | "ts" | "javascript" | "js" => Ok(Language::TypeScript),
            "python" | "py" => Ok(Language::Python),
            other => Err(Error::invalid(
                "language",
                format!("`{other}` is not supported; use `typescript` or `python`"),
            )),
        }
    }
}

/// Resource limits of one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecutionLimits {
    /// Wall-clock deadline for the whole program.
    #[serde(with = "crate::duration")]
    pub timeout: Duration,
    /// CPU time limit (user + system).
    #[serde(with = "crate::duration")]
    pub cpu_time: Duration,
    /// Memory limit in bytes.
    pub memory_bytes: u64,
    /// Cap on captured stdout and stderr, each, in bytes.
    pub max_output_bytes: u64,
    /// Maximum number of tool calls.
    pub max_tool_calls: u32,
    /// Deadline of one tool call.
    #[serde(with = "crate::duration")]
    pub tool_call_timeout: Duration,
    /// Maximum number of processes (tasks) inside the sandbox.
    pub max_processes: u32,
}

impl Default for ExecutionLimits {
    fn default() -> Self {
        ExecutionLimits {
            timeout: Duration::from_secs(30),
            cpu_time: Duration::from_secs(30),
            memory_bytes: 512 * 1024 * 1024,
            max_output_bytes: 1024 * 1024,
            max_tool_calls: 100,
            tool_call_timeout: Duration::from_secs(30),
            max_processes: 64,
        }
    }
}

impl ExecutionLimits {
    /// These limits with every `Some` field of `overrides` applied.
    pub fn with_overrides(&self, overrides: &LimitOverrides) -> ExecutionLimits {
        ExecutionLimits {
            timeout: overrides.timeout.unwrap_or(self.timeout),
            cpu_time: overrides.cpu_time.unwrap_or(self.cpu_time),
            memory_bytes: overrides.memory_bytes.unwrap_or(self.memory_bytes),
            max_output_bytes: overrides.max_output_bytes.unwrap_or(self.max_output_bytes),
            max_tool_calls: overrides.max_tool_calls.unwrap_or(self.max_tool_calls),
            tool_call_timeout: overrides
                .tool_call_timeout
                .unwrap_or(self.tool_call_timeout),
            max_processes: overrides.max_processes.unwrap_or(self.max_processes),
        }
    }
}

/// Per-request changes to [`ExecutionLimits`]; `None` keeps the configured value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LimitOverrides {
    /// See [`ExecutionLimits::timeout`].
    #[serde(default, with = "crate::duration::option")]
    pub timeout: Option<Duration>,
    /// See [`ExecutionLimits::cpu_time`].
    #[serde(default, with = "crate::duration::option")]
    pub cpu_time: Option<Duration>,
    /// See [`ExecutionLimits::memory_bytes`].
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// See [`ExecutionLimits::max_output_bytes`].
    #[serde(default)]
    pub max_output_bytes: Option<u64>,
    /// See [`ExecutionLimits::max_tool_calls`].
    #[serde(default)]
    pub max_tool_calls: Option<u32>,
    /// See [`ExecutionLimits::tool_call_timeout`].
    #[serde(default, with = "crate::duration::option")]
    pub tool_call_timeout: Option<Duration>,
    /// See [`ExecutionLimits::max_processes`].
    #[serde(default)]
    pub max_processes: Option<u32>,
}

impl LimitOverrides {
    /// The first override set to 0 where 0 cannot work (every program would be stopped as it
    /// starts, with a message about the limit rather than the request), by its field name.
    /// `max_tool_calls = 0` is allowed: a program that may not call tools is a policy.
    pub fn zero_limit(&self) -> Option<&'static str> {
        let zero_duration = |d: Option<Duration>| d.is_some_and(|d| d.is_zero());
        [
            ("timeout", zero_duration(self.timeout)),
            ("cpu_time", zero_duration(self.cpu_time)),
            ("memory_bytes", self.memory_bytes == Some(0)),
            ("max_output_bytes", self.max_output_bytes == Some(0)),
            ("tool_call_timeout", zero_duration(self.tool_call_timeout)),
            ("max_processes", self.max_processes == Some(0)),
        ]
        .into_iter()
        .find_map(|(name, zero)| zero.then_some(name))
    }
}

/// One request to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecutionRequest {
    /// What the agent wants, in natural language; drives discovery.
    pub intent: String,
    /// The program's language (and of the generated API).
    pub language: Language,
    /// The agent's program; `None` asks for the typed API only (progressive disclosure).
    #[serde(default)]
    pub program: Option<String>,
    /// Who asks (user or agent id); pseudonymized in the audit log.
    pub principal: String,
    /// How many tools discovery should return.
    pub tool_limit: usize,
    /// Per-request limit changes.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// An approval id for a program that needed one.
    #[serde(default)]
    pub approval_id: Option<String>,
    /// Tools the caller chose (qualified names, e.g. from a search it ran before): when not
    /// empty they replace discovery. A run under an approval keeps the approved tool set.
    #[serde(default)]
    pub tools: Vec<String>,
}

impl ExecutionRequest {
    /// A request with an intent and a language, principal `anonymous`, five tools.
    pub fn new(intent: impl Into<String>, language: Language) -> Self {
        ExecutionRequest {
            intent: intent.into(),
            language,
            program: None,
            principal: "anonymous".to_owned(),
            tool_limit: 5,
            limits: LimitOverrides::default(),
            approval_id: None,
            tools: Vec::new(),
        }
    }

    /// Sets the program to run.
    pub fn with_program(mut self, program: impl Into<String>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Sets the principal.
    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = principal.into();
        self
    }

    /// Sets the approval id.
    pub fn with_approval(mut self, approval_id: impl Into<String>) -> Self {
        self.approval_id = Some(approval_id.into());
        self
    }

    /// Uses these tools (qualified names) instead of discovering them from the intent.
    pub fn with_tools<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tools = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the number of tools to discover.
    pub fn with_tool_limit(mut self, limit: usize) -> Self {
        self.tool_limit = limit;
        self
    }

    /// Sets limit overrides.
    pub fn with_limits(mut self, limits: LimitOverrides) -> Self {
        self.limits = limits;
        self
    }
}

/// Which limit stopped a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitKind {
    /// The wall-clock timeout.
    Timeout,
    /// The memory limit.
    Memory,
    /// The CPU-time limit.
    Cpu,
    /// The output cap (output was truncated, the program may have continued).
    Output,
    /// The process-count limit.
    Pids,
    /// The tool-call budget.
    ToolCalls,
    /// The working directory's size cap (the disk space a run may fill).
    Disk,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            LimitKind::Timeout => "timeout",
            LimitKind::Memory => "memory",
            LimitKind::Cpu => "cpu",
            LimitKind::Output => "output",
            LimitKind::Pids => "pids",
            LimitKind::ToolCalls => "tool_calls",
            LimitKind::Disk => "disk",
        };
        f.write_str(s)
    }
}

/// How the program's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
#[non_exhaustive]
pub enum ExitState {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Never started or not observed.
    Unknown,
}

/// Measured, not estimated: what the sandboxed process used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionMetrics {
    /// Wall time from spawn to reaping.
    #[serde(with = "crate::duration")]
    pub wall_time: Duration,
    /// User CPU time of the process tree.
    #[serde(with = "crate::duration")]
    pub cpu_user: Duration,
    /// System CPU time of the process tree.
    #[serde(with = "crate::duration")]
    pub cpu_system: Duration,
    /// Peak resident memory in bytes.
    pub peak_memory_bytes: u64,
    /// Bytes written to stdout and stderr (before capping).
    pub output_bytes: u64,
    /// Number of tool calls made.
    pub tool_calls: u32,
    /// How the process ended.
    pub exit: ExitState,
    /// The limit that stopped the program, if any.
    pub limit_hit: Option<LimitKind>,
}

impl Default for ExecutionMetrics {
    fn default() -> Self {
        ExecutionMetrics {
            wall_time: Duration::ZERO,
            cpu_user: Duration::ZERO,
            cpu_system: Duration::ZERO,
            peak_memory_bytes: 0,
            output_bytes: 0,
            tool_calls: 0,
            exit: ExitState::Unknown,
            limit_hit: None,
        }
    }
}

impl ExecutionMetrics {
    /// User plus system CPU time.
    pub fn cpu_time(&self) -> Duration {
        self.cpu_user + self.cpu_system
    }
}

/// Token economics of one request: what the model read with codeward versus without.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenEconomics {
    /// Tokens of the generated API handed to the model.
    pub api_tokens: u64,
    /// Tokens of every catalogue tool definition, as a model would receive them.
    pub all_definitions_tokens: u64,
    /// Tokens of the (tokenized) output returned to the model.
    pub output_tokens: u64,
}

impl TokenEconomics {
    /// Percentage of definition tokens saved (0 when there is nothing to compare).
    pub fn saved_percent(&self) -> f64 {
        if self.all_definitions_tokens == 0 {
            return 0.0;
        }
        let saved = self.all_definitions_tokens.saturating_sub(self.api_tokens) as f64;
        100.0 * saved / self.all_definitions_tokens as f64
    }
}

/// The seed's execution summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionSummary {
    /// Qualified names of the tools discovered for the request.
    pub tools: Vec<String>,
    /// Risk level of the program, if it was assessed.
    pub risk: Option<crate::security::RiskLevel>,
    /// Token economics.
    pub tokens: TokenEconomics,
    /// A one-line human summary (PII-tokenized).
    pub text: String,
}

/// Why an execution did not succeed, in a form the CLI maps to exit codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum ExecutionFailure {
    /// Discovery found nothing for the intent.
    NoTools,
    /// The program failed validation (does not parse, or a rule forbids it).
    InvalidProgram {
        /// What is wrong.
        message: String,
    },
    /// The program needs approval first.
    ApprovalRequired {
        /// The approval request id.
        approval_id: String,
    },
    /// The presented approval does not allow this run.
    ApprovalRefused {
        /// Why.
        message: String,
    },
    /// The audit log could not be written; nothing ran.
    AuditUnavailable {
        /// Why.
        message: String,
    },
    /// The audit log failed after the program was handed to the sandbox: the run stopped
    /// there. Tool calls made before were real and are recorded (each record is durable
    /// before its call); none was made without its record.
    AuditFailedAfterStart {
        /// Why.
        message: String,
    },
    /// The program ran and failed (non-zero exit, exception, limit hit).
    ProgramFailed {
        /// The error it reported (PII-tokenized).
        message: String,
    },
    /// A limit stopped the program.
    LimitExceeded {
        /// Which limit.
        limit: LimitKind,
    },
    /// An internal failure of a layer.
    Internal {
        /// What failed.
        message: String,
    },
    /// The request itself cannot be run as given (e.g. a limit override of 0); nothing ran.
    InvalidRequest {
        /// What is wrong and what to do.
        message: String,
    },
    /// The execution was cancelled (by its caller, or by a shutdown) before it finished; its
    /// records up to the cancellation, and the cancellation itself, are in the audit log.
    Cancelled {
        /// Who cancelled and how far the execution got.
        message: String,
    },
}

impl fmt::Display for ExecutionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutionFailure::NoTools => f.write_str("no relevant tools found for the request"),
            ExecutionFailure::InvalidProgram { message } => write!(f, "invalid program: {message}"),
            ExecutionFailure::ApprovalRequired { approval_id } => {
                write!(f, "approval required (request {approval_id})")
            }
            ExecutionFailure::ApprovalRefused { message } => {
                write!(f, "approval refused: {message}")
            }
            ExecutionFailure::AuditUnavailable { message } => {
                write!(f, "audit log unavailable, nothing ran: {message}")
            }
            ExecutionFailure::AuditFailedAfterStart { message } => write!(
                f,
                "the audit log failed after the program started; the run stopped (tool calls made before are recorded, none without its record): {message}"
            ),
            ExecutionFailure::ProgramFailed { message } => write!(f, "program failed: {message}"),
            ExecutionFailure::LimitExceeded { limit } => write!(f, "{limit} limit exceeded"),
            ExecutionFailure::Internal { message } => write!(f, "internal error: {message}"),
            ExecutionFailure::Cancelled { message } => write!(f, "cancelled: {message}"),
            ExecutionFailure::InvalidRequest { message } => write!(f, "invalid request: {message}"),
        }
    }
}

/// What `execute` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecutionOutcome {
    /// The execution's id (every audit record of it carries this id).
    pub execution_id: String,
    /// Whether the program ran and succeeded.
    pub success: bool,
    /// The program's result (PII-tokenized), or the typed API when no program was given.
    pub output: Value,
    /// The summary.
    pub summary: ExecutionSummary,
    /// Why it failed, when it did.
    pub error: Option<ExecutionFailure>,
    /// Measured resource use.
    pub metrics: ExecutionMetrics,
    /// Number of PII items tokenized in output and summary.
    pub pii_tokenized: u64,
    /// Served from the result cache.
    pub cached: bool,
}

impl ExecutionOutcome {
    /// A failed outcome with empty output and default metrics.
    pub fn failure(execution_id: impl Into<String>, error: ExecutionFailure) -> Self {
        ExecutionOutcome {
            execution_id: execution_id.into(),
            success: false,
            output: Value::Null,
            summary: ExecutionSummary::default(),
            error: Some(error),
            metrics: ExecutionMetrics::default(),
            pii_tokenized: 0,
            cached: false,
        }
    }

    /// A successful outcome with this output.
    pub fn success(execution_id: impl Into<String>, output: Value) -> Self {
        ExecutionOutcome {
            execution_id: execution_id.into(),
            success: true,
            output,
            summary: ExecutionSummary::default(),
            error: None,
            metrics: ExecutionMetrics::default(),
            pii_tokenized: 0,
            cached: false,
        }
    }
}
