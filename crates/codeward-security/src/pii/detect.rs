//! Candidate patterns plus validation (Luhn, mod-97, SSN ranges, octets, IPv6 parsing,
//! boundaries) so version numbers, dates, timestamps and order numbers are not reported.

use std::net::Ipv6Addr;
use std::sync::LazyLock;

use codeward_core::{PiiDetector, PiiKind, PiiSpan, card_windows, luhn_valid, merge_overlapping};
use regex::Regex;

struct Pattern {
    kind: PiiKind,
    regex: Regex,
    /// Capture group holding the value (0 = whole match).
    group: usize,
}

// Compiled once per process, shared by every scanner.
static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(compile);

fn compile() -> Vec<Pattern> {
    // Order matters on ties: the first kind listed wins an identical span.
    let table: [(PiiKind, &str, usize); 14] = [
        (
            PiiKind::PrivateKey,
            r"(?s)-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
            0,
        ),
        (
            PiiKind::Jwt,
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
            0,
        ),
        (
            PiiKind::AwsKey,
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}\b",
            0,
        ),
        (
            PiiKind::GithubToken,
            r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b",
            0,
        ),
        (
            PiiKind::GithubToken,
            r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
            0,
        ),
        (PiiKind::SlackToken, r"\bxox[baprs]-[A-Za-z0-9-]{10,250}", 0),
        (
            PiiKind::BearerToken,
            r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)",
            1,
        ),
        (
            PiiKind::Email,
            // Unicode letters in both parts (`josé@bücher.de`); nothing required after the
            // top-level domain, so `alice@example.com_old` still yields the address.
            r"(?i)[\w.%+\-]+@\w(?:[\w\-]*\w)?(?:\.\w(?:[\w\-]*\w)?)*\.\p{L}{2,24}",
            0,
        ),
        (PiiKind::Iban, r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", 0),
        // A whole run of digit groups; the card windows inside it are checked one by one.
        (PiiKind::CardNumber, r"\b\d(?:[ \-]?\d){12,}\b", 0),
        (PiiKind::Ssn, r"\b\d{3}[- ]\d{2}[- ]\d{4}\b", 0),
        (
            PiiKind::Ipv6,
            r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{0,4})",
            0,
        ),
        (PiiKind::Ipv4, r"\b(?:\d{1,3}\.){3}\d{1,3}\b", 0),
        (
            PiiKind::Phone,
            r"(?:(?:\+|\b00)[1-9]\d{0,2}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d{1,4}(?:[\s.\-]?\d{1,4}){1,5}|\(\d{3}\)[\s.\-]?\d{3}[\s.\-]\d{4}|\b\d{3}[.\-\s]\d{3}[.\-\s]\d{4}|\b0\d{1,4}(?:[\s\-]\d{2,4}){2,4})",
            0,
        ),
    ];
    table
        .into_iter()
        .filter_map(|(kind, pattern, group)| match Regex::new(pattern) {
            Ok(regex) => Some(Pattern { kind, regex, group }),
            Err(e) => {
                // The patterns are constants covered by tests; never reached in a release.
                tracing::error!(?kind, error = %e, "PII pattern failed to compile");
                None
            }
        })
        .collect()
}

/// Finds personal data and secrets in text (the default [`PiiDetector`]).
///
/// Kinds: emails, phone numbers (E.164, international and common national formats), Luhn-valid
/// card numbers, SSNs outside the invalid ranges, IPv4 (valid octets), IPv6, IBANs (mod-97),
/// AWS access key ids, GitHub and Slack tokens, JWTs, PEM private keys and bearer tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct PiiScanner;

impl PiiScanner {
    /// A scanner (the patterns are compiled once per process, on first use).
    pub fn new() -> PiiScanner {
        PiiScanner
    }

