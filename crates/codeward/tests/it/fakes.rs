//! Fakes for the orchestrator tests: a fixed catalogue, a scripted sandbox that really calls
//! the observer and the invoker, and a builder that wires them with a chosen audit sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use codeward::{Config, Orchestrator, OrchestratorBuilder};
use codeward_core::*;

pub struct FixedIndex(pub Vec<ToolSchema>);

impl ToolIndex for FixedIndex {
    fn search(&self, query: &SearchQuery) -> Result<Vec<ToolHit>> {
        if query.text.contains("nothing") {
            return Ok(Vec::new());
        }
        Ok(self
            .0
            .iter()
            // As the trait asks: only the server's tools when it names one.
            .filter(|t| query.server.is_none() || t.server == query.server)
            .take(query.limit)
            .map(|t| ToolHit::new(t.clone(), 1.0, vec!["name".into()]))
            .collect())
    }
    fn get(&self, name: &str) -> Option<ToolSchema> {
        self.0.iter().find(|t| t.qualified_name() == name).cloned()
    }
    fn all(&self) -> Vec<ToolSchema> {
        self.0.clone()
    }
    fn version(&self) -> u64 {
        1
    }
}

pub fn tools() -> Vec<ToolSchema> {
    vec![
        ToolSchema::new(
            "notes_search",
            "Search notes",
            json!({"type": "object", "properties": {"query": {"type": "string"}}}),
        )
        .with_server("demo")
        .with_annotations(ToolAnnotations::read_only()),
        ToolSchema::new(
            "text_stats",
            "Count words",
            json!({"type": "object", "properties": {"text": {"type": "string"}}}),
        )
        .with_server("demo")
        .with_annotations(ToolAnnotations::read_only()),
    ]
}

pub struct FakeGenerator;

impl ApiGenerator for FakeGenerator {
    fn generate(&self, tools: &[ToolSchema], language: Language) -> Result<GeneratedApi> {
        let names: Vec<String> = tools.iter().map(|t| t.qualified_name()).collect();
        let mut api = GeneratedApi::new(
            language,
            format!("// api for {}", names.join(",")),
            "// summary".into(),
            40,
            5,
        );
        // Renamed like a real generator may rename: `api_<n>.call` for the n-th tool.
        api.bindings = names
            .iter()
            .enumerate()
            .map(|(i, name)| ApiBinding::new(format!("api_{i}"), "call", name))
            .collect();
        Ok(api)
    }
}

/// Validator scripted by markers in the program text.
pub struct FakeValidator;

impl CodeValidator for FakeValidator {
    /// Like a real validator: tool calls through the API's bindings are recognised.
    fn validate_for_api(
        &self,
        code: &str,
        api: &GeneratedApi,
        tools: &[ToolSchema],
    ) -> Result<ValidationReport> {
        let mut report = self.validate(code, api.language, tools)?;
        for b in &api.bindings {
            if code.contains(&format!("{}.{}(", b.object, b.function)) {
                report.tools_used.push(b.tool.clone());
            }
        }
        Ok(report)
    }

    fn validate(
        &self,
        code: &str,
        _language: Language,
        _tools: &[ToolSchema],
    ) -> Result<ValidationReport> {
        if code.contains("VALIDATOR_BREAKS") {
            return Err(Error::invalid("validator", "internal failure"));
        }
        let mut report = ValidationReport::default();
        if code.contains("SYNTAX_ERROR") {
            report.findings.push(Finding::new(
                "syntax",
                FindingCategory::Syntax,
                Severity::Error,
                "unexpected token",
                1,
                5,
            ));
        }
        if code.contains("os.system") {
            report.findings.push(Finding::new(
                "py.process",
                FindingCategory::ProcessSpawn,
                Severity::Critical,
                "process spawn",
                1,
                1,
            ));
        }
        Ok(report)
    }
}

pub struct FakeRisk;

impl RiskAssessor for FakeRisk {
    fn assess(
        &self,
        _code: &str,
        _language: Language,
        report: &ValidationReport,
        _tools: &[ToolSchema],
    ) -> RiskAssessment {
        match report.max_severity() {
            Some(Severity::Critical) => {
                RiskAssessment::new(90, RiskLevel::Critical, vec![], "needs approval")
            }
            _ => RiskAssessment::new(5, RiskLevel::Low, vec![], "ok"),
        }
    }
}

