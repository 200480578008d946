//! One live connection to a stdio server: the child process (in its own process group), its
//! stderr forwarded to `tracing`, and an rmcp transport that treats non-JSON stdout as a
//! protocol violation instead of skipping it.

use crate::config::StdioServer;
use crate::error::{McpError, Result};
use crate::handler::Handler;
use crate::options::PoolOptions;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use rmcp::service::{RoleClient, RunningService, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::{Peer, ServiceExt};
use std::collections::VecDeque;
use std::future::Future;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::watch;

/// The `tracing` target of lines servers write to stderr.
pub const SERVER_LOG_TARGET: &str = "codeward_mcp::server";
/// A message longer than this is a protocol violation (a runaway or binary stdout).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Stderr lines longer than this are cut (a progress bar that never ends its line, a dump).
const MAX_STDERR_LINE: usize = 8 * 1024;
/// Stderr lines longer than this are cut in the tail kept for errors.
const MAX_TAIL_LINE: usize = 400;

/// Why a connection ended. The first definite cause (exit status, protocol violation) wins;
/// a vague one (stdout closed) only holds until a definite one arrives.
#[derive(Debug, Clone, Default)]
struct Fate(Arc<Mutex<Option<(String, bool)>>>);

impl Fate {
    fn set(&self, reason: String) {
        self.record(reason, true);
    }

    fn set_vague(&self, reason: String) {
        self.record(reason, false);
    }

    fn record(&self, reason: String, definite: bool) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some((_, true)) => {}
            Some((_, false)) if !definite => {}
            _ => *slot = Some((reason, definite)),
        }
    }

    fn get(&self) -> Option<String> {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().map(|(reason, _)| reason.clone())
    }
}

