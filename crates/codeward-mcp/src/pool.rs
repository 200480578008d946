//! `McpPool`: one connection per configured server, started on first use, restarted with
//! backoff when it dies, with health and counters per server; the `ToolInvoker` for codeward.

use crate::config::{McpConfig, ServerConfig, json_type};
use crate::convert::{tool_result, tool_schema};
use crate::error::{McpError, Result};
use crate::handler::Handler;
use crate::options::PoolOptions;
use crate::process::Connection;
use async_trait::async_trait;
use codeward_core::{ToolInvoker, ToolResult, ToolSchema};
use rmcp::ServiceError;
use rmcp::model::CallToolRequestParams;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Whether a server can take calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerHealth {
    /// Not started yet: servers start on first use (or [`McpPool::load_tools`]).
    #[default]
    NotStarted,
    /// Connected and answering.
    Healthy,
    /// Down, hung or broke the protocol; the next call restarts it if the budget allows.
    Unhealthy {
        /// What happened, with the server's last stderr line when there is one.
        reason: String,
    },
    /// Shut down with the pool.
    Stopped,
}

impl ServerHealth {
    /// Whether the server is connected and answering.
    pub fn is_healthy(&self) -> bool {
        matches!(self, ServerHealth::Healthy)
    }
}

/// Counters of one server since the pool was built.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServerStats {
    /// `tools/call` requests asked of the server.
    pub calls: u64,
    /// Calls that failed or came back with `isError`.
    pub errors: u64,
    /// Calls that hit their deadline (also counted in `errors`).
    pub timeouts: u64,
    /// Successful restarts after the first start.
    pub restarts: u64,
    /// Calls that reached the server and were answered or timed out (the latency sample).
    pub measured: u64,
    /// Time spent in answered or timed-out calls.
    #[serde(with = "codeward_core::duration")]
    pub latency_total: Duration,
    /// The slowest call.
    #[serde(with = "codeward_core::duration")]
    pub latency_max: Duration,
}

impl ServerStats {
    /// Mean latency of the calls that reached the server.
    pub fn mean_latency(&self) -> Option<Duration> {
        let timed = u32::try_from(self.measured).ok().filter(|n| *n > 0)?;
        Some(self.latency_total / timed)
    }
}

/// A server's name, health, counters and process.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServerStatus {
    /// The configured name.
    pub name: String,
    /// Current health.
    pub health: ServerHealth,
    /// Counters.
    pub stats: ServerStats,
    /// The process id of the running server.
    pub pid: Option<u32>,
    /// Tools listed at the last `tools/list`.
    pub tools: usize,
}

/// What [`McpPool::load_tools`] found: every tool of every reachable server, and a report
/// per server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ToolLoad {
    /// Tools of all servers that answered, namespaced `server.tool`, ordered by server.
    pub tools: Vec<ToolSchema>,
    /// One entry per configured server, by name.
    pub servers: Vec<ServerLoad>,
}

impl ToolLoad {
    /// The servers that could not be loaded.
    pub fn failures(&self) -> impl Iterator<Item = &ServerLoad> {
        self.servers
            .iter()
            .filter(|s| matches!(s.outcome, LoadOutcome::Failed { .. }))
    }
}

/// How loading one server went.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServerLoad {
    /// The server's name.
    pub server: String,
    /// Loaded (with a tool count) or failed (with the error).
    pub outcome: LoadOutcome,
    /// Time to start (if needed) and list.
    #[serde(with = "codeward_core::duration")]
    pub elapsed: Duration,
}

/// Loaded or failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LoadOutcome {
    /// `tools/list` answered.
    Loaded {
        /// How many tools.
        tools: usize,
    },
    /// The server could not be started or listed.
    Failed {
        /// The error, naming the server and the command.
        error: String,
    },
}

/// A pool of MCP client connections, one per configured server. Cheap to clone.
///
/// Servers start lazily (first call) or all at once with [`McpPool::load_tools`]. Each runs
/// as a child process on the host, in its own process group; its `env` (secrets included)
/// reaches only that process, never the sandbox that runs agent programs.
#[derive(Clone)]
pub struct McpPool {
    inner: Arc<Inner>,
}

