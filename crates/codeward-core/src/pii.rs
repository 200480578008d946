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
