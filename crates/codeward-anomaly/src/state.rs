//! Per-key and per-principal detector state, every part of it bounded by the configuration.
//! Also the memory accounting that `DetectorStats` and the memory bound report.

use codeward_core::Severity;
use std::mem::size_of;

use crate::config::DetectorConfig;
use crate::lru::Lru;
use crate::stats::Ewma;

/// Longest sensitive tool name kept for descriptions (longer names are cut).
pub(crate) const MAX_KEPT_NAME: usize = 128;

/// Baselines of one execution key (principal + tool set + language), learnt from successful
/// runs only: failures (timeouts, crashes) have their own time profile.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    pub runs: u32,
    pub cpu_ms: Ewma,
    pub wall_ms: Ewma,
    pub memory: Ewma,
}

/// One tool a principal has used, with its response-size baseline.
#[derive(Debug)]
pub(crate) struct ToolEntry {
    pub id: u64,
    pub last_ms: u64,
    pub calls: u32,
    pub bytes: Ewma,
}

/// An execution whose tool calls are being followed.
#[derive(Debug)]
pub(crate) struct ExecSlot {
    pub id: u64,
    pub last_ms: u64,
    /// The sensitive tool read so far in this execution, if any.
    pub sensitive_tool: Option<Box<str>>,
    /// An exfiltration anomaly was reported for a dispatched call: later ones are not
    /// reported again. The precheck ignores it and refuses every later sink.
    pub exfiltration_reported: bool,
    /// Worst severity among the anomalies of its tool calls.
    pub worst: Option<Severity>,
}

/// Call-rate state: the current bucket and a baseline of the counts of active buckets.
#[derive(Debug, Default)]
pub(crate) struct RateState {
    pub bucket: u64,
    pub count: u32,
    pub reported: bool,
    pub active_buckets: u32,
    pub baseline: Ewma,
}

/// The most recent `cap` timestamps, oldest overwritten first.
#[derive(Debug, Default)]
pub(crate) struct TimeRing {
    items: Vec<(u64, u32)>,
    next: usize,
}

impl TimeRing {
    pub fn push(&mut self, cap: usize, ts: u64, weight: u32) {
        if self.items.len() < cap {
            if self.items.capacity() == 0 {
                self.items.reserve_exact(cap);
            }
            self.items.push((ts, weight));
        } else {
            self.items[self.next] = (ts, weight);
            self.next = (self.next + 1) % cap;
        }
    }

    /// Entries and their total weight at or after `since`.
    pub fn since(&self, since: u64) -> (usize, u64) {
        self.items
            .iter()
            .filter(|(ts, _)| *ts >= since)
            .fold((0, 0), |(n, w), (_, x)| (n + 1, w + u64::from(*x)))
    }

    /// The oldest kept timestamp.
    pub fn oldest(&self) -> Option<u64> {
        self.items.iter().map(|(ts, _)| *ts).min()
    }

    fn heap_bytes(&self) -> usize {
        self.items.capacity() * size_of::<(u64, u32)>()
    }
}

/// What the detector knows of one principal.
#[derive(Debug, Default)]
pub(crate) struct PrincipalState {
    pub tool_calls: u64,
    pub failure_streak: u32,
    pub last_success_ms: Option<u64>,
    pub failures: TimeRing,
    pub burst_quiet_until: u64,
    pub criticals: TimeRing,
    pub rate: RateState,
    pub tools: Vec<ToolEntry>,
    pub execs: Vec<ExecSlot>,
}

impl PrincipalState {
    fn heap_bytes(&self) -> usize {
        self.tools.capacity() * size_of::<ToolEntry>()
            + self.execs.capacity() * size_of::<ExecSlot>()
            + self
                .execs
                .iter()
                .map(|e| e.sensitive_tool.as_ref().map_or(0, |s| s.len()))
                .sum::<usize>()
            + self.failures.heap_bytes()
            + self.criticals.heap_bytes()
    }

