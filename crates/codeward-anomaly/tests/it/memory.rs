//! Memory stays bounded whatever the stream: keys, principals, tools and open executions are
//! all capped, and the state never outgrows the computed bound.

use codeward_anomaly::{Detector, DetectorConfig};
use codeward_core::{AnomalyDetector, ExecutionObservation, Language};
use std::time::Duration;

use crate::support::{T0, call};

#[test]
fn a_million_observations_over_many_keys_stay_within_the_bound() {
    let config = DetectorConfig::builder()
        .max_keys(4096)
        .max_principals(1024)
        .max_tools_per_principal(32)
        .max_open_executions(4)
        .build()
        .unwrap();
    let detector = Detector::new(config).unwrap();
    let tools: Vec<String> = (0..64).map(|t| format!("server.tool_{t}")).collect();
    let mut after_fill = None;
    for i in 0..1_000_000u64 {
        // 20,000 principals (20x the cap), each with many tool sets and an endless supply
        // of tools and executions that never finish.
        let principal = format!("p{}", i.wrapping_mul(0x9E37_79B9) % 20_000);
        let ts = T0 + i * 10;
        if i % 2 == 0 {
            let a = (i / 2 % 61) as usize;
            let obs = ExecutionObservation {
                execution_id: format!("e{i}"),
                principal,
                language: if i % 3 == 0 {
                    Language::Python
                } else {
                    Language::TypeScript
                },
                tools: vec![tools[a].clone(), tools[(a * 7 + 3) % 64].clone()],
                success: i % 5 != 0,
                wall_time: Duration::from_millis(100 + i % 50),
                cpu_time: Duration::from_millis(50 + i % 40),
                peak_memory_bytes: (i % 100) << 20,
                critical_events: u32::from(i % 97 == 0),
                timestamp_ms: ts,
            };
            detector.observe_execution(&obs);
        } else {
            let tool = format!("server.tool_{}", i % 5000);
            detector.observe_tool_call(&call(
                &principal,
                &format!("open-{i}"),
                &tool,
                i % 4096,
                ts,
            ));
        }
        if i == 500_000 {
            after_fill = Some(detector.stats());
        }
    }
    let stats = detector.stats();
    println!("after 1M observations: {stats:?}");
    assert!(stats.keys <= 4096 && stats.keys > 4000, "{stats:?}");
    assert!(
        stats.principals <= 1024 && stats.principals > 1000,
        "{stats:?}"
    );
    assert!(stats.tools <= stats.principals * 32, "{stats:?}");
    assert!(stats.bytes <= stats.bound_bytes, "{stats:?}");
    // Full since long before the midpoint: the second half did not grow the state (it only
    // churns: evicted principals come back with fewer tools).
    let half = after_fill.map_or(0, |s| s.bytes);
    assert!(
        stats.bytes <= half + half / 20,
        "{half} then {}",
        stats.bytes
    );

    // One principal with 10,000 distinct tools and open executions keeps at most 32 tools.
    let before = detector.stats();
    for i in 0..10_000u64 {
        let c = call(
            "heavy",
            &format!("h{i}"),
            &format!("x.t{i}"),
            10,
            T0 + 20_000_000 + i,
        );
        detector.observe_tool_call(&c);
    }
    let after = detector.stats();
    assert!(after.tools <= before.tools + 32, "{before:?} -> {after:?}");
    assert!(after.bytes <= after.bound_bytes, "{after:?}");
    assert_eq!(
        stats.bound_bytes,
        detector.config().memory_bound_bytes() + std::mem::size_of::<Detector>()
    );
}

#[test]
fn the_default_bound_is_reported_and_finite() {
    let d = Detector::default();
    let s = d.stats();
    assert_eq!((s.keys, s.principals, s.tools), (0, 0, 0));
    assert!(s.bytes < s.bound_bytes);
    // 100k keys and 10k principals at their worst: well under a gigabyte.
    assert!(s.bound_bytes < 512 << 20, "{s:?}");
    assert!(s.bytes_per_key < 256, "{s:?}");
}
