//! Text that ends up inside generated code: documentation made safe for comments and
//! docstrings, and JSON values written as TypeScript or Python literals.

use serde_json::Value;

/// Documentation text with characters that could end a comment line or break a source file
/// replaced (control characters, Unicode line separators), split into trimmed lines.
pub(crate) fn doc_lines(text: &str) -> Vec<String> {
    let mut lines = clean_lines(text);
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    lines
}

/// Lines about to become comment or docstring lines, each cleaned as [`doc_lines`] cleans
/// text: a line with a line break in it becomes several lines, so no caller can end a `#`
/// comment early and put code after it. Blank lines stay.
pub(crate) fn safe_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|line| {
            let mut split = clean_lines(line);
            if split.is_empty() {
                split.push(String::new());
            }
            split
        })
        .collect()
}

/// `text` with unsafe characters replaced, split on line breaks, trailing spaces trimmed.
fn clean_lines(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\r' => '\n',
            c if c.is_control() => ' ',
            '\u{2028}' | '\u{2029}' | '\u{85}' | '\u{feff}' => ' ',
            c => c,
        })
        .collect();
    cleaned
        .lines()
        .map(|l| l.trim_end().replace('\t', "  "))
        .collect()
}

/// The first sentence (or line) of a description, at most `max` characters.
pub(crate) fn first_sentence(text: &str, max: usize) -> String {
    let lines = doc_lines(text);
    let first = lines.first().map(String::as_str).unwrap_or_default();
    let sentence = match first.find(". ") {
        Some(end) => &first[..=end],
        None => first,
    };
    let sentence = sentence.trim();
    if sentence.chars().count() <= max {
        sentence.to_owned()
    } else {
        let cut: String = sentence.chars().take(max.saturating_sub(3)).collect();
        format!("{}...", cut.trim_end())
    }
}

/// A line safe inside a `/** */` block.
pub(crate) fn jsdoc_safe(line: &str) -> String {
    line.replace("*/", "*\\/")
}

/// A line safe inside a `"""` docstring.
pub(crate) fn pydoc_safe(line: &str) -> String {
    line.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"")
}

/// A string as a double-quoted literal valid in both TypeScript and Python: JSON's escapes are
/// a subset of both languages' escapes.
pub(crate) fn string_literal(s: &str) -> String {
    // Line separators are legal in JSON strings and in modern JS, but escape them anyway.
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".to_owned())
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A JSON value as a TypeScript expression (compact JSON is one).
pub(crate) fn ts_literal(value: &Value) -> String {
    match value {
        Value::String(s) => string_literal(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(ts_literal).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            if map.is_empty() {
                return "{}".to_owned();
            }
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", ts_key(k), ts_literal(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// A JSON value as a Python expression.
pub(crate) fn py_literal(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_literal(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_literal).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", string_literal(k), py_literal(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// A property key for a TypeScript interface or object literal: bare when it is an
/// identifier, quoted otherwise.
pub(crate) fn ts_key(key: &str) -> String {
    if crate::ident::is_ascii_identifier(key) {
        key.to_owned()
    } else {
        string_literal(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docs_are_made_safe() {
        assert_eq!(doc_lines("a\r\nb\u{2028}c\u{0}\n\n"), ["a", "", "b c"]);
        assert_eq!(
            safe_lines(&["a\rb".into(), String::new(), "  c\n\nd\u{2029}".into()]),
            ["a", "b", "", "  c", "", "d"]
        );
        assert_eq!(jsdoc_safe("x */ y"), "x *\\/ y");
        assert_eq!(pydoc_safe(r#"a """ \d"#), r#"a \"\"\" \\d"#);
        assert_eq!(
            first_sentence("Reads a file. Then more.", 80),
            "Reads a file."
        );
        assert_eq!(first_sentence("abcdefghij", 6), "abc...");
    }

    #[test]
    fn literals() {
        let v = json!({"a-b": [1, true, null, "x\"y"]});
        assert_eq!(ts_literal(&v), r#"{ "a-b": [1, true, null, "x\"y"] }"#);
        assert_eq!(py_literal(&v), r#"{"a-b": [1, True, None, "x\"y"]}"#);
    }
}
