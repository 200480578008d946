//! Replaces detected values with execution-scoped tokens (`[EMAIL_1]`). The scope table maps
//! keyed HMAC-SHA256 digests to numbers, so no plaintext value is ever retained.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use codeward_core::{PiiDetector, PiiKind, PiiRedactor, PiiReport};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::detect::PiiScanner;
use crate::error::SecurityError;

type HmacSha256 = Hmac<Sha256>;

/// Default number of scopes kept before the least recently used is evicted.
const DEFAULT_MAX_SCOPES: usize = 1024;
/// Default number of distinct values remembered per scope.
const DEFAULT_MAX_VALUES: usize = 65_536;

#[derive(Default)]
struct Scope {
    last_used: u64,
    next: HashMap<PiiKind, u32>,
    /// HMAC digest of (kind, value) -> token number. Digests only: never the value.
    numbers: HashMap<[u8; 32], u32>,
}

#[derive(Default)]
struct Scopes {
    tick: u64,
    map: HashMap<String, Scope>,
}

/// Configures a [`PiiTokenizer`].
#[derive(Clone)]
#[non_exhaustive]
pub struct PiiTokenizerBuilder {
    detector: Arc<dyn PiiDetector>,
    key: Option<[u8; 32]>,
    max_scopes: usize,
    max_values_per_scope: usize,
}

impl std::fmt::Debug for PiiTokenizerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiTokenizerBuilder")
            .field("max_scopes", &self.max_scopes)
            .field("max_values_per_scope", &self.max_values_per_scope)
            .finish_non_exhaustive()
    }
}

impl PiiTokenizerBuilder {
    /// Uses another detector (default: [`PiiScanner`]).
    pub fn detector(mut self, detector: Arc<dyn PiiDetector>) -> Self {
        self.detector = detector;
        self
    }

    /// Uses a fixed HMAC key instead of a random per-process one (tests, or tokens that must
    /// agree across processes).
    pub fn key(mut self, key: [u8; 32]) -> Self {
        self.key = Some(key);
        self
    }

    /// Scopes kept before the least recently used one is evicted (at least 1).
    pub fn max_scopes(mut self, n: usize) -> Self {
        self.max_scopes = n.max(1);
        self
    }

    /// Distinct values remembered per scope; beyond it new values still get fresh tokens,
    /// but repeats of them are no longer recognized.
    pub fn max_values_per_scope(mut self, n: usize) -> Self {
        self.max_values_per_scope = n.max(1);
        self
    }

    /// Builds the tokenizer, drawing a random key from the OS unless one was given.
    pub fn build(self) -> Result<PiiTokenizer, SecurityError> {
        let key = match self.key {
            Some(k) => k,
            None => {
                let mut k = [0u8; 32];
                getrandom::fill(&mut k).map_err(|e| SecurityError::Random {
                    message: e.to_string(),
                })?;
                k
            }
        };
        let mac = HmacSha256::new_from_slice(&key).map_err(|e| SecurityError::Random {
            message: e.to_string(),
        })?;
        Ok(PiiTokenizer {
            detector: self.detector,
            mac,
            max_scopes: self.max_scopes,
            max_values: self.max_values_per_scope,
            scopes: Mutex::new(Scopes::default()),
        })
    }
}

/// Replaces PII in JSON strings, numbers and keys with tokens like `[EMAIL_1]`.
///
/// Within one scope (an execution id) the same value always gets the same token; different
/// scopes number independently. The scope table holds only keyed HMAC-SHA256 digests and
/// counters, bounded in scopes and values; call [`PiiTokenizer::end_scope`] when an execution
/// finishes.
pub struct PiiTokenizer {
    detector: Arc<dyn PiiDetector>,
    mac: HmacSha256,
    max_scopes: usize,
    max_values: usize,
    scopes: Mutex<Scopes>,
}

impl std::fmt::Debug for PiiTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiTokenizer")
            .field("max_scopes", &self.max_scopes)
            .field("scopes", &self.scope_count())
            .finish_non_exhaustive()
    }
}

impl PiiTokenizer {
    /// A tokenizer with the default detector, a random key and default bounds.
    pub fn new() -> Result<PiiTokenizer, SecurityError> {
        PiiTokenizer::builder().build()
    }

    /// A builder.
    pub fn builder() -> PiiTokenizerBuilder {
        PiiTokenizerBuilder {
            detector: Arc::new(PiiScanner::new()),
            key: None,
            max_scopes: DEFAULT_MAX_SCOPES,
            max_values_per_scope: DEFAULT_MAX_VALUES,
        }
    }

    /// Forgets a scope's numbering (call when the execution ends; the orchestrator does, through
    /// [`PiiRedactor::end_scope`]).
    pub fn end_scope(&self, scope: &str) {
        self.lock().map.remove(scope);
    }

    /// How many scopes are currently held.
    pub fn scope_count(&self) -> usize {
        self.lock().map.len()
    }

