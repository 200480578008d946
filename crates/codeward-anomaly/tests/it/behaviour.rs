//! Each detector's rule on small hand-made streams: what triggers it, what does not, and the
//! numbers its description carries.

use codeward_anomaly::{AnomalyError, Detector, DetectorConfig};
use codeward_core::{
    Anomaly, AnomalyDetector, AnomalyKind, ExecutionObservation, RiskLevel, Severity,
    ToolAnnotations,
};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{T0, call, normal, open_world, run};

/// A detector that has seen 30 normal runs of `alice`.
fn warmed() -> Detector {
    let d = Detector::default();
    for i in 0..30 {
        assert!(
            !d.observe_execution(&normal("alice", i)).detected(),
            "run {i}"
        );
    }
    d
}

fn only(report: &[Anomaly]) -> &Anomaly {
    assert_eq!(report.len(), 1, "{report:#?}");
    &report[0]
}

fn failed(i: u64, ts: u64) -> ExecutionObservation {
    let mut o = normal("alice", i);
    o.success = false;
    o.timestamp_ms = ts;
    o
}

#[test]
fn resource_spikes_report_the_value_and_the_baseline() {
    let d = warmed();
    let r = d.observe_execution(&run("alice", 30, 300, 400, 900));
    let a = only(&r.anomalies);
    assert_eq!(
        (a.kind, a.severity),
        (AnomalyKind::ResourceSpike, Severity::Error)
    );
    assert!(
        a.description.starts_with("peak memory 900.0 MiB is 14."),
        "{}",
        a.description
    );
    assert!(
        a.description.contains("the baseline 61."),
        "{}",
        a.description
    );
    assert_eq!(a.timestamp_ms, T0 + 30 * 60_000);
    assert_eq!(r.risk, RiskLevel::High);

    let r = d.observe_execution(&run("alice", 31, 1500, 1600, 62));
    let a = only(&r.anomalies);
    assert_eq!(
        (a.kind, a.severity),
        (AnomalyKind::ResourceSpike, Severity::Warning)
    );
    assert!(
        a.description.starts_with("CPU time 1500 ms is 5."),
        "{}",
        a.description
    );
}

#[test]
fn slow_without_more_cpu_is_unusual_timing() {
    let d = warmed();
    let a = d
        .observe_execution(&run("alice", 30, 300, 4000, 62))
        .anomalies;
    let a = only(&a);
    assert_eq!(a.kind, AnomalyKind::UnusualTiming);
    assert!(
        a.description
            .starts_with("too slow: wall time 4000 ms (CPU 300 ms"),
        "{}",
        a.description
    );
}

#[test]
fn too_fast_runs_are_unusual_timing_even_before_warm_up() {
    let d = warmed();
    let a = d.observe_execution(&run("alice", 30, 10, 20, 62)).anomalies;
    assert!(
        only(&a)
            .description
            .starts_with("too fast: wall time 20 ms is 0.05x the baseline 401 ms"),
        "{a:?}"
    );
    // A failure may well stop early: not unusual.
    let mut crash = run("alice", 31, 10, 20, 62);
    crash.success = false;
    assert!(!d.observe_execution(&crash).detected());

    let fresh = Detector::default();
    let mut instant = run("bob", 0, 0, 0, 10);
    instant.wall_time = Duration::from_micros(300);
    let a = fresh.observe_execution(&instant).anomalies;
    assert!(
        only(&a).description.contains("too fast to have run"),
        "{a:?}"
    );
}

#[test]
fn failed_runs_do_not_teach_the_baselines() {
    let d = warmed();
    for i in 30..100 {
        let mut slow_failure = run("alice", i, 300, 9000, 62);
        slow_failure.success = false;
        slow_failure.timestamp_ms = T0 + i * 3_600_000;
        d.observe_execution(&slow_failure);
    }
    let a = d
        .observe_execution(&run("alice", 100, 300, 9000, 62))
        .anomalies;
    assert_eq!(only(&a).kind, AnomalyKind::UnusualTiming);
}

#[test]
fn repeated_failures_count_consecutive_failures_of_a_principal() {
    let d = warmed();
    let hour = 3_600_000;
    let kinds = |r: codeward_core::AnomalyReport| {
        r.anomalies
            .iter()
            .map(|a| (a.kind, a.severity))
            .collect::<Vec<_>>()
    };
    assert!(kinds(d.observe_execution(&failed(30, T0 + hour))).is_empty());
    assert!(kinds(d.observe_execution(&failed(31, T0 + 2 * hour))).is_empty());
    // A success breaks the run.
    d.observe_execution(&normal("alice", 32));
    let mut got = Vec::new();
    for i in 0..6 {
        got.push(kinds(
            d.observe_execution(&failed(33 + i, T0 + (3 + i) * hour)),
        ));
    }
    let rf = AnomalyKind::RepeatedFailures;
    assert_eq!(
        got,
        [
            vec![],
            vec![],
            vec![(rf, Severity::Warning)],
            vec![],
            vec![],
            vec![(rf, Severity::Error)]
        ]
    );
    let r = d.observe_execution(&failed(40, T0 + 10 * hour));
    assert!(!r.detected());
}

