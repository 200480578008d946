//! The detector: judges executions and tool calls against per-key and per-principal state.
//! Sharded by principal so one observation takes one short, uncontended lock.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use codeward_core::{
    Anomaly, AnomalyDetector, AnomalyKind, AnomalyReport, AuditRecord, ExecutionObservation,
    Language, RiskLevel, Severity, ToolCallObservation,
};

use crate::config::DetectorConfig;
use crate::error::AnomalyError;
use crate::record::{Observation, observation_from_record};
use crate::state::{
    self, KeyState, MAX_KEPT_NAME, PrincipalState, Shard, ToolEntry, oldest_index, reserve_bounded,
};
use crate::stats::{Deviation, Ewma};

/// Formats a value of a metric with its unit.
type Units = fn(f64) -> String;

/// A spike this many times its baseline is an error, not a warning.
const SEVERE_RATIO: f64 = 10.0;

/// Replay keeps at most this many errors to show (it counts them all).
const KEPT_REPLAY_ERRORS: usize = 16;

/// Statistical anomaly detector over executions and tool calls.
///
/// Cheap to share (`Arc<Detector>` or `Arc<dyn AnomalyDetector>`): all state sits behind
/// sharded locks. Time comes only from the observations' `timestamp_ms`, never from the
/// clock, so a replayed log and a live stream build the same state.
pub struct Detector {
    config: DetectorConfig,
    shards: Box<[Mutex<Shard>]>,
    /// Keyed SipHash: keys are hashes, and a random key stops crafted names from colliding.
    hasher: RandomState,
}

