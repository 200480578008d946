//! The canonical byte form of a record, which its hash covers.
//! Keys sorted at every depth, no whitespace: independent of serde_json's map ordering features.

use serde_json::Value;
use sha2::{Digest, Sha256};

use codeward_core::AuditRecord;

/// The `prev` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Appends `value` to `out` in canonical form.
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(key));
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The canonical form of `value`.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// SHA-256 (hex) of a record's canonical form without its `hash` field.
pub fn record_hash(record: &AuditRecord) -> String {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("hash");
    }
    hex::encode(Sha256::digest(canonical(&value).as_bytes()))
}

/// A record's fields already encoded as JSON (strings quoted and escaped), computed on the
/// caller's task so the single writer thread only concatenates and hashes.
pub(crate) struct Encoded {
    pub message: String,
    pub execution_id: String,
    pub principal: String,
    /// Metadata in canonical form (keys sorted at every depth): what the hash covers.
    pub metadata_canonical: String,
    /// Metadata as serde_json writes it: what the line holds.
    pub metadata_line: String,
    pub redacted: u64,
}

/// JSON encoding of a string.
pub(crate) fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// JSON encoding of an optional string (`null` for none).
pub(crate) fn json_opt(s: Option<&str>) -> String {
    s.map(json_string).unwrap_or_else(|| "null".to_owned())
}

/// The hash and the JSON line of a record, assembled from pre-encoded parts: the same bytes
/// `record_hash` and `serde_json::to_string(&AuditRecord)` give (a test holds them equal).
pub(crate) fn assemble(
    e: &Encoded,
    kind: codeward_core::AuditKind,
    severity: codeward_core::Severity,
    seq: u64,
    ts: &str,
    prev: &str,
) -> (String, String) {
    use std::fmt::Write as _;
    let v = codeward_core::RECORD_FORMAT_VERSION;
    let (ts, prev) = (json_string(ts), json_string(prev));
    let (kind, severity) = (kind.as_str(), severity.as_str());
    let mut c = String::with_capacity(160 + e.message.len() + e.metadata_canonical.len());
    let _ = write!(
        c,
        "{{\"execution_id\":{},\"message\":{},\"metadata\":{},\"prev\":{prev},\"principal\":{}",
        e.execution_id, e.message, e.metadata_canonical, e.principal
    );
    if e.redacted != 0 {
        let _ = write!(c, ",\"redacted\":{}", e.redacted);
    }
    let _ = write!(
        c,
        ",\"seq\":{seq},\"severity\":\"{severity}\",\"ts\":{ts},\"type\":\"{kind}\",\"v\":{v}}}"
    );
    let hash = hex::encode(Sha256::digest(c.as_bytes()));
    let mut line = String::with_capacity(c.len() + 80);
    let _ = write!(
        line,
        "{{\"v\":{v},\"seq\":{seq},\"ts\":{ts},\"type\":\"{kind}\",\"severity\":\"{severity}\",\"message\":{},\"execution_id\":{},\"principal\":{},\"metadata\":{}",
        e.message, e.execution_id, e.principal, e.metadata_line
    );
    if e.redacted != 0 {
        let _ = write!(line, ",\"redacted\":{}", e.redacted);
    }
    let _ = write!(line, ",\"prev\":{prev},\"hash\":\"{hash}\"}}");
    (hash, line)
}

/// SHA-256 (hex) of a parsed line without its `hash` field: verifies what is on disk,
/// including fields this build would not have written.
pub fn value_hash(value: &Value) -> String {
    let mut value = value.clone();
    if let Value::Object(map) = &mut value {
        map.remove("hash");
    }
    hex::encode(Sha256::digest(canonical(&value).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use codeward_core::{AuditKind, Severity};
    use serde_json::json;

    #[test]
    fn assembled_records_equal_the_reference_encoding() {
        for (exec, principal, redacted, meta) in [
            (None, None, 0, json!({})),
            (
                Some("e-1"),
                Some("hmac-sha256:ab"),
                3,
                json!({"z": 1.5, "a": ["x", {"k": null}], "q\"uote": "é\n"}),
            ),
        ] {
            let Value::Object(metadata) = meta else {
                unreachable!()
            };
            let mut record = AuditRecord {
                v: codeward_core::RECORD_FORMAT_VERSION,
                seq: 42,
                ts: "2026-11-27T00:00:00.000001Z".into(),
                kind: AuditKind::ToolCall,
                severity: Severity::Warning,
                message: "a \"quoted\" message ✓".into(),
                execution_id: exec.map(str::to_owned),
                principal: principal.map(str::to_owned),
                metadata: metadata.clone(),
                redacted,
                prev: GENESIS_HASH.into(),
                hash: String::new(),
            };
            let encoded = Encoded {
                message: json_string(&record.message),
                execution_id: json_opt(record.execution_id.as_deref()),
                principal: json_opt(record.principal.as_deref()),
                metadata_canonical: canonical(&Value::Object(metadata.clone())),
                metadata_line: serde_json::to_string(&metadata).unwrap(),
                redacted,
            };
            let (hash, line) = assemble(
                &encoded,
                record.kind,
                record.severity,
                record.seq,
                &record.ts,
                &record.prev,
            );
            assert_eq!(hash, record_hash(&record));
            record.hash = hash;
            assert_eq!(line, serde_json::to_string(&record).unwrap());
        }
    }

    #[test]
    fn canonical_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [3, {"z": 0, "y": "é"}], "c": null}});
        assert_eq!(
            canonical(&v),
            r#"{"a":{"c":null,"d":[3,{"y":"é","z":0}]},"b":1}"#
        );
    }
}
