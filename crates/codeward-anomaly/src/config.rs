//! Detector settings: thresholds, warm-up lengths, windows and memory caps.
//! Defaults are documented on each field; the builder enforces the rules between them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::AnomalyError;

/// Maps a live principal to the form the audit log stores (for example the log's keyed
/// pseudonym), so live observations and replayed records land on the same baselines.
pub type PrincipalKeyFn = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Settings of a [`Detector`](crate::Detector). Build with [`DetectorConfig::builder`] or take
/// [`DetectorConfig::default`].
///
/// The statistical detectors (resource spikes, timing, call rate, egress) compare a value with
/// an exponentially weighted baseline of `ln(1 + value)`; a value is anomalous only when all
/// three hold: it is at least `z_threshold` standard deviations out, at least a ratio away from
/// the baseline's typical value, and at least an absolute amount away (so tiny baselines do not
/// alert on noise).
#[derive(Clone)]
#[non_exhaustive]
pub struct DetectorConfig {
    /// Most execution keys (principal + tool set + language) tracked at once; the least recently
    /// used is forgotten first. Default 100,000.
    pub max_keys: usize,
    /// Most principals tracked at once (tool sets, failure streaks, call rates). Default 10,000.
    pub max_principals: usize,
    /// Independent locks; observations of one principal always take the same one. Default 16.
    pub shards: usize,
    /// Observations a baseline needs before it may alert. Default 20.
    pub warm_up: u32,
    /// EWMA weight of a new value once warmed up (about a `2/alpha`-observation memory).
    /// Default 0.05.
    pub alpha: f64,
    /// Standard deviations (in log space) a value must be from its baseline. Default 4.0.
    pub z_threshold: f64,
    /// A spike must be at least this many times the baseline's typical value (the seed's 3x).
    /// Default 3.0.
    pub spike_ratio: f64,
    /// A run is "too fast" at most `1/fast_ratio` of its typical wall time. Default 4.0.
    pub fast_ratio: f64,
    /// Time spikes and too-fast runs must differ from the baseline by at least this.
    /// Default 50 ms.
    pub min_time_delta: Duration,
    /// Memory spikes must exceed the baseline by at least this many bytes. Default 16 MiB.
    pub min_memory_delta: u64,
    /// A successful run faster than this cannot have run its program (python starts in
    /// about 8 ms, node in 24 ms): unusual timing even before warm-up. `Duration::ZERO`
    /// disables it. Default 1 ms.
    pub min_plausible_wall: Duration,
    /// Consecutive failed executions of one principal that make `repeated_failures`. Default 3.
    pub repeated_failures: u32,
    /// Failures of one principal within `error_burst_window`, with successes between them,
    /// that make a `suspicious_pattern` error burst. Default 5.
    pub error_burst_count: u32,
    /// Window of the error-burst detector. Default 60 s.
    pub error_burst_window: Duration,
    /// Critical security events of one principal within `critical_window` that make a
    /// `suspicious_pattern`. Default 1 (every critical event is suspicious).
    pub critical_events: u32,
    /// Window of the critical-events detector. Default 10 min.
    pub critical_window: Duration,
    /// Tool calls a principal makes before `new_tool` may alert. Default 20.
    pub new_tool_warm_up: u64,
    /// Most tools remembered per principal (least recently used forgotten first; a forgotten
    /// tool alerts as new again). Default 64.
    pub max_tools_per_principal: usize,
    /// Executions per principal whose tool calls are followed at once (for exfiltration and
    /// per-execution risk); older ones are dropped. Default 8.
    pub max_open_executions: usize,
    /// Length of the call-rate bucket. Default 60 s (calls per minute).
    pub rate_bucket: Duration,
    /// Active buckets the call-rate baseline needs before it may alert. Default 10.
    pub rate_warm_up: u32,
    /// A call-rate spike is at least this many times the typical active-bucket count.
    /// Default 3.0.
    pub rate_ratio: f64,
    /// A call-rate spike has at least this many calls in the bucket. Default 20.
    pub min_rate_calls: u32,
    /// An egress spike is at least this many times the tool's typical response size.
    /// Default 4.0.
    pub egress_ratio: f64,
    /// An egress spike exceeds the typical response by at least this many bytes.
    /// Default 64 KiB.
    pub min_egress_delta: u64,
    /// Applied to the principal of live observations (not of replayed records, which already
    /// hold the stored form). Default: none (the principal is used as given).
    pub principal_key: Option<PrincipalKeyFn>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            max_keys: 100_000,
            max_principals: 10_000,
            shards: 16,
            warm_up: 20,
            alpha: 0.05,
            z_threshold: 4.0,
            spike_ratio: 3.0,
            fast_ratio: 4.0,
            min_time_delta: Duration::from_millis(50),
            min_memory_delta: 16 << 20,
            min_plausible_wall: Duration::from_millis(1),
            repeated_failures: 3,
            error_burst_count: 5,
            error_burst_window: Duration::from_secs(60),
            critical_events: 1,
            critical_window: Duration::from_secs(600),
            new_tool_warm_up: 20,
            max_tools_per_principal: 64,
            max_open_executions: 8,
            rate_bucket: Duration::from_secs(60),
            rate_warm_up: 10,
            rate_ratio: 3.0,
            min_rate_calls: 20,
            egress_ratio: 4.0,
            min_egress_delta: 64 << 10,
            principal_key: None,
        }
    }
}

