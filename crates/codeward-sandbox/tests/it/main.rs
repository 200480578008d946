//! Integration tests for codeward-sandbox: real processes, real isolation.

mod smoke;
mod support;
