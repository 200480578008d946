//! Integration tests for codeward-sandbox: real processes, real isolation.

mod bridge;
mod escape;
mod smoke;
mod support;
