//! The orchestrator's path to the audit sink: every append awaited, counted by type and
//! severity for `stats()`. A failed append surfaces as `AuditUnavailable` (fail closed).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use codeward_core::{AuditEvent, AuditKind, AuditReceipt, AuditSink, Result, Severity};

/// Awaits every append and counts what was written.
#[derive(Clone)]
pub(crate) struct Recorder {
    sink: Arc<dyn AuditSink>,
    counts: Arc<Mutex<BTreeMap<(AuditKind, Severity), u64>>>,
}

impl Recorder {
    pub(crate) fn new(sink: Arc<dyn AuditSink>) -> Self {
        Recorder {
            sink,
            counts: Arc::default(),
        }
    }

    pub(crate) fn sink(&self) -> &Arc<dyn AuditSink> {
        &self.sink
    }

    /// Appends `event` and waits until it is durable.
    pub(crate) async fn record(&self, event: AuditEvent) -> Result<AuditReceipt> {
        let key = (event.kind, event.severity);
        let receipt = self.sink.append(event).await?;
        if let Ok(mut c) = self.counts.lock() {
            *c.entry(key).or_default() += 1;
        }
        Ok(receipt)
    }

    pub(crate) fn counts(&self) -> BTreeMap<(AuditKind, Severity), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
