//! `Orchestrator::execute`: the five phases, each audit record awaited until durable before
//! the next step, fail closed when the log cannot be written, an `error` record on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore, watch};

use codeward_core::{
    AnomalyDetector, ApiGenerator, ApprovalStore, AuditEvent, AuditKind, AuditReceipt, AuditSink,
    CodeValidator, Error, ExecutionFailure, ExecutionLimits, ExecutionMetrics,
    ExecutionObservation, ExecutionOutcome, ExecutionRequest, ExecutionSummary, ExitState,
    FindingCategory, GeneratedApi, Language, LimitKind, PiiRedactor, ResultCache, RiskAssessment,
    RiskAssessor, RiskLevel, Sandbox, SandboxJob, SandboxOutput, SearchQuery, Severity,
    TokenEconomics, ToolHit, ToolIndex, ToolInvoker, ToolSchema, ValidationReport, keys,
};

use crate::cache::{MokaCache, cache_key, cacheable};
use crate::observer::{AuditingObserver, now_ms};
use crate::recorder::Recorder;
use crate::workspace::{Workspace, WorkspaceManager, WorkspaceStats, WorkspaceStatus};

/// How a program hash binds an approval (`codeward_security::approval_code_hash`).
pub type CodeHashFn = fn(&str, Language, &[String]) -> String;

/// Extra metadata key: `api_only` for progressive-disclosure requests, `program` otherwise.
pub const MODE_KEY: &str = "mode";

/// Extra metadata key on the `execution` and `error` records of a cancelled execution: why it
/// was cancelled, `requested` (the caller's cancellation, see
/// [`Orchestrator::execute_cancellable`]) or `shutdown` (still running at
/// [`Orchestrator::shutdown`]'s deadline).
pub const CANCELLED_KEY: &str = "cancelled";

/// Why a tool named by a caller cannot be used ([`Orchestrator::served_tool`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolUnavailable {
    /// No tool of that qualified name in the catalogue.
    NotInCatalogue {
        /// The name asked for.
        name: String,
    },
    /// The catalogue has it, but no configured MCP server serves it.
    NotServed {
        /// The name asked for.
        name: String,
        /// The server the catalogue names for it.
        server: String,
    },
}

impl std::fmt::Display for ToolUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolUnavailable::NotInCatalogue { name } => {
                write!(f, "tool `{name}`, which is not in the catalogue")
            }
            ToolUnavailable::NotServed { name, server } => write!(
                f,
                "tool `{name}`, which cannot be called here: no configured MCP server `{server}` \
                 serves it"
            ),
        }
    }
}

/// How long [`Orchestrator::shutdown`] gives executions it cancelled at its deadline to stop
/// their programs and write their `execution` and `error` records.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// How long [`Orchestrator::shutdown`] waits for the audit log's flush: a sink that never
/// answers must not keep the process from exiting (the shutdown then fails, naming it).
pub const FLUSH_GRACE: Duration = Duration::from_secs(30);

pub(crate) struct Inner {
    pub index: Arc<dyn ToolIndex>,
    pub generator: Arc<dyn ApiGenerator>,
    pub validator: Arc<dyn CodeValidator>,
    pub assessor: Arc<dyn RiskAssessor>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub sandbox: Arc<dyn Sandbox>,
    pub invoker: Arc<dyn ToolInvoker>,
    pub redactor: Arc<dyn PiiRedactor>,
    pub anomaly: Arc<dyn AnomalyDetector>,
    pub cache: Option<Arc<dyn ResultCache>>,
    pub moka: Option<Arc<MokaCache>>,
    pub recorder: Recorder,
    pub workspaces: WorkspaceManager,
    pub limits: ExecutionLimits,
    pub min_score: f32,
    /// The servers the invoker can reach; `None`: every catalogue tool may be discovered.
    pub servers: Option<BTreeSet<String>>,
    pub code_hash: CodeHashFn,
    pub semaphore: Semaphore,
    pub accepting: AtomicBool,
    pub inflight: AtomicUsize,
    pub idle: Notify,
    /// Set by `shutdown` at its deadline: every execution still running is cancelled.
    pub cancel_all: watch::Sender<bool>,
    /// Executions cancelled because `shutdown` reached its deadline.
    pub cancelled_at_shutdown: AtomicUsize,
    pub anomalies: AtomicU64,
    /// Bumped when a run whose tools may change state starts and when it ends: cached
    /// results are keyed by the value they were made under (see `run`).
    pub writes: AtomicU64,
    pub all_tokens: Mutex<Option<(u64, u64)>>,
    /// Generated APIs by language, catalogue version and tool set.
    pub apis: moka::sync::Cache<String, GeneratedApi>,
}

/// The engine: wires the layers and runs requests through the five phases.
///
/// Cheap to clone. Built with [`crate::OrchestratorBuilder`].
#[derive(Clone)]
pub struct Orchestrator {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Counters for operators.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OrchestratorStats {
    /// Workspaces.
    pub workspaces: WorkspaceStats,
    /// Result-cache hits.
    pub cache_hits: u64,
    /// Result-cache misses.
    pub cache_misses: u64,
    /// Audit records written by this orchestrator, by `type/severity`.
    pub audit_records: BTreeMap<String, u64>,
    /// Tools in the catalogue.
    pub tools: usize,
    /// Anomalies detected.
    pub anomalies: u64,
    /// Executions running now.
    pub in_flight: usize,
}

/// Decrements the in-flight count even when `execute` is dropped mid-way.
struct InFlight<'a>(&'a Inner);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Why an execution was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    /// The caller's cancellation future completed.
    Requested,
    /// `shutdown` reached its deadline while the execution was running.
    Shutdown,
}

impl Cancel {
    fn as_str(self) -> &'static str {
        match self {
            Cancel::Requested => "requested",
            Cancel::Shutdown => "shutdown",
        }
    }

    /// The failure of a cancelled execution; `started`: the agent's program was handed to
    /// the sandbox (and has been killed).
    fn failure(self, started: bool) -> ExecutionFailure {
        let why = match self {
            Cancel::Requested => "the caller cancelled the request",
            Cancel::Shutdown => "codeward shut down before the execution finished",
        };
        let what = if started {
            "the program was stopped; tool calls it made before are recorded"
        } else {
            "the program did not run"
        };
        ExecutionFailure::Cancelled {
            message: format!("{why}; {what}"),
        }
    }
}

