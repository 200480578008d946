//! Exit codes, documented in the README and `codeward --help`.

use codeward_core::ExecutionFailure;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    ExecutionFailed = 1,
    Usage = 2,
    ApprovalRequired = 3,
    AuditUnavailable = 4,
    ApprovalRefused = 5,
    InvalidProgram = 6,
    NoTools = 7,
    CheckFailed = 8,
    Internal = 70,
    /// Stopped by SIGINT, SIGTERM or SIGHUP (128 + SIGINT, as shells report Ctrl-C); the run
    /// was cancelled and recorded as such first.
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

impl Exit {
    /// The exit code for an execution's failure.
    pub fn of(failure: Option<&ExecutionFailure>) -> Exit {
        match failure {
            None => Exit::Success,
            Some(ExecutionFailure::NoTools) => Exit::NoTools,
            Some(ExecutionFailure::InvalidProgram { .. }) => Exit::InvalidProgram,
            Some(ExecutionFailure::ApprovalRequired { .. }) => Exit::ApprovalRequired,
            Some(ExecutionFailure::ApprovalRefused { .. }) => Exit::ApprovalRefused,
            Some(ExecutionFailure::AuditUnavailable { .. }) => Exit::AuditUnavailable,
            // Something ran: never 4.
            Some(ExecutionFailure::AuditFailedAfterStart { .. }) => Exit::Internal,
            Some(
                ExecutionFailure::ProgramFailed { .. } | ExecutionFailure::LimitExceeded { .. },
            ) => Exit::ExecutionFailed,
            Some(ExecutionFailure::Cancelled { .. }) => Exit::Interrupted,
            Some(ExecutionFailure::InvalidRequest { .. }) => Exit::Usage,
            Some(_) => Exit::Internal,
        }
    }
}

/// An error that ends the process with a particular exit code: a mistake in what the user
/// asked for (a missing file, an unknown id, a bad value or config: [`Exit::Usage`]) or a
/// missing audit log ([`Exit::AuditUnavailable`]). Any other error is [`Exit::Internal`].
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// Already shown to the user (in the command's own output): `main` only exits with it.
    pub shown: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Failure::error(Exit::Usage, message)
    }

    /// An error ending the process with `exit`.
    pub fn error(exit: Exit, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            exit,
            message: message.into(),
            shown: false,
        })
    }

    /// An error the command has already reported in its output.
    pub fn shown(exit: Exit, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure {
            exit,
            message: message.into(),
            shown: true,
        })
    }

    /// Whether `err` was already reported by the command.
    pub fn was_shown(err: &anyhow::Error) -> bool {
        err.chain()
            .find_map(|c| c.downcast_ref::<Failure>())
            .is_some_and(|f| f.shown)
    }

    /// An error after the program ran (reading back or verifying its records, shutting
    /// down): internal (70) whatever caused it, since exit 4 would say that nothing ran.
    pub fn after_run(err: anyhow::Error) -> anyhow::Error {
        Failure::error(
            Exit::Internal,
            format!(
                "after programs ran (records written before this are durable): {}",
                chain_text(&err)
            ),
        )
    }

    /// The exit code for `err`: the first [`Failure`] in its chain; else 4 when the audit
    /// log is out of reach or its sink refused a change (so nothing ran or changed: errors
    /// after a run are wrapped by [`Failure::after_run`]); else internal.
    pub fn exit_of(err: &anyhow::Error) -> Exit {
        if let Some(f) = err.chain().find_map(|c| c.downcast_ref::<Failure>()) {
            return f.exit;
        }
        // Only the log being out of reach (I/O, poisoned, locked, no key, a newer format, a
        // damaged tail, closed) is 4; a bug stays 70. (`audit ...` read commands report a
        // tampered or malformed log as a failed check, 8, themselves.)
        let unreachable = |e: &codeward_audit::AuditError| {
            use codeward_audit::AuditError as A;
            matches!(
                e,
                A::Io { .. }
                    | A::Poisoned { .. }
                    | A::LockTimeout { .. }
                    | A::Key { .. }
                    | A::UnsupportedVersion { .. }
                    | A::Tampered { .. }
                    | A::Malformed { .. }
                    | A::Closed
            )
        };
        let audit_error = err.chain().find_map(|c| {
            c.downcast_ref::<codeward_audit::AuditError>()
                .or_else(|| match c.downcast_ref::<codeward::CodewardError>() {
                    Some(codeward::CodewardError::Audit(e)) => Some(e),
                    _ => None,
                })
        });
        if let Some(e) = audit_error {
            return if unreachable(e) {
                Exit::AuditUnavailable
            } else {
                Exit::Internal
            };
        }
        let refused = err.chain().any(|c| {
            matches!(
                c.downcast_ref::<codeward_core::Error>(),
                Some(codeward_core::Error::AuditUnavailable { .. })
            )
        });
        if refused {
            Exit::AuditUnavailable
        } else {
            Exit::Internal
        }
    }
}