    /// Non-overlapping spans in `text`, in order.
    pub fn scan(&self, text: &str) -> Vec<PiiSpan> {
        let mut spans = Vec::new();
        let bytes = text.as_bytes();
        // Cheap gates: most values need a digit, an '@' or a key-like prefix.
        let has_digit = bytes.iter().any(u8::is_ascii_digit);
        let has_at = bytes.contains(&b'@');
        // IBAN-shaped runs (valid or not) are account numbers: digits inside them are not
        // cards, phones or SSNs on their own.
        let mut iban_shaped: Vec<(usize, usize)> = Vec::new();
        for p in PATTERNS.iter() {
            let needs_digit = !matches!(
                p.kind,
                PiiKind::Email | PiiKind::PrivateKey | PiiKind::BearerToken | PiiKind::Ipv6
            );
            if (needs_digit && !has_digit) || (p.kind == PiiKind::Email && !has_at) {
                continue;
            }
            for caps in p.regex.captures_iter(text) {
                let Some(m) = caps.get(p.group) else {
                    continue;
                };
                if p.kind == PiiKind::Iban {
                    iban_shaped.push((m.start(), m.end()));
                }
                let inside_iban =
                    matches!(p.kind, PiiKind::CardNumber | PiiKind::Phone | PiiKind::Ssn)
                        && iban_shaped
                            .iter()
                            .any(|&(s, e)| s <= m.start() && m.end() <= e);
                if inside_iban {
                    continue;
                }
                if p.kind == PiiKind::CardNumber {
                    // Each window inside the run is checked as a card; its edges are the
                    // run's separators inside, and the text's neighbours at the run's ends
                    // (a card in a CSV row or before an amount still counts: no 16-digit
                    // amount has a card's shape).
                    for (start, end) in card_windows(m.as_str()) {
                        let left = start > 0 || left_edge(text, m.start());
                        let right = end < m.as_str().len()
                            || !after(text, m.end())
                                .is_some_and(|c| c.is_alphanumeric() || c == '_');
                        if left && right && valid_card(&m.as_str()[start..end]) {
                            spans.push(PiiSpan {
                                start: m.start() + start,
                                end: m.start() + end,
                                kind: p.kind,
                            });
                        }
                    }
                } else if let Some((start, end)) = validate(p.kind, text, m.start(), m.end()) {
                    spans.push(PiiSpan {
                        start,
                        end,
                        kind: p.kind,
                    });
                }
            }
        }
        // Merged, not pruned: a span inside another pattern's span must not hide the rest.
        merge_overlapping(spans)
    }
}

impl PiiDetector for PiiScanner {
    fn detect(&self, text: &str) -> Vec<PiiSpan> {
        self.scan(text)
    }
}

fn before(text: &str, start: usize) -> Option<char> {
    text.get(..start).and_then(|s| s.chars().next_back())
}

fn after(text: &str, end: usize) -> Option<char> {
    text.get(end..).and_then(|s| s.chars().next())
}

fn after2(text: &str, end: usize) -> Option<char> {
    text.get(end..).and_then(|s| s.chars().nth(1))
}

/// A number-like value must not be glued to other word or number characters
/// (`v1.2.3.4`, `ORD-555-123-4567`, `1.2.3.4.5`).
/// Whether a number may start at `start`: not inside a word, a path, a version or a longer
/// number.
fn left_edge(text: &str, start: usize) -> bool {
    !before(text, start)
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | '#' | '+'))
}

