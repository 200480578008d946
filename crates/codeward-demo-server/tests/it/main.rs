//! Integration tests of the demo server, driven over stdio through codeward-mcp's pool.

mod catalogue;
mod cli;
mod files;
mod notes;
mod support;
mod text;
