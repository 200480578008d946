//! xtask's integration tests: the `xtask` binary run as CI runs it, with a fake `codeward`
//! and a fake `$CARGO` (shell scripts beside this file) so a run takes seconds, not a build.

mod compliance;
