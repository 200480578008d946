//! The predecessor's tool search, kept as a baseline for quality and speed comparisons.
//! A linear scan scoring name substrings and description word overlap, as its RelevanceScorer did.

use std::collections::HashSet;

use codeward_core::{SearchQuery, ToolHit, ToolSchema};

/// Bonus when the whole request appears inside a tool name.
const WHOLE_NAME_BONUS: f32 = 10.0;
/// Bonus per request word found inside the tool name (as a substring).
const NAME_WORD_BONUS: f32 = 3.0;
/// Score per request word that is also a word of the description.
const DESCRIPTION_WORD: f32 = 1.0;
/// Score per request word found in the category.
const CATEGORY_WORD: f32 = 2.0;

struct Prepared {
    tool: ToolSchema,
    qualified: String,
    name: String,
    category: String,
    description_words: HashSet<String>,
}

/// Scores every tool against the request by substring and word overlap; no index.
///
/// Lower-casing and word sets are computed once at construction, which is kinder to the
/// baseline than the predecessor (it recomputed them per query).
pub struct BaselineScorer {
    tools: Vec<Prepared>,
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 2)
        .map(str::to_lowercase)
}

impl BaselineScorer {
    /// Prepares `tools` for scoring.
    pub fn new(tools: impl IntoIterator<Item = ToolSchema>) -> Self {
        BaselineScorer {
            tools: tools
                .into_iter()
                .map(|tool| Prepared {
                    qualified: tool.qualified_name(),
                    name: tool.name.to_lowercase(),
                    category: tool.category.clone().unwrap_or_default().to_lowercase(),
                    description_words: words(&tool.description).collect(),
                    tool,
                })
                .collect(),
        }
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when there is no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The best tools for `query`, best first, ties by qualified name. Honors the limit, the
    /// minimum score and the category and server filters, like the real index.
    pub fn search(&self, query: &SearchQuery) -> Vec<ToolHit> {
        let text = query.text.to_lowercase();
        let query_words: Vec<String> = words(&text).collect();
        let mut scored: Vec<(f32, &Prepared)> = Vec::new();
        for prepared in &self.tools {
            let tool = &prepared.tool;
            if query
                .category
                .as_ref()
                .is_some_and(|c| tool.category.as_deref() != Some(c))
                || query
                    .server
                    .as_ref()
                    .is_some_and(|s| tool.server.as_deref() != Some(s))
            {
                continue;
            }
            let mut score = 0.0;
            if !text.is_empty() && prepared.name.contains(text.trim()) {
                score += WHOLE_NAME_BONUS;
            }
            for word in &query_words {
                if prepared.name.contains(word.as_str()) {
                    score += NAME_WORD_BONUS;
                }
                if prepared.description_words.contains(word) {
                    score += DESCRIPTION_WORD;
                }
                if prepared.category.contains(word.as_str()) {
                    score += CATEGORY_WORD;
                }
            }
            if score > 0.0 && score >= query.min_score {
                scored.push((score, prepared));
            }
        }
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.qualified.cmp(&b.1.qualified))
        });
        scored.truncate(query.limit);
        scored
            .into_iter()
            .map(|(score, p)| ToolHit::new(p.tool.clone(), score, Vec::new()))
            .collect()
    }
}