fn numeric_boundary(text: &str, start: usize, end: usize) -> bool {
    if !left_edge(text, start) {
        return false;
    }
    match after(text, end) {
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some('.' | '-' | ',') => !after2(text, end).is_some_and(|c| c.is_ascii_digit()),
        _ => true,
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn validate(kind: PiiKind, text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let value = text.get(start..end)?;
    let ok = match kind {
        PiiKind::CardNumber => numeric_boundary(text, start, end) && valid_card(value),
        PiiKind::Ssn => numeric_boundary(text, start, end) && valid_ssn(value),
        PiiKind::Ipv4 => {
            numeric_boundary(text, start, end)
                && valid_ipv4(value)
                && !looks_like_version(text, start)
        }
        PiiKind::Ipv6 => return valid_ipv6(text, start, end),
        PiiKind::Phone => return valid_phone(text, start, end),
        PiiKind::Iban => return valid_iban(text, start, end),
        PiiKind::Email => !before(text, start).is_some_and(|c| c.is_alphanumeric()),
        _ => true,
    };
    ok.then_some((start, end))
}

/// Luhn, an issuer prefix and consistent grouping (`4111 1111 1111 1111`, `4111-1111-...`).
fn valid_card(value: &str) -> bool {
    let d = digits(value);
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let seps: Vec<char> = value.chars().filter(|c| !c.is_ascii_digit()).collect();
    if let Some(first) = seps.first() {
        if seps.iter().any(|c| c != first) {
            return false;
        }
        let groups: Vec<usize> = value.split(*first).map(str::len).collect();
        let four = groups
            .iter()
            .take(groups.len().saturating_sub(1))
            .all(|&g| g == 4);
        let amex = groups == [4, 6, 5] || groups == [4, 6, 4];
        if !(four || amex) {
            return false;
        }
    }
    let issuer = matches!(
        d.as_bytes(),
        [b'4', ..]
            | [b'5', b'1'..=b'5', ..]
            | [b'2', b'2'..=b'7', ..]
            | [b'3', b'0' | b'4' | b'5' | b'6' | b'7' | b'8' | b'9', ..]
            | [b'6', ..]
    );
    issuer && luhn_valid(d.as_bytes())
}

/// Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
fn valid_ssn(value: &str) -> bool {
    let seps: Vec<char> = value.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.len() != 2 || seps[0] != seps[1] {
        return false;
    }
    let d = digits(value);
    let (area, group, serial) = (&d[0..3], &d[3..5], &d[5..9]);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

fn valid_ipv4(value: &str) -> bool {
    value.split('.').all(|o| {
        !o.is_empty()
            && (o == "0" || !o.starts_with('0'))
            && o.parse::<u16>().is_ok_and(|n| n <= 255)
    })
}

/// `v1.2.3.4` and `version 1.2.3.4` are versions; a bare `1.2.3.4` is treated as an address
/// (redacting a version costs little, leaking an address does not).
fn looks_like_version(text: &str, start: usize) -> bool {
    let head = text.get(..start).unwrap_or("");
    if let Some(rest) = head.strip_suffix(['v', 'V']) {
        return !rest.ends_with(|c: char| c.is_alphanumeric());
    }
    let tail: String = head
        .chars()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let lower = tail.to_ascii_lowercase();
    let trimmed = lower.trim_end().trim_end_matches(':');
    ["version", "ver", "release", "build", "firmware"]
        .iter()
        .any(|w| trimmed.ends_with(w))
}

fn valid_ipv6(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let b = before(text, start);
    if b.is_some_and(|c| c.is_ascii_hexdigit() || c == ':' || c.is_alphanumeric()) {
        return None;
    }
    if after(text, end).is_some_and(|c| c.is_alphanumeric() || c == ':') {
        return None;
    }
    let value = text.get(start..end)?;
    value.parse::<Ipv6Addr>().ok()?;
    let groups = value.split(':').filter(|g| !g.is_empty()).count();
    // `a::b`-like shapes appear in code (`std::fs`); demand a digit or a real address shape.
    let has_digit = value.bytes().any(|c| c.is_ascii_digit());
    (has_digit && (groups >= 2 || value.starts_with("::"))).then_some((start, end))
}

fn valid_phone(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let value = text.get(start..end)?;
    let b = before(text, start);
    if b.is_some_and(|c| {
        c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':' | '#' | '=' | '+')
    }) {
        return None;
    }
    match after(text, end) {
        Some(c) if c.is_alphanumeric() || c == '_' => return None,
        Some('.' | '-' | ':' | '/') if after2(text, end).is_some_and(|c| c.is_ascii_digit()) => {
            return None;
        }
        _ => {}
    }
    let d = digits(value);
    let international = value.starts_with('+') || value.starts_with("00");
    if international {
        let significant = if value.starts_with("00") {
            d.len() - 2
        } else {
            d.len()
        };
        if !(8..=15).contains(&significant) {
            return None;
        }
        // Dotted groups after a `+` look like versions or scores, not numbers.
        if value.contains('.') && !value.contains(' ') && !value.contains('-') {
            return None;
        }
    } else if value.starts_with('(') {
        if d.len() != 10 {
            return None;
        }
    } else if value.starts_with('0') {
        if !(9..=11).contains(&d.len()) {
            return None;
        }
    } else {
        // NNN-NNN-NNNN: one separator kind, and not a date-like or dotted version.
        let seps: Vec<char> = value.chars().filter(|c| !c.is_ascii_digit()).collect();
        if d.len() != 10 || seps.iter().any(|c| *c != seps[0]) {
            return None;
        }
        if d.starts_with('0') || d.starts_with('1') {
            return None;
        }
    }
    Some((start, end))
}

/// Expected IBAN lengths for common countries (others accept 15-34).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" => 22,
        "AE" | "GI" | "IL" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" => 28,
        "BR" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" => 31,
        _ => return None,
    })
}