#[test]
fn an_error_burst_needs_successes_between_the_failures() {
    let d = warmed();
    let base = T0 + 10_000_000;
    // Five failures within a minute, interleaved with successes: one burst report.
    let mut found = Vec::new();
    for (k, fail) in [true, true, false, true, true, false, true, true]
        .into_iter()
        .enumerate()
    {
        let ts = base + k as u64 * 5_000;
        let obs = if fail {
            failed(100 + k as u64, ts)
        } else {
            ExecutionObservation {
                timestamp_ms: ts,
                ..normal("alice", 100 + k as u64)
            }
        };
        found.extend(d.observe_execution(&obs).anomalies);
    }
    let burst = only(&found);
    assert_eq!(
        (burst.kind, burst.severity),
        (AnomalyKind::SuspiciousPattern, Severity::Error)
    );
    assert_eq!(
        burst.description,
        "error burst: 5 failed executions in the last 1 min (threshold 5)"
    );

    // Five failures in a row are repeated failures, not a burst.
    let d = warmed();
    let mut kinds = Vec::new();
    for k in 0..5u64 {
        kinds.extend(
            d.observe_execution(&failed(200 + k, base + k * 5_000))
                .anomalies
                .iter()
                .map(|a| a.kind),
        );
    }
    assert_eq!(kinds, [AnomalyKind::RepeatedFailures]);
}

