//! The host side of the tool bridge (docs/bridge-protocol.md): newline-delimited JSON-RPC on
//! fd 3 (requests) and fd 4 (responses); every call is checked, audited first, then dispatched.
//! What a program can make the host hold is bounded: unread replies and running calls are
//! capped (the bridge stops reading fd 3 while either is full), echoed input is cut short, and
//! too many protocol errors end the run.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codeward_core::{Error, ToolCall, ToolCallObserver, ToolInvoker, ToolResult, ToolSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Largest request line (protocol limit).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Largest response line (protocol limit).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Protocol errors (lines that are not JSON-RPC requests, or too large) after which the
/// bridge stops reading and the run is ended: a client speaking the protocol makes none.
pub const MAX_PROTOCOL_ERRORS: u32 = 100;

/// Replies waiting for the program to read fd 4. While the queue is full the bridge reads no
/// more requests, so a program that never reads cannot grow the host's memory.
const REPLY_QUEUE: usize = 64;
/// Tool calls running at once; while this many run the bridge reads no more requests.
const MAX_PENDING_CALLS: usize = 64;
/// Longest tool name, method name or string id echoed back (longer ones are cut or dropped).
const MAX_ECHO_CHARS: usize = 128;
/// Longest description of one schema violation (it may quote the argument).
const MAX_PROBLEM_CHARS: usize = 256;

/// How long after the per-call timeout the bridge gives up on an invoker that does not
/// enforce the deadline it was given.
const INVOKER_GRACE: Duration = Duration::from_millis(250);

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const TOOL_FAILED: i64 = -32000;
const BUDGET_SPENT: i64 = -32001;
const TIMED_OUT: i64 = -32002;
const TOO_LARGE: i64 = -32003;
const CANCELLED: i64 = -32004;
const REFUSED: i64 = -32005;

/// What the bridge saw during one execution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Calls the observer approved and that were dispatched.
    pub dispatched: u32,
    /// Calls refused before dispatch (not allowed, bad arguments, budget, observer).
    pub refused: u32,
    /// Calls that timed out.
    pub timed_out: u32,
    /// Calls cancelled by the program or by the end of the execution.
    pub cancelled: u32,
    /// A call was refused because the budget was spent.
    pub budget_exceeded: bool,
    /// Lines that were not valid JSON-RPC or too large.
    pub protocol_errors: u32,
    /// The run was stopped after [`MAX_PROTOCOL_ERRORS`] protocol errors.
    pub protocol_limit_hit: bool,
}

/// Everything a bridge needs for one execution.
pub(crate) struct BridgeContext {
    pub execution_id: String,
    pub tools: Vec<ToolSchema>,
    pub invoker: Arc<dyn ToolInvoker>,
    pub observer: Arc<dyn ToolCallObserver>,
    pub max_calls: u32,
    pub call_timeout: Duration,
}

/// What the bridge hands back when the execution ends.
#[derive(Debug, Default)]
pub(crate) struct BridgeOutcome {
    pub stats: BridgeStats,
    pub result: Option<Value>,
}

struct State {
    ctx: BridgeContext,
    allowed: HashMap<String, ToolSchema>,
    validators: Mutex<HashMap<String, Arc<Result<jsonschema::Validator, String>>>>,
    next_index: AtomicU32,
    stats: Mutex<BridgeStats>,
    result: Mutex<Option<Value>>,
    inflight: Mutex<HashMap<String, oneshot::Sender<()>>>,
    out: mpsc::Sender<Vec<u8>>,
}

/// A running bridge; aborted when dropped.
pub(crate) struct BridgeHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<BridgeOutcome>>,
    /// Fires when the bridge asks for the run to end (too many protocol errors).
    end_run: Option<oneshot::Receiver<()>>,
}

impl Drop for BridgeHandle {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl BridgeHandle {
    /// Resolves when the bridge asks for the run to end; never, if it does not.
    pub(crate) async fn end_requested(&mut self) {
        if let Some(rx) = self.end_run.as_mut() {
            let asked = rx.await.is_ok();
            self.end_run = None;
            if asked {
                return;
            }
        }
        std::future::pending::<()>().await
    }

