//! Detection quality on seeded synthetic streams: precision and recall per kind, and the
//! false-positive rate on a stationary stream.

use codeward_anomaly::Detector;

use crate::synth::{KINDS, World, score};

#[test]
fn precision_and_recall_per_kind_are_at_least_0_9() {
    for seed in [7u64, 2026] {
        let mut world = World::new(seed, 20);
        let stream = world.stream(9_000, 2_500, 0.06);
        let detector = Detector::default();
        let (scores, _) = score(&detector, &stream);
        println!(
            "seed {seed}: {} executions, {} events",
            stream.executions,
            stream.events.len()
        );
        println!(
            "{:<20} {:>8} {:>10} {:>6} {:>9} {:>7}",
            "kind", "episodes", "detections", "tp", "precision", "recall"
        );
        for (kind, s) in &scores {
            println!(
                "{:<20} {:>8} {:>10} {:>6} {:>9.3} {:>7.3}",
                format!("{kind:?}"),
                s.episodes,
                s.detections,
                s.true_positives,
                s.precision(),
                s.recall()
            );
        }
        for kind in KINDS {
            let s = scores[&kind];
            assert!(
                s.episodes >= 20,
                "{kind:?}: only {} episodes generated",
                s.episodes
            );
            assert!(
                s.precision() >= 0.9,
                "{kind:?} precision {:.3} ({s:?})",
                s.precision()
            );
            assert!(
                s.recall() >= 0.9,
                "{kind:?} recall {:.3} ({s:?})",
                s.recall()
            );
        }
    }
}

#[test]
fn stationary_stream_false_positive_rate_is_at_most_half_a_percent() {
    let mut world = World::new(42, 25);
    let stream = world.stream(10_000, usize::MAX, 0.0);
    assert!(stream.labels.is_empty());
    let detector = Detector::default();
    let (scores, flagged) = score(&detector, &stream);
    let rate = flagged as f64 / stream.executions as f64;
    println!(
        "stationary: {flagged} of {} executions flagged ({:.3}%); by kind: {:?}",
        stream.executions,
        rate * 100.0,
        scores
            .iter()
            .filter(|(_, s)| s.detections > 0)
            .map(|(k, s)| (k, s.detections))
            .collect::<Vec<_>>()
    );
    assert!(rate <= 0.005, "false-positive rate {:.3}%", rate * 100.0);
}