/// How much state a detector holds, and the most it can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetectorStats {
    /// Execution keys tracked (principal + tool set + language).
    pub keys: usize,
    /// Principals tracked.
    pub principals: usize,
    /// Tools remembered, over all principals.
    pub tools: usize,
    /// Bytes of state now (allocated capacity, not only the used part).
    pub bytes: usize,
    /// Of which execution-key baselines.
    pub key_bytes: usize,
    /// Of which principal state (tools, windows, open executions).
    pub principal_bytes: usize,
    /// Most bytes the state can take with this configuration.
    pub bound_bytes: usize,
    /// Bytes one execution key costs.
    pub bytes_per_key: usize,
    /// Most bytes one principal costs (with all its tools and open executions).
    pub bytes_per_principal: usize,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ReplaySummary {
    /// Records that rebuilt state.
    pub used: usize,
    /// `execution` / `tool_call` records that could not be used.
    pub skipped: usize,
    /// The first few reasons records were skipped.
    pub errors: Vec<AnomalyError>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::build(DetectorConfig::default())
    }
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// A detector with `config`, or the rule the configuration breaks.
    pub fn new(config: DetectorConfig) -> Result<Self, AnomalyError> {
        config.validate()?;
        Ok(Detector::build(config))
    }

    fn build(config: DetectorConfig) -> Self {
        let shards = (0..config.shards)
            .map(|_| Mutex::new(Shard::new(&config)))
            .collect();
        Detector {
            config,
            shards,
            hasher: RandomState::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Current state sizes and the bound.
    pub fn stats(&self) -> DetectorStats {
        let mut stats = DetectorStats {
            keys: 0,
            principals: 0,
            tools: 0,
            bytes: std::mem::size_of::<Detector>(),
            key_bytes: 0,
            principal_bytes: 0,
            bound_bytes: self.config.memory_bound_bytes() + std::mem::size_of::<Detector>(),
            bytes_per_key: state::bytes_per_key(&self.config),
            bytes_per_principal: state::bytes_per_principal(&self.config),
        };
        for shard in self.shards.iter() {
            let (keys, principals, tools, key_bytes, principal_bytes) = lock(shard).usage();
            stats.keys += keys;
            stats.principals += principals;
            stats.tools += tools;
            stats.key_bytes += key_bytes;
            stats.principal_bytes += principal_bytes;
            stats.bytes += key_bytes + principal_bytes + std::mem::size_of::<Mutex<Shard>>();
        }
        stats
    }

    /// Rebuilds state from past audit records, oldest first, exactly as if they had been
    /// observed live (anomalies found on the way are dropped: they were reported back then).
    /// Records of other kinds are ignored.
    pub fn replay_records(&self, records: impl IntoIterator<Item = AuditRecord>) -> ReplaySummary {
        let mut summary = ReplaySummary::default();
        for record in records {
            match observation_from_record(&record) {
                Ok(None) => {}
                Ok(Some(Observation::Execution(obs))) => {
                    let _ = self.judge_execution(&obs.principal, &obs);
                    summary.used += 1;
                }
                Ok(Some(Observation::ToolCall {
                    call,
                    response_known,
                })) => {
                    let _ = self.judge_tool_call(&call.principal, &call, response_known);
                    summary.used += 1;
                }
                Err(e) => {
                    summary.skipped += 1;
                    if summary.errors.len() < KEPT_REPLAY_ERRORS {
                        summary.errors.push(e);
                    }
                }
            }
        }
        summary
    }

    /// Whether `call` would complete the exfiltration shape (a sensitive read earlier in the
    /// same execution, and this tool is open-world or destructive), judged before dispatch and
    /// learning nothing: a `ToolCallObserver::before_call` can refuse the call on it (fail
    /// closed). `response_bytes` and `success` are ignored. Observe the call afterwards as usual.
    ///
    /// Every sink checked after the sensitive read was observed is refused, however many were
    /// refused or reported before it: the exfiltration anomaly of a dispatched sink (one that
    /// was in flight while the read completed) is reported once per execution, but that does
    /// not let later sinks through.
    pub fn precheck_tool_call(&self, call: &ToolCallObservation) -> Option<Anomaly> {
        let principal = self.principal_key(&call.principal);
        let p = self.hasher.hash_one(principal.as_ref());
        let exec = self.hasher.hash_one(call.execution_id.as_str());
        let mut guard = self.shard(p);
        let slot = guard
            .principals
            .get_mut(p)?
            .execs
            .iter()
            .find(|e| e.id == exec)?;
        // Not `exfiltration_reported`: that only stops duplicate records of dispatched calls.
        exfiltration(slot.sensitive_tool.as_deref()?, call, false)
    }

    fn principal_key<'a>(&self, principal: &'a str) -> Cow<'a, str> {
        match &self.config.principal_key {
            Some(f) => Cow::Owned(f(principal)),
            None => Cow::Borrowed(principal),
        }
    }

    fn shard(&self, principal_hash: u64) -> MutexGuard<'_, Shard> {
        // High bits pick the shard: the low bits index the hash tables inside it.
        let idx = ((principal_hash >> 32) as usize) % self.shards.len();
        lock(&self.shards[idx])
    }

    fn key_hash(&self, principal: u64, tools: &[String], language: Language) -> u64 {
        // Order-independent, so an unsorted tool list still finds its baseline.
        let mut set = tools.len() as u64;
        for tool in tools {
            set = set.wrapping_add(mix(self.hasher.hash_one(tool.as_str())));
        }
        let lang = match language {
            Language::TypeScript => 1,
            Language::Python => 2,
            _ => 3,
        };
        mix(principal ^ mix(set ^ lang))
    }

    fn judge_execution(&self, principal: &str, obs: &ExecutionObservation) -> AnomalyReport {
        let cfg = &self.config;
        let p = self.hasher.hash_one(principal);
        let key = self.key_hash(p, &obs.tools, obs.language);
        let exec = self.hasher.hash_one(obs.execution_id.as_str());
        let now = obs.timestamp_ms;
        let mut found = Vec::new();
        let mut guard = self.shard(p);
        let shard = &mut *guard;

        let (ks, _) = shard.keys.get_or_insert_with(key, KeyState::default);
        self.judge_resources(ks, obs, &mut found);

        let (ps, _) = shard
            .principals
            .get_or_insert_with(p, PrincipalState::default);
        self.judge_outcome(ps, obs, &mut found);
        if obs.critical_events > 0 {
            ps.criticals
                .push(cfg.critical_events as usize, now, obs.critical_events);
            let since = now.saturating_sub(millis(cfg.critical_window));
            let (_, total) = ps.criticals.since(since);
            if total >= u64::from(cfg.critical_events) {
                found.push(Anomaly::new(
                    AnomalyKind::SuspiciousPattern,
                    Severity::Critical,
                    format!(
                        "{} critical security event(s) in this execution, {total} in the last {} \
                         (threshold {})",
                        obs.critical_events,
                        fmt_duration(cfg.critical_window),
                        cfg.critical_events
                    ),
                    now,
                ));
            }
        }
        let worst = ps.take_exec(exec).and_then(|slot| slot.worst);
        drop(guard);

        let mut report = AnomalyReport::from_anomalies(found);
        if let Some(worst) = worst {
            report = report.with_risk_at_least(risk_of(worst));
        }
        report
    }

    /// Resource spikes and timing, against the key's baselines; then learns the run.
    fn judge_resources(
        &self,
        ks: &mut KeyState,
        obs: &ExecutionObservation,
        found: &mut Vec<Anomaly>,
    ) {
        let cfg = &self.config;
        let now = obs.timestamp_ms;
        let cpu = ms(obs.cpu_time);
        let wall = ms(obs.wall_time);
        let memory = obs.peak_memory_bytes as f64;
        let min_time = ms(cfg.min_time_delta);
        let warm = ks.runs >= cfg.warm_up;
        let mut too_fast = false;
        if warm {
            let resources: [(&Ewma, f64, f64, &str, Units); 2] = [
                (&ks.cpu_ms, cpu, min_time, "CPU time", fmt_ms),
                (
                    &ks.memory,
                    memory,
                    cfg.min_memory_delta as f64,
                    "peak memory",
                    fmt_bytes,
                ),
            ];
            let mut cpu_spike = false;
            for (i, (baseline, x, min_delta, label, units)) in resources.into_iter().enumerate() {
                let d = baseline.deviation(x);
                if self.is_spike(d, x, cfg.spike_ratio, min_delta) {
                    cpu_spike |= i == 0;
                    found.push(spike(
                        AnomalyKind::ResourceSpike,
                        d,
                        format!("{label} {}", units(x)),
                        units(d.typical),
                        ks.runs,
                        (cfg.spike_ratio, cfg.z_threshold),
                        now,
                    ));
                }
            }
            let d = ks.wall_ms.deviation(wall);
            if !cpu_spike && self.is_spike(d, wall, cfg.spike_ratio, min_time) {
                // Slow because it computed more (CPU grew at least half as much as wall time)
                // is a resource spike; slow while computing as usual is a timing anomaly
                // (waiting on something, or stalled).
                let cpu_ratio = ks.cpu_ms.deviation(cpu).ratio;
                let (kind, what) = if cpu_ratio * 2.0 >= d.ratio {
                    (AnomalyKind::ResourceSpike, "wall time")
                } else {
                    (AnomalyKind::UnusualTiming, "too slow: wall time")
                };
                found.push(spike(
                    kind,
                    d,
                    format!(
                        "{what} {} (CPU {}, {cpu_ratio:.1}x its baseline)",
                        fmt_ms(wall),
                        fmt_ms(cpu)
                    ),
                    fmt_ms(d.typical),
                    ks.runs,
                    (cfg.spike_ratio, cfg.z_threshold),
                    now,
                ));
            } else if obs.success
                && d.z <= -cfg.z_threshold
                && d.ratio * cfg.fast_ratio <= 1.0
                && d.typical - wall >= min_time
            {
                too_fast = true;
                found.push(Anomaly::new(
                    AnomalyKind::UnusualTiming,
                    Severity::Warning,
                    format!(
                        "too fast: wall time {} is {:.2}x the baseline {} (z={:.1} over {} runs; \
                         thresholds 1/{:.1}x, z<=-{:.1})",
                        fmt_ms(wall),
                        d.ratio,
                        fmt_ms(d.typical),
                        d.z,
                        ks.runs,
                        cfg.fast_ratio,
                        cfg.z_threshold
                    ),
                    now,
                ));
            }
        }
        if obs.success && !too_fast && obs.wall_time < cfg.min_plausible_wall {
            found.push(Anomaly::new(
                AnomalyKind::UnusualTiming,
                Severity::Warning,
                format!(
                    "too fast to have run: wall time {} is below the {} an interpreter needs to start",
                    fmt_ms(wall),
                    fmt_ms(ms(cfg.min_plausible_wall))
                ),
                now,
            ));
        }
        if obs.success {
            let clip = warm.then_some(cfg.z_threshold);
            ks.cpu_ms.update(cpu, ks.runs, cfg.alpha, clip);
            ks.wall_ms.update(wall, ks.runs, cfg.alpha, clip);
            ks.memory.update(memory, ks.runs, cfg.alpha, clip);
            ks.runs = ks.runs.saturating_add(1);
        }
    }

    /// Repeated failures and error bursts.
    fn judge_outcome(
        &self,
        ps: &mut PrincipalState,
        obs: &ExecutionObservation,
        found: &mut Vec<Anomaly>,
    ) {
        let cfg = &self.config;
        let now = obs.timestamp_ms;
        if obs.success {
            ps.failure_streak = 0;
            ps.last_success_ms = Some(ps.last_success_ms.map_or(now, |t| t.max(now)));
            return;
        }
        ps.failure_streak = ps.failure_streak.saturating_add(1);
        ps.failures.push(cfg.error_burst_count as usize, now, 1);
        let streak = ps.failure_streak;
        // Report at the threshold and at each further multiple, not on every failure.
        if streak.is_multiple_of(cfg.repeated_failures) {
            let severity = if streak >= 2 * cfg.repeated_failures {
                Severity::Error
            } else {
                Severity::Warning
            };
            found.push(Anomaly::new(
                AnomalyKind::RepeatedFailures,
                severity,
                format!(
                    "{streak} failed executions in a row (threshold {})",
                    cfg.repeated_failures
                ),
                now,
            ));
        }
        // A burst has successes between its failures; a pure run of failures is reported
        // above as repeated failures instead.
        let window = millis(cfg.error_burst_window);
        let (in_window, _) = ps.failures.since(now.saturating_sub(window));
        let interleaved = match (ps.failures.oldest(), ps.last_success_ms) {
            (Some(oldest), Some(success)) => success > oldest,
            _ => false,
        };
        if in_window >= cfg.error_burst_count as usize && interleaved && now >= ps.burst_quiet_until
        {
            ps.burst_quiet_until = now.saturating_add(window);
            found.push(Anomaly::new(
                AnomalyKind::SuspiciousPattern,
                Severity::Error,
                format!(
                    "error burst: {in_window} failed executions in the last {} (threshold {})",
                    fmt_duration(cfg.error_burst_window),
                    cfg.error_burst_count
                ),
                now,
            ));
        }
    }

    fn is_spike(&self, d: Deviation, x: f64, ratio: f64, min_delta: f64) -> bool {
        d.z >= self.config.z_threshold && d.ratio >= ratio && x - d.typical >= min_delta
    }

    fn judge_tool_call(
        &self,
        principal: &str,
        obs: &ToolCallObservation,
        response_known: bool,
    ) -> Vec<Anomaly> {
        let cfg = &self.config;
        let p = self.hasher.hash_one(principal);
        let tool = self.hasher.hash_one(obs.tool.as_str());
        let exec = self.hasher.hash_one(obs.execution_id.as_str());
        let now = obs.timestamp_ms;
        let mut found = Vec::new();
        let mut guard = self.shard(p);
        let (ps, _) = guard
            .principals
            .get_or_insert_with(p, PrincipalState::default);

        self.judge_rate(ps, now, &mut found);
        self.judge_tool(ps, obs, tool, response_known, &mut found);

        let slot = ps.exec_slot(exec, now, cfg.max_open_executions);
        if !slot.exfiltration_reported
            && let Some(source) = &slot.sensitive_tool
            && let Some(anomaly) = exfiltration(source, obs, true)
        {
            slot.exfiltration_reported = true;
            found.push(anomaly);
        }
        if obs.sensitive_source && obs.success && slot.sensitive_tool.is_none() {
            slot.sensitive_tool = Some(truncate(&obs.tool, MAX_KEPT_NAME).into());
        }
        if let Some(worst) = found.iter().map(|a| a.severity).max() {
            slot.worst = slot.worst.max(Some(worst));
        }
        found
    }

    fn judge_rate(&self, ps: &mut PrincipalState, now: u64, found: &mut Vec<Anomaly>) {
        let cfg = &self.config;
        let rate = &mut ps.rate;
        let bucket = now / millis(cfg.rate_bucket).max(1);
        // A late call (out of order) counts toward the current bucket.
        if bucket > rate.bucket {
            if rate.count > 0 {
                let clip = (rate.active_buckets >= cfg.rate_warm_up).then_some(cfg.z_threshold);
                rate.baseline
                    .update(f64::from(rate.count), rate.active_buckets, cfg.alpha, clip);
                rate.active_buckets = rate.active_buckets.saturating_add(1);
            }
            rate.bucket = bucket;
            rate.count = 0;
            rate.reported = false;
        }
        rate.count = rate.count.saturating_add(1);
        if !rate.reported
            && rate.active_buckets >= cfg.rate_warm_up
            && rate.count >= cfg.min_rate_calls
        {
            let d = rate.baseline.deviation(f64::from(rate.count));
            if d.z >= cfg.z_threshold && d.ratio >= cfg.rate_ratio {
                rate.reported = true;
                found.push(Anomaly::new(
                    AnomalyKind::CallRateSpike,
                    severity_for(d.ratio),
                    format!(
                        "{} tool calls in the current {} vs a typical {:.1} ({:.1}x, z={:.1} over \
                         {} active periods; thresholds {:.1}x, z>={:.1}, at least {} calls)",
                        rate.count,
                        fmt_duration(cfg.rate_bucket),
                        d.typical,
                        d.ratio,
                        d.z,
                        rate.active_buckets,
                        cfg.rate_ratio,
                        cfg.z_threshold,
                        cfg.min_rate_calls
                    ),
                    now,
                ));
            }
        }
    }

    /// New tools and egress spikes, against the principal's tool list.
    fn judge_tool(
        &self,
        ps: &mut PrincipalState,
        obs: &ToolCallObservation,
        tool: u64,
        response_known: bool,
        found: &mut Vec<Anomaly>,
    ) {
        let cfg = &self.config;
        let now = obs.timestamp_ms;
        let calls_before = ps.tool_calls;
        ps.tool_calls = ps.tool_calls.saturating_add(1);
        let bytes = obs.response_bytes as f64;
        let entry = match ps.tools.iter().position(|t| t.id == tool) {
            Some(i) => &mut ps.tools[i],
            None => {
                if calls_before >= cfg.new_tool_warm_up {
                    let (severity, what) = if obs.annotations.is_destructive() {
                        (Severity::Error, "destructive")
                    } else if obs.annotations.is_open_world() {
                        (Severity::Warning, "open-world")
                    } else {
                        (Severity::Warning, "read-only")
                    };
                    found.push(Anomaly::new(
                        AnomalyKind::NewTool,
                        severity,
                        format!(
                            "first call to {what} tool `{}` by this principal after {calls_before} \
                             calls to {} other tool(s)",
                            obs.tool,
                            ps.tools.len()
                        ),
                        now,
                    ));
                }
                let entry = ToolEntry {
                    id: tool,
                    last_ms: now,
                    calls: 0,
                    bytes: Default::default(),
                };
                let i = if ps.tools.len() < cfg.max_tools_per_principal {
                    reserve_bounded(&mut ps.tools, cfg.max_tools_per_principal);
                    ps.tools.push(entry);
                    ps.tools.len() - 1
                } else {
                    let i = oldest_index(ps.tools.iter().map(|t| t.last_ms));
                    ps.tools[i] = entry;
                    i
                };
                &mut ps.tools[i]
            }
        };
        entry.last_ms = entry.last_ms.max(now);
        if !response_known {
            return;
        }
        let warm = entry.calls >= cfg.warm_up;
        if warm {
            let d = entry.bytes.deviation(bytes);
            if self.is_spike(d, bytes, cfg.egress_ratio, cfg.min_egress_delta as f64) {
                found.push(spike(
                    AnomalyKind::DataEgressSpike,
                    d,
                    format!("`{}` returned {}", obs.tool, fmt_bytes(bytes)),
                    fmt_bytes(d.typical),
                    entry.calls,
                    (cfg.egress_ratio, cfg.z_threshold),
                    now,
                ));
            }
        }
        let clip = warm.then_some(cfg.z_threshold);
        entry.bytes.update(bytes, entry.calls, cfg.alpha, clip);
        entry.calls = entry.calls.saturating_add(1);
    }
}

