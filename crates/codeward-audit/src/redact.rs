//! Keeping personal data and secrets out of the log: a built-in detector and keyed pseudonyms.
//! Every string of a record passes the detector; sensitive fields keep only an HMAC pseudonym.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use regex::Regex;
use serde_json::{Map, Value};
use sha2::Sha256;

use codeward_core::{
    AuditEvent, PiiDetector, PiiKind, PiiSpan, card_windows, luhn_valid, merge_overlapping,
};

use crate::canonical::{Encoded, canonical};

/// The pseudonym prefix; an auditor searches for `hmac-sha256:<hex>`.
pub const PSEUDONYM_PREFIX: &str = "hmac-sha256:";

/// Keyed HMAC-SHA256 pseudonyms: the same value under the same key gives the same pseudonym.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: [u8; 32],
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(<key redacted>)")
    }
}

impl Pseudonymizer {
    /// A pseudonymizer with this key.
    pub fn new(key: [u8; 32]) -> Self {
        Pseudonymizer { key }
    }

    /// `hmac-sha256:<hex>` of `value`.
    pub fn pseudonym(&self, value: &str) -> String {
        // new_from_slice only fails for key lengths HMAC cannot take; 32 bytes always works.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return format!("{PSEUDONYM_PREFIX}unavailable");
        };
        mac.update(value.as_bytes());
        format!(
            "{PSEUDONYM_PREFIX}{}",
            hex::encode(mac.finalize().into_bytes())
        )
    }

    /// The pseudonym of any JSON value (strings as themselves, others in canonical form).
    pub fn pseudonym_of_value(&self, value: &Value) -> String {
        match value {
            Value::String(s) => self.pseudonym(s),
            other => self.pseudonym(&canonical(other)),
        }
    }
}

/// The detector the log uses when none is configured: emails, phone numbers, SSNs,
/// Luhn-valid card numbers, IPv4 addresses, AWS access keys, bearer tokens, private-key blocks
/// (PEM and PGP).
///
/// Spans found by different patterns that overlap (`+1-415-555-0100@sms.example.com` is a
/// phone and an email) become one span covering both, reported as the kind of its longest
/// part (on a tie, the earliest, then the first in the list above): dropping either part
/// would leave the rest of it in the log.
///
/// `codeward-security` has a broader one; plug it in with `AuditLogOptions::detector`.
#[derive(Debug)]
pub struct BuiltinDetector {
    patterns: Vec<(PiiKind, Regex)>,
    /// All patterns in one automaton: most strings hold no PII, and one pass says so.
    any: Option<regex::RegexSet>,
}

impl Default for BuiltinDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl BuiltinDetector {
    /// Compiles the patterns (once; share the detector).
    pub fn new() -> Self {
        let table: [(PiiKind, &str); 8] = [
            (
                PiiKind::PrivateKey,
                r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)",
            ),
            (
                PiiKind::BearerToken,
                r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*",
            ),
            (
                PiiKind::AwsKey,
                r"\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
            ),
            // No `\b` after the domain: `alice@example.com_old` still holds an address. `\w`
            // and `\p{L}` so `josé@bücher.de` is found whole.
            (
                PiiKind::Email,
                r"(?i)\b[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.\p{L}{2,}",
            ),
            (PiiKind::Ssn, r"\b\d{3}-\d{2}-\d{4}\b"),
            // A run of digit groups; `card_windows` looks for the cards inside it.
            (PiiKind::CardNumber, r"\b[0-9](?:[ \-]?[0-9]){12,}\b"),
            (PiiKind::Ipv4, r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
            (
                PiiKind::Phone,
                r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)[ .\-]?|\b\d{2,4}[ .\-])\d{3,4}[ .\-]\d{3,4}\b|\+\d{8,15}\b",
            ),
        ];
        let patterns = table
            .into_iter()
            .filter_map(|(kind, re)| match Regex::new(re) {
                Ok(re) => Some((kind, re)),
                // The table is a constant; a failure here is caught by the unit test below.
                Err(e) => {
                    tracing::error!(?kind, error = %e, "built-in PII pattern does not compile");
                    None
                }
            })
            .collect::<Vec<(PiiKind, Regex)>>();
        let any = regex::RegexSet::new(patterns.iter().map(|(_, re)| re.as_str())).ok();
        BuiltinDetector { patterns, any }
    }
}

