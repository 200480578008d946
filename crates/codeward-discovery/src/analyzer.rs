//! Text analysis shared by indexing and querying: identifier splitting, stop words, stemming.
//! Tool names are identifiers (`notes_add`, `getFileInfo`), so they are split like words.

use std::collections::{BTreeMap, BTreeSet};

use tantivy::tokenizer::{
    Language, LowerCaser, Stemmer, StopWordFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The name under which the analyzer is registered with tantivy.
pub(crate) const ANALYZER_NAME: &str = "codeward";

/// Words that carry no meaning in a request or a tool description. The Lucene English list,
/// plus the filler of requests to an assistant ("can you please show me my...").
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", // Lucene
    "i", "me", "my", "mine", "we", "our", "us", "you", "your", "please", "can", "could", "would",
    "should", "want", "need", "like", "some", "any", "all", "do", "does", "did", "how", "what",
    "which", "who", "whom", "when", "where", "why", "just", "about", "from", "its", "am", "has",
    "have", "had", "been", "were", "them", "he", "she", "him", "her", "let", "lets", "here", "don",
    "doesn", "isn", "yet", "so", "very", "too", "also", "than", "via",
];

/// Synonym groups applied to queries (never to the index), so "remove a note" finds
/// `notes_delete`. Words are analyzed like everything else, so inflections match too.
pub(crate) const DEFAULT_SYNONYMS: &[&[&str]] = &[
    &[
        "delete", "remove", "erase", "destroy", "drop", "discard", "forget", "purge",
    ],
    &["create", "add", "new", "make", "insert", "register"],
    &["list", "show", "enumerate", "browse", "display"],
    &[
        "search", "find", "lookup", "look", "query", "grep", "locate",
    ],
    &[
        "get", "fetch", "retrieve", "read", "obtain", "load", "view", "open",
    ],
    &[
        "update", "edit", "modify", "change", "alter", "patch", "replace",
    ],
    &["send", "post", "publish", "deliver"],
    &["write", "save", "store", "record", "jot"],
    &["email", "mail", "e-mail"],
    &["file", "document"],
    &["directory", "folder", "dir"],
    &["meeting", "event", "appointment"],
    &["customer", "client"],
    &["count", "tally", "statistics", "stats", "measure"],
    &["issue", "bug", "ticket"],
    &["repository", "repo"],
    &["note", "memo"],
];

/// Splits text into words, and identifiers into their parts: `notes_add` -> `notes`, `add`;
/// `getFileInfo` -> `get`, `File`, `Info`; `HTTPServer` -> `HTTP`, `Server`.
/// Single characters are dropped: they are noise in both tool text and requests.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdentifierTokenizer;

/// The tokens of one text, computed eagerly: texts are short (names, descriptions).
pub(crate) struct IdentifierTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for IdentifierTokenizer {
    type TokenStream<'a> = IdentifierTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        IdentifierTokenStream {
            tokens: split_identifiers(text),
            next: 0,
        }
    }
}

impl TokenStream for IdentifierTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

fn split_identifiers(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut start: Option<usize> = None;
    let push = |tokens: &mut Vec<Token>, from: usize, to: usize| {
        let word = &text[from..to];
        if word.chars().count() > 1 {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: word.to_owned(),
                position_length: 1,
            });
        }
    };
    for (i, &(offset, c)) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if let Some(from) = start.take() {
                push(&mut tokens, from, offset);
            }
            continue;
        }
        match start {
            None => start = Some(offset),
            Some(from) => {
                let prev = chars[i - 1].1;
                let next = chars.get(i + 1).map(|&(_, n)| n);
                // camelCase: a capital after a lower-case letter or a digit starts a word;
                // in an acronym, the last capital before a lower-case letter starts one.
                let boundary = c.is_uppercase()
                    && (prev.is_lowercase()
                        || prev.is_ascii_digit()
                        || (prev.is_uppercase() && next.is_some_and(char::is_lowercase)));
                if boundary {
                    push(&mut tokens, from, offset);
                    start = Some(offset);
                }
            }
        }
    }
    if let Some(from) = start {
        push(&mut tokens, from, text.len());
    }
    tokens
}

/// The analyzer used for every text field and for queries.
pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(IdentifierTokenizer)
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| (*w).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The analyzed terms of `text`, in order, duplicates kept.
pub(crate) fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// Query-side synonym expansion over analyzed terms.
#[derive(Clone, Debug, Default)]
pub(crate) struct Synonyms {
    by_term: BTreeMap<String, BTreeSet<String>>,
}

impl Synonyms {
    /// Builds the expansion table from groups of plain words.
    pub(crate) fn new(groups: &[Vec<String>]) -> Self {
        let mut analyzer = analyzer();
        let mut by_term: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for group in groups {
            let analyzed: BTreeSet<String> = group
                .iter()
                .flat_map(|word| terms(&mut analyzer, word))
                .collect();
            for term in &analyzed {
                let entry = by_term.entry(term.clone()).or_default();
                entry.extend(analyzed.iter().filter(|t| *t != term).cloned());
            }
        }
        Synonyms { by_term }
    }

    /// The other terms of every group `term` belongs to.
    pub(crate) fn of(&self, term: &str) -> impl Iterator<Item = &str> {
        self.by_term
            .get(term)
            .into_iter()
            .flat_map(|set| set.iter().map(String::as_str))
    }
}

/// Whether the Levenshtein distance of `a` and `b` is at most `max`; stops as soon as it
/// must exceed it. Ranks typo corrections by distance.
pub(crate) fn within_distance(a: &str, b: &str, max: usize) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            row_min = row_min.min(cur[j]);
        }
        if row_min > max {
            return false;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &[&str]) {
        let mut a = analyzer();
        assert_eq!(terms(&mut a, input), expect, "analyzing {input:?}");
    }

    #[test]
    fn splits_identifiers_and_words() {
        check("notes_add", &["note", "add"]);
        check("get-file-info", &["get", "file", "info"]);
        check("getFileInfo", &["get", "file", "info"]);
        check("HTTPServer v2", &["http", "server", "v2"]);
        check("list_directory_with_sizes", &["list", "directori", "size"]);
        check("Can you please show me all my notes?", &["show", "note"]);
        check("s3.upload_object", &["s3", "upload", "object"]);
        check("", &[]);
        check("héllo_wörld", &["héllo", "wörld"]);
    }

    #[test]
    fn synonyms_are_symmetric_and_analyzed() {
        let groups = vec![vec!["delete".to_owned(), "removing".to_owned()]];
        let s = Synonyms::new(&groups);
        assert_eq!(s.of("delet").collect::<Vec<_>>(), ["remov"]);
        assert_eq!(s.of("remov").collect::<Vec<_>>(), ["delet"]);
        assert_eq!(s.of("other").count(), 0);
    }

    #[test]
    fn bounded_distance() {
        assert!(within_distance("serch", "search", 1));
        assert!(!within_distance("serch", "starch", 1));
        assert!(within_distance("calend", "calendar", 2));
        assert!(!within_distance("abc", "abcdef", 2));
        assert!(within_distance("", "", 0));
    }
}
