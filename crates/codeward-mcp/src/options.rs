//! Pool settings: deadlines, the restart policy and shutdown grace.
//! Defaults suit interactive use; tests shorten them.

use std::time::Duration;

/// How a crashed server is restarted: bounded attempts with exponential backoff.
///
/// Attempt `n` (1-based, counted since the server last answered a request) waits
/// `initial_backoff * multiplier^(n-1)`, capped at `max_backoff`. After `max_restarts`
/// attempts without a successful request the server stays down until
/// [`McpPool::reset`](crate::McpPool::reset).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// Restarts allowed without a successful request in between.
    pub max_restarts: u32,
    /// The wait before the first restart.
    pub initial_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// Growth factor of the wait (at least 1).
    pub multiplier: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            multiplier: 2,
        }
    }
}

impl RestartPolicy {
    /// No restarts at all: a server that stops stays down.
    pub fn never() -> Self {
        RestartPolicy {
            max_restarts: 0,
            ..RestartPolicy::default()
        }
    }

    /// Sets the number of restarts.
    pub fn max_restarts(mut self, max_restarts: u32) -> Self {
        self.max_restarts = max_restarts;
        self
    }

    /// Sets the first wait and the cap.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The wait before restart `attempt` (1-based); zero for attempt 0 (the first start).
    pub fn delay(&self, attempt: u32) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let factor = self.multiplier.max(1).saturating_pow(attempt - 1);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Settings of an [`McpPool`](crate::McpPool).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Deadline of one `tools/call`, waiting for the server to start (or restart) included;
    /// the request is cancelled after it. Also the deadline of a `tools/list` request, once
    /// the server is up.
    pub call_timeout: Duration,
    /// Deadline for starting a server and completing `initialize`.
    pub startup_timeout: Duration,
    /// Consecutive timed-out calls after which the server is considered hung and restarted.
    pub timeouts_before_restart: u32,
    /// Restarts of crashed servers.
    pub restart: RestartPolicy,
    /// How long a server may take to exit after its stdin closes, and again after SIGTERM,
    /// before it is killed.
    pub shutdown_grace: Duration,
    /// Lines of each server's stderr kept for error messages.
    pub stderr_tail_lines: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            call_timeout: Duration::from_secs(60),
            startup_timeout: Duration::from_secs(30),
            timeouts_before_restart: 3,
            restart: RestartPolicy::default(),
            shutdown_grace: Duration::from_secs(2),
            stderr_tail_lines: 20,
        }
    }
}

impl PoolOptions {
    /// Sets the per-call deadline.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets the start-up deadline.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Sets how many consecutive timeouts mark a server as hung (at least 1).
    pub fn timeouts_before_restart(mut self, count: u32) -> Self {
        self.timeouts_before_restart = count.max(1);
        self
    }

    /// Sets the restart policy.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Sets the shutdown grace period.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = RestartPolicy::default()
            .backoff(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<u128> = (0..6).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(delays, [0, 100, 200, 400, 500, 500]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_millis(500));
    }
}
