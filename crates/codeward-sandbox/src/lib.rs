//! Runs untrusted Python and TypeScript programs in real isolation, under limits that hold,
//! measures them honestly and leaves nothing behind; serves the host side of the tool bridge.
//!
//! # Brief overview
//!
//! - [`ProcessSandbox`] implements [`codeward_core::Sandbox`]: each run gets a private
//!   working directory, a fresh environment, new user/pid/mount/IPC/UTS namespaces, no
//!   network, Landlock, a seccomp denylist, rlimits and memory/pids cgroups, each detected
//!   at run time. No network: as root with Landlock ABI 6+, the runs of one sandbox share one
//!   empty network namespace (loopback down) made when the sandbox is created; otherwise
//!   each run gets a new one; without network namespaces, seccomp (if active) refuses IP
//!   sockets. [`ProcessSandbox::run_detailed`] returns a [`SandboxRun`] with the
//!   [`IsolationReport`], the bridge's [`BridgeStats`] and start-up [`Timings`].
//! - [`SandboxConfig`] (built with [`SandboxConfig::builder`]) sets a [`LayerPolicy`] per
//!   [`Layer`]: required, preferred or off. A required layer the host lacks refuses the run.
//! - The tool bridge speaks `docs/bridge-protocol.md` on fds 3 and 4: only the job's tools,
//!   arguments checked against each tool's `inputSchema`, a per-call timeout and a call
//!   budget; the job's `ToolCallObserver` sees every call before dispatch (an `Err` refuses
//!   it) and after.
//! - [`SandboxError`] is the crate's error; it converts into `codeward_core::Error`.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use codeward_core::{ExecutionLimits, Language, SandboxJob, ToolCall, ToolCallObserver,
//!     ToolInvoker, ToolResult, ToolSchema};
//! use codeward_sandbox::{Layer, ProcessSandbox, SandboxConfig};
//!
//! struct NoTools;
//! #[async_trait::async_trait]
//! impl ToolInvoker for NoTools {
//!     async fn call(&self, tool: &str, _: serde_json::Value) -> codeward_core::Result<ToolResult> {
//!         Err(codeward_core::Error::Tool { tool: tool.into(), message: "no tools".into() })
//!     }
//! }
//! #[async_trait::async_trait]
//! impl ToolCallObserver for NoTools {
//!     async fn before_call(&self, _: &ToolCall, _: &ToolSchema) -> codeward_core::Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SandboxConfig::builder().require(Layer::PidNamespace).build()?;
//! let sandbox = ProcessSandbox::new(config)?;
//! let mut limits = ExecutionLimits::default();
//! limits.timeout = Duration::from_secs(5);
//! let job = SandboxJob::new("exec-1", Language::Python, "print(6 * 7)", limits,
//!     Arc::new(NoTools), Arc::new(NoTools));
//! let run = sandbox.run_detailed(job).await?;
//! assert_eq!(run.output.stdout.trim(), "42");
//! println!("{}", run.isolation);
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(demo())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod bridge;
mod cgroup;
mod child;
mod config;
mod error;
mod host;
mod landlock;
mod output;
mod runtime;
mod sandbox;
mod seccomp;
mod transpile;

pub use bridge::{BridgeStats, MAX_PROTOCOL_ERRORS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
pub use config::{Layer, LayerPolicy, SECRET_NAME_PARTS, SandboxConfig, SandboxConfigBuilder};
pub use error::SandboxError;
pub use host::{IsolationReport, LayerStatus};
pub use sandbox::{ProcessSandbox, SandboxRun, Timings};
