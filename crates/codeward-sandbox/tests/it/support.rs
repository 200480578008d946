//! Fakes for the tool seams and checks that nothing is left behind.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use codeward_core::{
    ExecutionLimits, Language, SandboxJob, ToolCall, ToolCallObserver, ToolInvoker, ToolResult,
    ToolSchema,
};
use codeward_sandbox::ProcessSandbox;
use serde_json::Value;

pub struct NoTools;

#[async_trait]
impl ToolInvoker for NoTools {
    async fn call(&self, tool: &str, _arguments: Value) -> codeward_core::Result<ToolResult> {
        Err(codeward_core::Error::Tool {
            tool: tool.to_owned(),
            message: "no tools here".to_owned(),
        })
    }
}

#[async_trait]
impl ToolCallObserver for NoTools {
    async fn before_call(&self, _call: &ToolCall, _tool: &ToolSchema) -> codeward_core::Result<()> {
        Ok(())
    }
}

pub fn limits() -> ExecutionLimits {
    let mut l = ExecutionLimits::default();
    l.timeout = Duration::from_secs(10);
    l.cpu_time = Duration::from_secs(10);
    l
}

pub fn job(id: &str, language: Language, program: &str, limits: ExecutionLimits) -> SandboxJob {
    SandboxJob::new(
        id,
        language,
        program,
        limits,
        Arc::new(NoTools),
        Arc::new(NoTools),
    )
}

pub fn sandbox() -> ProcessSandbox {
    ProcessSandbox::with_defaults().expect("sandbox")
}