impl AnomalyDetector for Detector {
    fn observe_execution(&self, observation: &ExecutionObservation) -> AnomalyReport {
        let principal = self.principal_key(&observation.principal);
        self.judge_execution(&principal, observation)
    }

    fn observe_tool_call(&self, observation: &ToolCallObservation) -> Vec<Anomaly> {
        let principal = self.principal_key(&observation.principal);
        self.judge_tool_call(&principal, observation, true)
    }

    fn precheck_tool_call(&self, observation: &ToolCallObservation) -> Option<Anomaly> {
        Detector::precheck_tool_call(self, observation)
    }

    fn replay(&self, records: &mut dyn Iterator<Item = AuditRecord>) -> usize {
        self.replay_records(records).used
    }
}

/// The exfiltration finding if `obs` is a sink (open-world or destructive) following a read
/// of `source`; `dispatched` says whether the call has run (and its response size is known).
fn exfiltration(source: &str, obs: &ToolCallObservation, dispatched: bool) -> Option<Anomaly> {
    let a = &obs.annotations;
    let what = match (a.is_open_world(), a.is_destructive()) {
        (false, false) => return None,
        (true, true) => "open-world, destructive",
        (true, false) => "open-world",
        (false, true) => "destructive",
    };
    let description = if dispatched {
        format!(
            "read from sensitive source `{source}`, then called {what} tool `{}` in the same \
             execution ({} bytes returned by this call)",
            obs.tool, obs.response_bytes
        )
    } else {
        format!(
            "read from sensitive source `{source}`, then about to call {what} tool `{}` in the \
             same execution",
            obs.tool
        )
    };
    Some(Anomaly::new(
        AnomalyKind::Exfiltration,
        Severity::Critical,
        description,
        obs.timestamp_ms,
    ))
}

