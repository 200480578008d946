//! Integration tests for codeward-sandbox: real processes, real isolation.

mod escape;
mod smoke;
mod support;