impl fmt::Debug for DetectorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectorConfig")
            .field("max_keys", &self.max_keys)
            .field("max_principals", &self.max_principals)
            .field("shards", &self.shards)
            .field("warm_up", &self.warm_up)
            .field("alpha", &self.alpha)
            .field("z_threshold", &self.z_threshold)
            .field("spike_ratio", &self.spike_ratio)
            .field("fast_ratio", &self.fast_ratio)
            .field("min_time_delta", &self.min_time_delta)
            .field("min_memory_delta", &self.min_memory_delta)
            .field("min_plausible_wall", &self.min_plausible_wall)
            .field("repeated_failures", &self.repeated_failures)
            .field("error_burst_count", &self.error_burst_count)
            .field("error_burst_window", &self.error_burst_window)
            .field("critical_events", &self.critical_events)
            .field("critical_window", &self.critical_window)
            .field("new_tool_warm_up", &self.new_tool_warm_up)
            .field("max_tools_per_principal", &self.max_tools_per_principal)
            .field("max_open_executions", &self.max_open_executions)
            .field("rate_bucket", &self.rate_bucket)
            .field("rate_warm_up", &self.rate_warm_up)
            .field("rate_ratio", &self.rate_ratio)
            .field("min_rate_calls", &self.min_rate_calls)
            .field("egress_ratio", &self.egress_ratio)
            .field("min_egress_delta", &self.min_egress_delta)
            .field("principal_key", &self.principal_key.as_ref().map(|_| "fn"))
            .finish()
    }
}

impl DetectorConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> DetectorConfigBuilder {
        DetectorConfigBuilder {
            config: DetectorConfig::default(),
        }
    }

    /// Checks the rules the builder enforces (useful after editing fields directly).
    pub fn validate(&self) -> Result<(), AnomalyError> {
        fn bad(field: &'static str, problem: impl Into<String>) -> Result<(), AnomalyError> {
            Err(AnomalyError::InvalidConfig {
                field,
                problem: problem.into(),
            })
        }
        if self.shards == 0 || self.shards > 1024 {
            return bad("shards", format!("{} is outside 1..=1024", self.shards));
        }
        if self.max_keys < self.shards {
            return bad(
                "max_keys",
                format!(
                    "{} is below the shard count {}; raise it or lower `shards`",
                    self.max_keys, self.shards
                ),
            );
        }
        if self.max_principals < self.shards {
            return bad(
                "max_principals",
                format!(
                    "{} is below the shard count {}; raise it or lower `shards`",
                    self.max_principals, self.shards
                ),
            );
        }
        // Slot indices are u32 inside the LRU.
        if self.max_keys > u32::MAX as usize / 2 || self.max_principals > u32::MAX as usize / 2 {
            return bad("max_keys", "at most 2^31 keys and principals");
        }
        if self.warm_up < 2 {
            return bad(
                "warm_up",
                format!(
                    "{} is too short for a variance; use 2 or more",
                    self.warm_up
                ),
            );
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return bad("alpha", format!("{} is outside (0, 1)", self.alpha));
        }
        if !(self.z_threshold.is_finite() && self.z_threshold > 0.0) {
            return bad(
                "z_threshold",
                format!("{} must be positive", self.z_threshold),
            );
        }
        for (field, ratio) in [
            ("spike_ratio", self.spike_ratio),
            ("fast_ratio", self.fast_ratio),
            ("rate_ratio", self.rate_ratio),
            ("egress_ratio", self.egress_ratio),
        ] {
            if !(ratio.is_finite() && ratio >= 1.0) {
                return bad(
                    field,
                    format!("{ratio} must be a finite ratio of at least 1.0"),
                );
            }
        }
        for (field, n) in [
            ("repeated_failures", self.repeated_failures),
            ("error_burst_count", self.error_burst_count),
            ("critical_events", self.critical_events),
            ("rate_warm_up", self.rate_warm_up),
        ] {
            if n == 0 || n > 1024 {
                return bad(field, format!("{n} is outside 1..=1024"));
            }
        }
        for (field, n) in [
            ("max_tools_per_principal", self.max_tools_per_principal),
            ("max_open_executions", self.max_open_executions),
        ] {
            if n == 0 || n > 65_536 {
                return bad(field, format!("{n} is outside 1..=65536"));
            }
        }
        for (field, d) in [
            ("error_burst_window", self.error_burst_window),
            ("critical_window", self.critical_window),
            ("rate_bucket", self.rate_bucket),
        ] {
            if d.as_millis() == 0 {
                return bad(field, "must be at least 1 ms");
            }
        }
        Ok(())
    }

    /// The most memory the detector's state can take with these settings, in bytes (an upper
    /// bound computed from the state sizes; see [`DetectorStats`](crate::DetectorStats)).
    pub fn memory_bound_bytes(&self) -> usize {
        crate::state::memory_bound(self)
    }

    pub(crate) fn principal_cap_per_shard(&self) -> usize {
        self.max_principals.div_ceil(self.shards)
    }

    pub(crate) fn key_cap_per_shard(&self) -> usize {
        self.max_keys.div_ceil(self.shards)
    }
}

