//! Retrieval quality on the labelled query set: recall@5 and MRR, against the baseline.

use codeward_discovery::{BaselineScorer, SearchQuery, ToolHit, ToolIndex};
use serde::Deserialize;

#[derive(Deserialize)]
struct LabelledSet {
    queries: Vec<Labelled>,
}

#[derive(Deserialize)]
struct Labelled {
    query: String,
    expected: Vec<String>,
}

fn labelled() -> Vec<Labelled> {
    let set: LabelledSet =
        serde_json::from_str(include_str!("queries.json")).expect("queries.json parses");
    set.queries
}

/// (recall@5, MRR, misses) of a search function over the labelled set.
fn evaluate(search: impl Fn(&str) -> Vec<ToolHit>) -> (f64, f64, Vec<String>) {
    let queries = labelled();
    let (mut recall, mut mrr) = (0.0, 0.0);
    let mut misses = Vec::new();
    for q in &queries {
        let names: Vec<String> = search(&q.query)
            .iter()
            .map(|h| h.tool.qualified_name())
            .collect();
        let found = q.expected.iter().filter(|e| names.contains(e)).count();
        recall += found as f64 / q.expected.len() as f64;
        if let Some(rank) = names.iter().position(|n| q.expected.contains(n)) {
            mrr += 1.0 / (rank + 1) as f64;
        }
        if found < q.expected.len() {
            misses.push(format!(
                "{:?}: expected {:?}, got {:?}",
                q.query, q.expected, names
            ));
        }
    }
    let n = queries.len() as f64;
    (recall / n, mrr / n, misses)
}

#[test]
fn labelled_set_is_large_and_names_real_tools() {
    let index = super::default_index();
    let queries = labelled();
    assert!(queries.len() >= 60, "only {} queries", queries.len());
    for q in &queries {
        assert!(!q.expected.is_empty(), "{:?} expects nothing", q.query);
        for name in &q.expected {
            assert!(
                index.get(name).is_some(),
                "{:?} expects unknown tool {name}",
                q.query
            );
        }
    }
}

#[test]
fn recall_at_5_beats_threshold_and_baseline() {
    let index = super::default_index();
    let (recall, mrr, misses) =
        evaluate(|text| index.search(&SearchQuery::new(text, 5)).expect("search"));
    let baseline = BaselineScorer::new(index.all());
    let (base_recall, base_mrr, _) = evaluate(|text| baseline.search(&SearchQuery::new(text, 5)));
    println!("index:    recall@5 {recall:.3}  MRR {mrr:.3}");
    println!("baseline: recall@5 {base_recall:.3}  MRR {base_mrr:.3}");
    for miss in &misses {
        println!("miss: {miss}");
    }
    assert!(
        recall >= 0.9,
        "recall@5 {recall:.3} < 0.9; misses:\n{}",
        misses.join("\n")
    );
    assert!(
        recall > base_recall,
        "index {recall:.3} not above baseline {base_recall:.3}"
    );
    assert!(
        mrr > base_mrr,
        "index MRR {mrr:.3} not above baseline {base_mrr:.3}"
    );
}