struct Inner {
    servers: BTreeMap<String, Arc<Server>>,
    options: PoolOptions,
    /// Counts `notifications/tools/list_changed` from any server.
    tool_changes: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for McpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpPool")
            .field("servers", &self.inner.servers.keys().collect::<Vec<_>>())
            .field("options", &self.inner.options)
            .finish()
    }
}

impl McpPool {
    /// A pool for `config`; nothing starts until it is used.
    pub fn new(config: McpConfig, options: PoolOptions) -> Self {
        let servers = config
            .servers
            .into_iter()
            .map(|(name, config)| {
                let server = Server {
                    name: name.clone(),
                    config,
                    slot: Mutex::new(Slot::Idle),
                    state: Mutex::new(State::default()),
                    stop: watch::Sender::new(false),
                };
                (name, Arc::new(server))
            })
            .collect();
        McpPool {
            inner: Arc::new(Inner {
                servers,
                options,
                tool_changes: Arc::new(watch::Sender::new(0)),
            }),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }

    /// The configured server names, sorted.
    pub fn server_names(&self) -> Vec<String> {
        self.inner.servers.keys().cloned().collect()
    }

    /// Starts every server (concurrently) and lists its tools. Never fails as a whole: a
    /// server that cannot be loaded is reported in [`ToolLoad::servers`] and marked
    /// unhealthy, and the others' tools are returned.
    pub async fn load_tools(&self) -> ToolLoad {
        let mut tasks = tokio::task::JoinSet::new();
        for name in self.inner.servers.keys() {
            let pool = self.clone();
            let name = name.clone();
            tasks.spawn(async move {
                let started = Instant::now();
                let outcome = pool.list_tools(&name).await;
                (name, outcome, started.elapsed())
            });
        }
        let mut loaded: BTreeMap<String, (Result<Vec<ToolSchema>>, Duration)> = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((name, outcome, elapsed)) = joined {
                loaded.insert(name, (outcome, elapsed));
            }
        }
        let mut load = ToolLoad {
            tools: Vec::new(),
            servers: Vec::new(),
        };
        for name in self.inner.servers.keys() {
            let (outcome, elapsed) = match loaded.remove(name) {
                Some((Ok(tools), elapsed)) => {
                    let count = tools.len();
                    load.tools.extend(tools);
                    (LoadOutcome::Loaded { tools: count }, elapsed)
                }
                Some((Err(e), elapsed)) => (
                    LoadOutcome::Failed {
                        error: e.to_string(),
                    },
                    elapsed,
                ),
                None => (
                    LoadOutcome::Failed {
                        error: format!("loading MCP server {name:?} panicked"),
                    },
                    Duration::ZERO,
                ),
            };
            load.servers.push(ServerLoad {
                server: name.clone(),
                outcome,
                elapsed,
            });
        }
        load
    }

    /// Lists one server's tools (every page), starting the server if needed. A start is
    /// bounded by `startup_timeout` (after any restart backoff), the listing by
    /// `call_timeout`.
    pub async fn list_tools(&self, server: &str) -> Result<Vec<ToolSchema>> {
        let server = self.server(server)?;
        let conn = server
            .connection(&self.inner.options, &self.inner.tool_changes)
            .await?;
        let timeout = self.inner.options.call_timeout;
        let operation = "tools/list";
        let listed = match tokio::time::timeout(timeout, conn.peer().list_all_tools()).await {
            Err(_) => {
                server.on_timeout(&conn, &self.inner.options, Duration::ZERO, false);
                return Err(McpError::Timeout {
                    server: server.name.clone(),
                    operation: operation.into(),
                    after: timeout,
                });
            }
            Ok(Err(e)) => return Err(server.failed(&conn, operation, e).await),
            Ok(Ok(tools)) => tools,
        };
        let tools: Vec<ToolSchema> = listed
            .iter()
            .map(|t| tool_schema(&server.name, t))
            .collect();
        let mut state = server.state();
        state.answered();
        state.tools = tools.clone();
        Ok(tools)
    }