    /// Lets the bridge read what the program wrote (up to `grace` for EOF), then cancels
    /// pending calls, waits for their observers and closes fd 4.
    pub(crate) async fn finish(mut self, grace: Duration) -> BridgeOutcome {
        let Some(mut task) = self.task.take() else {
            return BridgeOutcome::default();
        };
        let r = tokio::select! {
            r = &mut task => Some(r),
            _ = tokio::time::sleep(grace) => None,
        };
        let r = match r {
            Some(r) => r,
            None => {
                if let Some(stop) = self.stop.take() {
                    let _ = stop.send(());
                }
                task.await
            }
        };
        r.unwrap_or_default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn error_line(id: &Value, code: i64, message: String, tool: Option<&str>) -> Vec<u8> {
    let mut err = json!({"code": code, "message": message});
    if let Some(tool) = tool {
        err["data"] = json!({"tool": tool});
    }
    line(&json!({"jsonrpc": "2.0", "id": id, "error": err}))
}

/// `s` cut to `max` characters, marked when cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}... ({} bytes)", &s[..at], s.len()),
    }
}

/// The id to answer with: a number, or a string short enough to echo; anything else `null`.
fn reply_id(id: Option<&Value>) -> Option<Value> {
    match id? {
        Value::Number(n) => Some(Value::Number(n.clone())),
        Value::String(s) if s.chars().count() <= MAX_ECHO_CHARS => Some(Value::String(s.clone())),
        _ => None,
    }
}

fn line(v: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(v).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Best-effort id of an oversized line (`null` when it cannot be read).
fn sniff_id(prefix: &[u8]) -> Value {
    let head = String::from_utf8_lossy(&prefix[..prefix.len().min(256)]).into_owned();
    let Some(pos) = head.find("\"id\"") else {
        return Value::Null;
    };
    let rest = head[pos + 4..]
        .trim_start()
        .trim_start_matches(':')
        .trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or(Value::Null)
}

/// Starts serving. `requests` is the host end of fd 3, `responses` the host end of fd 4.
pub(crate) fn serve(
    requests: OwnedFd,
    responses: OwnedFd,
    ctx: BridgeContext,
) -> std::io::Result<BridgeHandle> {
    let rx = pipe::Receiver::from_owned_fd(requests)?;
    let tx = pipe::Sender::from_owned_fd(responses)?;
    let (out, mut out_rx) = mpsc::channel::<Vec<u8>>(REPLY_QUEUE);
    let writer = tokio::spawn(async move {
        let mut tx = tx;
        while let Some(bytes) = out_rx.recv().await {
            if tx.write_all(&bytes).await.is_err() {
                // The program stopped reading; keep draining so senders never block.
                while out_rx.recv().await.is_some() {}
                break;
            }
        }
    });
    let allowed = ctx
        .tools
        .iter()
        .map(|t| (t.qualified_name(), t.clone()))
        .collect();
    let state = Arc::new(State {
        ctx,
        allowed,
        validators: Mutex::new(HashMap::new()),
        next_index: AtomicU32::new(0),
        stats: Mutex::new(BridgeStats::default()),
        result: Mutex::new(None),
        inflight: Mutex::new(HashMap::new()),
        out,
    });
    let (stop_tx, stop_rx) = oneshot::channel();
    let (end_tx, end_rx) = oneshot::channel();
    let task = tokio::spawn(run(state, rx, stop_rx, writer, end_tx));
    Ok(BridgeHandle {
        stop: Some(stop_tx),
        task: Some(task),
        end_run: Some(end_rx),
    })
}

/// Whether `line` is a notification that starts no call (a `method` other than `tools/call`
/// and no `id`; a `tools/call` always waits for a call slot, whatever its id).
fn is_notification(line: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Shape<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
        id: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Shape>(line)
        .is_ok_and(|s| s.id.is_none() && s.method.is_some_and(|m| m != "tools/call"))
}

/// Waits until a reply can be queued and a call can start; `None` when the bridge is stopped
/// meanwhile. Until then nothing more is read from fd 3: that is the backpressure.
async fn room<'a>(
    out: &'a mpsc::Sender<Vec<u8>>,
    calls: &mut JoinSet<()>,
    stop: &mut oneshot::Receiver<()>,
) -> Option<mpsc::Permit<'a, Vec<u8>>> {
    while calls.len() >= MAX_PENDING_CALLS {
        tokio::select! {
            _ = &mut *stop => return None,
            _ = calls.join_next() => {}
        }
    }
    tokio::select! {
        _ = &mut *stop => None,
        permit = out.reserve() => permit.ok(),
    }
}

