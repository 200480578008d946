//! Replay: a restarted detector rebuilds its baselines from the audit log and keeps detecting
//! without a new warm-up.

use codeward_anomaly::{Detector, DetectorConfig, execution_event, meta, tool_call_event};
use codeward_core::{AnomalyDetector, AnomalyKind, AuditRecord};
use std::sync::Arc;

use crate::support::{T0, call, normal, record, run};

/// 40 normal executions of `principal` (two tool calls each), observed live by `live`,
/// and the audit records an orchestrator would have written for them.
fn history(live: &Detector, principal: &str) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    for i in 0..40 {
        let exec = normal(principal, i);
        for (k, tool) in ["files.read_file", "notes.search"].into_iter().enumerate() {
            let c = call(
                principal,
                &exec.execution_id,
                tool,
                2000 + i * 10,
                exec.timestamp_ms - 100 + k as u64,
            );
            assert!(live.observe_tool_call(&c).is_empty());
            records.push(record(records.len() as u64 + 1, &tool_call_event(&c)));
        }
        assert!(!live.observe_execution(&exec).detected());
        records.push(record(records.len() as u64 + 1, &execution_event(&exec)));
    }
    records
}

fn kinds(d: &dyn AnomalyDetector, i: u64) -> (Vec<AnomalyKind>, Vec<AnomalyKind>) {
    let spike = run("alice", i, 3000, 3100, 64);
    let new_tool = call(
        "alice",
        &spike.execution_id,
        "admin.drop_table",
        10,
        spike.timestamp_ms,
    );
    let tool_kinds = d
        .observe_tool_call(&new_tool)
        .iter()
        .map(|a| a.kind)
        .collect();
    let exec_kinds = d
        .observe_execution(&spike)
        .anomalies
        .iter()
        .map(|a| a.kind)
        .collect();
    (exec_kinds, tool_kinds)
}

#[test]
fn a_restarted_detector_still_detects_without_a_new_warm_up() {
    let live = Detector::default();
    let records = history(&live, "alice");

    let restarted: Arc<dyn AnomalyDetector> = Arc::new(Detector::default());
    let used = restarted.replay(&mut records.clone().into_iter());
    assert_eq!(used, records.len());

    let fresh = Detector::default();
    let expected = (vec![AnomalyKind::ResourceSpike], vec![AnomalyKind::NewTool]);
    assert_eq!(kinds(&live, 40), expected, "live detector");
    assert_eq!(
        kinds(restarted.as_ref(), 40),
        expected,
        "restarted detector"
    );
    // Without replay the same observations fall in the warm-up and pass unnoticed.
    assert_eq!(kinds(&fresh, 40), (vec![], vec![]));
}

#[test]
fn replay_rebuilds_the_same_state_as_live_observation() {
    let live = Detector::default();
    let records = history(&live, "carol");
    let restarted = Detector::default();
    let summary = restarted.replay_records(records);
    assert_eq!((summary.used, summary.skipped), (120, 0));
    let (a, b) = (live.stats(), restarted.stats());
    assert_eq!(
        (a.keys, a.principals, a.tools),
        (b.keys, b.principals, b.tools)
    );
    // Same baselines: the same follow-up stream gets the same verdicts, number for number.
    for i in 40..60 {
        let obs = run("carol", i, 300 + i * 40, 400 + i * 40, 64 + i);
        let (x, y) = (
            live.observe_execution(&obs),
            restarted.observe_execution(&obs),
        );
        assert_eq!(x, y, "run {i}");
    }
}

#[test]
fn pseudonymized_principals_match_through_the_principal_key() {
    fn pseudonym(p: &str) -> String {
        format!(
            "pn_{:016x}",
            p.bytes()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b))
                    .wrapping_mul(0x100_0000_01b3))
        )
    }
    let live = Detector::default();
    let mut records = history(&live, "dave");
    // The audit log stores only the pseudonym.
    for r in &mut records {
        r.principal = r.principal.as_deref().map(pseudonym);
    }
    let config = DetectorConfig::builder()
        .principal_key(pseudonym)
        .build()
        .unwrap();
    let restarted = Detector::new(config).unwrap();
    restarted.replay_records(records.clone());
    let spike = run("dave", 40, 3000, 3100, 64);
    assert_eq!(
        restarted.observe_execution(&spike).anomalies[0].kind,
        AnomalyKind::ResourceSpike
    );
    // Without the mapping the live principal would not find its replayed baselines.
    let unmapped = Detector::default();
    unmapped.replay_records(records);
    assert!(!unmapped.observe_execution(&spike).detected());
}

#[test]
fn unusable_records_are_skipped_and_reported() {
    let live = Detector::default();
    let mut records = history(&live, "erin");
    records[5].metadata.remove(meta::WALL_MS);
    records[7].metadata.insert(meta::TOOL.into(), 5.into());
    let summary = Detector::default().replay_records(records);
    assert_eq!((summary.used, summary.skipped), (118, 2));
    assert_eq!(summary.errors.len(), 2);
    assert!(
        summary.errors[0].to_string().contains("lacks `wall_ms`"),
        "{}",
        summary.errors[0]
    );
}

#[test]
fn calls_recorded_before_dispatch_rebuild_tool_sets_but_not_egress() {
    let live = Detector::default();
    let mut records = Vec::new();
    for i in 0..40u64 {
        let c = call(
            "frank",
            &format!("e{i}"),
            "files.read_file",
            4000,
            T0 + i * 120_000,
        );
        live.observe_tool_call(&c);
        let mut event = tool_call_event(&c);
        event.metadata.remove(meta::RESPONSE_BYTES);
        records.push(record(i + 1, &event));
    }
    let restarted = Detector::default();
    assert_eq!(restarted.replay_records(records).used, 40);
    let big = call(
        "frank",
        "e40",
        "files.read_file",
        5 << 20,
        T0 + 41 * 120_000,
    );
    let kinds = |d: &Detector| {
        d.observe_tool_call(&big)
            .iter()
            .map(|a| a.kind)
            .collect::<Vec<_>>()
    };
    // The live detector knows the usual response size; the replayed one knows the tool
    // (no new-tool alert) but has no size baseline to compare with.
    assert_eq!(kinds(&live), [AnomalyKind::DataEgressSpike]);
    assert_eq!(kinds(&restarted), []);
    let new = call("frank", "e41", "db.drop", 1, T0 + 42 * 120_000);
    assert_eq!(
        restarted.observe_tool_call(&new)[0].kind,
        AnomalyKind::NewTool
    );
}
