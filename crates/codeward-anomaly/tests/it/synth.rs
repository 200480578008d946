//! A seeded generator of synthetic execution and tool-call streams, with labelled injected
//! anomalies of every kind, and the scoring of a detector's findings against the labels.

use codeward_anomaly::Detector;
use codeward_core::{
    AnomalyDetector, AnomalyKind, ExecutionObservation, Language, ToolAnnotations,
    ToolCallObservation,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// splitmix64: tiny, deterministic, good enough for synthetic data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(1e-300);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
}

/// One observation of the stream.
#[derive(Debug, Clone)]
pub enum Event {
    Execution(ExecutionObservation),
    ToolCall(ToolCallObservation),
}

impl Event {
    pub fn execution_id(&self) -> &str {
        match self {
            Event::Execution(e) => &e.execution_id,
            Event::ToolCall(c) => &c.execution_id,
        }
    }

    /// Feeds the event to a detector; the kinds it reported.
    pub fn observe(&self, detector: &Detector) -> Vec<AnomalyKind> {
        match self {
            Event::Execution(e) => detector
                .observe_execution(e)
                .anomalies
                .iter()
                .map(|a| a.kind)
                .collect(),
            Event::ToolCall(c) => detector
                .observe_tool_call(c)
                .iter()
                .map(|a| a.kind)
                .collect(),
        }
    }
}

struct Tool {
    name: &'static str,
    annotations: ToolAnnotations,
    sensitive: bool,
    bytes_median: f64,
}

struct Program {
    /// Indices into `TOOLS`, called in this order.
    tools: Vec<usize>,
    language: Language,
    cpu_ms: f64,
    io_ms: f64,
    memory: f64,
    sigma: f64,
    runs: u32,
}

struct Principal {
    name: String,
    programs: Vec<Program>,
    executions: u32,
}

fn annotations(read_only: bool, destructive: bool, open_world: bool) -> ToolAnnotations {
    let mut a = ToolAnnotations::default();
    a.read_only_hint = Some(read_only);
    a.destructive_hint = Some(destructive);
    a.open_world_hint = Some(open_world);
    a
}

fn tools() -> Vec<Tool> {
    let tool = |name, annotations, sensitive, bytes_median| Tool {
        name,
        annotations,
        sensitive,
        bytes_median,
    };
    vec![
        tool(
            "files.read_file",
            annotations(true, false, false),
            false,
            4096.0,
        ),
        tool(
            "files.list_dir",
            annotations(true, false, false),
            false,
            1024.0,
        ),
        tool(
            "vault.read_secret",
            annotations(true, false, false),
            true,
            256.0,
        ),
        tool("web.fetch", annotations(true, false, true), false, 20_000.0),
        tool(
            "files.write_file",
            annotations(false, true, false),
            false,
            128.0,
        ),
        tool(
            "notes.search",
            annotations(true, false, false),
            false,
            2048.0,
        ),
    ]
}

const WEB_FETCH: usize = 3;
const WRITE_FILE: usize = 4;

/// Which program of a principal: 0 reads files, 1 reads secrets (never followed by a sink),
/// 2 fetches from the web and writes files (never after a sensitive read).
const SECRETS: usize = 1;

/// A synthetic world of principals, each with three programs of its own profile.
pub struct World {
    rng: Rng,
    tools: Vec<Tool>,
    principals: Vec<Principal>,
    now_ms: u64,
    next_exec: u64,
    next_episode: u32,
    /// Mean gap between two executions (of any principal).
    gap_ms: f64,
    failure_rate: f64,
}

/// A generated stream and the ground truth of its injected episodes.
#[derive(Default)]
pub struct Stream {
    pub events: Vec<Event>,
    /// Execution id -> (kind, episode) for executions that belong to an injected episode.
    pub labels: HashMap<String, (AnomalyKind, u32)>,
    /// Episodes per kind.
    pub episodes: BTreeMap<AnomalyKind, u32>,
    pub executions: usize,
}