/// A poisoned lock only means another thread panicked mid-update; the state is plain numbers
/// and at worst one baseline is a step behind, so keep going rather than stop detecting.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spike(
    kind: AnomalyKind,
    d: Deviation,
    observed: String,
    typical: String,
    n: u32,
    (ratio, z): (f64, f64),
    now: u64,
) -> Anomaly {
    Anomaly::new(
        kind,
        severity_for(d.ratio),
        format!(
            "{observed} is {:.1}x the baseline {typical} (z={:.1} over {n} observations; \
             thresholds {:.1}x, z>={:.1})",
            d.ratio, d.z, ratio, z
        ),
        now,
    )
}

fn severity_for(ratio: f64) -> Severity {
    if ratio >= SEVERE_RATIO {
        Severity::Error
    } else {
        Severity::Warning
    }
}

/// The same mapping as `AnomalyReport::from_anomalies`.
fn risk_of(severity: Severity) -> RiskLevel {
    match severity {
        Severity::Info => RiskLevel::Low,
        Severity::Warning => RiskLevel::Medium,
        Severity::Error => RiskLevel::High,
        Severity::Critical => RiskLevel::Critical,
    }
}

/// splitmix64's finalizer: spreads combined hashes over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 || s == 0 {
        format!("{} ms", d.as_millis())
    } else if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

fn fmt_bytes(b: f64) -> String {
    const KIB: f64 = 1024.0;
    if b >= KIB * KIB * KIB {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{b:.0} B")
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