/// Resolves when the execution is cancelled; never, if it is not.
async fn cancelled(rx: &watch::Receiver<Option<Cancel>>) -> Cancel {
    let mut rx = rx.clone();
    let why = rx.wait_for(Option::is_some).await.map(|why| *why);
    match why {
        Ok(why) => why.unwrap_or(Cancel::Requested),
        // The sender lives as long as the execution: it cannot be cancelled any more.
        Err(_) => std::future::pending().await,
    }
}

/// Per-execution state threaded through the phases.
struct Ctx {
    id: String,
    principal: String,
    language: Language,
    tools: Vec<ToolSchema>,
    tool_names: Vec<String>,
    risk: Option<RiskLevel>,
    tokens: TokenEconomics,
    receipts: Mutex<Vec<AuditReceipt>>,
    /// Set once the program is handed to the sandbox: an audit failure from then on must not
    /// be reported as "nothing ran".
    started: std::sync::atomic::AtomicBool,
    /// What the sandbox measured, once it ran: a failed run reports it too.
    ran: Option<Ran>,
    /// Becomes `Some` when the execution is cancelled.
    cancel: watch::Receiver<Option<Cancel>>,
    /// Whether the outcome may be cached: no tool call failed or was refused, no limit hit.
    clean: bool,
}

/// What a sandbox run measured and what its outcome says about it, kept for failures.
struct Ran {
    metrics: ExecutionMetrics,
    pii_tokenized: u64,
    summary: String,
}

/// Why `run` stopped early.
enum Stop {
    /// Return this failure after writing an `error` record.
    Fail(ExecutionFailure, String),
    /// Return this failure without an `error` record (its own record was written).
    Quiet(ExecutionFailure),
    /// The audit log refused a record: nothing further may happen or be recorded.
    AuditDown(String),
    /// The execution was cancelled: an `error` record marked as such.
    Cancelled(Cancel),
}

fn audit_down(e: Error) -> Stop {
    Stop::AuditDown(e.to_string())
}

/// An error with its causes, `outer: inner: ...` (a layer error's own text names only the
/// layer).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Many errors already print their source; say each cause once.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn internal(what: &str, e: impl std::fmt::Display) -> Stop {
    let message = format!("{what}: {e}");
    Stop::Fail(
        ExecutionFailure::Internal {
            message: message.clone(),
        },
        message,
    )
}

/// `InvalidProgram` when `report` says the program does not parse.
fn syntax_failure(report: &ValidationReport) -> Option<Stop> {
    if !report.has_syntax_error() {
        return None;
    }
    let message = report
        .findings
        .iter()
        .find(|f| f.category == FindingCategory::Syntax)
        .map(|f| format!("{} at line {}, column {}", f.message, f.line, f.column))
        .unwrap_or_else(|| "the program does not parse".into());
    Some(Stop::Fail(
        ExecutionFailure::InvalidProgram {
            message: message.clone(),
        },
        message,
    ))
}

