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

/// What a power loss can leave of the newest segment's unsynced part: a prefix, then nothing,
/// zeros, or stale bytes.
#[derive(Debug, Clone)]
enum Leftover {
    Nothing,
    Zeros(usize),
    Bytes(Vec<u8>),
}

fn arb_leftover() -> impl Strategy<Value = Leftover> {
    prop_oneof![
        Just(Leftover::Nothing),
        (1..600usize).prop_map(Leftover::Zeros),
        prop::collection::vec(any::<u8>(), 1..600).prop_map(Leftover::Bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever a power loss leaves after the point the write-ahead file says is durable,
    /// `verify` counts the acknowledged records missing and the next open restores each of
    /// them, byte for byte, across rotations and wraps of the write-ahead file.
    #[test]
    fn any_power_loss_after_the_durable_point_is_restored(
        events in prop::collection::vec(arb_event(), 1..40),
        small_segments in any::<bool>(),
        small_wal in any::<bool>(),
        keep in 0.0f64..=1.0,
        leftover in arb_leftover(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let opts = |o: AuditLogOptions| {
            let o = if small_segments { o.max_segment_bytes(4_096) } else { o };
            if small_wal { o.write_ahead_bytes(codeward_audit::MIN_WRITE_AHEAD_BYTES) } else { o }
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let receipts = rt.block_on(async {
            let log = AuditLog::open(opts(options(&dir))).unwrap();
            let mut out = Vec::new();
            for ev in &events {
                out.push(log.append(ev.clone()).await.unwrap());
            }
            log.close().await.unwrap();
            out
        });
        let (_, newest) = codeward_audit::list_segments(&dir).unwrap().pop().unwrap();
        let bytes = std::fs::read(&newest).unwrap();
        let durable = super::wal::durable_offset(&dir) as usize;
        let cut = durable + ((bytes.len() - durable) as f64 * keep) as usize;
        let mut left = bytes[..cut].to_vec();
        match &leftover {
            Leftover::Nothing => {}
            Leftover::Zeros(n) => left.resize(cut + n, 0),
            Leftover::Bytes(b) => left.extend_from_slice(b),
        }
        std::fs::write(&newest, &left).unwrap();

        let report = verify(&dir, &VerifyOptions::default()).unwrap();
        prop_assert_eq!(report.restorable, receipts.len() as u64 - report.records);
        rt.block_on(async {
            let log = AuditLog::open(opts(options(&dir))).unwrap();
            log.close().await.unwrap();
        });
        let on_disk = raw_records(&dir);
        for (r, receipt) in on_disk.iter().zip(&receipts) {
            prop_assert_eq!((r.seq, &r.hash), (receipt.seq, &receipt.hash));
        }
        prop_assert!(on_disk.len() >= receipts.len());
        let report = verify(&dir, &VerifyOptions::default()).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.problem);
        prop_assert_eq!(report.restorable, 0);
    }
}
