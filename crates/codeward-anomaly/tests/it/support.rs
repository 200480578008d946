//! Small builders shared by the tests: observations and audit records as the log stores them.

use codeward_core::{
    AuditEvent, AuditRecord, ExecutionObservation, Language, ToolAnnotations, ToolCallObservation,
};
use serde_json::json;
use std::time::Duration;

pub const T0: u64 = 1_790_000_000_000;

/// A successful python run of `principal` with tools `[files.read_file]`.
pub fn run(
    principal: &str,
    i: u64,
    cpu_ms: u64,
    wall_ms: u64,
    mem_mib: u64,
) -> ExecutionObservation {
    ExecutionObservation {
        execution_id: format!("{principal}-exec-{i}"),
        principal: principal.into(),
        language: Language::Python,
        tools: vec!["files.read_file".into()],
        success: true,
        wall_time: Duration::from_millis(wall_ms),
        cpu_time: Duration::from_millis(cpu_ms),
        peak_memory_bytes: mem_mib << 20,
        critical_events: 0,
        timestamp_ms: T0 + i * 60_000,
    }
}

/// A normal run: small deterministic jitter around 300 ms CPU, 400 ms wall, 64 MiB.
pub fn normal(principal: &str, i: u64) -> ExecutionObservation {
    let j = (i * 7919) % 11;
    run(principal, i, 280 + j * 4, 380 + j * 4, 60 + j % 5)
}

pub fn call(principal: &str, exec: &str, tool: &str, bytes: u64, ts: u64) -> ToolCallObservation {
    ToolCallObservation {
        execution_id: exec.into(),
        principal: principal.into(),
        tool: tool.into(),
        annotations: ToolAnnotations::read_only(),
        sensitive_source: false,
        response_bytes: bytes,
        success: true,
        timestamp_ms: ts,
    }
}

pub fn open_world() -> ToolAnnotations {
    let mut a = ToolAnnotations::read_only();
    a.open_world_hint = Some(true);
    a
}

/// The record the audit log would store for `event` at position `seq`.
pub fn record(seq: u64, event: &AuditEvent) -> AuditRecord {
    serde_json::from_value(json!({
        "v": 1,
        "seq": seq,
        "ts": "2026-11-27T07:32:27.123Z",
        "type": event.kind,
        "severity": event.severity,
        "message": event.message,
        "execution_id": event.execution_id,
        "principal": event.principal,
        "metadata": event.metadata,
        "prev": "0".repeat(64),
        "hash": "0".repeat(64),
    }))
    .expect("a well-formed record")
}
