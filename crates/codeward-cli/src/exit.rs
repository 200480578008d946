//! Exit codes, documented in the README and `codeward --help`.

use codeward_core::ExecutionFailure;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    ExecutionFailed = 1,
    ApprovalRequired = 3,
    AuditUnavailable = 4,
    ApprovalRefused = 5,
    InvalidProgram = 6,
    NoTools = 7,
    CheckFailed = 8,
    Internal = 70,
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
            Some(
                ExecutionFailure::ProgramFailed { .. } | ExecutionFailure::LimitExceeded { .. },
            ) => Exit::ExecutionFailed,
            Some(_) => Exit::Internal,
        }
    }
}
