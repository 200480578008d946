//! Nothing sensitive reaches the file; pseudonyms are keyed, stable and searchable.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use codeward_audit::{AuditError, AuditLog, AuditLogOptions, KeySource, Pseudonymizer};
use codeward_core::{AuditEvent, AuditKind, PiiDetector, PiiKind, PiiSpan, Severity};
use serde_json::json;

use super::*;

const PLANTED: [&str; 6] = [
    "alice.jones@example.com",
    "123-45-6789",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "AKIAIOSFODNN7EXAMPLE",
    "192.168.10.77",
];

#[tokio::test]
async fn planted_pii_never_reaches_the_file_and_pseudonyms_are_stable() {
    let (_tmp, log) = temp_log();
    for round in 0..3 {
        let ev = AuditEvent::new(
            AuditKind::Execution,
            Severity::Info,
            format!("run {round} for alice.jones@example.com with card 4111 1111 1111 1111"),
        )
        .principal("alice.jones@example.com")
        .execution(format!("exec-{round}"))
        .meta("result", json!({"ssn": "123-45-6789", "nested": [{"key": "AKIAIOSFODNN7EXAMPLE"}], "card": "5500-0000-0000-0004"}))
        .meta("client", "connected from 192.168.10.77")
        .sensitive("query", "notes about project falcon for alice");
        let _r = log.append(ev).await.unwrap();
    }
    // Every file of the log: the segment and the write-ahead file, which holds the same bytes.
    let wal = std::fs::read(log.dir().join("audit.wal")).unwrap();
    assert!(
        wal.windows(9).any(|w| w == b"\"seq\":3,\""),
        "records are mirrored there"
    );
    for bytes in [
        std::fs::read_to_string(segment(log.dir(), 1)).unwrap(),
        String::from_utf8_lossy(&wal).into_owned(),
    ] {
        for value in PLANTED {
            assert!(!bytes.contains(value), "{value} leaked into the log");
        }
        assert!(
            !bytes.contains("project falcon"),
            "a sensitive field leaked"
        );
    }

    let records = raw_records(log.dir());
    let email = log.pseudonym("alice.jones@example.com");
    assert!(email.starts_with("hmac-sha256:") && email.len() == "hmac-sha256:".len() + 64);
    for r in &records {
        assert_eq!(
            r.principal.as_deref(),
            Some(email.as_str()),
            "principal pseudonym stable across records"
        );
        assert!(
            r.message.contains(&format!("[email:{email}]")),
            "{}",
            r.message
        );
        assert_eq!(
            r.metadata["query"],
            log.pseudonym("notes about project falcon for alice")
        );
        assert_eq!(
            r.redacted, 6,
            "email, card in message; ssn, key, card, ip in metadata"
        );
    }
    // An auditor with the key finds every record about a value by its pseudonym.
    let ssn = log.pseudonym("123-45-6789");
    assert_eq!(
        records
            .iter()
            .filter(|r| r.metadata["result"]["ssn"].as_str().unwrap().contains(&ssn))
            .count(),
        3
    );
}

/// Appends one event per message to a fresh log and returns the segment's text.
async fn written(log: &AuditLog, messages: &[&str]) -> String {
    for m in messages {
        let _r = log
            .append(AuditEvent::new(AuditKind::Security, Severity::Info, *m))
            .await
            .unwrap();
    }
    std::fs::read_to_string(segment(log.dir(), 1)).unwrap()
}

#[tokio::test]
async fn values_the_built_in_detector_used_to_miss_never_reach_the_file() {
    let (_tmp, log) = temp_log();
    let bytes = written(
        &log,
        &[
            "card 4111111111111111 123",
            "pay 4111111111111111 12/27",
            "order 7 4111111111111111",
            "key -----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF4secret\n-----END PGP PRIVATE KEY BLOCK-----",
            "call (415)555-0100",
            "was alice@example.com_old and alice@example.com2",
            "text +1-415-555-0100@sms.example.com",
        ],
    )
    .await;
    let leaked: Vec<&str> = [
        "4111111111111111",
        "lQOYBF4secret",
        "PGP PRIVATE",
        "555-0100",
        "alice@",
        "example.com",
    ]
    .into_iter()
    .filter(|value| bytes.contains(value))
    .collect();
    assert!(leaked.is_empty(), "leaked into the log: {leaked:?}");
}