fn ssn_valid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    match parts.as_slice() {
        [area, group, serial] => {
            *area != "000"
                && *area != "666"
                && !area.starts_with('9')
                && *group != "00"
                && *serial != "0000"
        }
        _ => false,
    }
}

fn ipv4_valid(text: &str) -> bool {
    text.split('.').all(|octet| {
        octet.parse::<u16>().is_ok_and(|n| n <= 255) && !(octet.len() > 1 && octet.starts_with('0'))
    })
}

impl PiiDetector for BuiltinDetector {
    fn detect(&self, text: &str) -> Vec<PiiSpan> {
        if self.any.as_ref().is_some_and(|set| !set.is_match(text)) {
            return Vec::new();
        }
        let mut spans = Vec::new();
        for (kind, re) in &self.patterns {
            for m in re.find_iter(text) {
                let s = m.as_str();
                let keep = match kind {
                    PiiKind::CardNumber => {
                        for (start, end) in card_windows(s) {
                            if s.as_bytes().get(start..end).is_some_and(luhn_valid) {
                                spans.push(PiiSpan {
                                    start: m.start() + start,
                                    end: m.start() + end,
                                    kind: PiiKind::CardNumber,
                                });
                            }
                        }
                        false
                    }
                    PiiKind::Ssn => ssn_valid(s),
                    PiiKind::Ipv4 => ipv4_valid(s),
                    _ => true,
                };
                if keep {
                    spans.push(PiiSpan {
                        start: m.start(),
                        end: m.end(),
                        kind: *kind,
                    });
                }
            }
        }
        merge_overlapping(spans)
    }
}

/// Turns events into PII-free record fields: detected spans and sensitive fields become
/// pseudonyms. Runs on the caller's task, off the single writer thread.
#[derive(Clone)]
pub(crate) struct Redactor {
    pub(crate) detector: Arc<dyn PiiDetector>,
    pub(crate) pseudonyms: Pseudonymizer,
    pub(crate) pseudonymize_principal: bool,
}

impl Redactor {
    /// Redacts `event` and encodes it for the writer.
    pub(crate) fn encode_event(&self, event: AuditEvent) -> Encoded {
        let mut count = 0u64;
        let message = self.redact_owned(event.message, &mut count);
        let execution_id = event
            .execution_id
            .map(|id| self.redact_owned(id, &mut count));
        let principal = event.principal.map(|p| {
            if self.pseudonymize_principal {
                self.pseudonyms.pseudonym(&p)
            } else {
                self.redact_owned(p, &mut count)
            }
        });
        let mut metadata = event.metadata;
        for (key, value) in metadata.iter_mut() {
            if event.sensitive.contains(key) {
                *value = Value::String(self.pseudonyms.pseudonym_of_value(value));
            } else {
                self.redact_value(value, &mut count);
            }
        }
        self.redact_keys(&mut metadata, &mut count);
        Encoded::new(
            event.kind,
            event.severity,
            &message,
            execution_id.as_deref(),
            principal.as_deref(),
            &metadata,
            count,
        )
    }

