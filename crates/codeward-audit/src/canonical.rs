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
                out.push_str(&Value::String(key.clone()).to_string());
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

/// [`record_hash`] without building a `Value` of the record: the canonical form assembled
/// field by field (keys in sorted order) around the already-canonical `metadata`. The writer
/// thread uses it; a test keeps it identical to [`record_hash`].
pub(crate) fn record_hash_with(record: &AuditRecord, metadata_canonical: &str) -> String {
    fn json_str(out: &mut String, s: &str) {
        out.push_str(&Value::String(s.to_owned()).to_string());
    }
    fn json_opt(out: &mut String, s: &Option<String>) {
        match s {
            Some(s) => json_str(out, s),
            None => out.push_str("null"),
        }
    }
    let mut c = String::with_capacity(256 + record.message.len() + metadata_canonical.len());
    c.push_str("{\"execution_id\":");
    json_opt(&mut c, &record.execution_id);
    c.push_str(",\"message\":");
    json_str(&mut c, &record.message);
    c.push_str(",\"metadata\":");
    c.push_str(metadata_canonical);
    c.push_str(",\"prev\":");
    json_str(&mut c, &record.prev);
    c.push_str(",\"principal\":");
    json_opt(&mut c, &record.principal);
    if record.redacted != 0 {
        c.push_str(&format!(",\"redacted\":{}", record.redacted));
    }
    c.push_str(&format!(
        ",\"seq\":{},\"severity\":\"{}\",\"ts\":",
        record.seq,
        record.severity.as_str()
    ));
    json_str(&mut c, &record.ts);
    c.push_str(&format!(
        ",\"type\":\"{}\",\"v\":{}}}",
        record.kind.as_str(),
        record.v
    ));
    hex::encode(Sha256::digest(c.as_bytes()))
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
    fn the_fast_hash_equals_the_reference_hash() {
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
            let record = AuditRecord {
                v: 1,
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
            let fast = record_hash_with(&record, &canonical(&Value::Object(metadata)));
            assert_eq!(fast, record_hash(&record));
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