    /// The slot of execution `id`, created (dropping the least recently used) if needed.
    pub fn exec_slot(&mut self, id: u64, now: u64, cap: usize) -> &mut ExecSlot {
        let pos = match self.execs.iter().position(|e| e.id == id) {
            Some(pos) => pos,
            None => {
                let slot = ExecSlot {
                    id,
                    last_ms: now,
                    sensitive_tool: None,
                    exfiltration_reported: false,
                    worst: None,
                };
                if self.execs.len() < cap {
                    reserve_bounded(&mut self.execs, cap);
                    self.execs.push(slot);
                    self.execs.len() - 1
                } else {
                    // An execution that read a sensitive source is pushed out last: forgetting
                    // its read would let its next sink through the exfiltration check.
                    let quiet = self.execs.iter().any(|e| e.sensitive_tool.is_none());
                    let oldest = oldest_index(self.execs.iter().map(|e| {
                        match (quiet, e.sensitive_tool.is_some()) {
                            (true, true) => u64::MAX,
                            _ => e.last_ms,
                        }
                    }));
                    self.execs[oldest] = slot;
                    oldest
                }
            }
        };
        let slot = &mut self.execs[pos];
        slot.last_ms = slot.last_ms.max(now);
        slot
    }

    /// The finished execution's slot, removed.
    pub fn take_exec(&mut self, id: u64) -> Option<ExecSlot> {
        let pos = self.execs.iter().position(|e| e.id == id)?;
        Some(self.execs.swap_remove(pos))
    }
}

/// Reserves room for one more element, growing geometrically but never past `cap`.
pub(crate) fn reserve_bounded<T>(v: &mut Vec<T>, cap: usize) {
    if v.len() == v.capacity() {
        let extra = v.len().max(4).min(cap.saturating_sub(v.len())).max(1);
        v.reserve_exact(extra);
    }
}

/// Index of the smallest timestamp (0 for an empty iterator).
pub(crate) fn oldest_index(ts: impl Iterator<Item = u64>) -> usize {
    ts.enumerate().min_by_key(|(_, t)| *t).map_or(0, |(i, _)| i)
}

/// One lock's worth of state: the principals whose hash selects this shard and their keys.
pub(crate) struct Shard {
    pub keys: Lru<KeyState>,
    pub principals: Lru<PrincipalState>,
}

impl Shard {
    pub fn new(config: &DetectorConfig) -> Self {
        Shard {
            keys: Lru::new(config.key_cap_per_shard()),
            principals: Lru::new(config.principal_cap_per_shard()),
        }
    }

    /// (keys, principals, tools, key bytes, principal bytes)
    pub fn usage(&self) -> (usize, usize, usize, usize, usize) {
        let tools = self.principals.values().map(|p| p.tools.len()).sum();
        let heap: usize = self
            .principals
            .values()
            .map(PrincipalState::heap_bytes)
            .sum();
        (
            self.keys.len(),
            self.principals.len(),
            tools,
            self.keys.own_bytes(),
            self.principals.own_bytes() + heap,
        )
    }
}

/// Bytes one key costs at most (slab slot plus hash-map buckets), with these settings.
pub(crate) fn bytes_per_key(config: &DetectorConfig) -> usize {
    let cap = config.key_cap_per_shard();
    Lru::<KeyState>::own_bytes_bound(cap).div_ceil(cap)
}

/// Bytes one principal's heap-held parts cost at most (tools, open executions, windows).
fn principal_heap_bound(config: &DetectorConfig) -> usize {
    config.max_tools_per_principal * size_of::<ToolEntry>()
        + config.max_open_executions * (size_of::<ExecSlot>() + MAX_KEPT_NAME)
        + (config.error_burst_count as usize + config.critical_events as usize)
            * size_of::<(u64, u32)>()
}

/// Bytes one principal costs at most with these settings.
pub(crate) fn bytes_per_principal(config: &DetectorConfig) -> usize {
    let cap = config.principal_cap_per_shard();
    Lru::<PrincipalState>::own_bytes_bound(cap).div_ceil(cap) + principal_heap_bound(config)
}

/// Upper bound of the whole detector's state.
pub(crate) fn memory_bound(config: &DetectorConfig) -> usize {
    let per_shard = Lru::<KeyState>::own_bytes_bound(config.key_cap_per_shard())
        + Lru::<PrincipalState>::own_bytes_bound(config.principal_cap_per_shard())
        + config.principal_cap_per_shard() * principal_heap_bound(config);
    config.shards * (per_shard + size_of::<std::sync::Mutex<Shard>>())
}