async fn run(
    state: Arc<State>,
    mut rx: pipe::Receiver,
    mut stop: oneshot::Receiver<()>,
    writer: tokio::task::JoinHandle<()>,
    end_run: oneshot::Sender<()>,
) -> BridgeOutcome {
    let mut calls = JoinSet::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut discarding = false;
    let mut chunk = vec![0u8; 64 * 1024];
    'read: loop {
        let n = tokio::select! {
            _ = &mut stop => break,
            Some(_) = calls.join_next(), if !calls.is_empty() => continue,
            r = rx.read(&mut chunk) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
        };
        let mut start = 0;
        while start < n {
            let newline = chunk[start..n]
                .iter()
                .position(|b| *b == b'\n')
                .map(|off| start + off);
            if !discarding {
                buf.extend_from_slice(&chunk[start..newline.unwrap_or(n)]);
            }
            start = newline.map_or(n, |end| end + 1);
            match newline {
                // The end of a line already answered as too large.
                Some(_) if discarding => {
                    discarding = false;
                    continue;
                }
                Some(_) if buf.is_empty() => continue,
                Some(_) => {}
                // Too large already: answer now, drop the rest of it as it comes.
                None if buf.len() > MAX_REQUEST_BYTES => discarding = true,
                None => continue,
            }
            if buf.len() <= MAX_REQUEST_BYTES && is_notification(&buf) {
                // Cancellations and the result start no call and want no reply: they are
                // never held behind the backpressure (a cancel must reach a full house).
                let reply = handle(&state, &buf, &mut calls);
                buf.clear();
                if let Some(reply) = reply
                    && state.out.send(reply).await.is_err()
                {
                    break 'read;
                }
            } else {
                let Some(permit) = room(&state.out, &mut calls, &mut stop).await else {
                    break 'read;
                };
                let reply = if buf.len() > MAX_REQUEST_BYTES {
                    Some(too_large(&state, &buf))
                } else {
                    handle(&state, &buf, &mut calls)
                };
                buf.clear();
                if let Some(reply) = reply {
                    permit.send(reply);
                }
            }
            let mut stats = lock(&state.stats);
            if stats.protocol_errors >= MAX_PROTOCOL_ERRORS {
                stats.protocol_limit_hit = true;
                drop(stats);
                let _ = end_run.send(());
                break 'read;
            }
        }
    }
    // The execution is over: settle every pending call (observers still see them).
    let pending: Vec<_> = lock(&state.inflight).drain().collect();
    for (_, cancel) in pending {
        let _ = cancel.send(());
    }
    while calls.join_next().await.is_some() {}
    let outcome = BridgeOutcome {
        stats: lock(&state.stats).clone(),
        result: lock(&state.result).take(),
    };
    drop(state);
    let _ = writer.await;
    outcome
}

/// Polls a future, turning a panic into `Err(message)`; once it has panicked it is not
/// polled again.
struct CatchUnwind<F>(Option<std::pin::Pin<Box<F>>>);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(inner) = self.0.as_mut() else {
            return std::task::Poll::Ready(Err("polled after it finished".to_owned()));
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(payload) => {
                // Dropping what panicked may panic too: contained as well, so a reply goes out.
                let broken = self.0.take();
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(broken)));
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                std::task::Poll::Ready(Err(message))
            }
        }
    }
}

fn too_large(state: &State, buf: &[u8]) -> Vec<u8> {
    lock(&state.stats).protocol_errors += 1;
    error_line(
        &sniff_id(buf),
        TOO_LARGE,
        format!("a request line may be at most {MAX_REQUEST_BYTES} bytes"),
        None,
    )
}

