//! Audit sink fakes: recording, slow, failing and hanging.
//! They implement the real `AuditSink` trait so the real orchestrator can run against them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use codeward_core::{AuditEvent, AuditHealth, AuditKind, AuditReceipt, AuditSink, Error, Result};

/// Keeps every appended event in memory, numbered from 1.
#[derive(Debug, Clone, Default)]
pub struct RecordingSink {
    events: Arc<Mutex<Vec<AuditEvent>>>,
}

impl RecordingSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    fn record(&self, event: AuditEvent) -> AuditReceipt {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.push(event);
        AuditReceipt {
            seq: events.len() as u64,
            hash: format!("fake-{}", events.len()),
        }
    }

    /// Every event so far, in append order.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The kinds of every event so far.
    pub fn kinds(&self) -> Vec<AuditKind> {
        self.events().iter().map(|e| e.kind).collect()
    }

    /// Events of one execution.
    pub fn for_execution(&self, id: &str) -> Vec<AuditEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.execution_id.as_deref() == Some(id))
            .collect()
    }
}

#[async_trait]
impl AuditSink for RecordingSink {
    async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        Ok(self.record(event))
    }
}

/// A recording sink whose every append takes `delay` of tokio time before it completes.
///
/// With `tokio::time::pause()` the delay costs no real time, so tests can assert that a caller
/// did not return before the append did.
#[derive(Debug, Clone)]
pub struct SlowSink {
    inner: RecordingSink,
    delay: Duration,
    completed: Arc<Mutex<Vec<tokio::time::Instant>>>,
}

impl SlowSink {
    /// A sink whose appends take `delay`.
    pub fn new(delay: Duration) -> Self {
        SlowSink {
            inner: RecordingSink::new(),
            delay,
            completed: Arc::default(),
        }
    }

    /// The recorded events.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.inner.events()
    }

    /// The tokio instant at which each append completed, in completion order.
    pub fn completed_at(&self) -> Vec<tokio::time::Instant> {
        self.completed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl AuditSink for SlowSink {
    async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        tokio::time::sleep(self.delay).await;
        let receipt = self.inner.record(event);
        self.completed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tokio::time::Instant::now());
        Ok(receipt)
    }
}

/// Every append fails with `AuditUnavailable` (a full disk, a poisoned log).
#[derive(Debug, Clone, Default)]
pub struct FailingSink {
    attempts: Arc<Mutex<u64>>,
}

impl FailingSink {
    /// A failing sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many appends were attempted.
    pub fn attempts(&self) -> u64 {
        *self.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl AuditSink for FailingSink {
    async fn append(&self, _event: AuditEvent) -> Result<AuditReceipt> {
        *self.attempts.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Err(Error::audit_unavailable(
            "test sink refuses every record (simulated disk failure)",
            None,
        ))
    }

    fn health(&self) -> AuditHealth {
        AuditHealth::Poisoned {
            reason: "test sink".into(),
        }
    }
}

/// Every append waits forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct HangingSink;

#[async_trait]
impl AuditSink for HangingSink {
    async fn append(&self, _event: AuditEvent) -> Result<AuditReceipt> {
        std::future::pending().await
    }
}
