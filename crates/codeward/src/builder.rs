//! `OrchestratorBuilder`: every seam can be replaced by an `Arc<dyn Trait>`; the ones left
//! unset are built from the configuration with the real codeward crates, except the tool
//! invoker: it defaults to `NoServers` (codeward does not depend on codeward-mcp; the CLI
//! gives it an `McpPool` built from `[mcp] servers_file`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, watch};

use codeward_audit::{AuditLog, Query};
use codeward_core::{
    AnomalyDetector, ApiGenerator, ApprovalStore, AuditKind, AuditSink, CodeValidator, Error,
    PiiDetector, PiiRedactor, ResultCache, RiskAssessor, Sandbox, ToolIndex, ToolInvoker,
    ToolResult,
};

use crate::cache::MokaCache;
use crate::config::Config;
use crate::error::{CodewardError, Result};
use crate::orchestrator::{CodeHashFn, Inner, Orchestrator};
use crate::recorder::Recorder;
use crate::workspace::WorkspaceManager;

/// The invoker used when no MCP server is configured: every call fails with a clear message.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoServers;

#[async_trait]
impl ToolInvoker for NoServers {
    async fn call(&self, tool: &str, _arguments: Value) -> codeward_core::Result<ToolResult> {
        Err(Error::Tool {
            tool: tool.to_owned(),
            message: "no tool invoker is configured: give OrchestratorBuilder::invoker (e.g. codeward_mcp::McpPool; the codeward command builds one from [mcp] servers_file)".into(),
        })
    }
}

fn layer(layer: &'static str) -> impl Fn(&dyn std::fmt::Display) -> CodewardError {
    move |e| CodewardError::Layer {
        layer,
        message: e.to_string(),
    }
}

/// Builds an [`Orchestrator`].
#[must_use = "call build() to get an Orchestrator"]
pub struct OrchestratorBuilder {
    config: Config,
    audit: Option<Arc<dyn AuditSink>>,
    index: Option<Arc<dyn ToolIndex>>,
    generator: Option<Arc<dyn ApiGenerator>>,
    validator: Option<Arc<dyn CodeValidator>>,
    assessor: Option<Arc<dyn RiskAssessor>>,
    approvals: Option<Arc<dyn ApprovalStore>>,
    sandbox: Option<Arc<dyn Sandbox>>,
    invoker: Option<Arc<dyn ToolInvoker>>,
    redactor: Option<Arc<dyn PiiRedactor>>,
    anomaly: Option<Arc<dyn AnomalyDetector>>,
    cache: Option<Arc<dyn ResultCache>>,
    no_cache: bool,
    code_hash: CodeHashFn,
    servers: Option<BTreeSet<String>>,
}

