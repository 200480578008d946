//! The canonical byte form of a record, which its hash covers.
//! Keys sorted at every depth, no whitespace: independent of serde_json's map ordering features.

use std::ops::Range;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use codeward_core::{AuditKind, AuditRecord, Severity};

/// The `prev` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Appends the JSON encoding of `s` to `out`, exactly as serde_json writes it.
fn json_str_into(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends `value` to `out` in canonical form.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_object(map, None, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => json_str_into(s, out),
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// Appends `map` in canonical form, leaving out the top-level key `skip`.
fn write_object(map: &Map<String, Value>, skip: Option<&str>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    let mut member = |key: &String, value: &Value| {
        if skip == Some(key.as_str()) {
            return;
        }
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        json_str_into(key, out);
        out.push(b':');
        write_canonical(value, out);
    };
    // serde_json's map is sorted already unless its `preserve_order` feature is on somewhere
    // in the build; only then are the keys sorted here.
    if map.keys().is_sorted() {
        map.iter().for_each(|(k, v)| member(k, v));
    } else {
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_unstable_by_key(|(k, _)| *k);
        members.into_iter().for_each(|(k, v)| member(k, v));
    }
    out.push(b'}');
}

fn into_string(bytes: Vec<u8>) -> String {
    // serde_json writes UTF-8 and every literal above is ASCII, so this never copies.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The canonical form of `value`: keys sorted at every depth, no whitespace, strings and
/// numbers as serde_json writes them.
pub fn canonical(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    into_string(out)
}

fn hash_hex(digest: &[u8]) -> String {
    let mut hex = [0u8; 64];
    // A SHA-256 digest is 32 bytes, which fill the 64 hex digits exactly.
    let _ = hex::encode_to_slice(digest, &mut hex);
    into_string(hex.to_vec())
}

/// SHA-256 (hex) of a record's canonical form without its `hash` field.
pub fn record_hash(record: &AuditRecord) -> String {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("hash");
    }
    value_hash(&value)
}

/// A record's fields encoded as JSON on the caller's task, so the single writer thread only
/// adds `seq`, `ts` and `prev`, hashes and concatenates.
pub(crate) struct Encoded {
    kind: AuditKind,
    severity: Severity,
    /// The middle of the line, in the record's field order:
    /// `"message":M,"execution_id":E,"principal":P,"metadata":D` and `,"redacted":N` when N > 0.
    line: Vec<u8>,
    /// Where each encoded value sits in `line` (the hash covers them in canonical order).
    message: Range<usize>,
    execution_id: Range<usize>,
    principal: Range<usize>,
    metadata: Range<usize>,
    redacted: u64,
}

impl Encoded {
    /// Encodes the (already redacted) fields; metadata in canonical form.
    pub(crate) fn new(
        kind: AuditKind,
        severity: Severity,
        message: &str,
        execution_id: Option<&str>,
        principal: Option<&str>,
        metadata: &Map<String, Value>,
        redacted: u64,
    ) -> Encoded {
        fn member(
            out: &mut Vec<u8>,
            name: &[u8],
            write: impl FnOnce(&mut Vec<u8>),
        ) -> Range<usize> {
            out.extend_from_slice(name);
            let start = out.len();
            write(out);
            start..out.len()
        }
        fn opt(out: &mut Vec<u8>, s: Option<&str>) {
            match s {
                Some(s) => json_str_into(s, out),
                None => out.extend_from_slice(b"null"),
            }
        }
        let mut line = Vec::with_capacity(96 + message.len() + 32 * metadata.len());
        let message = member(&mut line, b"\"message\":", |o| json_str_into(message, o));
        let execution_id = member(&mut line, b",\"execution_id\":", |o| opt(o, execution_id));
        let principal = member(&mut line, b",\"principal\":", |o| opt(o, principal));
        let metadata = member(&mut line, b",\"metadata\":", |o| {
            write_object(metadata, None, o)
        });
        if redacted != 0 {
            line.extend_from_slice(b",\"redacted\":");
            line.extend_from_slice(itoa::Buffer::new().format(redacted).as_bytes());
        }
        Encoded {
            kind,
            severity,
            line,
            message,
            execution_id,
            principal,
            metadata,
            redacted,
        }
    }

    /// A stored record's fields, encoded as the writer encoded them.
    fn of(record: &AuditRecord) -> Encoded {
        Encoded::new(
            record.kind,
            record.severity,
            &record.message,
            record.execution_id.as_deref(),
            record.principal.as_deref(),
            &record.metadata,
            record.redacted,
        )
    }

    /// Appends the record's JSON line (with its newline) to `out` and returns its hash: the
    /// same bytes and hash as `serde_json::to_string(&AuditRecord)` and [`record_hash`] give
    /// for the same record (a test holds them equal). `scratch` is reused between calls.
    pub(crate) fn assemble(
        &self,
        seq: u64,
        ts: &str,
        prev: &str,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> String {
        let (mut v_buf, mut seq_buf, mut red_buf) = (
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
        );
        let v = v_buf
            .format(codeward_core::RECORD_FORMAT_VERSION)
            .as_bytes();
        let seq = seq_buf.format(seq).as_bytes();
        let (kind, severity) = (
            self.kind.as_str().as_bytes(),
            self.severity.as_str().as_bytes(),
        );
        let (redacted_key, redacted): (&[u8], &[u8]) = match self.redacted {
            0 => (b"", b""),
            n => (b",\"redacted\":", red_buf.format(n).as_bytes()),
        };
        scratch.clear();
        json_str_into(ts, scratch);
        let ts_end = scratch.len();
        json_str_into(prev, scratch);
        let (ts, prev) = scratch.split_at(ts_end);
        let l = &self.line;

        // The canonical form, keys sorted: streamed into the hasher, never built.
        let canonical: [&[u8]; 23] = [
            b"{\"execution_id\":",
            &l[self.execution_id.clone()],
            b",\"message\":",
            &l[self.message.clone()],
            b",\"metadata\":",
            &l[self.metadata.clone()],
            b",\"prev\":",
            prev,
            b",\"principal\":",
            &l[self.principal.clone()],
            redacted_key,
            redacted,
            b",\"seq\":",
            seq,
            b",\"severity\":\"",
            severity,
            b"\",\"ts\":",
            ts,
            b",\"type\":\"",
            kind,
            b"\",\"v\":",
            v,
            b"}",
        ];
        let mut h = Sha256::new();
        canonical.iter().for_each(|part| h.update(part));
        let hash = hash_hex(&h.finalize());

        // The line, in the record's field order (`line` holds message to redacted).
        let line: [&[u8]; 17] = [
            b"{\"v\":",
            v,
            b",\"seq\":",
            seq,
            b",\"ts\":",
            ts,
            b",\"type\":\"",
            kind,
            b"\",\"severity\":\"",
            severity,
            b"\",",
            l,
            b",\"prev\":",
            prev,
            b",\"hash\":\"",
            hash.as_bytes(),
            b"\"}\n",
        ];
        line.iter().for_each(|part| out.extend_from_slice(part));
        hash
    }
}

/// The line (without its newline) the writer writes for `record`'s content, with the hash
/// computed afresh. A line on disk is intact only if it is exactly this: comparing bytes
/// rejects what a parse would smooth over (a duplicate key, where the last one wins; extra
/// whitespace; `\u` escapes), so no edit can hide behind an equal parsed value.
pub(crate) fn written_line(record: &AuditRecord) -> Vec<u8> {
    let (mut line, mut scratch) = (Vec::with_capacity(512), Vec::with_capacity(160));
    Encoded::of(record).assemble(
        record.seq,
        &record.ts,
        &record.prev,
        &mut line,
        &mut scratch,
    );
    line.pop(); // the newline
    line
}

/// SHA-256 (hex) of a parsed line without its `hash` field: verifies what is on disk,
/// including fields this build would not have written.
pub fn value_hash(value: &Value) -> String {
    let mut out = Vec::with_capacity(512);
    match value {
        Value::Object(map) => write_object(map, Some("hash"), &mut out),
        other => write_canonical(other, &mut out),
    }
    hash_hex(&Sha256::digest(&out))
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
                // Written in sorted order, so serde_json's own encoding matches the canonical
                // metadata with or without its `preserve_order` feature.
                json!({"a": ["x", {"k": null}], "q\"uote": "é\n", "z": 1.5}),
            ),
            (
                Some("tab\there \u{1}"),
                None,
                u64::MAX,
                json!({"big": u64::MAX, "neg": -7, "nested": {"b": [1, [2.25, "\u{7f}"]], "c": true}, "uni": "日本"}),
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
            let encoded = Encoded::of(&record);
            let (mut line, mut scratch) = (b"previous bytes stay\n".to_vec(), Vec::new());
            let hash = encoded.assemble(
                record.seq,
                &record.ts,
                &record.prev,
                &mut line,
                &mut scratch,
            );
            let line = String::from_utf8(line).unwrap();
            let line = line.strip_prefix("previous bytes stay\n").unwrap();
            assert_eq!(hash, record_hash(&record));
            record.hash = hash;
            assert_eq!(line, serde_json::to_string(&record).unwrap() + "\n");
        }
    }

    #[test]
    fn lines_hold_metadata_in_canonical_order_whatever_the_insertion_order() {
        // With serde_json's `preserve_order` on (it is, in the full workspace build) this map
        // iterates z before a; the line and the hash must not depend on that.
        let mut metadata = Map::new();
        metadata.insert("z".into(), json!({"y": 1, "b": 2}));
        metadata.insert("a".into(), json!(0));
        let encoded = Encoded::new(
            AuditKind::Execution,
            Severity::Info,
            "m",
            None,
            None,
            &metadata,
            0,
        );
        let (mut line, mut scratch) = (Vec::new(), Vec::new());
        let hash = encoded.assemble(
            1,
            "2026-11-27T00:00:00Z",
            GENESIS_HASH,
            &mut line,
            &mut scratch,
        );
        let line = String::from_utf8(line).unwrap();
        assert!(
            line.contains(r#""metadata":{"a":0,"z":{"b":2,"y":1}}"#),
            "{line}"
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["hash"], hash.as_str());
        assert_eq!(value_hash(&parsed), hash);
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
