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
        match log.reader().records(replay_query()) {
            Ok(records) => {
                let summary = detector.replay_records(records.filter_map(|r| r.ok()));
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