/// A sandbox scripted by markers in the program: `CALL n` makes n tool calls through the real
/// observer and invoker (`CATCH`: the program carries on past a refused or failed call),
/// `FAIL` exits 1, `TIMEOUT` reports a timeout, `TRUNCATED` hits the output cap (and exits 0,
/// or 1 with `FAIL`), `TRUNCATED_OK` hits it and still reports success, `SANDBOX_BREAKS` /
/// `SANDBOX_LAYER_BREAKS` error, `EMAIL` prints an email address, `SILENT_EXIT_3` exits 3
/// with nothing on stderr.
#[derive(Default)]
pub struct FakeSandbox {
    pub runs: AtomicU64,
}

#[async_trait]
impl Sandbox for FakeSandbox {
    async fn run(&self, job: SandboxJob) -> Result<SandboxOutput> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if job.program.contains("SANDBOX_LAYER_BREAKS") {
            // As `codeward_sandbox` reports it: the layer's name, the cause as the source.
            return Err(Error::layer(
                "sandbox",
                std::io::Error::other("setting pids.max: no process may start (max_processes = 0)"),
            ));
        }
        if job.program.contains("SANDBOX_BREAKS") {
            return Err(Error::Unsupported("no isolation available".into()));
        }
        // A generated module naming a tool `broken_api` fails to load, as a syntax error would.
        if job
            .api
            .as_ref()
            .is_some_and(|a| a.module.contains("broken_api"))
        {
            let m = ExecutionMetrics {
                exit: ExitState::Code(1),
                ..Default::default()
            };
            let mut out = SandboxOutput::new(false, "", m);
            out.stderr = "SyntaxError: invalid syntax (codeward_api.py, line 3)".into();
            return Ok(out);
        }
        let calls: u32 = job
            .program
            .split("CALL ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut results = Vec::new();
        let each = job.program.contains("EACH_TOOL");
        let calls = if each { job.tools.len() as u32 } else { calls };
        for i in 1..=calls {
            let tool = if each {
                job.tools[i as usize - 1].clone()
            } else {
                job.tools[0].clone()
            };
            let call = ToolCall::new(
                job.execution_id.clone(),
                i,
                tool.qualified_name(),
                json!({"query": "x"}),
            );
            if let Err(e) = job.observer.before_call(&call, &tool).await {
                // A program that catches the ToolError and carries on.
                if job.program.contains("CATCH") {
                    continue;
                }
                // As the real bridge does: the program sees a ToolError (-32005) and fails.
                let mut out = SandboxOutput::new(false, "", ExecutionMetrics::default());
                out.stderr = format!("ToolError: {e}");
                return Ok(out);
            }
            let result = job.invoker.call(&call.tool, call.arguments.clone()).await;
            job.observer
                .after_call(&call, &tool, &result, Duration::from_millis(1))
                .await;
            match result {
                Ok(r) if !r.is_error => results.push(r.value),
                // A program that catches the ToolError and carries on.
                _ if job.program.contains("CATCH") => continue,
                Ok(r) => {
                    let m = ExecutionMetrics {
                        exit: ExitState::Code(1),
                        tool_calls: i,
                        ..Default::default()
                    };
                    let mut out = SandboxOutput::new(false, "", m);
                    out.stderr = format!("ToolError: {}", r.value);
                    return Ok(out);
                }
                Err(e) => {
                    let mut out = SandboxOutput::new(false, "", ExecutionMetrics::default());
                    out.stderr = format!("ToolError: {e}");
                    return Ok(out);
                }
            }
        }
        let mut metrics = ExecutionMetrics {
            wall_time: Duration::from_millis(20),
            tool_calls: calls,
            exit: ExitState::Code(0),
            ..Default::default()
        };
        if job.program.contains("SILENT_EXIT_3") {
            metrics.exit = ExitState::Code(3);
            return Ok(SandboxOutput::new(false, "", metrics));
        }
        if job.program.contains("TRUNCATED_OK") {
            metrics.limit_hit = Some(LimitKind::Output);
            return Ok(SandboxOutput::new(true, "ok", metrics));
        }
        if job.program.contains("TRUNCATED") {
            metrics.limit_hit = Some(LimitKind::Output);
            let mut out = SandboxOutput::new(false, "x".repeat(64), metrics);
            if job.program.contains("FAIL") {
                out.metrics.exit = ExitState::Code(1);
                out.stderr = "Traceback: ValueError: bad input".into();
            }
            return Ok(out);
        }
        if job.program.contains("TIMEOUT") {
            metrics.limit_hit = Some(LimitKind::Timeout);
            metrics.exit = ExitState::Signal(9);
            return Ok(SandboxOutput::new(false, "", metrics));
        }
        if job.program.contains("FAIL") {
            metrics.exit = ExitState::Code(1);
            let mut out = SandboxOutput::new(false, "", metrics);
            out.stderr = "Traceback: ValueError for bob@example.com".into();
            return Ok(out);
        }
        let stdout = if job.program.contains("EMAIL") {
            "contact alice@example.com"
        } else {
            "ok"
        };
        let mut out = SandboxOutput::new(true, stdout, metrics);
        if calls > 0 {
            out.result = Some(Value::Array(results));
        }
        Ok(out)
    }
}