/// Builds a [`DetectorConfig`], checking the rules between settings in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct DetectorConfigBuilder {
    config: DetectorConfig,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl DetectorConfigBuilder {
    setters! {
        /// See [`DetectorConfig::max_keys`].
        max_keys: usize;
        /// See [`DetectorConfig::max_principals`].
        max_principals: usize;
        /// See [`DetectorConfig::shards`].
        shards: usize;
        /// See [`DetectorConfig::warm_up`].
        warm_up: u32;
        /// See [`DetectorConfig::alpha`].
        alpha: f64;
        /// See [`DetectorConfig::z_threshold`].
        z_threshold: f64;
        /// See [`DetectorConfig::spike_ratio`].
        spike_ratio: f64;
        /// See [`DetectorConfig::fast_ratio`].
        fast_ratio: f64;
        /// See [`DetectorConfig::min_time_delta`].
        min_time_delta: Duration;
        /// See [`DetectorConfig::min_memory_delta`].
        min_memory_delta: u64;
        /// See [`DetectorConfig::min_plausible_wall`].
        min_plausible_wall: Duration;
        /// See [`DetectorConfig::repeated_failures`].
        repeated_failures: u32;
        /// See [`DetectorConfig::error_burst_count`].
        error_burst_count: u32;
        /// See [`DetectorConfig::error_burst_window`].
        error_burst_window: Duration;
        /// See [`DetectorConfig::critical_events`].
        critical_events: u32;
        /// See [`DetectorConfig::critical_window`].
        critical_window: Duration;
        /// See [`DetectorConfig::new_tool_warm_up`].
        new_tool_warm_up: u64;
        /// See [`DetectorConfig::max_tools_per_principal`].
        max_tools_per_principal: usize;
        /// See [`DetectorConfig::max_open_executions`].
        max_open_executions: usize;
        /// See [`DetectorConfig::rate_bucket`].
        rate_bucket: Duration;
        /// See [`DetectorConfig::rate_warm_up`].
        rate_warm_up: u32;
        /// See [`DetectorConfig::rate_ratio`].
        rate_ratio: f64;
        /// See [`DetectorConfig::min_rate_calls`].
        min_rate_calls: u32;
        /// See [`DetectorConfig::egress_ratio`].
        egress_ratio: f64;
        /// See [`DetectorConfig::min_egress_delta`].
        min_egress_delta: u64;
    }

    /// See [`DetectorConfig::principal_key`]: e.g. the audit log's pseudonymizer, so that
    /// baselines replayed from pseudonymized records match live principals.
    pub fn principal_key(mut self, f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.config.principal_key = Some(Arc::new(f));
        self
    }

    /// The configuration, or the first rule it breaks.
    pub fn build(self) -> Result<DetectorConfig, AnomalyError> {
        self.config.validate()?;
        Ok(self.config)
    }
}
