//! Fakes for the tool seams, job helpers, and the checks that nothing is left behind.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use codeward_core::{
    ExecutionLimits, Language, SandboxJob, ToolCall, ToolCallObserver, ToolInvoker, ToolResult,
    ToolSchema,
};
use codeward_sandbox::{Layer, ProcessSandbox};
use serde_json::Value;

/// An invoker and observer for programs that call no tools.
pub struct NoTools;

#[async_trait]
impl ToolInvoker for NoTools {
    async fn call(&self, tool: &str, _arguments: Value) -> codeward_core::Result<ToolResult> {
        Err(codeward_core::Error::Tool {
            tool: tool.to_owned(),
            message: "no tools here".to_owned(),
        })
    }
}

#[async_trait]
impl ToolCallObserver for NoTools {
    async fn before_call(&self, _call: &ToolCall, _tool: &ToolSchema) -> codeward_core::Result<()> {
        Ok(())
    }
}

/// Small limits: real processes, but nothing waits long.
pub fn limits() -> ExecutionLimits {
    let mut l = ExecutionLimits::default();
    l.timeout = Duration::from_secs(20);
    l.cpu_time = Duration::from_secs(20);
    l.memory_bytes = 256 * 1024 * 1024;
    l.max_output_bytes = 64 * 1024;
    l.max_processes = 32;
    l.tool_call_timeout = Duration::from_secs(5);
    l
}

pub fn job(id: &str, language: Language, program: &str, limits: ExecutionLimits) -> SandboxJob {
    SandboxJob::new(
        id,
        language,
        program,
        limits,
        Arc::new(NoTools),
        Arc::new(NoTools),
    )
}

/// One sandbox per test binary (probing the host once).
pub fn sandbox() -> ProcessSandbox {
    static SB: OnceLock<ProcessSandbox> = OnceLock::new();
    SB.get_or_init(|| ProcessSandbox::with_defaults().expect("the sandbox starts on this host"))
        .clone()
}

/// Runs `program` on `sb` under [`limits`], marked `name`, and checks that nothing of it
/// survives.
pub async fn run_clean(
    sb: &ProcessSandbox,
    name: &str,
    language: Language,
    program: &str,
) -> codeward_sandbox::SandboxRun {
    let m = marker(name);
    let run = sb
        .run_detailed(job(&m, language, program, limits()))
        .await
        .expect("runs");
    assert_clean(&m);
    run
}

/// Runs are serialized so that the zombie check sees only this test's children.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A marker unique to one test run; it is the execution id, so it appears in the
/// environment of every sandboxed process and in the names of its directories.
pub fn marker(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "mk-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn proc_file_contains(pid: &str, file: &str, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/{file}"))
        .map(|b| b.windows(needle.len()).any(|w| w == needle))
        .unwrap_or(false)
}

/// Host pids whose environment or command line carries `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if proc_file_contains(&name, "environ", marker.as_bytes())
            || proc_file_contains(&name, "cmdline", marker.as_bytes())
        {
            found.push(name);
        }
    }
    found
}