/// The last lines a server wrote to stderr.
#[derive(Debug, Clone)]
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    keep: usize,
}

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == self.keep {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn text(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// A server's process group, which is signalled only while its leader (the server) is known
/// not to have been reaped.
///
/// A group id is the leader's pid, and the kernel does not hand out a number that a process
/// or zombie still holds as its pid or group id. While the leader is unreaped the id can only
/// name this group; once the leader is reaped and the group empty, it can name a stranger's
/// (often another server of this pool, since each gets a group of its own). So the leader is
/// reaped here and nowhere else: [`watch_exit`] sees its exit without reaping it, then
/// [`Group::reap`] kills what is left of the group (helpers of a server that is gone) and
/// reaps, in one step under the lock that [`Group::signal`] takes. After that nothing is
/// signalled. Killing the leftovers at once, not when the connection is dropped, also matters
/// on its own: one that inherited the server's stdout would keep requests waiting.
#[derive(Debug)]
struct Group {
    pgid: i32,
    /// `None` once reaped.
    leader: Mutex<Option<Child>>,
}

impl Group {
    fn leader(&self) -> MutexGuard<'_, Option<Child>> {
        self.leader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn signal(&self, signal: Signal) {
        if self.leader().is_some() {
            // ESRCH (already gone) is the expected outcome after a clean exit.
            let _ = killpg(Pid::from_raw(self.pgid), signal);
        }
    }

    /// Kills what is left of the group and reaps the leader, whose exit has been seen.
    fn reap(&self) -> String {
        let mut leader = self.leader();
        let Some(child) = leader.as_mut() else {
            return "was reaped elsewhere".into();
        };
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        let status = match child.try_wait() {
            Ok(Some(status)) => format!("exited ({status})"),
            Ok(None) => "exited".into(),
            Err(e) => format!("could not be waited for: {e}"),
        };
        *leader = None;
        status
    }

    /// Whether any process of the group still exists (zombies of reparented processes count
    /// until init reaps them). Only a probe (signal 0), so it is asked after the reap too: a
    /// group that is still there keeps its id, and one that is gone answers "no such group"
    /// unless its id has already been reused, which costs a wait, never a kill.
    fn alive(&self) -> bool {
        killpg(Pid::from_raw(self.pgid), None::<Signal>).is_ok()
    }
}

/// Kills the server's process group when dropped, so no server (nor what `npx` started for
/// it) outlives its connection, even when a future holding it is cancelled.
#[derive(Debug)]
struct GroupKiller {
    group: Option<Arc<Group>>,
}

impl GroupKiller {
    fn signal(&self, signal: Signal) {
        if let Some(group) = &self.group {
            group.signal(signal);
        }
    }

    fn group_alive(&self) -> bool {
        self.group.as_ref().is_some_and(|group| group.alive())
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// Waits for the server to exit without reaping it, then lets [`Group::reap`] kill the rest
/// of its group and reap it, and reports how it ended.
async fn watch_exit(group: Arc<Group>, fate: Fate, exit: watch::Sender<Option<String>>) {
    let pid = Pid::from_raw(group.pgid);
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()).ok();
    loop {
        // Checked after the handler is in place, so an exit before it is not missed.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
            // Exited (or not ours to wait for, which `reap` reports).
            _ => break,
        }
        match &mut sigchld {
            Some(sigchld) => {
                sigchld.recv().await;
            }
            // No SIGCHLD handler could be installed: look now and then instead.
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let status = group.reap();
    fate.set(format!("the server process {status}"));
    let _ = exit.send(Some(status));
}

/// A running stdio server with an initialized MCP session.
pub(crate) struct Connection {
    server: Arc<str>,
    peer: Peer<RoleClient>,
    running: tokio::sync::Mutex<Option<RunningService<RoleClient, Handler>>>,
    pid: Option<u32>,
    exit: watch::Receiver<Option<String>>,
    fate: Fate,
    stderr: StderrTail,
    stderr_done: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    killer: GroupKiller,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Spawns the server and completes the MCP handshake within `options.startup_timeout`.
    /// Gives up (and kills what it spawned) when `stop` completes first.
    pub(crate) async fn start(
        server: &str,
        spec: &StdioServer,
        options: &PoolOptions,
        handler: Handler,
        stop: impl Future<Output = ()>,
    ) -> Result<Connection> {
        let server: Arc<str> = Arc::from(server);
        let failed = |reason: String, stderr_tail: String| McpError::StartFailed {
            server: server.to_string(),
            command: spec.command_line(),
            reason,
            stderr_tail,
        };
        let mut command = tokio::process::Command::new(&spec.command);
        command
            .args(&spec.args)
            .envs(&spec.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own group, so one signal reaches the server and anything it started.
            .process_group(0);
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().map_err(|e| {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "cannot run {:?}: not found (is it installed and on PATH? is \"cwd\" an existing folder?)",
                    spec.command
                ),
                std::io::ErrorKind::PermissionDenied => {
                    format!("cannot run {:?}: permission denied (is it executable?)", spec.command)
                }
                _ => format!("cannot run {:?}: {e}", spec.command),
            };
            failed(reason, String::new())
        })?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(failed(
                "the child's pipes were not set up".into(),
                String::new(),
            ));
        };
        let Some(pgid) = pid.and_then(|p| i32::try_from(p).ok()) else {
            return Err(failed(
                "the child has no usable process id".into(),
                String::new(),
            ));
        };
        let group = Arc::new(Group {
            pgid,
            leader: Mutex::new(Some(child)),
        });
        let killer = GroupKiller {
            group: Some(Arc::clone(&group)),
        };

        let stderr_tail = StderrTail {
            lines: Arc::default(),
            keep: options.stderr_tail_lines.max(1),
        };
        let stderr_done = tokio::spawn(forward_stderr(
            Arc::clone(&server),
            stderr,
            stderr_tail.clone(),
        ));
        let (exit_tx, exit) = watch::channel(None);
        let fate = Fate::default();
        tokio::spawn(watch_exit(group, fate.clone(), exit_tx));

        let transport = ChildTransport {
            stdin: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            stdout: BufReader::new(stdout),
            line: Vec::new(),
            discarding: false,
            fate: fate.clone(),
            server: Arc::clone(&server),
        };
        let client = handler;
        let mut exit_wait = exit.clone();
        let served = tokio::select! {
            served = tokio::time::timeout(options.startup_timeout, client.serve(transport)) => Some(served),
            () = stop => None,
        };
        let reason = match served {
            Some(Ok(Ok(running))) => {
                return Ok(Connection {
                    peer: running.peer().clone(),
                    running: tokio::sync::Mutex::new(Some(running)),
                    server,
                    pid,
                    exit,
                    fate,
                    stderr: stderr_tail,
                    stderr_done: tokio::sync::Mutex::new(Some(stderr_done)),
                    killer,
                });
            }
            None => "the pool shut down during the start".into(),
            Some(Err(_)) => format!(
                "no answer to initialize within {:?}",
                options.startup_timeout
            ),
            Some(Ok(Err(e))) => {
                // The process has usually just exited; give its exit status a moment to
                // arrive, as it says more than "connection closed".
                let _ = tokio::time::timeout(
                    Duration::from_millis(500),
                    exit_wait.wait_for(Option::is_some),
                )
                .await;
                fate.get()
                    .unwrap_or_else(|| format!("initialize failed: {e}"))
            }
        };
        Self::kill_started(&killer, exit, stderr_done).await;
        Err(failed(reason, stderr_tail.text()))
    }

    /// Kills a server that did not start and waits (bounded) until it is gone.
    async fn kill_started(
        killer: &GroupKiller,
        mut exit: watch::Receiver<Option<String>>,
        stderr_done: tokio::task::JoinHandle<()>,
    ) {
        killer.signal(Signal::SIGKILL);
        // The exit is reported once the leader is reaped; stderr reaches EOF once the group
        // is gone. Both bounded in case a grandchild escaped the group and keeps the pipe open.
        let limit = Duration::from_millis(500);
        let _ = tokio::time::timeout(limit, exit.wait_for(Option::is_some)).await;
        let _ = tokio::time::timeout(limit, stderr_done).await;
    }

    /// Connects to a streamable HTTP server and completes the MCP handshake.
    #[cfg(feature = "http")]
    pub(crate) async fn start_http(
        server: &str,
        spec: &crate::config::HttpServer,
        options: &PoolOptions,
        handler: Handler,
    ) -> Result<Connection> {
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let failed = |reason: String| McpError::ConnectFailed {
            server: server.to_owned(),
            url: spec.url.clone(),
            reason,
        };
        // rustls needs a process-wide crypto provider; keep one installed by the host program.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = std::collections::HashMap::new();
        for (name, value) in &spec.headers {
            let header = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| failed(format!("header name {name:?} is not valid HTTP")))?;
            // The value is often a secret: say which header, never what it holds.
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| failed(format!("the value of header {name:?} is not valid HTTP")))?;
            headers.insert(header, value);
        }
        let config = StreamableHttpClientTransportConfig::with_uri(spec.url.as_str())
            .custom_headers(headers);
        let transport = StreamableHttpClientTransport::from_config(config);
        let (_exit_tx, exit) = watch::channel(None);
        match tokio::time::timeout(options.startup_timeout, handler.serve(transport)).await {
            Ok(Ok(running)) => Ok(Connection {
                peer: running.peer().clone(),
                running: tokio::sync::Mutex::new(Some(running)),
                server: Arc::from(server),
                pid: None,
                exit,
                fate: Fate::default(),
                stderr: StderrTail {
                    lines: Arc::default(),
                    keep: 1,
                },
                stderr_done: tokio::sync::Mutex::new(None),
                killer: GroupKiller { group: None },
            }),
            Ok(Err(e)) => Err(failed(format!("initialize failed: {e}"))),
            Err(_) => Err(failed(format!(
                "no answer to initialize within {:?}",
                options.startup_timeout
            ))),
        }
    }

    /// The peer for requests.
    pub(crate) fn peer(&self) -> &Peer<RoleClient> {
        &self.peer
    }

    /// The server process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// `None` while the connection can take requests, else why not.
    pub(crate) fn broken(&self) -> Option<String> {
        if let Some(fate) = self.fate.get() {
            return Some(fate);
        }
        if self.exit.borrow().is_some() {
            return Some("the server process exited".into());
        }
        if self.peer.is_transport_closed() {
            return Some("the connection closed".into());
        }
        None
    }

    /// Waits up to `limit` for the process to exit.
    pub(crate) async fn wait_exit(&self, limit: Duration) {
        let mut exit = self.exit.clone();
        let _ = tokio::time::timeout(limit, exit.wait_for(Option::is_some)).await;
    }

    /// Why the connection ended, with the server's last stderr line when there is one.
    pub(crate) fn failure(&self) -> String {
        let reason = self
            .broken()
            .unwrap_or_else(|| "the connection closed".into());
        match self.stderr.text().lines().last() {
            Some(last) if !last.trim().is_empty() => format!("{reason}; last stderr line: {last}"),
            _ => reason,
        }
    }

    /// Marks the connection dead (a hung server) and kills the process group.
    pub(crate) fn abandon(&self, reason: String) {
        self.fate.set(reason);
        self.killer.signal(Signal::SIGKILL);
    }

    /// Closes stdin, waits `grace` for an exit, then SIGTERM and `grace` again, then SIGKILL
    /// (the MCP stdio shutdown sequence). Returns once the process is gone.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        self.fate.set("the pool shut the server down".into());
        if let Some(running) = self.running.lock().await.take() {
            // Cancelling the service closes the transport, which closes the server's stdin.
            let _ = tokio::time::timeout(grace, running.cancel()).await;
        }
        let mut exit = self.exit.clone();
        if tokio::time::timeout(grace, exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.killer.signal(Signal::SIGTERM);
            if tokio::time::timeout(grace, exit.wait_for(Option::is_some))
                .await
                .is_err()
            {
                self.killer.signal(Signal::SIGKILL);
                let _ = tokio::time::timeout(grace, exit.wait_for(Option::is_some)).await;
            }
        }
        // Forward the last stderr lines before returning (bounded: a grandchild that left
        // the group could hold the pipe open).
        if let Some(done) = self.stderr_done.lock().await.take() {
            let _ = tokio::time::timeout(grace, done).await;
        }
        // Whatever the server left behind in its group goes too; wait (bounded) until the
        // group is empty so callers can rely on "no leftover processes" once this returns.
        self.killer.signal(Signal::SIGKILL);
        let deadline = tokio::time::Instant::now() + grace;
        while self.killer.group_alive() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Forwards each stderr line to `tracing` and the tail. `\r` ends a line as `\n` does (a
/// progress bar redraws its line with it and may never write a newline), blank lines are
/// skipped, and a line is cut at `MAX_STDERR_LINE` bytes: memory stays bounded whatever the
/// server writes, for as long as it runs.
async fn forward_stderr(server: Arc<str>, stderr: tokio::process::ChildStderr, tail: StderrTail) {
    let mut reader = BufReader::new(stderr);
    let mut line = StderrLine::default();
    let emit = |text: &[u8], cut: bool| {
        let text = String::from_utf8_lossy(text);
        let text = text.trim_end();
        if text.trim_start().is_empty() {
            return;
        }
        if cut {
            tracing::info!(target: SERVER_LOG_TARGET, server = %server, "{text}... [line truncated at {MAX_STDERR_LINE} bytes]");
        } else {
            tracing::info!(target: SERVER_LOG_TARGET, server = %server, "{text}");
        }
        tail.push(text.chars().take(MAX_TAIL_LINE).collect());
    };
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let read = chunk.len();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|b| matches!(b, b'\n' | b'\r')) {
            line.push(&rest[..end]);
            emit(&line.text, line.cut);
            line = StderrLine::default();
            rest = &rest[end + 1..];
        }
        line.push(rest);
        reader.consume(read);
    }
    // A last line without a line end.
    emit(&line.text, line.cut);
}

