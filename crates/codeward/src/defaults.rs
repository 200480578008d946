//! The real crates, built from the configuration, for every seam the builder was not given.

use std::sync::Arc;
use std::time::Duration;

use codeward_audit::{
    AuditLog, AuditLogOptions, CheckpointOptions, Durability, KeySource, VerifyOptions,
};
use codeward_core::{AuditSink, PiiDetector};
use codeward_discovery::{CatalogueIndex, DefaultCatalogue, McpDirectory, SeedDirectory};

use crate::builder::replay_query;
use crate::config::Config;
use crate::error::{CodewardError, Result};

fn layer(layer: &'static str, e: impl std::fmt::Display) -> CodewardError {
    CodewardError::Layer {
        layer,
        message: e.to_string(),
    }
}

/// The audit log per `[audit]`, with `detector` finding PII in every record. Opened first by
/// the builder (fail closed) and by tools that need only the log (approvals).
pub fn audit_log(cfg: &Config, detector: Arc<dyn PiiDetector>) -> Result<AuditLog> {
    let key = if cfg.audit.create_key {
        KeySource::file_or_create(cfg.audit_key_file())
    } else {
        KeySource::file(cfg.audit_key_file())
    };
    let durability = match cfg.audit.durability.as_str() {
        "fsync" => Durability::Fsync,
        "flush" => Durability::Flush,
        other => {
            return Err(CodewardError::Layer {
                layer: "audit log",
                message: format!("durability `{other}` is not `fsync` or `flush`"),
            });
        }
    };
    let mut opts = AuditLogOptions::new(cfg.audit_dir())
        .key(key)
        .durability(durability)
        .max_segment_bytes(cfg.audit.max_segment_bytes)
        .lock_timeout(Duration::from_millis(cfg.audit.lock_timeout_ms))
        .detector(detector);
    if let Some(path) = &cfg.audit.signing_key_file {
        let signing = if cfg.audit.create_key {
            KeySource::file_or_create(path)
        } else {
            KeySource::file(path)
        };
        opts = opts.checkpoints(CheckpointOptions::new(signing).every(cfg.audit.checkpoint_every));
    }
    Ok(AuditLog::open(opts)?)
}

/// How `audit verify` and `audit report` check the chain under this configuration: the
/// configured checkpoint signing key's public key is trusted (so a checkpoint signed by any
/// other key, or unsigned, is a problem).
pub fn verify_options(cfg: &Config) -> Result<VerifyOptions> {
    let mut opts = VerifyOptions::default();
    if let Some(path) = &cfg.audit.signing_key_file {
        let seed = KeySource::file(path).load()?;
        opts = opts.trust_key(codeward_audit::checkpoint_public_key(&seed));
    }
    Ok(opts)
}

/// The approval store per `[approvals]`, recording its decisions to `audit`. Opened by the
/// builder and by tools that manage approvals without running anything.
pub async fn approval_store(
    cfg: &Config,
    audit: Arc<dyn AuditSink>,
) -> Result<codeward_security::FileApprovalStore> {
    codeward_security::FileApprovalStore::builder(cfg.approvals_file())
        .ttl(Duration::from_secs(cfg.approvals.ttl_secs))
        .approved_ttl(Duration::from_secs(cfg.approvals.approved_ttl_secs))
        .lock_timeout(Duration::from_millis(cfg.approvals.lock_timeout_ms))
        .open(audit)
        .await
        .map_err(CodewardError::Approvals)
}

/// The catalogue: the embedded default plus the configured directories. Problems in extra
/// files are logged (with path and position) and the rest still loads.
pub fn catalogue(cfg: &Config) -> Result<CatalogueIndex> {
    let index = CatalogueIndex::new().map_err(|e| layer("tool catalogue", e))?;
    let mut reports = Vec::new();
    if cfg.catalogue.builtin {
        reports.push(
            index
                .load(&DefaultCatalogue)
                .map_err(|e| layer("tool catalogue", e))?,
        );
    }
    for dir in &cfg.catalogue.seed_dirs {
        reports.push(
            index
                .load(&SeedDirectory::new(dir))
                .map_err(|e| layer("tool catalogue", e))?,
        );
    }
    for dir in &cfg.catalogue.mcp_dirs {
        reports.push(
            index
                .load(&McpDirectory::new(dir))
                .map_err(|e| layer("tool catalogue", e))?,
        );
    }
    for report in &reports {
        for problem in &report.problems {
            tracing::warn!(%problem, "catalogue problem");
        }
    }
    Ok(index)
}

