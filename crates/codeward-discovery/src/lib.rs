//! Tool discovery for codeward: load tool catalogues and search them.
//!
//! An agent with hundreds of MCP servers cannot read every tool definition. This crate keeps
//! the catalogue in a full-text index (tantivy, in RAM) and finds the handful of tools a
//! request needs: BM25 over the tool's name (split on `_`, `-` and camelCase), title,
//! description, parameters, category and server, with field boosts, synonyms, typo tolerance,
//! category and server filters. Each hit carries its score and the fields that matched; ties
//! are ordered by qualified name.
//!
//! # Brief overview
//!
//! - [`CatalogueIndex`]: the searchable catalogue; implements [`ToolIndex`]. Tools come from
//!   [`CatalogueIndex::load`] or one at a time ([`CatalogueIndex::insert`],
//!   [`CatalogueIndex::upsert`], [`CatalogueIndex::remove`], [`CatalogueIndex::replace_server`]);
//!   [`CatalogueIndex::stats`] counts.
//! - [`CatalogueSource`]: where tools come from. [`SeedDirectory`] (`<dir>/<category>/<server>.json`
//!   in the seed's format), [`McpFile`] and [`McpDirectory`] (MCP `tools/list` output),
//!   [`McpToolsList`] (a live server's answer), [`StaticTools`], and [`DefaultCatalogue`]
//!   (embedded in the crate).
//! - [`LoadReport`]: what loaded and every [`LoadProblem`] (malformed JSON with line and
//!   column, missing names, duplicates, collisions); other files still load.
//! - [`BaselineScorer`]: the predecessor's substring scorer, kept for comparisons.
//! - [`DiscoveryError`]: this crate's error.
//!
//! # Example
//!
//! ```
//! use codeward_discovery::{CatalogueIndex, DefaultCatalogue, SearchQuery, ToolIndex};
//!
//! let index = CatalogueIndex::new()?;
//! let report = index.load(&DefaultCatalogue)?;
//! assert!(report.is_clean(), "{report}");
//!
//! let hits = index.search(&SearchQuery::new("remove a note", 3))?;
//! assert_eq!(hits[0].tool.qualified_name(), "demo.notes_delete");
//! assert!(hits[0].matched_fields.contains(&"name".to_string()));
//!
//! let stats = index.stats();
//! assert_eq!(stats.by_server["demo"], 9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod analyzer;
mod baseline;
mod collector;
mod error;
mod formats;
mod index;
mod report;
mod source;

pub use baseline::BaselineScorer;
pub use codeward_core::{SearchQuery, ToolHit, ToolIndex, ToolSchema};
pub use error::{DiscoveryError, Result};
pub use formats::{CATEGORY_META_KEY, parse_mcp, parse_mcp_value, parse_seed};
pub use index::{CatalogueIndex, CatalogueIndexBuilder, CatalogueStats, FieldBoosts, IndexConfig};
pub use report::{LoadProblem, LoadReport, LoadedTool, ProblemKind};
pub use source::{
    CatalogueSource, DefaultCatalogue, McpDirectory, McpFile, McpToolsList, SeedDirectory,
    StaticTools,
};

// The README's examples are compiled (and the runnable ones run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
