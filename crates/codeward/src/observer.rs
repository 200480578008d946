//! The tool-call observer the sandbox calls around every tool call: it writes the
//! `tool_call` record (awaited, durable) before the call is dispatched, and refuses the
//! call when it cannot; afterwards it feeds the anomaly detector.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use codeward_core::{
    Anomaly, AnomalyDetector, AuditEvent, AuditKind, Error, Result, Severity, ToolCall,
    ToolCallObservation, ToolCallObserver, ToolResult, ToolSchema, keys,
};

use crate::recorder::Recorder;

/// Catalogue categories whose tools read sensitive data: a read from one of them followed by
/// an open-world or destructive call in the same execution is the exfiltration shape.
pub const SENSITIVE_CATEGORIES: [&str; 6] =
    ["crm", "database", "email", "payments", "hr", "sensitive"];

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) struct AuditingObserver {
    pub recorder: Recorder,
    pub anomaly: Arc<dyn AnomalyDetector>,
    pub execution_id: String,
    pub principal: String,
    pub calls: AtomicU32,
    pub errors: AtomicU32,
    /// Calls refused before dispatch (anomaly precheck).
    pub refused: AtomicU32,
    /// Critical `security` records written (refusals, critical tool-call anomalies).
    pub critical: AtomicU32,
    pub response_bytes: AtomicU64,
    pub anomalies: Mutex<Vec<Anomaly>>,
    /// The first record the audit log refused during the run. The program may catch the
    /// refused call's error and succeed, so the orchestrator checks this afterwards: a run
    /// with a refused record never ends as a success.
    pub audit_failure: Mutex<Option<String>>,
}

impl AuditingObserver {
    pub(crate) fn new(
        recorder: Recorder,
        anomaly: Arc<dyn AnomalyDetector>,
        execution_id: &str,
        principal: &str,
    ) -> Self {
        AuditingObserver {
            recorder,
            anomaly,
            execution_id: execution_id.to_owned(),
            principal: principal.to_owned(),
            calls: AtomicU32::new(0),
            errors: AtomicU32::new(0),
            refused: AtomicU32::new(0),
            critical: AtomicU32::new(0),
            response_bytes: AtomicU64::new(0),
            anomalies: Mutex::new(Vec::new()),
            audit_failure: Mutex::new(None),
        }
    }

    /// Notes that the audit log refused a record (the first reason is kept).
    fn audit_refused(&self, reason: String) -> String {
        if let Ok(mut slot) = self.audit_failure.lock() {
            slot.get_or_insert_with(|| reason.clone());
        }
        reason
    }

    /// Why the audit log refused a record during the run, if it did.
    pub(crate) fn audit_failure(&self) -> Option<String> {
        self.audit_failure.lock().ok().and_then(|s| s.clone())
    }

    fn observation(
        &self,
        call: &ToolCall,
        tool: &ToolSchema,
        response_bytes: u64,
        success: bool,
    ) -> ToolCallObservation {
        ToolCallObservation {
            execution_id: self.execution_id.clone(),
            principal: self.principal.clone(),
            tool: call.tool.clone(),
            annotations: tool.annotations.clone(),
            sensitive_source: tool
                .category
                .as_deref()
                .is_some_and(|c| SENSITIVE_CATEGORIES.contains(&c)),
            response_bytes,
            success,
            timestamp_ms: now_ms(),
        }
    }
}

#[async_trait]
impl ToolCallObserver for AuditingObserver {
    async fn before_call(&self, call: &ToolCall, tool: &ToolSchema) -> Result<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let obs = self.observation(call, tool, 0, true);
        if let Some(anomaly) = self.anomaly.precheck_tool_call(&obs) {
            // Refused before dispatch; the refusal itself is recorded (awaited) first.
            let event = AuditEvent::new(
                AuditKind::Security,
                Severity::Critical,
                format!("tool call {} refused: {}", call.tool, anomaly.description),
            )
            .execution(self.execution_id.clone())
            .principal(self.principal.clone())
            .meta(keys::CATEGORY, "anomaly")
            .meta(keys::TOOL, call.tool.clone())
            .meta(
                "anomalies",
                serde_json::to_value([&anomaly]).unwrap_or(Value::Null),
            );
            self.refused.fetch_add(1, Ordering::Relaxed);
            let _refusal =
                self.recorder.record(event).await.map_err(|e| {
                    Error::audit_unavailable(self.audit_refused(e.to_string()), None)
                })?;
            self.critical.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut a) = self.anomalies.lock() {
                a.push(anomaly.clone());
            }
            return Err(Error::Tool {
                tool: call.tool.clone(),
                message: format!("refused: {}", anomaly.description),
            });
        }
        let mut event = codeward_anomaly::tool_call_event(&obs);
        // Written before dispatch: the response size is not known yet, so replay leaves the
        // egress baseline alone for this record.
        event
            .metadata
            .remove(codeward_anomaly::meta::RESPONSE_BYTES);
        event.metadata.remove(codeward_anomaly::meta::SUCCESS);
        event.message = format!("dispatching tool call {} #{}", call.tool, call.index);
        let args = serde_json::to_vec(&call.arguments).unwrap_or_default();
        let names: Vec<Value> = match &call.arguments {
            Value::Object(m) => m.keys().cloned().map(Value::String).collect(),
            _ => Vec::new(),
        };
        let event = event
            .meta("index", call.index)
            .meta("argument_names", names)
            .meta("arguments_sha256", hex::encode(Sha256::digest(&args)));
        match self.recorder.record(event).await {
            Ok(_receipt) => Ok(()),
            Err(e) => Err(Error::audit_unavailable(
                self.audit_refused(format!("tool call {} refused: {e}", call.tool)),
                None,
            )),
        }
    }

    async fn after_call(
        &self,
        call: &ToolCall,
        tool: &ToolSchema,
        result: &Result<ToolResult>,
        _elapsed: Duration,
    ) {
        let (bytes, success) = match result {
            Ok(r) => (
                serde_json::to_vec(&r.value)
                    .map(|v| v.len() as u64)
                    .unwrap_or(0),
                !r.is_error,
            ),
            Err(_) => (0, false),
        };
        if !success {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.response_bytes.fetch_add(bytes, Ordering::Relaxed);
        let found = self
            .anomaly
            .observe_tool_call(&self.observation(call, tool, bytes, success));
        if found.is_empty() {
            return;
        }
        let worst = found
            .iter()
            .map(|a| a.severity)
            .max()
            .unwrap_or(Severity::Warning)
            .max(Severity::Warning);
        let event = AuditEvent::new(
            AuditKind::Security,
            worst,
            format!("anomaly on tool call {}", call.tool),
        )
        .execution(self.execution_id.clone())
        .principal(self.principal.clone())
        .meta(keys::CATEGORY, "anomaly")
        .meta(
            "anomalies",
            serde_json::to_value(&found).unwrap_or(Value::Null),
        );
        // The call already happened; the run fails afterwards (see `audit_failure`).
        match self.recorder.record(event).await {
            Ok(_receipt) if worst == Severity::Critical => {
                self.critical.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_receipt) => {}
            Err(e) => {
                tracing::error!(error = %e, "could not record a tool-call anomaly");
                self.audit_refused(format!(
                    "the anomaly record of tool call {}: {e}",
                    call.tool
                ));
            }
        }
        if let Ok(mut a) = self.anomalies.lock() {
            a.extend(found);
        }
    }
}