/// The stderr line being read: at most `MAX_STDERR_LINE` bytes of it, and whether more came.
#[derive(Default)]
struct StderrLine {
    text: Vec<u8>,
    cut: bool,
}

impl StderrLine {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_STDERR_LINE - self.text.len();
        if bytes.len() > room {
            self.cut = true;
        }
        self.text.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// Newline-delimited JSON-RPC over the child's pipes. Unlike rmcp's stdio transport, a line
/// that is not JSON ends the connection with a recorded reason, because a server that
/// writes logs to stdout would otherwise leave requests hanging until they time out.
struct ChildTransport {
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    stdout: BufReader<ChildStdout>,
    /// The line being read; kept across cancelled `receive` calls (rmcp polls it in `select!`).
    line: Vec<u8>,
    discarding: bool,
    fate: Fate,
    server: Arc<str>,
}

enum Line {
    Complete,
    TooLong,
    End,
}

impl ChildTransport {
    /// Reads one line into `self.line` without growing past `MAX_MESSAGE_BYTES`;
    /// cancellation-safe (bytes are consumed only after they were copied).
    async fn read_line(&mut self) -> std::io::Result<Line> {
        loop {
            let available = self.stdout.fill_buf().await?;
            if available.is_empty() {
                return Ok(Line::End);
            }
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            if !self.discarding {
                if self.line.len() + take > MAX_MESSAGE_BYTES {
                    self.discarding = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(&available[..take]);
                }
            }
            self.stdout.consume(take);
            if newline.is_some() {
                if self.discarding {
                    self.discarding = false;
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Complete);
            }
        }
    }

