//! The orchestrator against fakes and the real audit log: the seed's "Testing Requirements"
//! translated to Rust (paused clock, mocks), every error path, approvals, the cache,
//! cancellation.

mod approvals;
mod cancel;
mod config_ws;
mod errors;
mod fakes;
mod ordering;
mod real_log;
