//! Top-k by score, ties broken by qualified name, with tantivy's block-WAND pruning kept.
//! Plain `TopDocs` breaks ties by doc address, which depends on insertion order and merges.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// One collected hit: its score and qualified name.
pub(crate) type Ranked = (Score, String);

/// Collects the `limit` best documents by (score descending, qualified name ascending).
/// `name_field` must be a fast text field holding the qualified name.
pub(crate) struct TopByScoreThenName {
    pub(crate) limit: usize,
    pub(crate) name_field: &'static str,
}

/// A heap entry; "greater" means worse, so the heap's top is the first to drop.
struct Candidate {
    score: Score,
    /// Term ordinal of the name in this segment's dictionary: same order as the names.
    ord: u64,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.ord.cmp(&other.ord))
    }
}

/// Unused: collection goes through `collect_segment`, which prunes.
pub(crate) struct Unused;

impl SegmentCollector for Unused {
    type Fruit = Vec<Ranked>;

    fn collect(&mut self, _doc: DocId, _score: Score) {}

    fn harvest(self) -> Self::Fruit {
        Vec::new()
    }
}

impl Collector for TopByScoreThenName {
    type Fruit = Vec<Ranked>;
    type Child = Unused;

    fn for_segment(&self, _: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<Unused> {
        Ok(Unused)
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Ranked>>) -> tantivy::Result<Vec<Ranked>> {
        let mut all: Vec<Ranked> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        all.truncate(self.limit);
        Ok(all)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        _segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<Vec<Ranked>> {
        let Some(names) = reader.fast_fields().str(self.name_field)? else {
            return Ok(Vec::new());
        };
        let ords = names.ords();
        let alive = reader.alive_bitset();
        // The limit comes from the caller: never size anything by it beyond the segment.
        let limit = self.limit.min(reader.num_docs() as usize);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(limit + 1);
        let mut threshold = Score::MIN;
        // The scorer only reports documents scoring strictly above the threshold; keeping it
        // just below the k-th score lets ties through, to be ordered by name.
        weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
            if alive.is_some_and(|a| a.is_deleted(doc)) {
                return threshold;
            }
            let Some(ord) = ords.first(doc) else {
                return threshold;
            };
            let candidate = Candidate { score, ord };
            if heap.len() < limit {
                heap.push(candidate);
            } else if heap.peek().is_some_and(|worst| candidate < *worst) {
                heap.pop();
                heap.push(candidate);
            }
            if heap.len() == limit {
                threshold = heap
                    .peek()
                    .map_or(Score::MIN, |worst| worst.score.next_down());
            }
            threshold
        })?;
        let mut out = Vec::with_capacity(heap.len());
        for candidate in heap.into_vec() {
            let mut name = String::new();
            if names.ord_to_str(candidate.ord, &mut name)? {
                out.push((candidate.score, name));
            }
        }
        Ok(out)
    }
}