    /// Tokenizes one string.
    pub fn tokenize_text(&self, text: &str, scope: &str) -> (String, PiiReport) {
        let mut report = PiiReport::default();
        let mut scopes = self.lock();
        let out = self.replace(&mut scopes, text, scope, &mut report);
        (out.unwrap_or_else(|| text.to_owned()), report)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Scopes> {
        // A panic while holding the lock cannot leave the table inconsistent in a way that
        // leaks data (it only holds digests), so a poisoned lock is recovered.
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The replaced text, or None when nothing was found.
    fn replace(
        &self,
        scopes: &mut Scopes,
        text: &str,
        scope: &str,
        report: &mut PiiReport,
    ) -> Option<String> {
        let spans = self.detector.detect(text);
        if spans.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for span in spans {
            let (Some(value), Some(gap)) =
                (text.get(span.start..span.end), text.get(last..span.start))
            else {
                continue;
            };
            out.push_str(gap);
            let n = self.number(scopes, scope, span.kind, value);
            out.push('[');
            out.push_str(span.kind.label());
            out.push('_');
            out.push_str(&n.to_string());
            out.push(']');
            report.add(span.kind);
            last = span.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        Some(out)
    }

    fn number(&self, scopes: &mut Scopes, scope: &str, kind: PiiKind, value: &str) -> u32 {
        let mut mac = self.mac.clone();
        mac.update(kind.label().as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        scopes.tick += 1;
        let tick = scopes.tick;
        if !scopes.map.contains_key(scope)
            && scopes.map.len() >= self.max_scopes
            && let Some(oldest) = scopes
                .map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
        {
            scopes.map.remove(&oldest);
        }
        let state = scopes.map.entry(scope.to_owned()).or_default();
        state.last_used = tick;
        if let Some(n) = state.numbers.get(&digest) {
            return *n;
        }
        let next = state.next.entry(kind).or_insert(0);
        *next += 1;
        let n = *next;
        if state.numbers.len() < self.max_values {
            state.numbers.insert(digest, n);
        }
        n
    }
}

impl PiiRedactor for PiiTokenizer {
    fn end_scope(&self, scope: &str) {
        PiiTokenizer::end_scope(self, scope);
    }

    fn tokenize(&self, value: &mut Value, scope: &str) -> PiiReport {
        let mut report = PiiReport::default();
        let mut scopes = self.lock();
        // An explicit stack: JSON built in memory can be deeper than the call stack allows.
        // Children are pushed in reverse so tokens are numbered in document order.
        let mut stack: Vec<&mut Value> = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => {
                    if let Some(new) = self.replace(&mut scopes, s, scope, &mut report) {
                        *s = new;
                    }
                }
                // A card or account number stored as a JSON number is still personal data:
                // its digits are scanned like a string, and a number with a find becomes the
                // replaced text (a string).
                Value::Number(n) => {
                    let (sign, digits) = number_digits(n);
                    if let Some(new) = self.replace(&mut scopes, &digits, scope, &mut report) {
                        *v = Value::String(format!("{sign}{new}"));
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut().rev()),
                Value::Object(map) => {
                    // Keys can hold PII too (maps keyed by email); rebuild only when needed.
                    let dirty = map.keys().any(|k| !self.detector.detect(k).is_empty());
                    if dirty {
                        let old = std::mem::take(map);
                        let mut entries = Vec::with_capacity(old.len());
                        for (k, child) in old {
                            match self.replace(&mut scopes, &k, scope, &mut report) {
                                Some(key) => entries.push((key, true, child)),
                                None => entries.push((k, false, child)),
                            }
                        }
                        let kept: HashSet<String> = entries
                            .iter()
                            .filter(|(_, tokenized, _)| !tokenized)
                            .map(|(k, _, _)| k.clone())
                            .collect();
                        for (key, tokenized, child) in entries {
                            let taken = |k: &String| kept.contains(k) || map.contains_key(k);
                            let key = if tokenized && taken(&key) {
                                unique_key(&key, taken)
                            } else {
                                key
                            };
                            map.insert(key, child);
                        }
                    }
                    stack.extend(map.values_mut().rev());
                }
                _ => {}
            }
        }
        report
    }
}

/// A number's sign and the digits to scan: the magnitude of an integer (a `-` before the
/// digits would stop the detector's edge check, so `-4111111111111111` was not a card), the
/// integer part of a whole float (`4111111111111111.0` is that card, not `[CARD_1].0`), and
/// any other number's text as serde_json writes it.
fn number_digits(n: &serde_json::Number) -> (&'static str, String) {
    if let Some(u) = n.as_u64() {
        return ("", u.to_string());
    }
    if let Some(i) = n.as_i64() {
        return ("-", i.unsigned_abs().to_string());
    }
    match n.as_f64() {
        // Below 2^53 every whole float is exact, so its digits are the number's.
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            let sign = if f < 0.0 { "-" } else { "" };
            (sign, format!("{}", f.abs() as u64))
        }
        _ => ("", n.to_string()),
    }
}

/// `key` with the first free suffix ` (2)`, ` (3)`, ...: a tokenized key that equals a key
/// already there (one that was literally `[EMAIL_1]`, or another tokenized one) must not
/// overwrite that entry. The key kept as it was keeps its name.
fn unique_key(key: &str, taken: impl Fn(&String) -> bool) -> String {
    let mut n: u64 = 2;
    loop {
        let candidate = format!("{key} ({n})");
        if !taken(&candidate) {
            return candidate;
        }
        n += 1;
    }
}