/// The anomaly detector, keyed by the audit log's principal pseudonyms so that baselines
/// rebuilt from the log (which stores only pseudonyms) match live observations.
pub(crate) fn anomaly_detector(log: Option<&AuditLog>) -> Result<codeward_anomaly::Detector> {
    let mut builder = codeward_anomaly::DetectorConfig::builder();
    if let Some(log) = log {
        let log = log.clone();
        builder = builder.principal_key(move |p| log.pseudonym(p));
    }
    let config = builder.build().map_err(|e| layer("anomaly detector", e))?;
    let detector =
        codeward_anomaly::Detector::new(config).map_err(|e| layer("anomaly detector", e))?;
    if let Some(log) = log {
        match replay_recent(&detector, &log.reader(), REPLAY_WINDOW) {
            Ok(summary) => {
                tracing::info!(
                    used = summary.used,
                    skipped = summary.skipped,
                    "anomaly baselines rebuilt from the audit log"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not replay the audit log into the anomaly detector")
            }
        }
    }
    Ok(detector)
}

/// The baselines are rebuilt from at most this many of the newest records (of every kind),
/// so start-up does not grow with the log: replaying a log of 100,000 executions added 2.3 s
/// to every `codeward run`. The detector's averages weigh recent runs most anyway.
pub(crate) const REPLAY_WINDOW: u64 = 50_000;

/// Replays the execution and tool-call records among the newest `window` records. Records
/// before the window are passed over by their first bytes, without being parsed.
fn replay_recent(
    detector: &codeward_anomaly::Detector,
    reader: &codeward_audit::AuditReader,
    window: u64,
) -> codeward_audit::Result<codeward_anomaly::ReplaySummary> {
    let Some((head, _)) = reader.head()? else {
        return Ok(codeward_anomaly::ReplaySummary::default());
    };
    let from = head.saturating_sub(window.saturating_sub(1)).max(1);
    let records = reader.records(replay_query().seq_range(from, head))?;
    Ok(detector.replay_records(records.filter_map(|r| r.ok())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use codeward_core::{ExecutionObservation, Language};

    #[tokio::test]
    async fn replay_reads_only_the_newest_records() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(AuditLogOptions::new(dir.path()).key(KeySource::Bytes([7; 32])))
            .unwrap();
        for i in 0..30u64 {
            let obs = ExecutionObservation {
                execution_id: format!("exec-{i}"),
                principal: "alice".into(),
                language: Language::Python,
                tools: vec!["demo.notes_list".into()],
                success: true,
                wall_time: Duration::from_millis(100),
                cpu_time: Duration::from_millis(50),
                peak_memory_bytes: 1 << 20,
                critical_events: 0,
                timestamp_ms: 1_700_000_000_000 + i,
            };
            let _receipt = log
                .append(codeward_anomaly::execution_event(&obs))
                .await
                .unwrap();
        }
        let fresh = || anomaly_detector(None).unwrap();
        let all = replay_recent(&fresh(), &log.reader(), u64::MAX).unwrap();
        assert_eq!(all.used, 30);
        let recent = replay_recent(&fresh(), &log.reader(), 10).unwrap();
        assert_eq!(recent.used, 10);
        let empty = tempfile::tempdir().unwrap();
        let none = replay_recent(
            &fresh(),
            &codeward_audit::AuditReader::new(empty.path()),
            10,
        )
        .unwrap();
        assert_eq!(none.used, 0);
        log.close().await.unwrap();
    }
}