fn valid_iban(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let value = text.get(start..end)?;
    let country = value.get(0..2)?;
    let want = iban_length(country);
    // Take exactly the country's length of characters (the regex may run into a following
    // upper-case word), else the whole candidate.
    let mut chars = String::new();
    let mut stop = end;
    for (i, c) in value.char_indices() {
        if c == ' ' {
            continue;
        }
        chars.push(c);
        if Some(chars.len()) == want {
            stop = start + i + c.len_utf8();
            break;
        }
    }
    if let Some(n) = want {
        if chars.len() != n {
            return None;
        }
        if after(text, stop).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
    } else if !(15..=34).contains(&chars.len()) {
        return None;
    }
    mod97(&chars).then_some((start, stop))
}

/// ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 = 1.
fn mod97(iban: &str) -> bool {
    let rearranged = iban.chars().skip(4).chain(iban.chars().take(4));
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, String)> {
        PiiScanner
            .scan(text)
            .into_iter()
            .map(|s| (s.kind, text[s.start..s.end].to_owned()))
            .collect()
    }

    #[test]
    fn checksums() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(mod97("DE89370400440532013000"));
        assert!(!mod97("DE89370400440532013001"));
    }

    #[test]
    fn all_patterns_compile() {
        assert_eq!(PATTERNS.len(), 14);
    }

    #[test]
    fn spot_checks() {
        assert_eq!(
            kinds("mail bob@example.com now"),
            [(PiiKind::Email, "bob@example.com".into())]
        );
        assert_eq!(
            kinds("ssn 123-45-6789"),
            [(PiiKind::Ssn, "123-45-6789".into())]
        );
        assert!(kinds("ssn 666-45-6789").is_empty());
        assert_eq!(kinds("ip 10.0.0.1."), [(PiiKind::Ipv4, "10.0.0.1".into())]);
        assert!(kinds("version 1.2.3.4").is_empty());
        assert!(kinds("v1.2.3.4").is_empty());
        assert_eq!(
            kinds("IBAN GB82 WEST 1234 5698 7654 32 THANKS"),
            [(PiiKind::Iban, "GB82 WEST 1234 5698 7654 32".into())]
        );
        assert_eq!(
            kinds("call +1 (415) 555-2671"),
            [(PiiKind::Phone, "+1 (415) 555-2671".into())]
        );
        assert!(kinds("on 2024-01-15 at 10:20:30").is_empty());
    }
}