/// Zombie children of this test process.
pub fn zombie_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`: state, ppid.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let (state, ppid) = (f.next(), f.next());
        if state == Some("Z") && ppid == Some(me.as_str()) {
            found.push(name);
        }
    }
    found
}

fn dirs_named(root: &Path, needle: &str, depth: usize, out: &mut Vec<String>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let p = e.path();
        if e.file_name().to_string_lossy().contains(needle) {
            out.push(p.display().to_string());
        }
        dirs_named(&p, needle, depth - 1, out);
    }
}

/// Leftover working directories and cgroups of the run marked `marker`.
pub fn leftover_dirs(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    dirs_named(&std::env::temp_dir(), marker, 1, &mut out);
    dirs_named(Path::new("/sys/fs/cgroup"), marker, 5, &mut out);
    out
}

/// Asserts that nothing of the run marked `marker` survives.
pub fn assert_clean(marker: &str) {
    assert_eq!(
        processes_with(marker),
        Vec::<String>::new(),
        "processes survived"
    );
    assert_eq!(zombie_children(), Vec::<String>::new(), "zombies left");
    assert_eq!(
        leftover_dirs(marker),
        Vec::<String>::new(),
        "directories left"
    );
}

/// Like [`assert_clean`] for runs that overlap others (zombie children are not per run).
pub fn assert_clean_except_zombies(marker: &str) {
    assert_eq!(
        processes_with(marker),
        Vec::<String>::new(),
        "processes survived"
    );
    assert_eq!(
        leftover_dirs(marker),
        Vec::<String>::new(),
        "directories left"
    );
}

/// Asserts that every layer was active (this host offers them all).
pub fn assert_all_layers(active: &[String]) {
    for layer in Layer::ALL {
        assert!(
            active.iter().any(|a| a == layer.as_str()),
            "layer {layer} was not active: {active:?}"
        );
    }
}

/// A tool invoker and observer that record what happens.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<String>>,
    pub refuse: Option<String>,
    pub started: tokio::sync::Notify,
    /// Notified when an in-flight `slow.wait` call is dropped (not left running).
    pub dropped: Arc<tokio::sync::Notify>,
}

/// Notifies when dropped.
struct OnDrop(Arc<tokio::sync::Notify>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<String> {
        self.events.lock().expect("events").clone()
    }
    fn push(&self, e: String) {
        self.events.lock().expect("events").push(e);
    }
}

#[async_trait]
impl ToolInvoker for Recorder {
    async fn call(&self, tool: &str, arguments: Value) -> codeward_core::Result<ToolResult> {
        self.push(format!("invoke {tool}"));
        self.started.notify_one();
        match tool {
            "math.add" => {
                let a = arguments["a"].as_i64().unwrap_or(0);
                let b = arguments["b"].as_i64().unwrap_or(0);
                Ok(ToolResult::ok(serde_json::json!({"sum": a + b})))
            }
            "slow.wait" => {
                let _guard = OnDrop(self.dropped.clone());
                std::future::pending().await
            }
            "text.echo" => Ok(ToolResult::ok(arguments["text"].clone())),
            "text.big" => {
                let n = arguments["n"].as_u64().unwrap_or(0) as usize;
                Ok(ToolResult::ok(Value::String("x".repeat(n))))
            }
            "text.panic" => panic!("a tool invoker bug"),
            _ => Ok(ToolResult::error(format!("{tool} broke"))),
        }
    }

    /// `slow.aware` enforces the deadline itself, like the MCP pool: it answers a timeout at
    /// once and records the deadline it was given.
    async fn call_within(
        &self,
        tool: &str,
        arguments: Value,
        timeout: Duration,
    ) -> codeward_core::Result<ToolResult> {
        if tool == "slow.aware" {
            self.push(format!("deadline {tool} {timeout:?}"));
            return Err(codeward_core::Error::Timeout {
                operation: format!("tool call {tool}"),
                after: timeout,
            });
        }
        self.call(tool, arguments).await
    }
}

#[async_trait]
impl ToolCallObserver for Recorder {
    async fn before_call(&self, call: &ToolCall, _tool: &ToolSchema) -> codeward_core::Result<()> {
        self.push(format!("before {} #{}", call.tool, call.index));
        if self.refuse.as_deref() == Some(call.tool.as_str()) {
            return Err(codeward_core::Error::audit_unavailable(
                "audit log is down",
                None,
            ));
        }
        Ok(())
    }

    async fn after_call(
        &self,
        call: &ToolCall,
        _tool: &ToolSchema,
        result: &codeward_core::Result<ToolResult>,
        _elapsed: Duration,
    ) {
        let r = match result {
            Ok(_) => "ok".to_owned(),
            Err(codeward_core::Error::Timeout { .. }) => "timeout".to_owned(),
            Err(_) => "err".to_owned(),
        };
        self.push(format!("after {} {r}", call.tool));
    }
}

/// The tools the bridge tests allow.
pub fn tools() -> Vec<ToolSchema> {
    let add = ToolSchema::new(
        "add",
        "Adds two integers",
        serde_json::json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": false
        }),
    )
    .with_server("math");
    let wait = ToolSchema::new(
        "wait",
        "Never returns",
        serde_json::json!({"type": "object"}),
    )
    .with_server("slow");
    let echo = ToolSchema::new(
        "echo",
        "Echoes text",
        serde_json::json!({"type": "object", "properties": {"text": {"type": "string"}}}),
    )
    .with_server("text");
    let panics = ToolSchema::new(
        "panic",
        "Panics on the host",
        serde_json::json!({"type": "object"}),
    )
    .with_server("text");
    let big = ToolSchema::new(
        "big",
        "Returns n bytes of text",
        serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
    )
    .with_server("text");
    let aware = ToolSchema::new(
        "aware",
        "Enforces its deadline itself",
        serde_json::json!({"type": "object"}),
    )
    .with_server("slow");
    vec![add, wait, echo, panics, big, aware]
}

/// A job whose tool calls go to `recorder`.
pub fn bridge_job(
    id: &str,
    language: Language,
    program: &str,
    limits: ExecutionLimits,
    recorder: Arc<Recorder>,
) -> SandboxJob {
    let mut job = SandboxJob::new(id, language, program, limits, recorder.clone(), recorder);
    job.tools = tools();
    job
}

/// A minimal Python bridge client, inline (the generated one lives in codeward-codegen).
pub const PY_CLIENT: &str = r#"
import os, json, sys
_W = os.fdopen(3, "w", buffering=1)
_R = os.fdopen(4, "r")
_N = [0]
def send(msg):
    _W.write(json.dumps(msg) + "\n"); _W.flush()
def call(name, args):
    _N[0] += 1
    send({"jsonrpc": "2.0", "id": _N[0], "method": "tools/call", "params": {"name": name, "arguments": args}})
    return json.loads(_R.readline())
def set_result(v):
    send({"jsonrpc": "2.0", "method": "codeward/result", "params": {"value": v}})
"#;
