//! Anomaly detection over codeward executions and tool calls: statistically sound, bounded
//! in memory and rebuildable from the audit log.
//!
//! A compromised or confused agent shows itself in behaviour before anyone reads its code:
//! sudden slow or memory-hungry runs, bursts of failures, a first-ever call to a destructive
//! tool, a spike in data flowing back to the model, a sensitive read followed by a call to the
//! open world. [`Detector`] implements [`codeward_core::AnomalyDetector`] and watches for all
//! of these.
//!
//! # Brief overview
//!
//! - [`Detector`]: the detector. `observe_execution` / `observe_tool_call` judge one
//!   observation and learn from it; `replay` rebuilds the state from past audit records;
//!   [`Detector::precheck_tool_call`] tells before dispatch whether a call would exfiltrate.
//! - [`DetectorConfig`] and [`DetectorConfigBuilder`]: thresholds, warm-up, windows and
//!   memory caps, with documented defaults.
//! - [`DetectorStats`]: how much state is held, and the bound it can never exceed.
//! - [`meta`]: the audit metadata keys replay reads; [`execution_metadata`],
//!   [`tool_call_metadata`], [`execution_event`], [`tool_call_event`] write them and
//!   [`observation_from_record`] reads them back, so writer and replayer cannot drift.
//! - [`AnomalyError`]: bad settings and unusable records.
//!
//! # What is detected
//!
//! | kind | on | rule (defaults) |
//! |---|---|---|
//! | `resource_spike` | execution | CPU time, peak memory, or wall time that grew with CPU, >= 3x the key's baseline and z >= 4 |
//! | `unusual_timing` | execution | too slow: wall time >= 3x baseline while CPU grew less than half as much; too fast: <= 1/4 of it; or under 1 ms |
//! | `repeated_failures` | execution | 3 failed executions of a principal in a row (and every 3 more) |
//! | `suspicious_pattern` | execution | a critical security event, or 5 failures within 60 s with successes between them |
//! | `call_rate_spike` | tool call | calls in the current minute >= 3x the principal's typical active minute, z >= 4, >= 20 calls |
//! | `new_tool` | tool call | a tool this principal never used, after its first 20 calls |
//! | `data_egress_spike` | tool call | response bytes >= 4x the (principal, tool) baseline, z >= 4, +64 KiB |
//! | `exfiltration` | tool call | an open-world or destructive call after a sensitive read in the same execution |
//!
//! Baselines are exponentially weighted mean and variance of `ln(1 + value)` per execution key
//! (principal + tool set + language), learnt from successful runs after a warm-up of 20;
//! outliers are clipped before they are learnt. Keys and principals live in fixed-capacity
//! LRU maps, so memory is bounded whatever the stream length ([`DetectorConfig::memory_bound_bytes`]).
//! Time comes from the observations, never from the clock.
//!
//! # Example
//!
//! ```
//! use codeward_anomaly::{Detector, DetectorConfig};
//! use codeward_core::{AnomalyDetector, AnomalyKind, ExecutionObservation, Language};
//! use std::time::Duration;
//!
//! let detector = Detector::new(DetectorConfig::builder().warm_up(10).build()?)?;
//! let run = |i: u64, cpu_ms: u64, mem_mib: u64| ExecutionObservation {
//!     execution_id: format!("exec-{i}"),
//!     principal: "alice".into(),
//!     language: Language::Python,
//!     tools: vec!["files.read_file".into()],
//!     success: true,
//!     wall_time: Duration::from_millis(cpu_ms + 40),
//!     cpu_time: Duration::from_millis(cpu_ms),
//!     peak_memory_bytes: mem_mib << 20,
//!     critical_events: 0,
//!     timestamp_ms: 1_700_000_000_000 + i * 60_000,
//! };
//! for i in 0..30 {
//!     let report = detector.observe_execution(&run(i, 200 + i % 7 * 10, 40 + i % 3));
//!     assert!(!report.detected());
//! }
//! let report = detector.observe_execution(&run(30, 220, 900));
//! assert_eq!(report.anomalies[0].kind, AnomalyKind::ResourceSpike);
//! println!("{}", report.anomalies[0].description); // peak memory 900.0 MiB is 21.9x ...
//! # Ok::<(), codeward_anomaly::AnomalyError>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod detector;
mod error;
mod lru;
pub mod meta;
mod record;
mod state;
mod stats;

pub use config::{DetectorConfig, DetectorConfigBuilder, PrincipalKeyFn};
pub use detector::{Detector, DetectorStats, ReplaySummary};
pub use error::AnomalyError;
pub use record::{
    Observation, execution_event, execution_metadata, observation_from_record, tool_call_event,
    tool_call_metadata,
};

// The README's examples compile and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