    fn violation(&self, what: String) -> Option<RxJsonRpcMessage<RoleClient>> {
        tracing::warn!(target: SERVER_LOG_TARGET, server = %self.server, "protocol violation: {what}");
        self.fate.set(format!("protocol violation: {what}"));
        None
    }
}

impl Transport<RoleClient> for ChildTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let stdin = Arc::clone(&self.stdin);
        async move {
            let mut bytes = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            let mut stdin = stdin.lock().await;
            let pipe = stdin.as_mut().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotConnected, "transport closed")
            })?;
            pipe.write_all(&bytes).await?;
            pipe.flush().await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            match self.read_line().await {
                Ok(Line::Complete) => {}
                Ok(Line::TooLong) => {
                    return self.violation(format!(
                        "a message on stdout is longer than {MAX_MESSAGE_BYTES} bytes"
                    ));
                }
                Ok(Line::End) => {
                    self.fate.set_vague("the server closed its stdout".into());
                    return None;
                }
                Err(e) => {
                    self.fate
                        .set_vague(format!("reading the server's stdout failed: {e}"));
                    return None;
                }
            }
            let line = std::mem::take(&mut self.line);
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let value: serde_json::Value = match serde_json::from_slice(text) {
                Ok(value @ serde_json::Value::Object(_)) => value,
                _ => {
                    let shown: String = String::from_utf8_lossy(text).chars().take(120).collect();
                    return self.violation(format!("stdout line is not a JSON-RPC message: {shown:?} (servers must log to stderr)"));
                }
            };
            match serde_json::from_value::<RxJsonRpcMessage<RoleClient>>(value) {
                Ok(message) => return Some(message),
                // Well-formed JSON of an unknown shape (a newer protocol's message, say):
                // skip it as the other SDKs do; a request waiting for it will time out.
                Err(e) => {
                    tracing::warn!(target: SERVER_LOG_TARGET, server = %self.server, "ignoring a message of unknown shape: {e}");
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Dropping stdin is the polite "please exit" of the stdio transport.
        drop(self.stdin.lock().await.take());
        Ok(())
    }
}