#[test]
fn critical_security_events_are_a_suspicious_pattern() {
    let d = Detector::default();
    let mut obs = normal("alice", 0);
    obs.critical_events = 2;
    let r = d.observe_execution(&obs);
    let a = only(&r.anomalies);
    assert_eq!(
        (a.kind, a.severity),
        (AnomalyKind::SuspiciousPattern, Severity::Critical)
    );
    assert!(
        a.description
            .starts_with("2 critical security event(s) in this execution, 2 in the last 10 min"),
        "{}",
        a.description
    );
    assert_eq!(r.risk, RiskLevel::Critical);

    // With a threshold of 3 within 10 minutes, the third event trips it, not the first two.
    let d = Detector::new(
        DetectorConfig::builder()
            .critical_events(3)
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut verdicts = Vec::new();
    for i in 0..3 {
        let mut obs = normal("bob", i);
        obs.critical_events = 1;
        obs.timestamp_ms = T0 + i * 60_000;
        verdicts.push(d.observe_execution(&obs).detected());
    }
    assert_eq!(verdicts, [false, false, true]);
}

#[test]
fn exfiltration_is_a_sensitive_read_then_a_sink_in_the_same_execution() {
    let d = Detector::default();
    let secret = |exec: &str, ok: bool| {
        let mut c = call("alice", exec, "vault.read_secret", 300, T0);
        c.sensitive_source = true;
        c.success = ok;
        c
    };
    let mut post = call("alice", "e1", "web.post", 20, T0 + 1);
    post.annotations = open_world();
    let mut write = call("alice", "e1", "files.write", 20, T0 + 2);
    write.annotations = ToolAnnotations::default();

    assert_eq!(
        d.precheck_tool_call(&post),
        None,
        "nothing sensitive read yet"
    );
    assert!(d.observe_tool_call(&secret("e1", true)).is_empty());
    // Before dispatch the call can be refused; the precheck learns nothing.
    let pre = d
        .precheck_tool_call(&post)
        .expect("a sink after a sensitive read");
    assert_eq!(
        pre.description,
        "read from sensitive source `vault.read_secret`, then about to call open-world tool `web.post` in the same execution"
    );
    assert_eq!(
        d.precheck_tool_call(&call("alice", "e1", "files.read_file", 0, T0)),
        None
    );
    let a = d.observe_tool_call(&post);
    let a = only(&a);
    assert_eq!(
        (a.kind, a.severity),
        (AnomalyKind::Exfiltration, Severity::Critical)
    );
    assert_eq!(
        a.description,
        "read from sensitive source `vault.read_secret`, then called open-world tool `web.post` in the same execution (20 bytes returned by this call)"
    );
    // Reported once per execution.
    assert!(d.observe_tool_call(&write).is_empty());
    // The execution's report carries the risk, without repeating the anomaly.
    let mut done = normal("alice", 0);
    done.execution_id = "e1".into();
    let r = d.observe_execution(&done);
    assert!(!r.detected());
    assert_eq!(r.risk, RiskLevel::Critical);

    // Sink first, then the read: fine. A failed read reads nothing. Other executions: fine.
    let mut early = post.clone();
    early.execution_id = "e2".into();
    assert!(d.observe_tool_call(&early).is_empty());
    assert!(d.observe_tool_call(&secret("e2", true)).is_empty());
    assert!(d.observe_tool_call(&secret("e3", false)).is_empty());
    let mut e3 = write.clone();
    e3.execution_id = "e3".into();
    assert!(d.observe_tool_call(&e3).is_empty());
    assert!(d.observe_tool_call(&secret("e4", true)).is_empty());
    let mut e5 = post.clone();
    e5.execution_id = "e5".into();
    assert!(d.observe_tool_call(&e5).is_empty());
}

#[test]
fn every_sink_after_a_sensitive_read_is_refused_even_once_one_was_reported() {
    // `Promise.all([crm.get_customer(), web.post(ping), web.post(ping)])`, then
    // `web.post(customer)`: the pings are checked before the read completes and observed after
    // it (reported once), and the leak is checked after all of them.
    let d = Detector::default();
    let sink = |tool: &str, ts: u64| {
        let mut c = call("alice", "e1", tool, 20, ts);
        c.annotations = open_world();
        c
    };
    let (ping, ping2) = (sink("web.post", T0), sink("web.post", T0 + 1));
    let mut read = call("alice", "e1", "crm.get_customer", 300, T0 + 2);
    read.sensitive_source = true;
    assert_eq!(d.precheck_tool_call(&ping), None, "nothing read yet");
    assert_eq!(d.precheck_tool_call(&ping2), None, "nothing read yet");
    assert!(d.observe_tool_call(&read).is_empty());
    let reported = d.observe_tool_call(&ping);
    assert_eq!(only(&reported).kind, AnomalyKind::Exfiltration);
    assert!(
        d.observe_tool_call(&ping2).is_empty(),
        "reported once per execution"
    );

    let leak = sink("web.post_webhook", T0 + 3);
    let mut wipe = call("alice", "e1", "files.delete", 0, T0 + 4);
    wipe.annotations = ToolAnnotations::default();
    for c in [&leak, &leak, &wipe] {
        let refused = d
            .precheck_tool_call(c)
            .expect("a sink checked after the read is refused");
        assert_eq!(
            (refused.kind, refused.severity),
            (AnomalyKind::Exfiltration, Severity::Critical)
        );
        assert!(
            refused.description.contains(&format!("`{}`", c.tool)),
            "{}",
            refused.description
        );
    }
    assert_eq!(
        d.precheck_tool_call(&call("alice", "e1", "files.read_file", 0, T0 + 5)),
        None,
        "read-only calls still pass"
    );
    let mut other = leak.clone();
    other.execution_id = "e2".into();
    assert_eq!(d.precheck_tool_call(&other), None, "other executions pass");
}

#[test]
fn new_tools_alert_after_the_principal_warm_up() {
    let d = Detector::default();
    for i in 0..20 {
        let tool = if i % 2 == 0 {
            "files.read_file"
        } else {
            "notes.search"
        };
        assert!(
            d.observe_tool_call(&call("alice", "e", tool, 100, T0 + i))
                .is_empty()
        );
    }
    let mut drop = call("alice", "e", "db.drop_table", 10, T0 + 30);
    drop.annotations = ToolAnnotations::default();
    let a = d.observe_tool_call(&drop);
    let a = only(&a);
    assert_eq!(
        (a.kind, a.severity),
        (AnomalyKind::NewTool, Severity::Error)
    );
    assert_eq!(
        a.description,
        "first call to destructive tool `db.drop_table` by this principal after 20 calls to 2 other tool(s)"
    );
    // Known now; and another principal's tools are its own.
    assert!(d.observe_tool_call(&drop).is_empty());
    assert!(
        d.observe_tool_call(&call("bob", "e", "db.drop_table", 10, T0))
            .is_empty()
    );
}

#[test]
fn egress_spikes_are_per_principal_and_tool() {
    let d = Detector::default();
    for i in 0..30 {
        let c = call(
            "alice",
            &format!("e{i}"),
            "files.read_file",
            4000 + i * 100,
            T0 + i * 120_000,
        );
        assert!(d.observe_tool_call(&c).is_empty());
    }
    let big = call(
        "alice",
        "e30",
        "files.read_file",
        5 << 20,
        T0 + 31 * 120_000,
    );
    let a = d.observe_tool_call(&big);
    let a = only(&a);
    assert_eq!(
        (a.kind, a.severity),
        (AnomalyKind::DataEgressSpike, Severity::Error)
    );
    assert!(
        a.description
            .starts_with("`files.read_file` returned 5.0 MiB is "),
        "{}",
        a.description
    );
    assert!(
        a.description.contains("the baseline 5.4 KiB"),
        "{}",
        a.description
    );
    // Below the absolute floor (64 KiB more than typical) nothing is reported.
    let medium = call("alice", "e31", "files.read_file", 60_000, T0 + 32 * 120_000);
    assert!(d.observe_tool_call(&medium).is_empty());
}

#[test]
fn call_rate_spikes_compare_with_typical_active_minutes() {
    let d = Detector::default();
    let minute = 60_000;
    // 12 active minutes of 4 or 5 calls, with idle minutes between them.
    let mut ts = T0;
    for m in 0..12u64 {
        for k in 0..4 + m % 2 {
            ts = T0 + m * 5 * minute + k * 1000;
            assert!(
                d.observe_tool_call(&call("alice", "e", "files.read_file", 100, ts))
                    .is_empty()
            );
        }
    }
    let start = T0 + 100 * minute;
    let mut found = Vec::new();
    for k in 0..80 {
        found.extend(d.observe_tool_call(&call(
            "alice",
            "e",
            "files.read_file",
            100,
            start + k * 500,
        )));
    }
    let a = only(&found);
    assert_eq!(a.kind, AnomalyKind::CallRateSpike);
    assert!(
        a.description
            .starts_with("20 tool calls in the current 1 min vs a typical 4."),
        "{}",
        a.description
    );
    assert!(ts < start);
}

#[test]
fn the_builder_refuses_inconsistent_settings() {
    let err = |b: codeward_anomaly::DetectorConfigBuilder| b.build().unwrap_err();
    let e = err(DetectorConfig::builder().shards(0));
    assert!(
        matches!(
            e,
            AnomalyError::InvalidConfig {
                field: "shards",
                ..
            }
        ),
        "{e}"
    );
    let e = err(DetectorConfig::builder().shards(64).max_principals(10));
    assert_eq!(
        e.to_string(),
        "invalid anomaly detector setting `max_principals`: 10 is below the shard count 64; raise it or lower `shards`"
    );
    assert!(matches!(
        err(DetectorConfig::builder().alpha(1.5)),
        AnomalyError::InvalidConfig { field: "alpha", .. }
    ));
    assert!(matches!(
        err(DetectorConfig::builder().warm_up(1)),
        AnomalyError::InvalidConfig {
            field: "warm_up",
            ..
        }
    ));
    assert!(matches!(
        err(DetectorConfig::builder().spike_ratio(0.5)),
        AnomalyError::InvalidConfig {
            field: "spike_ratio",
            ..
        }
    ));
    assert!(matches!(
        err(DetectorConfig::builder().rate_bucket(Duration::ZERO)),
        AnomalyError::InvalidConfig {
            field: "rate_bucket",
            ..
        }
    ));
    let mut config = DetectorConfig::default();
    config.z_threshold = f64::NAN;
    assert!(Detector::new(config).is_err());
    let core: codeward_core::Error = err(DetectorConfig::builder().shards(0)).into();
    assert!(core.to_string().contains("shards"), "{core}");
}

#[test]
fn one_detector_serves_many_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Detector>();
    let d: Arc<dyn AnomalyDetector> = Arc::new(Detector::default());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let d = Arc::clone(&d);
            std::thread::spawn(move || {
                let who = format!("user-{t}");
                let mut found = 0;
                for i in 0..200 {
                    found += d.observe_execution(&normal(&who, i)).anomalies.len();
                    found += d
                        .observe_tool_call(&call(
                            &who,
                            "e",
                            "files.read_file",
                            100,
                            T0 + i * 60_000,
                        ))
                        .len();
                }
                let spike = d.observe_execution(&run(&who, 200, 300, 400, 2000));
                (
                    found,
                    spike.anomalies.iter().map(|a| a.kind).collect::<Vec<_>>(),
                )
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), (0, vec![AnomalyKind::ResourceSpike]));
    }
}

#[test]
fn an_execution_that_read_sensitive_data_is_pushed_out_of_the_open_set_last() {
    // Two open executions per principal: the one that read customer data stays followed while
    // newer, quieter executions come and go, so its leak is still refused.
    let d = Detector::new(
        DetectorConfig::builder()
            .max_open_executions(2)
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut read = call("alice", "e1", "crm.get_customer", 300, T0);
    read.sensitive_source = true;
    assert!(d.observe_tool_call(&read).is_empty());
    for (i, exec) in ["e2", "e3", "e4"].iter().enumerate() {
        let quiet = call("alice", exec, "notes.list", 10, T0 + 1 + i as u64);
        let _ = d.observe_tool_call(&quiet);
    }
    let mut leak = call("alice", "e1", "web.post_webhook", 20, T0 + 10);
    leak.annotations = open_world();
    let refused = d
        .precheck_tool_call(&leak)
        .expect("e1 still followed: its sink is refused");
    assert_eq!(refused.kind, AnomalyKind::Exfiltration);
}