/// Handles one request line; returns the reply to send now, if any (a tool call replies
/// from its own task).
fn handle(state: &Arc<State>, bytes: &[u8], calls: &mut JoinSet<()>) -> Option<Vec<u8>> {
    let protocol_error = |id: &Value, code, message: String| {
        lock(&state.stats).protocol_errors += 1;
        Some(error_line(id, code, message, None))
    };
    let msg: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return protocol_error(
                &Value::Null,
                PARSE_ERROR,
                format!("the line is not valid JSON: {e}"),
            );
        }
    };
    let Some(obj) = msg.as_object() else {
        return protocol_error(
            &Value::Null,
            INVALID_REQUEST,
            "a message must be a JSON object".to_owned(),
        );
    };
    let id = reply_id(obj.get("id"));
    let reply_id = id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return protocol_error(
            &reply_id,
            INVALID_REQUEST,
            "`jsonrpc` must be \"2.0\"".to_owned(),
        );
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return protocol_error(
            &reply_id,
            INVALID_REQUEST,
            "`method` must be a string".to_owned(),
        );
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    match method {
        "tools/call" => {
            let Some(id) = id else {
                return protocol_error(
                    &Value::Null,
                    INVALID_REQUEST,
                    format!(
                        "`tools/call` needs an `id`: an integer, or a string of at most \
                         {MAX_ECHO_CHARS} characters"
                    ),
                );
            };
            let (cancel_tx, cancel_rx) = oneshot::channel();
            lock(&state.inflight).insert(id.to_string(), cancel_tx);
            let state = state.clone();
            calls.spawn(async move {
                let key = id.to_string();
                // A panicking invoker or observer must not leave the program waiting forever.
                // Caught in this task (not a detached one), so when the run is dropped the
                // call is dropped with it instead of running on until its timeout.
                let reply =
                    match CatchUnwind(Some(Box::pin(call(&state, &id, params, cancel_rx)))).await {
                        Ok(reply) => reply,
                        Err(panic) => error_line(
                            &id,
                            TOOL_FAILED,
                            format!("the host failed the call: it panicked: {panic}"),
                            None,
                        ),
                    };
                lock(&state.inflight).remove(&key);
                let _ = state.out.send(reply).await;
            });
            None
        }
        "notifications/cancelled" => {
            let key = params
                .get("requestId")
                .map(Value::to_string)
                .unwrap_or_default();
            if let Some(cancel) = lock(&state.inflight).remove(&key) {
                let _ = cancel.send(());
            }
            None
        }
        "codeward/result" => {
            *lock(&state.result) = Some(params.get("value").cloned().unwrap_or(Value::Null));
            None
        }
        other => {
            if obj.contains_key("id") {
                protocol_error(
                    &reply_id,
                    METHOD_NOT_FOUND,
                    format!("unknown method `{}`", clip(other, MAX_ECHO_CHARS)),
                )
            } else {
                None
            }
        }
    }
}

fn validator(
    state: &State,
    name: &str,
    schema: &Value,
) -> Arc<Result<jsonschema::Validator, String>> {
    let mut cache = lock(&state.validators);
    cache
        .entry(name.to_owned())
        .or_insert_with(|| Arc::new(jsonschema::validator_for(schema).map_err(|e| e.to_string())))
        .clone()
}

enum Dispatch {
    Done(Result<ToolResult, Error>),
    /// After this long (the invoker's own deadline, or the bridge's).
    TimedOut(Duration),
    Cancelled,
}

