//! The codeward orchestrator: one `execute` call runs an agent's request through discovery,
//! the typed code API, validation and risk, the sandbox, and result handling, writing every
//! step to the audit log and awaiting each record until it is durable before going on.
//!
//! # Brief overview
//!
//! - [`Orchestrator::execute`] takes a [`codeward_core::ExecutionRequest`] and returns a
//!   [`codeward_core::ExecutionOutcome`] only after every record it produced is durable.
//!   If the audit log refuses a record, nothing further runs (`AuditUnavailable` before the
//!   program reaches the sandbox, `AuditFailedAfterStart` after).
//! - [`OrchestratorBuilder`]: every seam is an `Arc<dyn Trait>`; unset seams are built from
//!   [`Config`] with the real crates (audit log, tantivy catalogue, code generator, validator,
//!   risk assessor, approval store, sandbox, PII tokenizer, anomaly detector, moka cache),
//!   except the tool invoker: unset, it is [`NoServers`] and every tool call fails. This
//!   crate starts no MCP server; give one with `.invoker(..)` (`codeward-cli` passes a
//!   `codeward_mcp::McpPool` built from `[mcp] servers_file`).
//! - [`Config`]: one TOML file plus `CODEWARD_*` environment overrides, every key defaulted.
//! - [`Orchestrator::execute_cancellable`]: the same, stopped (program killed, cancellation
//!   recorded) when a cancellation future completes; [`Orchestrator::shutdown`] cancels what
//!   still runs at its deadline.
//! - [`MokaCache`], [`cache_key`]: results of clean runs over read-only, closed-world tools.
//! - [`WorkspaceManager`]: a directory per execution with its status, removed on every path.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use codeward::{Config, OrchestratorBuilder};
//! use codeward_core::{ExecutionRequest, Language, ToolInvoker, ToolResult};
//!
//! /// Stands in for the MCP servers (`codeward-cli` passes a `codeward_mcp::McpPool`).
//! struct NoNotes;
//! #[async_trait::async_trait]
//! impl ToolInvoker for NoNotes {
//!     async fn call(&self, _tool: &str, _: serde_json::Value) -> codeward_core::Result<ToolResult> {
//!         Ok(ToolResult::ok(serde_json::json!({"notes": [], "total": 0})))
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Without `.invoker(..)` every tool call would fail (`NoServers`).
//! let orchestrator = OrchestratorBuilder::new(Config::default())
//!     .invoker(Arc::new(NoNotes))
//!     .build()
//!     .await?;
//! let request = ExecutionRequest::new("list my notes", Language::Python)
//!     .with_program("from codeward_api import demo\nprint(demo.notes_list())");
//! let outcome = orchestrator.execute(request).await; // every audit record is durable now
//! println!("{} {:?}", outcome.success, outcome.error);
//! orchestrator.shutdown(std::time::Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod builder;
mod cache;
mod config;
mod defaults;
mod error;
mod observer;
mod orchestrator;
mod recorder;
mod workspace;

pub use builder::{NoServers, OrchestratorBuilder};
pub use cache::{MokaCache, cache_key, cacheable};
pub use config::{
    ApprovalsConfig, AuditConfig, CacheConfig, CatalogueConfig, Config, DiscoveryConfig,
    LimitsConfig, McpConfig, SandboxSection, WorkspacesConfig,
};
pub use defaults::{approval_store, audit_log, catalogue, verify_options};
pub use error::{CodewardError, Result};
pub use observer::SENSITIVE_CATEGORIES;
pub use orchestrator::{
    CANCEL_GRACE, CANCELLED_KEY, CodeHashFn, FLUSH_GRACE, MODE_KEY, Orchestrator,
    OrchestratorStats, ToolUnavailable,
};
pub use workspace::{Workspace, WorkspaceManager, WorkspaceStats, WorkspaceStatus};

pub use codeward_core as core;