macro_rules! setter {
    ($(#[$doc:meta] $name:ident: $ty:ty),* $(,)?) => {
        $(
            #[$doc]
            pub fn $name(mut self, value: Arc<$ty>) -> Self {
                self.$name = Some(value);
                self
            }
        )*
    };
}

fn default_code_hash(code: &str, language: codeward_core::Language, tools: &[String]) -> String {
    codeward_security::approval_code_hash(code, language, tools)
}

impl OrchestratorBuilder {
    /// A builder over `config`; every seam defaults to the real crate built from it, except
    /// the invoker ([`NoServers`] until [`OrchestratorBuilder::invoker`] is called).
    pub fn new(config: Config) -> Self {
        OrchestratorBuilder {
            config,
            audit: None,
            index: None,
            generator: None,
            validator: None,
            assessor: None,
            approvals: None,
            sandbox: None,
            invoker: None,
            redactor: None,
            anomaly: None,
            cache: None,
            no_cache: false,
            code_hash: default_code_hash,
            servers: None,
        }
    }

    setter! {
        /// The audit sink (default: `codeward_audit::AuditLog` per `[audit]`).
        audit: dyn AuditSink,
        /// The tool index (default: `codeward_discovery::CatalogueIndex` per `[catalogue]`).
        index: dyn ToolIndex,
        /// The API generator (default: `codeward_codegen::CodeGenerator`).
        generator: dyn ApiGenerator,
        /// The validator (default: `codeward_security::Validator`).
        validator: dyn CodeValidator,
        /// The risk assessor (default: `codeward_security::Risk`).
        assessor: dyn RiskAssessor,
        /// The approval store (default: `codeward_security::FileApprovalStore` per `[approvals]`).
        approvals: dyn ApprovalStore,
        /// The sandbox (default: `codeward_sandbox::ProcessSandbox`).
        sandbox: dyn Sandbox,
        /// The tool invoker (default: none configured; every call fails clearly).
        invoker: dyn ToolInvoker,
        /// The PII tokenizer (default: `codeward_security::PiiTokenizer`).
        redactor: dyn PiiRedactor,
        /// The anomaly detector (default: `codeward_anomaly::Detector`, replayed from the log).
        anomaly: dyn AnomalyDetector,
        /// The result cache (default: moka per `[cache]`).
        cache: dyn ResultCache,
    }

    /// Turns the result cache off.
    pub fn without_cache(mut self) -> Self {
        self.no_cache = true;
        self
    }

    /// The servers the invoker can reach (e.g. `McpPool::server_names`): discovery then
    /// offers only their tools, so a program is never handed a tool whose calls can only
    /// fail. Default: every catalogue tool (no filter). An empty set offers no tool.
    pub fn servers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.servers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Sets how approvals bind to programs (default `codeward_security::approval_code_hash`).
    pub fn code_hash(mut self, f: CodeHashFn) -> Self {
        self.code_hash = f;
        self
    }

    /// Builds the orchestrator, opening the audit log first: if it cannot be opened nothing
    /// else is built (fail closed).
    pub async fn build(self) -> Result<Orchestrator> {
        let cfg = self.config;
        let detector: Arc<dyn PiiDetector> = Arc::new(codeward_security::PiiScanner::new());
        let mut audit_log: Option<AuditLog> = None;
        let audit: Arc<dyn AuditSink> = match self.audit {
            Some(a) => a,
            None => {
                let log = crate::defaults::audit_log(&cfg, detector.clone())?;
                audit_log = Some(log.clone());
                Arc::new(log)
            }
        };

        let index: Arc<dyn ToolIndex> = match self.index {
            Some(i) => i,
            None => Arc::new(crate::defaults::catalogue(&cfg)?),
        };
        let generator: Arc<dyn ApiGenerator> = self
            .generator
            .unwrap_or_else(|| Arc::new(codeward_codegen::CodeGenerator::new()));
        let validator: Arc<dyn CodeValidator> = match self.validator {
            Some(v) => v,
            None => {
                Arc::new(codeward_security::Validator::new().map_err(|e| layer("validator")(&e))?)
            }
        };
        let assessor: Arc<dyn RiskAssessor> = self
            .assessor
            .unwrap_or_else(|| Arc::new(codeward_security::Risk::new()));
        let approvals: Arc<dyn ApprovalStore> = match self.approvals {
            Some(a) => a,
            None => Arc::new(crate::defaults::approval_store(&cfg, audit.clone()).await?),
        };
        let sandbox: Arc<dyn Sandbox> = match self.sandbox {
            Some(s) => s,
            None => {
                let config = codeward_sandbox::SandboxConfig::builder()
                    .build()
                    .map_err(|e| layer("sandbox")(&e))?;
                Arc::new(
                    codeward_sandbox::ProcessSandbox::new(config)
                        .map_err(|e| layer("sandbox")(&e))?,
                )
            }
        };
        let invoker: Arc<dyn ToolInvoker> = self.invoker.unwrap_or_else(|| Arc::new(NoServers));
        let redactor: Arc<dyn PiiRedactor> = match self.redactor {
            Some(r) => r,
            None => Arc::new(
                codeward_security::PiiTokenizer::builder()
                    .detector(detector)
                    .build()
                    .map_err(|e| layer("PII tokenizer")(&e))?,
            ),
        };
        let anomaly: Arc<dyn AnomalyDetector> = match self.anomaly {
            Some(a) => a,
            None => Arc::new(crate::defaults::anomaly_detector(audit_log.as_ref())?),
        };
        let (cache, moka): (Option<Arc<dyn ResultCache>>, Option<Arc<MokaCache>>) =
            match (self.no_cache, self.cache) {
                (true, _) => (None, None),
                (false, Some(c)) => (Some(c), None),
                (false, None) if !cfg.cache.enabled => (None, None),
                (false, None) => {
                    let m = Arc::new(MokaCache::new(
                        cfg.cache.max_entries,
                        Duration::from_secs(cfg.cache.ttl_secs),
                    ));
                    (Some(m.clone() as Arc<dyn ResultCache>), Some(m))
                }
            };
        let workspaces = WorkspaceManager::new(cfg.workspaces_dir());
        workspaces.cleanup_stale(Duration::from_secs(cfg.workspaces.stale_after_secs));
        Ok(Orchestrator {
            inner: Arc::new(Inner {
                index,
                generator,
                validator,
                assessor,
                approvals,
                sandbox,
                invoker,
                redactor,
                anomaly,
                cache,
                moka,
                recorder: Recorder::new(audit),
                workspaces,
                limits: cfg.limits.to_limits(),
                min_score: cfg.discovery.min_score,
                servers: self.servers,
                code_hash: self.code_hash,
                semaphore: Semaphore::new(cfg.sandbox.max_concurrent.max(1)),
                accepting: AtomicBool::new(true),
                inflight: AtomicUsize::new(0),
                writes: AtomicU64::new(0),
                idle: Notify::new(),
                cancel_all: watch::channel(false).0,
                cancelled_at_shutdown: AtomicUsize::new(0),
                anomalies: AtomicU64::new(0),
                all_tokens: std::sync::Mutex::new(None),
                apis: moka::sync::Cache::builder().max_capacity(256).build(),
            }),
        })
    }
}

/// The kinds replayed into the anomaly detector at start-up.
pub(crate) const REPLAYED: [AuditKind; 2] = [AuditKind::Execution, AuditKind::ToolCall];

/// The query replay reads.
pub(crate) fn replay_query() -> Query {
    let mut q = Query::all();
    for k in REPLAYED {
        q = q.kind(k);
    }
    q
}
