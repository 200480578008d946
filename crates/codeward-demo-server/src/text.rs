//! `text_stats`: counts of words, lines, characters and bytes, and the most frequent words.
//! Pure functions, so they are tested without a server.

use serde::Serialize;
use std::collections::HashMap;

/// One frequent word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WordCount {
    /// The word, lower-cased.
    pub word: String,
    /// How often it occurs.
    pub count: u64,
}

/// The statistics of a text, shaped as the tool's output schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextStats {
    /// Whitespace-separated words.
    pub words: u64,
    /// Lines (a final line without a newline counts).
    pub lines: u64,
    /// Unicode scalar values.
    pub characters: u64,
    /// UTF-8 bytes.
    pub bytes: u64,
    /// The `top` most frequent words, most frequent first, ties alphabetical.
    pub top_words: Vec<WordCount>,
}

/// Measures `text` and reports its `top` most frequent words.
pub fn text_stats(text: &str, top: usize) -> TextStats {
    let mut counts: HashMap<String, u64> = HashMap::new();
    // Frequency counts words as letters and digits (apostrophes inside words kept), so
    // "Rust," and "rust" are the same word; the plain word count stays whitespace based.
    for token in text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let token = token.trim_matches('\'');
        if !token.is_empty() {
            *counts.entry(token.to_lowercase()).or_default() += 1;
        }
    }
    let mut top_words: Vec<WordCount> = counts
        .into_iter()
        .map(|(word, count)| WordCount { word, count })
        .collect();
    top_words.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
    top_words.truncate(top);
    TextStats {
        words: text.split_whitespace().count() as u64,
        lines: text.lines().count() as u64,
        characters: text.chars().count() as u64,
        bytes: text.len() as u64,
        top_words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranks() {
        let s = text_stats("The cat saw the dog.\nThe dog ran, é!", 2);
        assert_eq!(s.words, 9);
        assert_eq!(s.lines, 2);
        assert_eq!(s.characters, 36);
        assert_eq!(s.bytes, 37);
        assert_eq!(
            s.top_words,
            vec![
                WordCount {
                    word: "the".into(),
                    count: 3
                },
                WordCount {
                    word: "dog".into(),
                    count: 2
                },
            ]
        );
    }

    #[test]
    fn empty_text() {
        let s = text_stats("", 5);
        assert_eq!((s.words, s.lines, s.characters, s.bytes), (0, 0, 0, 0));
        assert!(s.top_words.is_empty());
    }
}