pub const KINDS: [AnomalyKind; 8] = [
    AnomalyKind::ResourceSpike,
    AnomalyKind::SuspiciousPattern,
    AnomalyKind::RepeatedFailures,
    AnomalyKind::UnusualTiming,
    AnomalyKind::CallRateSpike,
    AnomalyKind::NewTool,
    AnomalyKind::DataEgressSpike,
    AnomalyKind::Exfiltration,
];

/// How one execution deviates from its program's normal profile.
#[derive(Default, Clone, Copy)]
struct Twist {
    cpu: f64,
    wall: f64,
    memory: f64,
    fail: Option<bool>,
    critical: u32,
    extra_calls: usize,
    new_tool: bool,
    egress_bytes: Option<f64>,
    exfiltrate: bool,
}

impl World {
    pub fn new(seed: u64, principals: usize) -> Self {
        let mut rng = Rng::new(seed);
        let languages = [Language::Python, Language::TypeScript];
        let principals = (0..principals)
            .map(|i| Principal {
                name: format!("principal-{i}"),
                programs: [vec![0, 1, 5], vec![2, 0], vec![3, 0, 4]]
                    .into_iter()
                    .map(|tools| Program {
                        tools,
                        language: languages[rng.below(2)],
                        cpu_ms: rng.uniform(80.0, 800.0),
                        io_ms: rng.uniform(40.0, 400.0),
                        memory: rng.uniform(30.0, 200.0) * (1 << 20) as f64,
                        sigma: rng.uniform(0.2, 0.35),
                        runs: 0,
                    })
                    .collect(),
                executions: 0,
            })
            .collect();
        World {
            rng,
            tools: tools(),
            principals,
            now_ms: 1_790_000_000_000,
            next_exec: 0,
            next_episode: 0,
            gap_ms: 4_000.0,
            failure_rate: 0.02,
        }
    }

    /// `executions` executions; after `clean` of them, each step injects an episode with
    /// probability `inject` (kinds in turn, on warmed-up programs only).
    pub fn stream(&mut self, executions: usize, clean: usize, inject: f64) -> Stream {
        let mut out = Stream::default();
        let mut turn = 0usize;
        while out.executions < executions {
            self.now_ms += (-self.gap_ms * self.rng.f64().max(1e-12).ln()) as u64 + 1;
            let p = self.rng.below(self.principals.len());
            // The first three runs of a principal use each program once, so every tool it
            // will ever use normally is known before new-tool alerts are armed.
            let prog = match self.principals[p].executions {
                n @ 0..=2 => n as usize,
                _ => self.rng.below(3),
            };
            let warmed = self.principals[p].programs.iter().all(|g| g.runs >= 30);
            if out.executions >= clean && warmed && self.rng.chance(inject) {
                let kind = KINDS[turn % KINDS.len()];
                turn += 1;
                self.inject(&mut out, kind, p, prog);
            } else {
                self.execution(&mut out, p, prog, Twist::default(), None);
            }
        }
        out
    }