    fn redact_value(&self, value: &mut Value, count: &mut u64) {
        match value {
            Value::String(s) => *s = self.redact_owned(std::mem::take(s), count),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v, count)),
            Value::Object(map) => {
                map.values_mut().for_each(|v| self.redact_value(v, count));
                self.redact_keys(map, count);
            }
            _ => {}
        }
    }

    /// Keys pass the detector like values: a key made only of letters can still be a secret
    /// (`AKIAABCDEFGHIJKLMNOP`), and a plugged-in detector may flag any word. A map whose keys
    /// are all clean (one `RegexSet` pass each with the built-in detector) is left as it is.
    fn redact_keys(&self, map: &mut Map<String, Value>, count: &mut u64) {
        if map.keys().all(|key| self.detector.detect(key).is_empty()) {
            return;
        }
        *map = std::mem::take(map)
            .into_iter()
            .map(|(key, value)| (self.redact_owned(key, count), value))
            .collect();
    }

    /// `text` with every detected span replaced by its kind and pseudonym; `text` itself
    /// (no copy) when nothing is found.
    pub(crate) fn redact_owned(&self, text: String, count: &mut u64) -> String {
        let mut spans = self.detector.detect(&text);
        if spans.is_empty() {
            return text;
        }
        // The seam promises ordered, non-overlapping spans on char boundaries; a plugged-in
        // detector that breaks the promise must not make a span (or the text between two)
        // reach the file in clear, so spans are widened to char boundaries and merged.
        for span in &mut spans {
            span.end = text.ceil_char_boundary(span.end);
            span.start = text.floor_char_boundary(span.start.min(span.end));
        }
        spans.retain(|span| span.start < span.end);
        let spans = merge_overlapping(spans);
        let mut out = String::with_capacity(text.len() + spans.len() * 80);
        let mut last = 0;
        for span in spans {
            let (Some(before), Some(item)) =
                (text.get(last..span.start), text.get(span.start..span.end))
            else {
                continue;
            };
            out.push_str(before);
            out.push('[');
            out.push_str(&span.kind.label().to_ascii_lowercase());
            out.push(':');
            out.push_str(&self.pseudonyms.pseudonym(item));
            out.push(']');
            last = span.end;
            *count += 1;
        }
        out.push_str(text.get(last..).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, String)> {
        BuiltinDetector::new()
            .detect(text)
            .into_iter()
            .map(|s| (s.kind, text[s.start..s.end].to_owned()))
            .collect()
    }

    #[test]
    fn every_builtin_pattern_compiles() {
        assert_eq!(BuiltinDetector::new().patterns.len(), 8);
    }

    #[test]
    fn finds_planted_values_and_skips_near_misses() {
        let found = kinds(
            "mail bob.smith@example.org, ssn 123-45-6789, card 4111 1111 1111 1111, \
             ip 10.1.2.3, key AKIAIOSFODNN7EXAMPLE, Authorization: Bearer abcdefghijklmnop",
        );
        let got: Vec<PiiKind> = found.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            got,
            vec![
                PiiKind::Email,
                PiiKind::Ssn,
                PiiKind::CardNumber,
                PiiKind::Ipv4,
                PiiKind::AwsKey,
                PiiKind::BearerToken
            ]
        );
        // A bad checksum is not a card (a phone-shaped part may still be redacted: over-redacting
        // an audit log is the safe side).
        assert!(
            kinds("card 4111 1111 1111 1112 (bad luhn)")
                .iter()
                .all(|(k, _)| *k != PiiKind::CardNumber)
        );
        assert!(kinds("ssn 000-12-3456 and 666-12-3456 and 923-12-3456").is_empty());
        assert!(kinds("not an ip 999.1.2.3").is_empty());
        assert_eq!(kinds("call +1 415 555 0100")[0].0, PiiKind::Phone);
    }

    /// `text` with each detected span replaced by `[kind]`.
    fn marked(text: &str) -> String {
        let mut out = String::new();
        let mut last = 0;
        for span in BuiltinDetector::new().detect(text) {
            out.push_str(&text[last..span.start]);
            out.push_str(&format!("[{}]", span.kind.label().to_ascii_lowercase()));
            last = span.end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// Every case at once, so one run shows every miss.
    fn check(cases: &[(&str, &str)]) {
        let wrong: Vec<String> = cases
            .iter()
            .map(|(text, expect)| (marked(text), *expect))
            .filter(|(got, expect)| got != expect)
            .map(|(got, expect)| format!("expected {expect:?}, got {got:?}"))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn cards_are_found_among_other_digits() {
        check(&[
            ("card 4111111111111111 123", "card [card] 123"),
            ("pay 4111111111111111 12/27", "pay [card] 12/27"),
            ("order 7 4111111111111111", "order 7 [card]"),
            ("4111 1111 1111 1111 123", "[card] 123"),
            ("4111-1111-1111-1111 99.", "[card] 99."),
            ("4111111111111111 5500000000000004", "[card] [card]"),
        ]);
    }

    #[test]
    fn long_numbers_that_hold_no_card_are_left_alone() {
        check(&[
            // 19 digits, not Luhn-valid; windows inside one group of digits are not tried, so a
            // timestamp or an order number is not redacted piecewise.
            ("ts 1732694400123456789", "ts 1732694400123456789"),
            ("id 12345678901234567890", "id 12345678901234567890"),
            ("id 74111111111111111", "id 74111111111111111"),
        ]);
    }

    #[test]
    fn pgp_private_key_blocks_are_one_span() {
        check(&[(
            "x -----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: 1\n\nlQOYBF4=\n\
             -----END PGP PRIVATE KEY BLOCK----- y",
            "x [private_key] y",
        )]);
    }

    #[test]
    fn phones_emails_and_their_overlaps() {
        check(&[
            ("call (415)555-0100 now", "call [phone] now"),
            ("call (415) 555-0100 now", "call [phone] now"),
            ("was alice@example.com_old", "was [email]_old"),
            ("was alice@example.com2", "was [email]2"),
            ("from josé@bücher.de", "from [email]"),
            // A phone and an email overlap: one span, reported as the longer of the two.
            ("to +1-415-555-0100@sms.example.com.", "to [email]."),
        ]);
    }

    #[test]
    fn overlapping_spans_merge_into_the_kind_of_their_longest_part() {
        let s = |start, end, kind| PiiSpan { start, end, kind };
        let merged = merge_overlapping(vec![
            s(12, 14, PiiKind::Ipv4),
            s(3, 10, PiiKind::Email),
            s(0, 5, PiiKind::Phone),
            s(9, 12, PiiKind::Ssn),
            s(20, 22, PiiKind::Ssn),
            s(20, 22, PiiKind::Phone),
        ]);
        assert_eq!(
            merged,
            vec![
                s(0, 12, PiiKind::Email),
                // Touching is not overlapping.
                s(12, 14, PiiKind::Ipv4),
                // Identical spans: the one found first.
                s(20, 22, PiiKind::Ssn),
            ]
        );
    }

    /// A detector that reports the same spans for any text.
    struct Fixed(Vec<(usize, usize)>);

    impl PiiDetector for Fixed {
        fn detect(&self, _text: &str) -> Vec<PiiSpan> {
            self.0
                .iter()
                .map(|&(start, end)| PiiSpan {
                    start,
                    end,
                    kind: PiiKind::Email,
                })
                .collect()
        }
    }

    #[test]
    fn spans_off_char_boundaries_or_past_the_end_are_widened_not_skipped() {
        let pseudonyms = Pseudonymizer::new([1; 32]);
        let redact = |spans: Vec<(usize, usize)>, text: &str| {
            let redactor = Redactor {
                detector: Arc::new(Fixed(spans)),
                pseudonyms: pseudonyms.clone(),
                pseudonymize_principal: true,
            };
            let mut count = 0;
            let out = redactor.redact_owned(text.to_owned(), &mut count);
            (out, count)
        };
        let token = |item: &str| format!("[email:{}]", pseudonyms.pseudonym(item));
        // In "née" 'é' is bytes 1..3: a span starting inside it covers the whole character.
        assert_eq!(
            redact(vec![(2, 4)], "née x"),
            (format!("n{} x", token("ée")), 1)
        );
        // Past the end, and overlapping: one span up to the end.
        assert_eq!(redact(vec![(1, 99), (0, 2)], "née"), (token("née"), 1));
    }

    #[test]
    fn private_key_blocks_are_one_span() {
        let pem = "x -----BEGIN RSA PRIVATE KEY-----\nMIIB\nabc\n-----END RSA PRIVATE KEY----- y";
        let found = kinds(pem);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, PiiKind::PrivateKey);
        assert!(found[0].1.ends_with("-----END RSA PRIVATE KEY-----"));
    }
}