/// `err` and its causes, `outer: inner: ...`, leaving out a cause whose text the message
/// before it already ends with (many errors print their source and also expose it, which
/// `{:#}` would repeat: "Permission denied (os error 13): Permission denied (os error 13)").
pub fn chain_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Returns early with a usage error (exit 2): `usage!("no tool `{name}`; ...")`.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err($crate::exit::Failure::usage(format!($($arg)*)))
    };
}
pub(crate) use usage;

/// Turns an error into a usage error (exit 2) with `what` in front of it.
pub trait OrUsage<T> {
    fn or_usage(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E: std::fmt::Display> OrUsage<T> for std::result::Result<T, E> {
    fn or_usage(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| Failure::usage(format!("{}: {e}", what())))
    }
}

/// Resolves with the signal's name on SIGTERM, SIGINT or SIGHUP; never when the handlers
/// cannot be installed (then the signals keep their default action).
pub async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = hup.recv() => "SIGHUP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_ends_with_is_not_repeated() {
        let io = std::io::Error::from_raw_os_error(13);
        let shown = format!("cannot open x: {io}");
        #[derive(Debug)]
        struct Outer(String, std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.1)
            }
        }
        let err = anyhow::Error::new(Outer(shown.clone(), io)).context("running");
        assert_eq!(chain_text(&err), format!("running: {shown}"));
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain_text(&plain), "outer: inner");
    }

    #[test]
    fn an_invalid_request_is_a_usage_error() {
        let failure = ExecutionFailure::InvalidRequest {
            message: "the limit override `timeout` is 0".into(),
        };
        assert_eq!(Exit::of(Some(&failure)), Exit::Usage);
    }

    #[test]
    fn exit_codes_follow_the_error_chain() {
        let usage = Failure::usage("no such file").context("running prog.py");
        assert_eq!(Failure::exit_of(&usage), Exit::Usage);
        let audit = anyhow::Error::new(codeward_core::Error::audit_unavailable("disk full", None))
            .context("pruning approvals");
        assert_eq!(Failure::exit_of(&audit), Exit::AuditUnavailable);
        let after = Failure::after_run(anyhow::Error::new(
            codeward_core::Error::audit_unavailable("disk full", None),
        ));
        assert_eq!(
            Failure::exit_of(&after),
            Exit::Internal,
            "something ran: not 4"
        );
        let open = anyhow::Error::new(codeward::CodewardError::Audit(
            codeward_audit::AuditError::Closed,
        ));
        assert_eq!(Failure::exit_of(&open), Exit::AuditUnavailable);
        let bug = anyhow::Error::new(codeward_audit::AuditError::Config("batch_max 0".into()));
        assert_eq!(Failure::exit_of(&bug), Exit::Internal, "a bug is not 4");
        assert_eq!(Failure::exit_of(&anyhow::anyhow!("a bug")), Exit::Internal);
    }
}