    fn inject(&mut self, out: &mut Stream, kind: AnomalyKind, p: usize, prog: usize) {
        let episode = self.next_episode;
        self.next_episode += 1;
        *out.episodes.entry(kind).or_default() += 1;
        let label = Some((kind, episode));
        let r = &mut self.rng;
        match kind {
            AnomalyKind::ResourceSpike => {
                let twist = if r.chance(0.5) {
                    Twist {
                        cpu: r.uniform(6.0, 12.0),
                        ..Twist::default()
                    }
                } else {
                    Twist {
                        memory: r.uniform(6.0, 12.0),
                        ..Twist::default()
                    }
                };
                self.execution(out, p, prog, twist, label);
            }
            AnomalyKind::UnusualTiming => {
                let factor = if r.chance(0.5) {
                    r.uniform(5.0, 10.0)
                } else {
                    1.0 / r.uniform(8.0, 15.0)
                };
                let twist = Twist {
                    wall: factor,
                    cpu: factor.min(1.0),
                    ..Twist::default()
                };
                self.execution(out, p, prog, twist, label);
            }
            AnomalyKind::RepeatedFailures => {
                for _ in 0..3 {
                    let fail = Twist {
                        fail: Some(true),
                        ..Twist::default()
                    };
                    self.execution(out, p, prog, fail, label);
                    self.now_ms += 15_000;
                }
            }
            AnomalyKind::SuspiciousPattern => {
                if r.chance(0.5) {
                    let twist = Twist {
                        critical: 1 + r.below(3) as u32,
                        ..Twist::default()
                    };
                    self.execution(out, p, prog, twist, label);
                } else {
                    // Five failures in about 40 s with successes between them.
                    for fail in [true, true, false, true, true, false, true] {
                        let twist = Twist {
                            fail: Some(fail),
                            ..Twist::default()
                        };
                        self.execution(out, p, prog, twist, label);
                        self.now_ms += 6_000;
                    }
                }
            }
            AnomalyKind::CallRateSpike => {
                let twist = Twist {
                    extra_calls: 120 + r.below(130),
                    ..Twist::default()
                };
                self.execution(out, p, prog, twist, label);
            }
            AnomalyKind::NewTool => {
                // Not after a sensitive read: that would be exfiltration too.
                let prog = if prog == SECRETS { 0 } else { prog };
                let twist = Twist {
                    new_tool: true,
                    ..Twist::default()
                };
                self.execution(out, p, prog, twist, label);
            }
            AnomalyKind::DataEgressSpike => {
                let twist = Twist {
                    egress_bytes: Some(r.uniform(1.0, 8.0) * (1 << 20) as f64),
                    ..Twist::default()
                };
                self.execution(out, p, prog, twist, label);
            }
            AnomalyKind::Exfiltration => {
                let twist = Twist {
                    exfiltrate: true,
                    ..Twist::default()
                };
                self.execution(out, p, SECRETS, twist, label);
            }
            _ => unreachable!("every kind is generated"),
        }
    }

