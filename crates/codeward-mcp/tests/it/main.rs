//! Integration tests of codeward-mcp: config parsing, the pool against a scriptable fake
//! server (faults of every kind, starts and their deadlines), and real servers from npm when
//! they are installed.

mod config;
mod faults;
mod npm;
mod pool;
mod starts;
mod support;