    /// A counter that goes up whenever a server announces that its tool list changed
    /// (`notifications/tools/list_changed`); refresh with [`McpPool::list_tools`] or
    /// [`McpPool::load_tools`] when it moves.
    pub fn tool_changes(&self) -> watch::Receiver<u64> {
        self.inner.tool_changes.subscribe()
    }

    /// The tools listed so far (by [`McpPool::load_tools`] or [`McpPool::list_tools`]).
    pub fn tools(&self) -> Vec<ToolSchema> {
        self.inner
            .servers
            .values()
            .flat_map(|s| s.state().tools.clone())
            .collect()
    }

    /// Calls `server.tool` with the pool's call deadline.
    pub async fn call_tool(&self, tool: &str, arguments: Value) -> Result<ToolResult> {
        self.call_tool_with_timeout(tool, arguments, self.inner.options.call_timeout)
            .await
    }

    /// Calls `server.tool` with `timeout`, which covers the whole call: waiting for the server
    /// to start (or restart, backoff included) as well as the request. Dropping the future
    /// cancels the request on the server (`notifications/cancelled`); a timeout does the same
    /// and returns [`McpError::Timeout`]. Neither cancels a start: it goes on by itself and
    /// later calls use it.
    pub async fn call_tool_with_timeout(
        &self,
        tool: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<ToolResult> {
        let (server, name) = self.route(tool)?;
        let arguments = match arguments {
            Value::Null => None,
            Value::Object(map) => Some(map),
            other => {
                return Err(McpError::InvalidArguments {
                    tool: tool.to_owned(),
                    got: json_type(&other),
                });
            }
        };
        server.state().stats.calls += 1;
        // `Duration::MAX` means no limit: a far deadline, not an overflow.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        let operation = format!("tools/call {name}");
        let connecting = server.connection(&self.inner.options, &self.inner.tool_changes);
        let conn = match tokio::time::timeout_at(deadline, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                server.state().stats.errors += 1;
                return Err(e);
            }
            Err(_) => {
                // Nothing was asked of the server, so this does not count toward it being
                // hung; the start has its own deadline.
                let mut state = server.state();
                state.stats.errors += 1;
                state.stats.timeouts += 1;
                return Err(McpError::Timeout {
                    server: server.name.clone(),
                    operation: format!("starting the server for {operation}"),
                    after: timeout,
                });
            }
        };
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = arguments;
        let started = Instant::now();
        let outcome = tokio::time::timeout_at(deadline, conn.peer().call_tool(params)).await;
        let elapsed = started.elapsed();
        match outcome {
            Err(_) => {
                server.on_timeout(&conn, &self.inner.options, elapsed, true);
                Err(McpError::Timeout {
                    server: server.name.clone(),
                    operation,
                    after: timeout,
                })
            }
            Ok(Ok(result)) => {
                let result = tool_result(result);
                let mut state = server.state();
                state.answered();
                state.record(elapsed, result.is_error);
                Ok(result)
            }
            Ok(Err(e)) => {
                let error = server.failed(&conn, &operation, e).await;
                server.state().record(elapsed, true);
                Err(error)
            }
        }
    }

    /// Health of one server (a server that died while idle shows as unhealthy at once).
    pub fn health(&self, server: &str) -> Result<ServerHealth> {
        Ok(self.server(server)?.health())
    }

    /// Counters of one server.
    pub fn stats(&self, server: &str) -> Result<ServerStats> {
        Ok(self.server(server)?.state().stats.clone())
    }

    /// Name, health, counters and process of every server.
    pub fn status(&self) -> Vec<ServerStatus> {
        self.inner
            .servers
            .values()
            .map(|server| {
                let health = server.health();
                let state = server.state();
                ServerStatus {
                    name: server.name.clone(),
                    health,
                    stats: state.stats.clone(),
                    pid: state.pid,
                    tools: state.tools.len(),
                }
            })
            .collect()
    }