    fn execution(
        &mut self,
        out: &mut Stream,
        p: usize,
        prog: usize,
        twist: Twist,
        label: Option<(AnomalyKind, u32)>,
    ) {
        let execution_id = format!("exec-{}", self.next_exec);
        self.next_exec += 1;
        if let Some(label) = label {
            out.labels.insert(execution_id.clone(), label);
        }
        let r = &mut self.rng;
        let principal = &mut self.principals[p];
        principal.executions += 1;
        let g = &mut principal.programs[prog];
        g.runs += 1;
        // An injected spike is a multiple of the program's typical value (with a little
        // jitter), not of a random draw that may itself sit far below typical.
        let draw = |r: &mut Rng, median: f64, twist: f64| {
            if twist == 0.0 {
                r.lognormal(median, g.sigma)
            } else {
                r.lognormal(median * twist, 0.1)
            }
        };
        let cpu = draw(r, g.cpu_ms, twist.cpu);
        let io = r.lognormal(g.io_ms, g.sigma);
        let wall = if twist.wall != 0.0 {
            r.lognormal((g.cpu_ms + g.io_ms) * twist.wall, 0.1)
        } else {
            cpu + io
        };
        let memory = draw(r, g.memory, twist.memory);
        // Injected executions succeed unless the episode is about failures.
        let success = match twist.fail {
            Some(fail) => !fail,
            None => label.is_some() || !r.chance(self.failure_rate),
        };
        let start = self.now_ms;
        let mut calls: Vec<(usize, Option<String>)> = Vec::new();
        for &t in &g.tools {
            for _ in 0..1 + r.below(2) {
                calls.push((t, None));
            }
        }
        // A failing program usually stops at its first call or before.
        if !success {
            calls.truncate(r.below(2));
        }
        for _ in 0..twist.extra_calls {
            calls.push((g.tools[r.below(g.tools.len())], None));
        }
        if twist.new_tool {
            calls.push((0, Some(format!("extra.tool_{}", self.next_episode))));
        }
        if twist.exfiltrate {
            calls.push((if r.chance(0.5) { WEB_FETCH } else { WRITE_FILE }, None));
        }
        let egress_at = twist.egress_bytes.map(|_| r.below(calls.len()));
        let n = calls.len() as u64;
        for (i, (t, extra)) in calls.into_iter().enumerate() {
            let tool = &self.tools[t];
            let bytes = match (egress_at, twist.egress_bytes) {
                (Some(at), Some(b)) if at == i => b,
                _ => r.lognormal(tool.bytes_median, 0.5),
            };
            let (name, annotations, sensitive) = match extra {
                Some(name) => {
                    let destructive = r.chance(0.5);
                    (name, annotations(!destructive, destructive, false), false)
                }
                None => (
                    tool.name.to_owned(),
                    tool.annotations.clone(),
                    tool.sensitive,
                ),
            };
            out.events.push(Event::ToolCall(ToolCallObservation {
                execution_id: execution_id.clone(),
                principal: principal.name.clone(),
                tool: name,
                annotations,
                sensitive_source: sensitive,
                response_bytes: bytes as u64,
                success: true,
                timestamp_ms: start + (wall as u64).min(30_000) * i as u64 / n,
            }));
        }
        let mut tools: Vec<String> = g
            .tools
            .iter()
            .map(|&t| self.tools[t].name.to_owned())
            .collect();
        tools.sort();
        out.events.push(Event::Execution(ExecutionObservation {
            execution_id,
            principal: principal.name.clone(),
            language: g.language,
            tools,
            success,
            wall_time: Duration::from_secs_f64(wall / 1000.0),
            cpu_time: Duration::from_secs_f64(cpu / 1000.0),
            peak_memory_bytes: memory as u64,
            critical_events: twist.critical,
            timestamp_ms: start + wall as u64,
        }));
        out.executions += 1;
    }
}

/// Precision and recall of one kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct Score {
    pub detections: u32,
    pub true_positives: u32,
    pub episodes: u32,
    pub episodes_found: u32,
}

impl Score {
    pub fn precision(&self) -> f64 {
        if self.detections == 0 {
            0.0
        } else {
            f64::from(self.true_positives) / f64::from(self.detections)
        }
    }

    pub fn recall(&self) -> f64 {
        if self.episodes == 0 {
            0.0
        } else {
            f64::from(self.episodes_found) / f64::from(self.episodes)
        }
    }
}

/// Runs `stream` through `detector`; per-kind scores, and how many executions had any finding.
pub fn score(detector: &Detector, stream: &Stream) -> (BTreeMap<AnomalyKind, Score>, usize) {
    let mut scores: BTreeMap<AnomalyKind, Score> = KINDS
        .iter()
        .map(|k| {
            let episodes = stream.episodes.get(k).copied().unwrap_or(0);
            (
                *k,
                Score {
                    episodes,
                    ..Score::default()
                },
            )
        })
        .collect();
    let mut found: std::collections::HashSet<u32> = Default::default();
    let mut flagged: std::collections::HashSet<String> = Default::default();
    for event in &stream.events {
        let kinds = event.observe(detector);
        if !kinds.is_empty() {
            flagged.insert(event.execution_id().to_owned());
        }
        for kind in kinds {
            let s = scores.entry(kind).or_default();
            s.detections += 1;
            if let Some((label, episode)) = stream.labels.get(event.execution_id())
                && *label == kind
            {
                s.true_positives += 1;
                if found.insert(*episode) {
                    s.episodes_found += 1;
                }
            }
        }
    }
    (scores, flagged.len())
}
