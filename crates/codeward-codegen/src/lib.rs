//! Typed TypeScript and Python APIs for MCP tools, generated from their JSON Schemas, with the
//! bridge client that carries each call from the sandboxed program to the codeward host.
//!
//! An agent writes better code against `await files.readFile({ path })` than against raw
//! schemas, and the signatures of five tools cost a fraction of the tokens of every tool
//! definition. Each generated function sends one JSON-RPC `tools/call` over dedicated file
//! descriptors (protocol: `docs/bridge-protocol.md`) and maps the MCP `CallToolResult` back.
//!
//! # Brief overview
//!
//! - [`CodeGenerator`] implements the core [`ApiGenerator`](codeward_core::ApiGenerator)
//!   seam: tools in, a [`GeneratedApi`](codeward_core::GeneratedApi) out (module, summary,
//!   token counts, warnings for schema features typed as `unknown` / `Any`).
//! - [`generate_from_file`] and [`load_tools`] read MCP `tools/list` JSON from disk;
//!   [`module_file_name`] names the file the program imports (`codeward_api.ts` / `.py`).
//! - [`count_tokens`] (real `o200k_base` BPE), [`token_economics`] and [`TokenReport`]:
//!   the API's tokens against every catalogue definition as [`tools_list_json`] renders it.
//! - [`CodegenError`]: what went wrong, with the path, line or tool.
//!
//! # Example
//!
//! ```
//! use codeward_codegen::CodeGenerator;
//! use codeward_core::{ApiGenerator, Language, ToolSchema};
//! use serde_json::json;
//!
//! let tool = ToolSchema::new("notes_add", "Add a note.", json!({
//!     "type": "object",
//!     "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
//!     "required": ["title"],
//! }))
//! .with_server("demo");
//!
//! let api = CodeGenerator::new().generate(&[tool.clone()], Language::TypeScript)?;
//! assert!(api.module.contains("async notesAdd(input: NotesAddInput"));
//! assert!(api.module.contains(r#"callTool("demo.notes_add""#));
//! assert!(api.summary_tokens < api.module_tokens);
//!
//! let py = CodeGenerator::new().generate(&[tool], Language::Python)?;
//! assert!(py.module.contains("def notes_add(title: str, *, tags: list[str] | None = None)"));
//! assert!(py.warnings.is_empty());
//! # Ok::<(), codeward_core::Error>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod generator;
mod ident;
mod plan;
mod python;
mod render;
mod schema;
mod text;
mod tokens;
mod typescript;

pub use error::CodegenError;
pub use generator::{CodeGenerator, generate_from_file, load_tools, module_file_name};
pub use tokens::{
    TOKENIZER, TokenReport, count_tokens, estimate_tokens, token_economics, tools_list_json,
};