/// A sandbox whose program sleeps `before` (tokio time, so tests pause the clock), then makes
/// one call to the first tool through the observer and invoker and succeeds. A run dropped
/// before it finishes counts as `killed` (the process sandbox kills the program then).
pub struct SlowSandbox {
    pub before: Duration,
    /// One permit per run that started.
    pub entered: tokio::sync::Notify,
    pub killed: Arc<AtomicU64>,
}

impl SlowSandbox {
    pub fn new(before: Duration) -> Self {
        SlowSandbox {
            before,
            entered: tokio::sync::Notify::new(),
            killed: Arc::default(),
        }
    }
}

#[async_trait]
impl Sandbox for SlowSandbox {
    async fn run(&self, job: SandboxJob) -> Result<SandboxOutput> {
        struct Running(Option<Arc<AtomicU64>>);
        impl Drop for Running {
            fn drop(&mut self) {
                if let Some(killed) = self.0.take() {
                    killed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        let mut running = Running(Some(self.killed.clone()));
        self.entered.notify_one();
        tokio::time::sleep(self.before).await;
        let tool = job.tools[0].clone();
        let call = ToolCall::new(
            job.execution_id.clone(),
            1,
            tool.qualified_name(),
            json!({}),
        );
        job.observer.before_call(&call, &tool).await?;
        let result = job.invoker.call(&call.tool, call.arguments.clone()).await;
        job.observer
            .after_call(&call, &tool, &result, Duration::from_millis(1))
            .await;
        running.0 = None;
        let metrics = ExecutionMetrics {
            wall_time: self.before,
            tool_calls: 1,
            exit: ExitState::Code(0),
            ..Default::default()
        };
        Ok(SandboxOutput::new(true, "done", metrics))
    }
}

/// Counts the calls it answers (and answers like [`EchoInvoker`]).
#[derive(Default)]
pub struct CountingInvoker(pub AtomicU64);

#[async_trait]
impl ToolInvoker for CountingInvoker {
    async fn call(&self, tool: &str, arguments: Value) -> Result<ToolResult> {
        self.0.fetch_add(1, Ordering::SeqCst);
        EchoInvoker.call(tool, arguments).await
    }
}

pub struct EchoInvoker;

#[async_trait]
impl ToolInvoker for EchoInvoker {
    async fn call(&self, tool: &str, arguments: Value) -> Result<ToolResult> {
        if tool.contains("broken") {
            return Ok(ToolResult::error("server says no"));
        }
        Ok(ToolResult::ok(json!({"tool": tool, "args": arguments})))
    }
}

pub struct Fakes {
    pub sandbox: Arc<FakeSandbox>,
    pub dir: tempfile::TempDir,
}

pub fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.data_dir = dir.to_owned();
    config
}

/// The real orchestrator with fakes for every layer except the ones the test passes.
pub async fn orchestrator(
    audit: Arc<dyn AuditSink>,
    tools: Vec<ToolSchema>,
) -> (Orchestrator, Fakes) {
    orchestrator_with(audit, tools, |b| b).await
}

/// [`orchestrator`], with `more` applied to the builder last.
pub async fn orchestrator_with(
    audit: Arc<dyn AuditSink>,
    tools: Vec<ToolSchema>,
    more: impl FnOnce(OrchestratorBuilder) -> OrchestratorBuilder,
) -> (Orchestrator, Fakes) {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Arc::new(FakeSandbox::default());
    let approvals =
        codeward_security::FileApprovalStore::builder(dir.path().join("approvals.json"))
            .open(audit.clone())
            .await
            .unwrap();
    let orch = OrchestratorBuilder::new(config(dir.path()))
        .audit(audit)
        .index(Arc::new(FixedIndex(tools)))
        .generator(Arc::new(FakeGenerator))
        .validator(Arc::new(FakeValidator))
        .assessor(Arc::new(FakeRisk))
        .approvals(Arc::new(approvals))
        .sandbox(sandbox.clone())
        .invoker(Arc::new(EchoInvoker))
        .redactor(Arc::new(codeward_security::PiiTokenizer::new().unwrap()))
        .anomaly(Arc::new(codeward_anomaly::Detector::default()));
    let orch = more(orch).build().await.unwrap();
    (orch, Fakes { sandbox, dir })
}

pub fn request(program: &str) -> ExecutionRequest {
    ExecutionRequest::new("search my notes", Language::Python)
        .with_program(program)
        .with_principal("alice")
}
