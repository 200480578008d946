//! Personal data and secrets: a validating detector and an execution-scoped tokenizer.
//! Detection uses regexes for candidates and checksums/ranges to reject near-misses.

mod detect;
mod tokenize;

pub use detect::PiiScanner;
pub use tokenize::{PiiTokenizer, PiiTokenizerBuilder};