/// Why a run the sandbox completed did not succeed: the limit that stopped it, else what
/// the program said on stderr, else how it ended.
fn program_failure(out: &SandboxOutput) -> ExecutionFailure {
    let tail: String = out
        .stderr
        .chars()
        .rev()
        .take(2000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let tail = tail.trim();
    match out.metrics.limit_hit {
        // The output cap truncates but lets the program go on: when it then failed on its own
        // and said why, that is the story; the cap is mentioned.
        Some(LimitKind::Output) if !tail.is_empty() && out.metrics.exit != ExitState::Code(0) => {
            ExecutionFailure::ProgramFailed {
                message: format!("{tail}\n(the output limit was also hit: output was truncated)"),
            }
        }
        Some(limit) => ExecutionFailure::LimitExceeded { limit },
        None if tail.is_empty() => ExecutionFailure::ProgramFailed {
            message: how_it_ended(out.metrics.exit),
        },
        None => ExecutionFailure::ProgramFailed {
            message: tail.to_owned(),
        },
    }
}

/// How a failed program ended, for a failure whose stderr says nothing.
fn how_it_ended(exit: ExitState) -> String {
    match exit {
        ExitState::Code(code) => format!("exit status {code} (nothing on stderr)"),
        ExitState::Signal(signal) => format!("killed by signal {signal} (nothing on stderr)"),
        _ => "ended without an exit status (nothing on stderr)".to_owned(),
    }
}

fn new_execution_id() -> String {
    let mut rand = [0u8; 6];
    let _ = getrandom::fill(&mut rand);
    format!("ex-{:011x}-{}", now_ms(), hex::encode(rand))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn risk_severity(level: RiskLevel) -> Severity {
    match level {
        RiskLevel::Low | RiskLevel::Medium => Severity::Info,
        RiskLevel::High => Severity::Warning,
        RiskLevel::Critical => Severity::Critical,
    }
}

impl Orchestrator {
    /// Runs one request through every phase. Returns only after every audit record it
    /// produced is durable; failures are in `outcome.error`, never silently dropped.
    ///
    /// Dropping the returned future abandons the execution without its closing records;
    /// to stop one, use [`Orchestrator::execute_cancellable`].
    pub async fn execute(&self, request: ExecutionRequest) -> ExecutionOutcome {
        self.execute_cancellable(request, std::future::pending())
            .await
    }

    /// [`Orchestrator::execute`], cancelled when `cancel` completes first (e.g. an MCP
    /// client's `notifications/cancelled`). A cancelled execution stops at the next phase; a
    /// program already in the sandbox is killed (its tool calls in flight are dropped). It
    /// still ends like any failed one: an `execution` record once it started, then an `error`
    /// record, both marked [`CANCELLED_KEY`] and durable before this returns; the outcome's
    /// error is [`ExecutionFailure::Cancelled`]. Once the program has
    /// finished, results are handled and recorded as usual whatever `cancel` does.
    pub async fn execute_cancellable<F>(
        &self,
        request: ExecutionRequest,
        cancel: F,
    ) -> ExecutionOutcome
    where
        F: Future<Output = ()> + Send,
    {
        let inner = &*self.inner;
        let id = new_execution_id();
        if !inner.accepting.load(Ordering::SeqCst) {
            let message = "the orchestrator is shutting down; retry on another instance".to_owned();
            return ExecutionOutcome::failure(id, ExecutionFailure::Internal { message });
        }
        inner.inflight.fetch_add(1, Ordering::SeqCst);
        let _inflight = InFlight(inner);
        let (cancel_tx, cancel_rx) = watch::channel(None);
        let mut shutdown = inner.cancel_all.subscribe();
        // Turns the caller's cancellation or shutdown's into the execution's (the phases look
        // at `ctx.cancel`); polled before `run` each time, so a cancellation that happened
        // before the execution began is seen at its first step.
        let watcher = async move {
            let why = tokio::select! {
                biased;
                () = cancel => Cancel::Requested,
                Ok(_) = shutdown.wait_for(|all| *all) => Cancel::Shutdown,
            };
            cancel_tx.send_replace(Some(why));
            std::future::pending::<std::convert::Infallible>().await
        };
        let mut ctx = Ctx {
            id: id.clone(),
            principal: request.principal.clone(),
            language: request.language,
            tools: Vec::new(),
            tool_names: Vec::new(),
            risk: None,
            tokens: TokenEconomics::default(),
            receipts: Mutex::new(Vec::new()),
            started: Default::default(),
            ran: None,
            cancel: cancel_rx,
            clean: false,
        };
        let mut workspace = match inner.workspaces.open(&id) {
            Ok(ws) => Some(ws),
            Err(e) => {
                tracing::warn!(error = %e, "cannot create the execution workspace");
                None
            }
        };
        let result = match workspace {
            Some(_) => {
                tokio::select! {
                    biased;
                    never = watcher => match never {},
                    result = self.run(&mut ctx, &request, &mut workspace) => result,
                }
            }
            None => Err(internal(
                "creating the execution workspace",
                "I/O error (see the log)",
            )),
        };
        if let Err(Stop::Cancelled(Cancel::Shutdown)) = &result {
            inner.cancelled_at_shutdown.fetch_add(1, Ordering::SeqCst);
        }
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(stop) => self.stop(&ctx, stop).await,
        };
        if let Some(ws) = workspace.as_mut() {
            ws.set_status(if outcome.success {
                WorkspaceStatus::Completed
            } else {
                WorkspaceStatus::Failed
            });
        }
        outcome
    }

    /// Whether `outcome` is that of a cancelled execution (see
    /// [`Orchestrator::execute_cancellable`]).
    pub fn was_cancelled(outcome: &ExecutionOutcome) -> bool {
        matches!(&outcome.error, Some(ExecutionFailure::Cancelled { .. }))
    }

    /// The failure for an audit log that refused a record: "nothing ran" only before the
    /// program started; after that, tool calls already made (each recorded first) happened.
    fn audit_down(ctx: &Ctx, message: String) -> ExecutionFailure {
        if ctx.started.load(std::sync::atomic::Ordering::SeqCst) {
            ExecutionFailure::AuditFailedAfterStart { message }
        } else {
            ExecutionFailure::AuditUnavailable { message }
        }
    }

    async fn stop(&self, ctx: &Ctx, stop: Stop) -> ExecutionOutcome {
        let (failure, detail, cancelled) = match stop {
            Stop::Fail(failure, detail) => (failure, detail, None),
            Stop::Cancelled(why) => {
                let failure = why.failure(ctx.started.load(Ordering::SeqCst));
                let detail = failure.to_string();
                (failure, detail, Some(why))
            }
            Stop::Quiet(failure) => return self.failed(ctx, failure),
            Stop::AuditDown(message) => return self.failed(ctx, Self::audit_down(ctx, message)),
        };
        let mut event = self
            .event(
                ctx,
                AuditKind::Error,
                Severity::Error,
                format!("execution failed: {failure}"),
            )
            .meta(
                "failure",
                serde_json::to_value(&failure).unwrap_or(Value::Null),
            )
            .meta("detail", detail);
        if let Some(why) = cancelled {
            event = event.meta(CANCELLED_KEY, why.as_str());
        }
        let failure = match self.write(ctx, event).await {
            Err(Stop::AuditDown(message)) => Self::audit_down(ctx, message),
            _ => failure,
        };
        self.failed(ctx, failure)
    }

    /// The outcome of a failed execution, with what the sandbox measured if the program ran.
    fn failed(&self, ctx: &Ctx, failure: ExecutionFailure) -> ExecutionOutcome {
        let mut outcome = ExecutionOutcome::failure(ctx.id.clone(), failure);
        match &ctx.ran {
            // The program ran: its measurements (exit, limit hit, times) are part of the answer.
            Some(ran) => {
                outcome.metrics = ran.metrics.clone();
                outcome.pii_tokenized = ran.pii_tokenized;
                outcome.summary = self.summary(ctx, ran.summary.clone());
            }
            None => outcome.summary = self.summary(ctx, String::new()),
        }
        outcome
    }

    /// Records `event` and waits until it is durable; keeps the receipt with the execution.
    async fn write(&self, ctx: &Ctx, event: AuditEvent) -> Result<(), Stop> {
        let receipt = self
            .inner
            .recorder
            .record(event)
            .await
            .map_err(audit_down)?;
        tracing::debug!(execution = %ctx.id, seq = receipt.seq, "audit record durable");
        if let Ok(mut r) = ctx.receipts.lock() {
            r.push(receipt);
        }
        Ok(())
    }

    fn event(
        &self,
        ctx: &Ctx,
        kind: AuditKind,
        severity: Severity,
        message: impl Into<String>,
    ) -> AuditEvent {
        AuditEvent::new(kind, severity, message)
            .execution(ctx.id.clone())
            .principal(ctx.principal.clone())
    }

    fn summary(&self, ctx: &Ctx, text: String) -> ExecutionSummary {
        ExecutionSummary {
            tools: ctx.tool_names.clone(),
            risk: ctx.risk,
            tokens: ctx.tokens.clone(),
            text,
        }
    }

    async fn run(
        &self,
        ctx: &mut Ctx,
        request: &ExecutionRequest,
        workspace: &mut Option<Workspace>,
    ) -> Result<ExecutionOutcome, Stop> {
        let inner = &*self.inner;
        Self::check_cancel(ctx)?;
        if let Some(field) = request.limits.zero_limit() {
            let message = format!(
                "the limit override `{field}` is 0, which would stop every program as it \
                 starts; give a positive value or leave it unset (only `max_tool_calls` may \
                 be 0: no tool calls)"
            );
            return Err(Stop::Fail(
                ExecutionFailure::InvalidRequest {
                    message: message.clone(),
                },
                message,
            ));
        }

        // Phase 1: discovery. A run under an approval gets the tool set that was approved
        // (the approval's hash binds it), not a fresh search that may rank differently.
        let approved = match &request.approval_id {
            Some(id) => self.approved_tools(id).await,
            None => None,
        };
        let chosen = approved.is_none() && !request.tools.is_empty();
        let hits = match approved {
            Some(hits) => hits,
            None if chosen => self.chosen_tools(&request.tools)?,
            None => {
                let mut query = SearchQuery::new(request.intent.clone(), request.tool_limit.max(1));
                query.min_score = inner.min_score;
                self.discover(&query)
                    .map_err(|e| internal("discovery failed", e))?
            }
        };
        ctx.tools = hits.iter().map(|h| h.tool.clone()).collect();
        ctx.tool_names = ctx.tools.iter().map(ToolSchema::qualified_name).collect();
        let found: Vec<Value> = hits
            .iter()
            .map(|h| json!({"tool": h.tool.qualified_name(), "score": h.score}))
            .collect();
        let event = self
            .event(
                ctx,
                AuditKind::Discovery,
                Severity::Info,
                if chosen {
                    format!("{} tool(s) chosen by the caller", hits.len())
                } else {
                    format!("discovered {} tool(s)", hits.len())
                },
            )
            .sensitive("query", request.intent.clone())
            .meta("tools", found)
            .meta("language", ctx.language.as_str());
        self.write(ctx, event).await?;
        if hits.is_empty() {
            // A program that does not parse matches no tool by its text (serve discovers by
            // the code when there is no intent): say it is invalid, not that tools are missing.
            if let Some(program) = &request.program {
                let (report, risk) = self.check(ctx, program, None).await?;
                if let Some(stop) = syntax_failure(&report) {
                    ctx.risk = Some(risk.level);
                    self.record_validation(ctx, &report, &risk).await?;
                    return Err(stop);
                }
            }
            return Err(Stop::Fail(
                ExecutionFailure::NoTools,
                "discovery found no tool for the request".into(),
            ));
        }

        // Phase 2: the typed API (the same tool set recurs constantly: generated once per
        // catalogue version).
        let api_key = format!("{}|{}|{}", ctx.language, inner.index.version(), {
            let mut names = ctx.tool_names.clone();
            names.sort();
            names.join(",")
        });
        let api = match inner.apis.get(&api_key) {
            Some(api) => api,
            None => {
                let api = inner
                    .generator
                    .generate(&ctx.tools, ctx.language)
                    .map_err(|e| internal("API generation failed", e))?;
                inner.apis.insert(api_key, api.clone());
                api
            }
        };
        ctx.tokens = TokenEconomics {
            // What the model reads first (progressive disclosure): the signatures.
            api_tokens: api.summary_tokens,
            all_definitions_tokens: self.all_definition_tokens(),
            output_tokens: 0,
        };

        let Some(program) = request.program.clone() else {
            return self.api_only(ctx, request, api, workspace).await;
        };

        // Phase 3: validation, risk, the approval gate.
        let (report, risk) = self.check(ctx, &program, Some(&api)).await?;
        ctx.risk = Some(risk.level);
        self.record_validation(ctx, &report, &risk).await?;
        if let Some(stop) = syntax_failure(&report) {
            return Err(stop);
        }
        Self::check_cancel(ctx)?;
        if risk.requires_approval() {
            self.approval_gate(ctx, request, &program, &risk).await?;
        }

        // Cache: same program, language, tools and catalogue version, made since the last
        // write. A run whose tools may change state (any tool not read-only) moves the write
        // generation on when it starts and when it ends, so a read cached before it is not
        // served after it (notes_list after notes_add), and a read that overlapped it is not
        // kept. Only writes made through this orchestrator are seen; the TTL bounds the rest.
        let generation = inner.writes.load(Ordering::SeqCst);
        let key = format!(
            "{}@{generation}",
            cache_key(
                &program,
                ctx.language,
                &ctx.tool_names,
                inner.index.version(),
            )
        );
        let may_write = !ctx.tools.iter().all(|t| t.annotations.is_read_only());
        let use_cache = inner.cache.is_some() && cacheable(&ctx.tools);
        if use_cache && let Some(mut hit) = inner.cache.as_ref().and_then(|c| c.get(&key)) {
            let event = self
                .event(
                    ctx,
                    AuditKind::Execution,
                    Severity::Info,
                    "execution served from cache",
                )
                .meta(keys::SUCCESS, true)
                .meta(keys::CACHED, true)
                .meta(keys::PII_TOKENIZED, 0)
                .meta("cache_key", key.clone())
                .meta("original_execution_id", hit.execution_id.clone());
            self.write(ctx, event).await?;
            hit.execution_id = ctx.id.clone();
            hit.cached = true;
            return Ok(hit);
        }

        // Phase 4: the sandbox.
        if may_write {
            inner.writes.fetch_add(1, Ordering::SeqCst);
        }
        let outcome = self
            .sandboxed(ctx, request, program, Some(api), workspace, false)
            .await;
        if may_write {
            inner.writes.fetch_add(1, Ordering::SeqCst);
        }
        let outcome = outcome?;
        // Only a clean run: a failed tool call the program caught, or a refused one, may be
        // transient, and a limit may have cut the answer short.
        if use_cache
            && outcome.success
            && ctx.clean
            && inner.writes.load(Ordering::SeqCst) == generation
            && let Some(cache) = &inner.cache
        {
            cache.insert(key, outcome.clone());
        }
        Ok(outcome)
    }

    /// `Stop::Cancelled` once the execution is cancelled.
    fn check_cancel(ctx: &Ctx) -> Result<(), Stop> {
        match *ctx.cancel.borrow() {
            Some(why) => Err(Stop::Cancelled(why)),
            None => Ok(()),
        }
    }

    /// Validates and scores `program` (against `api`'s bindings when given) on the blocking
    /// pool: both walk the whole program, which for a large one would stall every other task
    /// on this worker. A cancellation stops the wait.
    async fn check(
        &self,
        ctx: &Ctx,
        program: &str,
        api: Option<&GeneratedApi>,
    ) -> Result<(ValidationReport, RiskAssessment), Stop> {
        let validator = self.inner.validator.clone();
        let assessor = self.inner.assessor.clone();
        let language = ctx.language;
        let program = program.to_owned();
        let api = api.cloned();
        let tools = ctx.tools.clone();
        let work = tokio::task::spawn_blocking(move || {
            let report = match &api {
                Some(api) => validator.validate_for_api(&program, api, &tools),
                None => validator.validate(&program, language, &tools),
            }?;
            let risk = assessor.assess(&program, language, &report, &tools);
            Ok::<_, Error>((report, risk))
        });
        let checked = tokio::select! {
            biased;
            why = cancelled(&ctx.cancel) => return Err(Stop::Cancelled(why)),
            checked = work => checked,
        };
        checked
            .map_err(|e| internal("the validator failed", e))?
            .map_err(|e| internal("the validator failed", e))
    }

    async fn record_validation(
        &self,
        ctx: &Ctx,
        report: &ValidationReport,
        risk: &RiskAssessment,
    ) -> Result<(), Stop> {
        let findings: Vec<Value> = report
            .findings
            .iter()
            .map(|f| json!({"rule": f.rule_id, "severity": f.severity, "line": f.line, "column": f.column, "category": f.category}))
            .collect();
        let event = self
            .event(
                ctx,
                AuditKind::Security,
                risk_severity(risk.level),
                format!("program validated: {} risk ({})", risk.level, risk.score),
            )
            .meta(keys::CATEGORY, "validation")
            .meta(keys::RISK_LEVEL, risk.level.as_str())
            .meta(keys::RISK_SCORE, risk.score)
            .meta("findings", findings)
            .meta("tools_used", report.tools_used.clone())
            .meta("rules_version", report.rules_version.clone());
        self.write(ctx, event).await?;
        Ok(())
    }

    async fn approval_gate(
        &self,
        ctx: &Ctx,
        request: &ExecutionRequest,
        program: &str,
        risk: &RiskAssessment,
    ) -> Result<(), Stop> {
        let inner = &*self.inner;
        let code_hash = (inner.code_hash)(program, ctx.language, &ctx.tool_names);
        match &request.approval_id {
            // An approval is bound to the principal that requested it: the operator approved
            // that principal's run of the program, not anyone's.
            Some(approval_id) => match inner
                .approvals
                .authorize(approval_id, &code_hash)
                .await
                .and_then(|ticket| {
                    if ticket.request.principal == ctx.principal {
                        Ok(ticket)
                    } else {
                        Err(Error::ApprovalRefused {
                            approval_id: approval_id.clone(),
                            reason: "it was approved for another principal; run it as the \
                                     principal that requested it, or run without the approval \
                                     to file a request of your own"
                                .into(),
                        })
                    }
                }) {
                // The store could not answer (locked, unreadable, corrupt): not a refusal.
                Err(e)
                    if !matches!(
                        e,
                        Error::ApprovalRefused { .. } | Error::AuditUnavailable { .. }
                    ) =>
                {
                    Err(internal("checking the approval", error_chain(&e)))
                }
                Ok(_ticket) => {
                    let event = self
                        .event(
                            ctx,
                            AuditKind::Approval,
                            Severity::Info,
                            format!("approval {approval_id} used"),
                        )
                        .meta(keys::DECISION, "used")
                        .meta(keys::APPROVAL_ID, approval_id.clone());
                    self.write(ctx, event).await?;
                    Ok(())
                }
                Err(Error::AuditUnavailable { reason, .. }) => Err(Stop::AuditDown(reason)),
                Err(e) => {
                    let message = e.to_string();
                    let event = self
                        .event(
                            ctx,
                            AuditKind::Approval,
                            Severity::Warning,
                            format!("approval {approval_id} refused"),
                        )
                        .meta(keys::DECISION, "refused")
                        .meta(keys::APPROVAL_ID, approval_id.clone())
                        .meta("reason", message.clone());
                    self.write(ctx, event).await?;
                    Err(Stop::Quiet(ExecutionFailure::ApprovalRefused { message }))
                }
            },
            None => {
                let request = codeward_core::ApprovalRequest::new(
                    ctx.id.clone(),
                    ctx.principal.clone(),
                    code_hash,
                    ctx.tool_names.clone(),
                    risk.clone(),
                )
                .with_program(ctx.language, program);
                // The store records the `approval` event itself (awaited) before answering.
                match inner.approvals.request(request).await {
                    Ok(ticket) => Err(Stop::Quiet(ExecutionFailure::ApprovalRequired {
                        approval_id: ticket.id,
                    })),
                    Err(Error::AuditUnavailable { reason, .. }) => Err(Stop::AuditDown(reason)),
                    Err(e) => Err(internal("filing the approval request", error_chain(&e))),
                }
            }
        }
    }

    /// Progressive disclosure: no program, so return the typed API after checking inside the
    /// sandbox that the generated module loads.
    async fn api_only(
        &self,
        ctx: &mut Ctx,
        request: &ExecutionRequest,
        api: GeneratedApi,
        workspace: &mut Option<Workspace>,
    ) -> Result<ExecutionOutcome, Stop> {
        let loader = match ctx.language {
            Language::Python => "import codeward_api  # noqa: F401\n".to_owned(),
            _ => "import * as api from \"./codeward_api\";\nvoid api;\n".to_owned(),
        };
        let mut outcome = match self
            .sandboxed(ctx, request, loader, Some(api.clone()), workspace, true)
            .await
        {
            Ok(outcome) => outcome,
            // Only the generated module ran: its failure is ours, not a program's.
            Err(Stop::Fail(failure, detail)) => {
                let message = format!("the generated API did not load in the sandbox: {failure}");
                return Err(Stop::Fail(
                    ExecutionFailure::Internal {
                        message: message.clone(),
                    },
                    format!("{message}; {detail}"),
                ));
            }
            Err(other) => return Err(other),
        };
        outcome.output = json!({
            "language": api.language,
            "tools": ctx.tool_names,
            "summary": api.summary,
            "module": api.module,
            "summary_tokens": api.summary_tokens,
            "module_tokens": api.module_tokens,
            "warnings": api.warnings,
        });
        Ok(outcome)
    }

    async fn sandboxed(
        &self,
        ctx: &mut Ctx,
        request: &ExecutionRequest,
        program: String,
        api: Option<GeneratedApi>,
        workspace: &mut Option<Workspace>,
        api_only: bool,
    ) -> Result<ExecutionOutcome, Stop> {
        let inner = &*self.inner;
        let limits = inner.limits.with_overrides(&request.limits);
        let mode = if api_only { "api_only" } else { "program" };
        // A cancellation while queued for a slot ends the wait.
        let _permit = tokio::select! {
            biased;
            why = cancelled(&ctx.cancel) => return Err(Stop::Cancelled(why)),
            permit = inner.semaphore.acquire() => {
                permit.map_err(|e| internal("the execution queue is closed", e))?
            }
        };

        // Durable BEFORE the child starts: if this fails, nothing runs.
        let event = self
            .event(
                ctx,
                AuditKind::ExecutionStarted,
                Severity::Info,
                "execution starting",
            )
            .meta(MODE_KEY, mode)
            .meta("language", ctx.language.as_str())
            .meta("tools", ctx.tool_names.clone())
            .meta("program_sha256", sha256_hex(&program))
            .meta(
                "api_sha256",
                api.as_ref()
                    .map(|a| sha256_hex(&a.module))
                    .unwrap_or_default(),
            )
            .meta("timeout_ms", limits.timeout.as_millis() as u64);
        self.write(ctx, event).await?;
        if let Some(ws) = workspace.as_mut() {
            ws.set_status(WorkspaceStatus::Running);
        }

        let observer = Arc::new(AuditingObserver::new(
            inner.recorder.clone(),
            inner.anomaly.clone(),
            &ctx.id,
            &ctx.principal,
        ));
        let mut job = SandboxJob::new(
            ctx.id.clone(),
            ctx.language,
            program,
            limits.clone(),
            inner.invoker.clone(),
            observer.clone(),
        );
        job.api = api;
        job.tools = ctx.tools.clone();
        // The sandbox enforces the timeout; this outer bound only guards against a stuck sandbox.
        let guard = limits.timeout + Duration::from_secs(30);
        // Loading only the generated API runs none of the agent's code and calls no tool.
        if !api_only {
            ctx.started.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        // A cancellation drops the run, which kills the program (and its tool calls in
        // flight); it is then recorded like any run that ended without an answer.
        let started_at = tokio::time::Instant::now();
        let ran = tokio::select! {
            biased;
            why = cancelled(&ctx.cancel) => Err(why),
            ran = tokio::time::timeout(guard, inner.sandbox.run(job)) => Ok(ran),
        };

        let mut cancelled_by = None;
        let (output, failure) = match ran {
            Err(why) => {
                cancelled_by = Some(why);
                (None, Some(why.failure(!api_only)))
            }
            Ok(Err(_)) => (
                None,
                Some(ExecutionFailure::LimitExceeded {
                    limit: LimitKind::Timeout,
                }),
            ),
            Ok(Ok(Err(Error::AuditUnavailable { reason, .. }))) => {
                return Err(Stop::AuditDown(reason));
            }
            Ok(Ok(Err(e))) => (
                None,
                Some(ExecutionFailure::Internal {
                    // A layer error's own text names only the layer: say the cause too.
                    message: format!("the sandbox failed: {}", error_chain(&e)),
                }),
            ),
            Ok(Ok(Ok(out))) => {
                let failure = (!out.success).then(|| program_failure(&out));
                (Some(out), failure)
            }
        };
        let mut metrics = output
            .as_ref()
            .map(|o| o.metrics.clone())
            .unwrap_or_default();
        metrics.tool_calls = metrics
            .tool_calls
            .max(observer.calls.load(Ordering::Relaxed));
        if cancelled_by.is_some() {
            metrics.wall_time = started_at.elapsed();
        }
        if output.is_some() || cancelled_by.is_some() {
            ctx.ran = Some(Ran {
                metrics: metrics.clone(),
                pii_tokenized: 0,
                summary: String::new(),
            });
        }
        // A record the log refused during the run (the program may have caught the refused
        // call and succeeded): the run is not a success, whatever the program says.
        if let Some(reason) = observer.audit_failure() {
            let message = format!("audit log unavailable: {reason}");
            return Err(Stop::Fail(
                ExecutionFailure::AuditFailedAfterStart {
                    message: message.clone(),
                },
                message,
            ));
        }
        let success = output.is_some() && failure.is_none();
        ctx.clean = success
            && metrics.limit_hit.is_none()
            && observer.errors.load(Ordering::Relaxed) == 0
            && observer.refused.load(Ordering::Relaxed) == 0;

        // Phase 5a: tokenize what goes back to the model (before it is counted in the record).
        let mut value = match &output {
            Some(o) => o
                .result
                .clone()
                .unwrap_or_else(|| Value::String(o.stdout.clone())),
            None => Value::Null,
        };
        let mut pii = inner.redactor.tokenize(&mut value, &ctx.id);
        let mut failure = failure;
        if let Some(ExecutionFailure::ProgramFailed { message }) = &mut failure {
            let mut v = Value::String(std::mem::take(message));
            pii.merge(&inner.redactor.tokenize(&mut v, &ctx.id));
            *message = v.as_str().unwrap_or_default().to_owned();
        }
        let mut summary_text = Value::String(format!(
            "{} {} with {} tool call(s) in {:.0} ms",
            ctx.language,
            if success {
                "program succeeded"
            } else if cancelled_by.is_some() {
                "program cancelled"
            } else {
                "program failed"
            },
            metrics.tool_calls,
            metrics.wall_time.as_secs_f64() * 1000.0
        ));
        pii.merge(&inner.redactor.tokenize(&mut summary_text, &ctx.id));
        // The last tokenize of this execution: its token table is not needed any more.
        inner.redactor.end_scope(&ctx.id);
        ctx.tokens.output_tokens = inner.generator.count_tokens(&value.to_string());
        if let Some(ran) = ctx.ran.as_mut() {
            ran.pii_tokenized = pii.total();
            ran.summary = summary_text.as_str().unwrap_or_default().to_owned();
        }

        // Phase 4 record: the execution, with what anomaly replay needs.
        let mut tools_sorted = ctx.tool_names.clone();
        tools_sorted.sort();
        let observation = ExecutionObservation {
            execution_id: ctx.id.clone(),
            principal: ctx.principal.clone(),
            language: ctx.language,
            tools: tools_sorted,
            success,
            wall_time: metrics.wall_time,
            cpu_time: metrics.cpu_time(),
            peak_memory_bytes: metrics.peak_memory_bytes,
            // Refusals and critical anomalies of its tool calls. Not the run's own critical
            // risk assessment: a program an operator approved would trip the check every time.
            critical_events: observer.critical.load(Ordering::Relaxed),
            timestamp_ms: now_ms(),
        };
        let mut event = codeward_anomaly::execution_event(&observation);
        event.message = if success {
            "execution finished".into()
        } else if cancelled_by.is_some() {
            "execution cancelled".into()
        } else {
            "execution failed".into()
        };
        if let Some(why) = cancelled_by {
            event = event.meta(CANCELLED_KEY, why.as_str());
        }
        let event = event
            .meta(keys::SUCCESS, success)
            .meta(keys::CACHED, false)
            .meta(keys::PII_TOKENIZED, pii.total())
            .meta(
                keys::LIMIT_HIT,
                metrics
                    .limit_hit
                    .map(|l| Value::String(l.to_string()))
                    .unwrap_or(Value::Null),
            )
            .meta(MODE_KEY, mode)
            .meta("tool_calls", metrics.tool_calls)
            .meta("tool_errors", observer.errors.load(Ordering::Relaxed))
            .meta(
                "response_bytes",
                observer.response_bytes.load(Ordering::Relaxed),
            )
            .meta(
                "exit",
                serde_json::to_value(metrics.exit).unwrap_or(Value::Null),
            )
            .meta("output_bytes", metrics.output_bytes)
            .meta(
                "isolation",
                output
                    .as_ref()
                    .map(|o| o.isolation.clone())
                    .unwrap_or_default(),
            );
        self.write(ctx, event).await?;

        // Phase 5b: anomalies.
        let report = inner.anomaly.observe_execution(&observation);
        let mut anomalies = observer
            .anomalies
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        anomalies.extend(report.anomalies.iter().cloned());
        if report.detected() {
            inner
                .anomalies
                .fetch_add(report.anomalies.len() as u64, Ordering::Relaxed);
            let event = self
                .event(
                    ctx,
                    AuditKind::Security,
                    // Warning at least, critical when an anomaly is.
                    risk_severity(report.risk).max(Severity::Warning),
                    format!(
                        "{} anomal(ies) detected in execution",
                        report.anomalies.len()
                    ),
                )
                .meta(keys::CATEGORY, "anomaly")
                .meta("risk", report.risk.as_str())
                .meta(
                    "anomalies",
                    serde_json::to_value(&report.anomalies).unwrap_or(Value::Null),
                );
            self.write(ctx, event).await?;
        }

        if let Some(why) = cancelled_by {
            return Err(Stop::Cancelled(why));
        }
        if let Some(failure) = failure {
            let detail = failure.to_string();
            return Err(Stop::Fail(failure, detail));
        }
        let text = summary_text.as_str().unwrap_or_default().to_owned();
        let mut outcome = ExecutionOutcome::success(ctx.id.clone(), value);
        outcome.metrics = metrics;
        outcome.pii_tokenized = pii.total();
        outcome.summary = self.summary(ctx, text);
        Ok(outcome)
    }

    /// Discovery as `execute` does it: the index's hits for `query`, restricted to tools whose
    /// server is one of [`OrchestratorBuilder::servers`](crate::OrchestratorBuilder::servers)
    /// when they were given (a tool nothing can serve would only fail when called). Ranked
    /// like the index ranks: by score, then by qualified name.
    pub fn discover(&self, query: &SearchQuery) -> Result<Vec<ToolHit>, Error> {
        let inner = &*self.inner;
        let Some(servers) = &inner.servers else {
            return inner.index.search(query);
        };
        // One query per server with the index's own server filter (scores of one query text
        // are comparable across them), so a catalogue crowded with other servers' tools
        // still yields `limit` hits from the configured ones.
        let mut hits = Vec::new();
        for server in servers {
            if query.server.as_ref().is_some_and(|only| only != server) {
                continue;
            }
            let mut one = query.clone();
            one.server = Some(server.clone());
            hits.extend(
                inner
                    .index
                    .search(&one)?
                    .into_iter()
                    .filter(|h| h.tool.server.as_deref() == Some(server.as_str())),
            );
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.tool.qualified_name().cmp(&b.tool.qualified_name()))
        });
        hits.truncate(query.limit);
        Ok(hits)
    }

    /// The tools approval `id` was granted for, when every one of them is still in the
    /// catalogue and served; otherwise `None` (discovery runs, and the gate judges the result).
    async fn approved_tools(&self, id: &str) -> Option<Vec<ToolHit>> {
        let ticket = self.inner.approvals.get(id).await.ok()??;
        let tools = ticket
            .request
            .tools
            .iter()
            .map(|name| self.served_tool(name).ok())
            .collect::<Option<Vec<ToolSchema>>>()?;
        (!tools.is_empty()).then(|| {
            tools
                .into_iter()
                .map(|t| ToolHit::new(t, 1.0, vec!["approval".into()]))
                .collect()
        })
    }

    /// The tools a request names instead of discovery, each in the catalogue and served.
    fn chosen_tools(&self, names: &[String]) -> Result<Vec<ToolHit>, Stop> {
        names
            .iter()
            .map(|name| {
                self.served_tool(name)
                    .map(|tool| ToolHit::new(tool, 1.0, vec!["chosen".into()]))
                    .map_err(|e| {
                        Stop::Fail(ExecutionFailure::NoTools, format!("the request names {e}"))
                    })
            })
            .collect()
    }

    /// The catalogue's tool `name` if a configured server serves it, else why not: what a
    /// caller naming tools (an approval, a request, `codeward serve`) may use.
    pub fn served_tool(&self, name: &str) -> Result<ToolSchema, ToolUnavailable> {
        match self.inner.index.get(name) {
            Some(tool) if self.serves(&tool) => Ok(tool),
            Some(tool) => Err(ToolUnavailable::NotServed {
                name: name.to_owned(),
                server: tool.server.unwrap_or_default(),
            }),
            None => Err(ToolUnavailable::NotInCatalogue {
                name: name.to_owned(),
            }),
        }
    }

    /// Whether a configured server serves `tool` (always true when the builder was not told
    /// which servers exist).
    pub fn serves(&self, tool: &ToolSchema) -> bool {
        match &self.inner.servers {
            None => true,
            Some(servers) => tool
                .server
                .as_ref()
                .is_some_and(|server| servers.contains(server)),
        }
    }

    fn all_definition_tokens(&self) -> u64 {
        let inner = &*self.inner;
        let version = inner.index.version();
        if let Ok(cached) = inner.all_tokens.lock()
            && let Some((v, tokens)) = *cached
            && v == version
        {
            return tokens;
        }
        // What a model receives without codeward: every definition, as MCP tools/list sends it.
        let all: Vec<Value> = inner
            .index
            .all()
            .iter()
            .map(|t| json!({"name": t.qualified_name(), "description": t.description, "inputSchema": t.input_schema}))
            .collect();
        let tokens = inner
            .generator
            .count_tokens(&json!({"tools": all}).to_string());
        if let Ok(mut cached) = inner.all_tokens.lock() {
            *cached = Some((version, tokens));
        }
        tokens
    }

    /// Counters for operators.
    pub fn stats(&self) -> OrchestratorStats {
        let inner = &*self.inner;
        let (cache_hits, cache_misses) =
            inner.moka.as_ref().map(|m| m.counts()).unwrap_or_default();
        OrchestratorStats {
            workspaces: inner.workspaces.stats(),
            cache_hits,
            cache_misses,
            audit_records: inner
                .recorder
                .counts()
                .into_iter()
                .map(|((k, s), n)| (format!("{k}/{s}"), n))
                .collect(),
            tools: inner.index.len(),
            anomalies: inner.anomalies.load(Ordering::Relaxed),
            in_flight: inner.inflight.load(Ordering::SeqCst),
        }
    }

    /// The audit sink every record goes to.
    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        self.inner.recorder.sink()
    }

    /// The tool index.
    pub fn index(&self) -> &Arc<dyn ToolIndex> {
        &self.inner.index
    }

    /// The API generator.
    pub fn generator(&self) -> &Arc<dyn ApiGenerator> {
        &self.inner.generator
    }

    /// The approval store.
    pub fn approvals(&self) -> &Arc<dyn ApprovalStore> {
        &self.inner.approvals
    }

    /// Runs `cleanup_stale_workspaces(stale_after)` every `interval` until shutdown (for
    /// long-running fronts such as `codeward serve`).
    pub fn spawn_janitor(
        &self,
        interval: Duration,
        stale_after: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if !inner.accepting.load(Ordering::SeqCst) {
                    return;
                }
                let removed = inner.workspaces.cleanup_stale(stale_after);
                if removed > 0 {
                    tracing::info!(removed, "removed stale execution workspaces");
                }
            }
        })
    }

    /// Removes stale workspaces left by crashed processes; returns how many.
    pub fn cleanup_stale_workspaces(&self, stale_after: Duration) -> u64 {
        self.inner.workspaces.cleanup_stale(stale_after)
    }

    /// Stops accepting work and waits up to `deadline` for in-flight executions to finish.
    /// Those still running then are cancelled (their programs killed, their `execution` and
    /// `error` records marked [`CANCELLED_KEY`] `shutdown`), and given [`CANCEL_GRACE`] to
    /// write them. Then it removes leftover workspaces and flushes the audit log (waiting at
    /// most [`FLUSH_GRACE`]).
    ///
    /// Returns how many executions it had to cancel (0 when all finished in time). An error
    /// when the log cannot be flushed (or does not answer within the grace), or when an execution could not write its closing
    /// records within the grace (a hung audit sink): its `execution_started` then has no
    /// completion.
    pub async fn shutdown(&self, deadline: Duration) -> Result<usize, Error> {
        let inner = &*self.inner;
        inner.accepting.store(false, Ordering::SeqCst);
        if tokio::time::timeout(deadline, self.idle()).await.is_err() {
            inner.cancel_all.send_replace(true);
            let _ = tokio::time::timeout(CANCEL_GRACE, self.idle()).await;
        }
        inner.workspaces.remove_all_closed();
        match tokio::time::timeout(FLUSH_GRACE, inner.recorder.sink().flush()).await {
            Ok(flushed) => flushed?,
            Err(_) => {
                return Err(Error::Timeout {
                    operation: "flushing the audit log at shutdown (is the audit log stuck?)"
                        .into(),
                    after: FLUSH_GRACE,
                });
            }
        }
        let unfinished = inner.inflight.load(Ordering::SeqCst);
        if unfinished > 0 {
            return Err(Error::Timeout {
                operation: format!(
                    "recording the end of {unfinished} execution(s) cancelled at shutdown (is the audit log stuck?)"
                ),
                after: deadline + CANCEL_GRACE,
            });
        }
        Ok(inner.cancelled_at_shutdown.load(Ordering::SeqCst))
    }

    /// Resolves when no execution is in flight.
    async fn idle(&self) {
        let inner = &*self.inner;
        loop {
            // Register for the wake-up before checking, so a notification in between is not lost.
            let idle = inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if inner.inflight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}
