//! Personal data and secrets found in text, and what tokenizing them did.
//! Detection is a seam (`PiiDetector`) so the audit log and the result path share one definition.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A kind of personal data or secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PiiKind {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A US social security number.
    Ssn,
    /// A Luhn-valid payment card number.
    CardNumber,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An IBAN with a valid check.
    Iban,
    /// An AWS access key id.
    AwsKey,
    /// A GitHub token.
    GithubToken,
    /// A Slack token.
    SlackToken,
    /// A JSON Web Token.
    Jwt,
    /// A PEM private-key block.
    PrivateKey,
    /// A bearer token in an Authorization-like string.
    BearerToken,
}

impl PiiKind {
    /// The upper-case label used in tokens (`EMAIL` in `[EMAIL_1]`).
    pub fn label(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::Ssn => "SSN",
            PiiKind::CardNumber => "CARD",
            PiiKind::Ipv4 => "IPV4",
            PiiKind::Ipv6 => "IPV6",
            PiiKind::Iban => "IBAN",
            PiiKind::AwsKey => "AWS_KEY",
            PiiKind::GithubToken => "GITHUB_TOKEN",
            PiiKind::SlackToken => "SLACK_TOKEN",
            PiiKind::Jwt => "JWT",
            PiiKind::PrivateKey => "PRIVATE_KEY",
            PiiKind::BearerToken => "BEARER_TOKEN",
        }
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A detected item: a byte range of the scanned text and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PiiSpan {
    /// Start byte offset (inclusive).
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// What it is.
    pub kind: PiiKind,
}

/// Counts of what a tokenization pass replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PiiReport {
    /// Items replaced, by kind.
    pub by_kind: BTreeMap<PiiKind, u64>,
}

impl PiiReport {
    /// Total items replaced.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// Adds one item of `kind`.
    pub fn add(&mut self, kind: PiiKind) {
        *self.by_kind.entry(kind).or_default() += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &PiiReport) {
        for (kind, n) in &other.by_kind {
            *self.by_kind.entry(*kind).or_default() += n;
        }
    }
}

/// Removes overlapping spans, keeping the earliest and, among equals, the longest.
/// Detectors combine several patterns; this makes their union safe to replace.
pub fn non_overlapping(mut spans: Vec<PiiSpan>) -> Vec<PiiSpan> {
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<PiiSpan> = Vec::with_capacity(spans.len());
    for span in spans {
        match out.last() {
            Some(last) if span.start < last.end => {}
            _ => out.push(span),
        }
    }
    out
}

/// Sorts `spans` and merges overlapping ones into one span covering all of them, of the kind
/// of the longest part (the earliest among equals; the sort is stable, so on identical spans
/// the one found first). Touching spans stay apart. Unlike [`non_overlapping`], no span's
/// text is left out: replacing the merged spans redacts everything any pattern found (a
/// phone number inside `+1-415-555-0100@sms.example.com` no longer hides the email).
pub fn merge_overlapping(mut spans: Vec<PiiSpan>) -> Vec<PiiSpan> {
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: usize = 0;
    let mut longest = 0;
    for i in 0..spans.len() {
        let span = spans[i];
        let len = span.end.saturating_sub(span.start);
        match kept.checked_sub(1).map(|last| &mut spans[last]) {
            Some(merged) if span.start < merged.end => {
                merged.end = merged.end.max(span.end);
                if len > longest {
                    longest = len;
                    merged.kind = span.kind;
                }
            }
            _ => {
                spans[kept] = span;
                kept += 1;
                longest = len;
            }
        }
    }
    spans.truncate(kept);
    spans
}

/// Where a card number may sit inside `run`, a run of digit groups joined by single spaces or
/// hyphens: every window of whole groups holding 13 to 19 digits, as byte ranges of `run`.
/// A card next to a CVV, an expiry or an order number (`4111 1111 1111 1111 123`) is in one
/// of them, while the whole run fails a Luhn check.
///
/// Windows start and end at group edges only: inside one group any 13 to 19 digits would be
/// tried, and most long ids and nanosecond timestamps hold a window that passes Luhn by
/// chance (one in ten per window). A card glued to other digits is not found.
pub fn card_windows(run: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut rest = run.split([' ', '-']).scan(0, |pos, group| {
        let start = *pos;
        *pos += group.len() + 1;
        Some((start, start + group.len()))
    });
    loop {
        // A window is at most 19 groups long, so a long run costs linear time.
        let window = rest.clone();
        let Some((start, _)) = rest.next() else {
            break;
        };
        let mut digits = 0;
        for (group_start, end) in window {
            digits += end - group_start;
            if digits > 19 {
                break;
            }
            if digits >= 13 {
                out.push((start, end));
            }
        }
    }
    out
}

/// Whether the ASCII digits of `text` (any other byte, such as a separator, skipped) pass
/// the Luhn check that card numbers carry.
pub fn luhn_valid(text: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in text.iter().rev().filter(|b| b.is_ascii_digit()).enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}