async fn call(state: &State, id: &Value, params: Value, cancel: oneshot::Receiver<()>) -> Vec<u8> {
    let refuse = |code, message: String, tool: Option<&str>| {
        lock(&state.stats).refused += 1;
        error_line(id, code, message, tool)
    };
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return refuse(
            INVALID_PARAMS,
            "`params.name` must be a string".to_owned(),
            None,
        );
    };
    let arguments = params
        .get("arguments")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let Some(tool) = state.allowed.get(name) else {
        let name = clip(name, MAX_ECHO_CHARS);
        return refuse(
            METHOD_NOT_FOUND,
            format!("tool {name} is not allowed in this execution"),
            Some(&name),
        );
    };
    if !arguments.is_object() {
        return refuse(
            INVALID_PARAMS,
            format!("arguments of {name} must be an object"),
            Some(name),
        );
    }
    match &*validator(state, name, &tool.input_schema) {
        Err(e) => {
            return refuse(
                INVALID_PARAMS,
                format!("the inputSchema of {name} is not a valid JSON Schema: {e}"),
                Some(name),
            );
        }
        Ok(v) => {
            let problems: Vec<String> = v
                .iter_errors(&arguments)
                .take(3)
                .map(|e| clip(&format!("{}: {e}", e.instance_path()), MAX_PROBLEM_CHARS))
                .collect();
            if !problems.is_empty() {
                return refuse(
                    INVALID_PARAMS,
                    format!(
                        "arguments do not match the schema of {name}: {}",
                        problems.join("; ")
                    ),
                    Some(name),
                );
            }
        }
    }
    let index = state.next_index.fetch_add(1, Ordering::SeqCst) + 1;
    if index > state.ctx.max_calls {
        lock(&state.stats).budget_exceeded = true;
        return refuse(
            BUDGET_SPENT,
            format!(
                "the tool-call budget of this execution ({} calls) is spent",
                state.ctx.max_calls
            ),
            Some(name),
        );
    }
    let record = ToolCall::new(
        state.ctx.execution_id.clone(),
        index,
        name,
        arguments.clone(),
    );
    if let Err(e) = state.ctx.observer.before_call(&record, tool).await {
        // Fail closed: a call the host cannot audit does not happen.
        return refuse(
            REFUSED,
            format!("the host refused the call: {e}"),
            Some(name),
        );
    }
    lock(&state.stats).dispatched += 1;
    let started = Instant::now();
    let timeout = state.ctx.call_timeout;
    // The invoker is told the deadline and may enforce it itself (the MCP pool does, to spot
    // a hung server); the bridge's own timer, a little later, covers invokers that do not.
    let call = state.ctx.invoker.call_within(name, arguments, timeout);
    let outcome = tokio::select! {
        r = tokio::time::timeout(timeout.saturating_add(INVOKER_GRACE), call) => match r {
            Ok(Err(Error::Timeout { after, .. })) => Dispatch::TimedOut(after),
            Err(_) => Dispatch::TimedOut(timeout),
            Ok(r) => Dispatch::Done(r),
        },
        _ = cancel => Dispatch::Cancelled,
    };
    let elapsed = started.elapsed();
    let observed: Result<ToolResult, Error> = match &outcome {
        Dispatch::Done(Ok(r)) => Ok(r.clone()),
        Dispatch::Done(Err(e)) => Err(Error::Tool {
            tool: name.to_owned(),
            message: e.to_string(),
        }),
        Dispatch::TimedOut(after) => Err(Error::Timeout {
            operation: format!("tool call {name}"),
            after: *after,
        }),
        Dispatch::Cancelled => Err(Error::Layer {
            context: format!("tool call {name} cancelled"),
            source: None,
        }),
    };
    state
        .ctx
        .observer
        .after_call(&record, tool, &observed, elapsed)
        .await;
    match outcome {
        Dispatch::Done(Ok(r)) => {
            // The value travels once: a success as `structuredContent` (which the clients
            // prefer), an error's message as text. Sending both would halve the largest
            // result that fits in MAX_RESPONSE_BYTES.
            let (content, structured) = if r.is_error {
                let text = match &r.value {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    v => v.to_string(),
                };
                // No text at all lets the clients say "<tool> reported an error".
                let content = if text.is_empty() {
                    json!([])
                } else {
                    json!([{"type": "text", "text": text}])
                };
                (content, Value::Null)
            } else {
                (json!([]), r.value.clone())
            };
            let bytes = line(&json!({
                "jsonrpc": "2.0",
                "id": id,
                "result": {"content": content, "structuredContent": structured, "isError": r.is_error},
            }));
            if bytes.len() > MAX_RESPONSE_BYTES {
                return error_line(
                    id,
                    TOO_LARGE,
                    format!("the result of {name} exceeds {MAX_RESPONSE_BYTES} bytes"),
                    Some(name),
                );
            }
            bytes
        }
        Dispatch::Done(Err(e)) => error_line(
            id,
            TOOL_FAILED,
            format!("tool {name} failed: {e}"),
            Some(name),
        ),
        Dispatch::TimedOut(after) => {
            lock(&state.stats).timed_out += 1;
            error_line(
                id,
                TIMED_OUT,
                format!("tool call {name} timed out after {after:?}"),
                Some(name),
            )
        }
        Dispatch::Cancelled => {
            lock(&state.stats).cancelled += 1;
            error_line(
                id,
                CANCELLED,
                format!("tool call {name} was cancelled"),
                Some(name),
            )
        }
    }
}
