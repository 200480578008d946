//! Property: any sequence of appends round-trips through the file and verifies.

use codeward_audit::{AuditLog, AuditReader, Query, VerifyOptions, verify};
use codeward_core::{AuditEvent, AuditKind, Severity};
use proptest::prelude::*;
use serde_json::Value;

use super::*;

static DETECTOR: std::sync::LazyLock<codeward_audit::BuiltinDetector> =
    std::sync::LazyLock::new(codeward_audit::BuiltinDetector::new);

#[allow(clippy::ptr_arg)] // proptest's filter hands us &String
fn no_pii(s: &String) -> bool {
    codeward_core::PiiDetector::detect(&*DETECTOR, s.as_str()).is_empty()
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[a-z ]{0,12}".prop_map(Value::from),
        "\\PC{0,8}"
            .prop_filter("no PII", no_pii)
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_event() -> impl Strategy<Value = AuditEvent> {
    (
        prop::sample::select(
            AuditKind::ALL
                .iter()
                .copied()
                .filter(|k| !matches!(k, AuditKind::Checkpoint | AuditKind::Recovery))
                .collect::<Vec<_>>(),
        ),
        prop::sample::select(vec![
            Severity::Info,
            Severity::Warning,
            Severity::Error,
            Severity::Critical,
        ]),
        "[a-zA-Z0-9 .,:;!?]{0,40}".prop_filter("no PII", no_pii),
        prop::option::of("[a-z0-9-]{1,12}"),
        prop::collection::btree_map("[a-z_]{1,8}", arb_json(), 0..4),
    )
        .prop_map(|(kind, severity, message, exec, meta)| {
            let mut ev = AuditEvent::new(kind, severity, message);
            if let Some(e) = exec {
                ev = ev.execution(e);
            }
            for (k, v) in meta {
                ev = ev.meta(k, v);
            }
            ev
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_appends_round_trips_and_verifies(events in prop::collection::vec(arb_event(), 1..25)) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let receipts = rt.block_on(async {
            let log = AuditLog::open(options(&dir).max_segment_bytes(4_096)).unwrap();
            let mut out = Vec::new();
            for ev in &events {
                out.push(log.append(ev.clone()).await.unwrap());
            }
            log.close().await.unwrap();
            out
        });
        let read: Vec<_> = AuditReader::new(&dir).records(Query::all()).unwrap().map(Result::unwrap).collect();
        prop_assert_eq!(read.len(), events.len());
        for ((ev, rec), receipt) in events.iter().zip(&read).zip(&receipts) {
            prop_assert_eq!(rec.seq, receipt.seq);
            prop_assert_eq!(&rec.hash, &receipt.hash);
            prop_assert_eq!(rec.kind, ev.kind);
            prop_assert_eq!(rec.severity, ev.severity);
            // No PII in the generated text, so the content comes back unchanged.
            prop_assert_eq!(&rec.message, &ev.message);
            prop_assert_eq!(&rec.metadata, &ev.metadata);
            prop_assert_eq!(&rec.execution_id, &ev.execution_id);
        }
        let report = verify(&dir, &VerifyOptions::default()).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.problem);
        prop_assert_eq!(report.records, events.len() as u64);
    }
}
