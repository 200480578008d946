//! Token counting with a real BPE (`o200k_base`, bundled by tiktoken-rs) and the token
//! economics of an API: what the model reads with codeward versus every tool definition.

use std::sync::OnceLock;

use codeward_core::{Language, TokenEconomics, ToolSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tiktoken_rs::CoreBPE;

use crate::error::CodegenError;
use crate::generator::CodeGenerator;

/// The tokenizer behind [`count_tokens`].
pub const TOKENIZER: &str = "o200k_base";

fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Tokens of `text` under `o200k_base` (the GPT-4o / GPT-5 family's encoding).
///
/// Claude's tokenizer is not public; `o200k_base` is a close, reproducible stand-in. Should
/// the BPE fail to load or to encode, [`estimate_tokens`] answers instead.
pub fn count_tokens(text: &str) -> u64 {
    let Some(bpe) = bpe() else {
        return estimate_tokens(text);
    };
    // The pre-tokenizer regex can hit its backtracking limit on pathological input, which
    // the library reports by panicking; fall back rather than take the caller down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bpe.encode_ordinary(text).len()
    }))
    .map(|n| n as u64)
    .unwrap_or_else(|_| estimate_tokens(text))
}

/// The fallback estimate: one token per four bytes of UTF-8, rounded up (code and JSON
/// average 3.5 to 4.5 bytes per `o200k_base` token).
pub fn estimate_tokens(text: &str) -> u64 {
    text.len().div_ceil(4) as u64
}

/// The tools as a model receives them from an MCP client: the `tools/list` result, compact
/// JSON, qualified names.
pub fn tools_list_json(tools: &[ToolSchema]) -> String {
    let tools: Vec<Value> = tools
        .iter()
        .map(|tool| {
            let mut entry = Map::new();
            entry.insert("name".into(), Value::String(tool.qualified_name()));
            if let Some(title) = &tool.title {
                entry.insert("title".into(), Value::String(title.clone()));
            }
            entry.insert(
                "description".into(),
                Value::String(tool.description.clone()),
            );
            entry.insert("inputSchema".into(), tool.input_schema.clone());
            if let Some(output) = &tool.output_schema {
                entry.insert("outputSchema".into(), output.clone());
            }
            if tool.annotations != Default::default() {
                entry.insert("annotations".into(), json!(tool.annotations));
            }
            Value::Object(entry)
        })
        .collect();
    json!({ "tools": tools }).to_string()
}

/// What a model reads for one request, in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenReport {
    /// The signatures-only summary of the selected tools' API.
    pub summary_tokens: u64,
    /// The full module of the selected tools (docs, types and the bridge client).
    pub module_tokens: u64,
    /// The selected tools' definitions as `tools/list` JSON.
    pub selected_definitions_tokens: u64,
    /// Every catalogue tool's definition as `tools/list` JSON (what a model gets without
    /// progressive disclosure).
    pub all_definitions_tokens: u64,
}

impl TokenReport {
    /// Per cent of the catalogue's definition tokens the summary saves.
    pub fn summary_saved_percent(&self) -> f64 {
        self.to_core().saved_percent()
    }

    /// The core vocabulary's view: the model reads the summary (progressive disclosure).
    pub fn to_core(&self) -> TokenEconomics {
        TokenEconomics {
            api_tokens: self.summary_tokens,
            all_definitions_tokens: self.all_definitions_tokens,
            output_tokens: 0,
        }
    }
}

/// Token economics of the API for `selected` against every tool of `catalogue`.
pub fn token_economics(
    generator: &CodeGenerator,
    selected: &[ToolSchema],
    catalogue: &[ToolSchema],
    language: Language,
) -> Result<TokenReport, CodegenError> {
    let api = generator.generate_api(selected, language)?;
    Ok(TokenReport {
        summary_tokens: api.summary_tokens,
        module_tokens: api.module_tokens,
        selected_definitions_tokens: count_tokens(&tools_list_json(selected)),
        all_definitions_tokens: count_tokens(&tools_list_json(catalogue)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_tokenizer_loads_and_differs_from_the_estimate() {
        assert!(bpe().is_some(), "o200k_base ranks are bundled");
        assert_eq!(count_tokens("hello world"), 2);
        assert_eq!(count_tokens(""), 0);
        assert_eq!(estimate_tokens("hello world"), 3);
    }
}