#[tokio::test]
async fn metadata_keys_pass_the_detector_even_when_made_of_letters() {
    let (_tmp, log) = temp_log();
    let key = "AKIAABCDEFGHIJKLMNOP";
    let _r = log
        .append(
            AuditEvent::new(AuditKind::Security, Severity::Info, "keys")
                .meta(key, 1)
                .meta("nested", json!({ key: 2 })),
        )
        .await
        .unwrap();
    let bytes = std::fs::read_to_string(segment(log.dir(), 1)).unwrap();
    assert!(!bytes.contains(key), "{bytes}");
    let records = raw_records(log.dir());
    let token = format!("[aws_key:{}]", log.pseudonym(key));
    assert_eq!(records[0].metadata[&token], 1);
    assert_eq!(records[0].metadata["nested"][&token], 2);
    assert_eq!(records[0].redacted, 2);
}

/// A plugged-in detector that flags words the built-in one does not know, reporting every
/// occurrence of each word in list order: unsorted and overlapping, against the seam's promise.
struct Words(&'static [&'static str]);

impl PiiDetector for Words {
    fn detect(&self, text: &str) -> Vec<PiiSpan> {
        self.0
            .iter()
            .flat_map(|word| text.match_indices(word))
            .map(|(start, word)| PiiSpan {
                start,
                end: start + word.len(),
                kind: PiiKind::Email,
            })
            .collect()
    }
}

#[tokio::test]
async fn a_plugged_in_detector_sees_keys_and_its_overlapping_spans_are_all_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(
        options(&tmp.path().join("log")).detector(Arc::new(Words(&["falcon", "project_falcon"]))),
    )
    .unwrap();
    let _r = log
        .append(
            AuditEvent::new(AuditKind::Security, Severity::Info, "about project_falcon")
                .meta("falcon", 1)
                .meta("plans", json!({ "project_falcon": "x" })),
        )
        .await
        .unwrap();
    let bytes = std::fs::read_to_string(segment(log.dir(), 1)).unwrap();
    assert!(!bytes.contains("falcon"), "{bytes}");
    assert!(!bytes.contains("project"), "{bytes}");
    let records = raw_records(log.dir());
    assert_eq!(
        records[0].message,
        format!("about [email:{}]", log.pseudonym("project_falcon"))
    );
}

#[test]
fn pseudonyms_depend_on_the_key() {
    let a = Pseudonymizer::new([1; 32]).pseudonym("bob");
    let b = Pseudonymizer::new([2; 32]).pseudonym("bob");
    assert_ne!(a, b);
    assert_eq!(a, Pseudonymizer::new([1; 32]).pseudonym("bob"));
}

#[test]
fn a_missing_key_is_a_clear_error_unless_creation_is_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("keys/audit.key");
    let err =
        AuditLog::open(AuditLogOptions::new(tmp.path().join("log")).key(KeySource::file(&key)))
            .unwrap_err();
    assert!(matches!(err, AuditError::Key { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");

    let err = AuditLog::open(AuditLogOptions::new(tmp.path().join("log"))).unwrap_err();
    assert!(err.to_string().contains("no pseudonym key"), "{err}");

    let log = AuditLog::open(
        AuditLogOptions::new(tmp.path().join("log")).key(KeySource::file_or_create(&key)),
    )
    .unwrap();
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let first = log.pseudonym("x");
    drop(log);
    // The created key is reused, so pseudonyms stay stable across restarts.
    let again =
        AuditLog::open(AuditLogOptions::new(tmp.path().join("log")).key(KeySource::file(&key)))
            .unwrap();
    assert_eq!(again.pseudonym("x"), first);
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("audit.key");
    std::fs::write(&key, hex::encode([3u8; 32])).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = KeySource::file(&key).load().unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(KeySource::file(&key).load().unwrap(), [3u8; 32]);
    std::fs::write(&key, "abc").unwrap();
    assert!(
        KeySource::file(&key)
            .load()
            .unwrap_err()
            .to_string()
            .contains("hex")
    );
}

#[test]
#[allow(unsafe_code)]
fn a_key_from_the_environment() {
    // A variable name unique to this test, so parallel tests do not race on it.
    let var = "CODEWARD_AUDIT_TEST_KEY_ENV_ONLY";
    assert!(
        KeySource::Env(var.into())
            .load()
            .unwrap_err()
            .to_string()
            .contains("not set")
    );
    // SAFETY of the test: no other test reads or writes this variable.
    unsafe { std::env::set_var(var, hex::encode([9u8; 32])) };
    assert_eq!(KeySource::Env(var.into()).load().unwrap(), [9u8; 32]);
}