    /// Gives a server that exhausted its restarts a fresh budget (after fixing it).
    pub fn reset(&self, server: &str) -> Result<()> {
        self.server(server)?.state().restarts_in_a_row = 0;
        Ok(())
    }

    /// Stops every server (stdin closed, then SIGTERM, then SIGKILL to its process group)
    /// and refuses further calls. A start in progress is abandoned and what it spawned
    /// killed. Returns once every process is gone.
    pub async fn shutdown(&self) {
        let grace = self.inner.options.shutdown_grace;
        let mut tasks = tokio::task::JoinSet::new();
        for server in self.inner.servers.values() {
            let server = Arc::clone(server);
            tasks.spawn(async move {
                let slot = {
                    let mut slot = server.slot();
                    server.state().stopped = true;
                    std::mem::replace(&mut *slot, Slot::Idle)
                };
                server.stop.send_replace(true);
                let conn = match slot {
                    Slot::Ready(conn) => Some(conn),
                    // It sees the stop and ends soon; a start that won the race hands over
                    // its connection here, to be shut down like the others.
                    Slot::Starting(mut start) => match start.wait_for(Option::is_some).await {
                        Ok(started) => match &*started {
                            Some(Ok(conn)) => Some(Arc::clone(conn)),
                            _ => None,
                        },
                        Err(_) => None,
                    },
                    Slot::Idle => None,
                };
                if let Some(conn) = conn {
                    conn.shutdown(grace).await;
                }
                let mut state = server.state();
                state.health = ServerHealth::Stopped;
                state.pid = None;
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    fn server(&self, name: &str) -> Result<&Arc<Server>> {
        self.inner
            .servers
            .get(name)
            .ok_or_else(|| McpError::UnknownServer {
                server: name.to_owned(),
                known: self.server_names().join(", "),
            })
    }

    fn route<'t>(&self, tool: &'t str) -> Result<(&Arc<Server>, &'t str)> {
        // Server names cannot hold '.', so the first dot ends the namespace.
        let (server, name) = tool
            .split_once('.')
            .filter(|(s, n)| !s.is_empty() && !n.is_empty())
            .ok_or_else(|| McpError::UnqualifiedTool {
                tool: tool.to_owned(),
            })?;
        Ok((self.server(server)?, name))
    }
}

#[async_trait]
impl ToolInvoker for McpPool {
    async fn call(&self, tool: &str, arguments: Value) -> codeward_core::Result<ToolResult> {
        self.call_tool(tool, arguments)
            .await
            .map_err(|e| e.into_core(tool))
    }

    /// The pool enforces the caller's deadline itself, so a hung server's timeouts count
    /// toward stopping it (`PoolOptions::timeouts_before_restart`).
    async fn call_within(
        &self,
        tool: &str,
        arguments: Value,
        timeout: Duration,
    ) -> codeward_core::Result<ToolResult> {
        self.call_tool_with_timeout(tool, arguments, timeout)
            .await
            .map_err(|e| e.into_core(tool))
    }
}

struct Server {
    name: String,
    config: ServerConfig,
    slot: Mutex<Slot>,
    state: Mutex<State>,
    /// Set by shutdown; a start in progress gives up.
    stop: watch::Sender<bool>,
}

/// The live connection, or the one start that every caller who needs one waits for.
enum Slot {
    Idle,
    /// A start running in a task of its own: callers wait for it without owning it, so a
    /// caller that gives up (deadline, dropped future) neither cancels it nor wastes the
    /// restart attempt it stands for. `None` until it is over.
    Starting(watch::Receiver<Option<Started>>),
    Ready(Arc<Connection>),
}

/// How a start ended.
type Started = Result<Arc<Connection>>;

#[derive(Default)]
struct State {
    health: ServerHealth,
    tried: bool,
    /// Restarts since the server last answered a request.
    restarts_in_a_row: u32,
    consecutive_timeouts: u32,
    last_failure: Option<String>,
    stats: ServerStats,
    tools: Vec<ToolSchema>,
    pid: Option<u32>,
    stopped: bool,
}

impl State {
    fn answered(&mut self) {
        self.restarts_in_a_row = 0;
        self.consecutive_timeouts = 0;
        self.health = ServerHealth::Healthy;
    }

    fn record(&mut self, elapsed: Duration, error: bool) {
        self.stats.measured += 1;
        self.stats.latency_total += elapsed;
        self.stats.latency_max = self.stats.latency_max.max(elapsed);
        if error {
            self.stats.errors += 1;
        }
    }

    fn unhealthy(&mut self, reason: String) {
        if !self.stopped {
            self.health = ServerHealth::Unhealthy {
                reason: reason.clone(),
            };
        }
        self.last_failure = Some(reason);
    }
}

impl Server {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The recorded health, unless the live connection has broken since (a server that
    /// exited while idle); the record itself changes on the next call.
    fn health(&self) -> ServerHealth {
        let recorded = self.state().health.clone();
        if recorded.is_healthy()
            && let Slot::Ready(conn) = &*self.slot()
            && conn.broken().is_some()
        {
            return ServerHealth::Unhealthy {
                reason: conn.failure(),
            };
        }
        recorded
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live connection, starting or restarting the server when needed (or waiting for
    /// the start already under way).
    async fn connection(
        self: &Arc<Self>,
        options: &PoolOptions,
        tool_changes: &Arc<watch::Sender<u64>>,
    ) -> Result<Arc<Connection>> {
        let unsupported = match &self.config {
            ServerConfig::Http(http) if http.legacy_sse => Some("legacy SSE"),
            ServerConfig::Http(_) if !cfg!(feature = "http") => Some("streamable HTTP"),
            _ => None,
        };
        if let Some(transport) = unsupported {
            let error = McpError::UnsupportedTransport {
                server: self.name.clone(),
                transport,
            };
            self.state().unhealthy(error.to_string());
            return Err(error);
        }
        let mut start = {
            let mut slot = self.slot();
            if self.state().stopped {
                return Err(McpError::ShutDown);
            }
            if let Slot::Ready(conn) = &*slot {
                if conn.broken().is_none() {
                    return Ok(Arc::clone(conn));
                }
                self.state().unhealthy(conn.failure());
                *slot = Slot::Idle;
            }
            match &*slot {
                // Unless its task vanished without a word (a panic, its runtime shut down).
                Slot::Starting(start) if start.has_changed().is_ok() => start.clone(),
                _ => {
                    let start = self.begin_start(options, tool_changes)?;
                    *slot = Slot::Starting(start.clone());
                    start
                }
            }
        };
        let started = match start.wait_for(Option::is_some).await {
            Ok(started) => match &*started {
                Some(Ok(conn)) => Some(Ok(Arc::clone(conn))),
                Some(Err(e)) => Some(Err(e.copy())),
                None => None,
            },
            Err(_) => None,
        };
        if self.state().stopped {
            return Err(McpError::ShutDown);
        }
        started.unwrap_or_else(|| {
            Err(McpError::ConnectionLost {
                server: self.name.clone(),
                operation: "start".into(),
                reason: "the start ended without a result (did its runtime shut down?)".into(),
            })
        })
    }

    /// Spawns a start (after the restart backoff when it is a restart) if the restart budget
    /// allows one. Called with the slot locked, so there is one start at a time.
    fn begin_start(
        self: &Arc<Self>,
        options: &PoolOptions,
        tool_changes: &Arc<watch::Sender<u64>>,
    ) -> Result<watch::Receiver<Option<Started>>> {
        let restart = {
            let mut state = self.state();
            let restart = state.tried.then_some(state.restarts_in_a_row + 1);
            if let Some(attempt) = restart {
                if attempt > options.restart.max_restarts {
                    return Err(McpError::Unavailable {
                        server: self.name.clone(),
                        attempts: attempt,
                        reason: state
                            .last_failure
                            .clone()
                            .unwrap_or_else(|| "unknown".into()),
                    });
                }
                // Spent now: the attempt runs to its end whatever becomes of its callers.
                state.restarts_in_a_row = attempt;
            }
            state.tried = true;
            restart
        };
        let (done, start) = watch::channel(None);
        let server = Arc::clone(self);
        let options = options.clone();
        let tool_changes = Arc::clone(tool_changes);
        tokio::spawn(async move {
            let started = server.start(restart, &options, tool_changes).await;
            server.finish_start(restart.is_some(), started, &done);
        });
        Ok(start)
    }

    async fn start(
        &self,
        restart: Option<u32>,
        options: &PoolOptions,
        tool_changes: Arc<watch::Sender<u64>>,
    ) -> Started {
        let stop = self.stop.subscribe();
        if let Some(attempt) = restart {
            let delay = options.restart.delay(attempt);
            tracing::info!(server = %self.name, attempt, ?delay, "restarting MCP server");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped(stop.clone()) => return Err(McpError::ShutDown),
            }
        }
        let handler = Handler::new(Arc::from(self.name.as_str()), tool_changes);
        let conn = match &self.config {
            ServerConfig::Stdio(spec) => {
                Connection::start(&self.name, spec, options, handler, stopped(stop)).await
            }
            // No process to kill: dropping the attempt is enough.
            #[cfg(feature = "http")]
            ServerConfig::Http(spec) => tokio::select! {
                conn = Connection::start_http(&self.name, spec, options, handler) => conn,
                () = stopped(stop) => Err(McpError::ShutDown),
            },
            #[cfg(not(feature = "http"))]
            ServerConfig::Http(_) => Err(McpError::UnsupportedTransport {
                server: self.name.clone(),
                transport: "streamable HTTP",
            }),
        };
        conn.map(Arc::new)
    }

    /// Records how a start ended, installs its connection and tells its waiters.
    fn finish_start(&self, restart: bool, started: Started, done: &watch::Sender<Option<Started>>) {
        let mut slot = self.slot();
        let mut state = self.state();
        match &started {
            // After a shutdown took the slot, the connection goes to shutdown through `done`.
            Ok(_) if state.stopped => {}
            Ok(conn) => {
                if restart {
                    state.stats.restarts += 1;
                }
                state.health = ServerHealth::Healthy;
                state.consecutive_timeouts = 0;
                state.pid = conn.pid();
                *slot = Slot::Ready(Arc::clone(conn));
            }
            Err(e) => {
                state.unhealthy(e.to_string());
                state.pid = None;
                if !state.stopped {
                    *slot = Slot::Idle;
                }
            }
        }
        done.send_replace(Some(started));
    }

    /// Turns a failed request into an error, marking the server unhealthy when the
    /// connection itself is gone.
    async fn failed(&self, conn: &Connection, operation: &str, error: ServiceError) -> McpError {
        let lost = || async {
            // The exit status trails the closed pipe by a moment and says more.
            conn.wait_exit(Duration::from_millis(200)).await;
            let reason = conn.failure();
            self.state().unhealthy(reason.clone());
            McpError::ConnectionLost {
                server: self.name.clone(),
                operation: operation.to_owned(),
                reason,
            }
        };
        match error {
            ServiceError::McpError(data) => {
                // A JSON-RPC error is a well-formed answer: the server is alive.
                self.state().answered();
                McpError::Rejected {
                    server: self.name.clone(),
                    operation: operation.to_owned(),
                    code: data.code.0,
                    message: data.message.to_string(),
                }
            }
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => lost().await,
            _ if conn.broken().is_some() => lost().await,
            other => McpError::Protocol {
                server: self.name.clone(),
                operation: operation.to_owned(),
                problem: other.to_string(),
            },
        }
    }

    fn on_timeout(&self, conn: &Connection, options: &PoolOptions, elapsed: Duration, call: bool) {
        let mut state = self.state();
        if call {
            state.stats.timeouts += 1;
            state.record(elapsed, true);
        }
        state.consecutive_timeouts += 1;
        if state.consecutive_timeouts >= options.timeouts_before_restart {
            let reason = format!(
                "{} requests in a row timed out; the server seems hung and was stopped",
                state.consecutive_timeouts
            );
            conn.abandon(reason.clone());
            state.unhealthy(reason);
        }
    }
}

/// Completes once `stop` is set (never if its sender is gone: then nobody can stop).
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}
