//! The audit-record form of observations: what the writer functions produce, replay reads back.

use codeward_anomaly::{
    AnomalyError, Observation, execution_event, execution_metadata, meta, observation_from_record,
    tool_call_event, tool_call_metadata,
};
use codeward_core::{AuditEvent, AuditKind, Language, Severity, ToolAnnotations};
use std::time::Duration;

use crate::support::{call, normal, record};

#[test]
fn execution_round_trips_through_an_audit_record() {
    let mut obs = normal("alice", 3);
    obs.language = Language::TypeScript;
    obs.tools = vec!["a.x".into(), "b.y".into()];
    obs.success = false;
    obs.critical_events = 2;
    // Microsecond precision survives the decimal milliseconds.
    obs.wall_time = Duration::from_micros(1_234_567);
    obs.cpu_time = Duration::from_micros(999);
    obs.peak_memory_bytes = u64::from(u32::MAX) * 3;
    let event = execution_event(&obs);
    assert_eq!(event.kind, AuditKind::Execution);
    assert_eq!(event.metadata, execution_metadata(&obs));
    assert_eq!(event.metadata[meta::WALL_MS], 1234.567);
    let back = observation_from_record(&record(9, &event)).unwrap();
    assert_eq!(back, Some(Observation::Execution(obs)));
}

#[test]
fn tool_call_round_trips_with_and_without_hints() {
    let mut with_hints = call("bob", "e1", "web.post", 77, 1_790_000_000_123);
    with_hints.sensitive_source = true;
    with_hints.success = false;
    let mut no_hints = with_hints.clone();
    no_hints.annotations = ToolAnnotations::default();
    for obs in [with_hints, no_hints] {
        let event = tool_call_event(&obs);
        assert_eq!(event.metadata, tool_call_metadata(&obs));
        let back = observation_from_record(&record(1, &event)).unwrap();
        assert_eq!(
            back,
            Some(Observation::ToolCall {
                call: obs,
                response_known: true
            })
        );
    }
}

#[test]
fn a_call_recorded_before_dispatch_does_not_claim_a_response_size() {
    let obs = call("bob", "e1", "files.read_file", 0, 5);
    let mut event = tool_call_event(&obs);
    event.metadata.remove(meta::RESPONSE_BYTES);
    event.metadata.remove(meta::SUCCESS);
    match observation_from_record(&record(1, &event)).unwrap() {
        Some(Observation::ToolCall {
            call,
            response_known,
        }) => {
            assert!(!response_known);
            assert!(call.success);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_record_time_is_used_when_the_observation_time_is_missing() {
    let mut event = execution_event(&normal("alice", 1));
    event.metadata.remove(meta::OBSERVED_AT_MS);
    match observation_from_record(&record(1, &event)).unwrap() {
        // support::record stamps 2026-11-27T07:32:27.123Z.
        Some(Observation::Execution(e)) => assert_eq!(e.timestamp_ms, 1_795_764_747_123),
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_kinds_and_cached_executions_are_not_observations() {
    let discovery = AuditEvent::new(AuditKind::Discovery, Severity::Info, "found").principal("a");
    assert_eq!(
        observation_from_record(&record(1, &discovery)).unwrap(),
        None
    );
    let cached = execution_event(&normal("alice", 1)).meta(meta::CACHED, true);
    assert_eq!(observation_from_record(&record(2, &cached)).unwrap(), None);
}

#[test]
fn unusable_records_name_the_record_and_the_key() {
    let mut missing = execution_event(&normal("alice", 1));
    missing.metadata.remove(meta::WALL_MS);
    let err = observation_from_record(&record(41, &missing)).unwrap_err();
    assert_eq!(
        err,
        AnomalyError::MissingField {
            seq: 41,
            kind: "execution",
            key: "wall_ms"
        }
    );
    assert!(err.to_string().contains("seq 41"), "{err}");

    let wrong = execution_event(&normal("alice", 1)).meta(meta::LANGUAGE, "cobol");
    let err = observation_from_record(&record(42, &wrong)).unwrap_err();
    assert!(
        matches!(
            err,
            AnomalyError::BadField {
                seq: 42,
                key: "language",
                ..
            }
        ),
        "{err}"
    );

    let negative = execution_event(&normal("alice", 1)).meta(meta::WALL_MS, -1.0);
    assert!(matches!(
        observation_from_record(&record(43, &negative)).unwrap_err(),
        AnomalyError::BadField { key: "wall_ms", .. }
    ));

    let mut anonymous = execution_event(&normal("alice", 1));
    anonymous.principal = None;
    assert!(matches!(
        observation_from_record(&record(44, &anonymous)).unwrap_err(),
        AnomalyError::MissingField {
            key: "principal",
            ..
        }
    ));
}
