//! A fixed-capacity least-recently-used map from 64-bit hashes to state, in a slab.
//! O(1) lookup, touch and eviction; its memory never grows past its capacity.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const NIL: u32 = u32::MAX;

/// The keys are already SipHash outputs, so hashing them again would only cost time.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap = HashMap<u64, u32, BuildHasherDefault<IdHasher>>;

struct Slot<V> {
    key: u64,
    prev: u32,
    next: u32,
    value: V,
}

/// Least-recently-used map with at most `cap` entries.
pub(crate) struct Lru<V> {
    map: IdMap,
    slots: Vec<Slot<V>>,
    /// Most recently used.
    head: u32,
    /// Least recently used: evicted first.
    tail: u32,
    cap: usize,
}

impl<V> Lru<V> {
    pub fn new(cap: usize) -> Self {
        Lru {
            map: IdMap::default(),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            cap: cap.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().map(|s| &s.value)
    }

    /// Bytes held by the map and the slab, excluding what the values own on the heap.
    pub fn own_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<V>>()
            + map_bytes(buckets(self.map.capacity()))
    }

    /// Upper bound of [`own_bytes`](Self::own_bytes) for a map of capacity `cap`.
    pub fn own_bytes_bound(cap: usize) -> usize {
        // Eviction removes then inserts; when the table's tombstones run out the map may
        // resize to twice the live entries before it settles on rehashing in place.
        let table_cap = ((2 * cap.max(1) + 2) * 8 / 7).next_power_of_two();
        cap * std::mem::size_of::<Slot<V>>() + map_bytes(table_cap)
    }

    /// The entry for `key`, created with `make` (evicting the least recently used entry when
    /// full); it becomes the most recently used. The flag tells whether it is new.
    pub fn get_or_insert_with(&mut self, key: u64, make: impl FnOnce() -> V) -> (&mut V, bool) {
        if let Some(&idx) = self.map.get(&key) {
            self.touch(idx);
            return (&mut self.slots[idx as usize].value, false);
        }
        let idx = if self.slots.len() < self.cap {
            if self.slots.len() == self.slots.capacity() {
                // Grow geometrically but never past the cap, so the bound holds exactly.
                let extra = self.slots.len().max(8).min(self.cap - self.slots.len());
                self.slots.reserve_exact(extra);
            }
            let idx = self.slots.len() as u32;
            self.slots.push(Slot {
                key,
                prev: NIL,
                next: NIL,
                value: make(),
            });
            self.push_front(idx);
            idx
        } else {
            let idx = self.tail;
            self.unlink(idx);
            let slot = &mut self.slots[idx as usize];
            self.map.remove(&slot.key);
            slot.key = key;
            slot.value = make();
            self.push_front(idx);
            idx
        };
        self.map.insert(key, idx);
        (&mut self.slots[idx as usize].value, true)
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        let idx = *self.map.get(&key)?;
        self.touch(idx);
        Some(&mut self.slots[idx as usize].value)
    }

    fn touch(&mut self, idx: u32) {
        if self.head != idx {
            self.unlink(idx);
            self.push_front(idx);
        }
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, idx: u32) {
        let old = self.head;
        {
            let s = &mut self.slots[idx as usize];
            s.prev = NIL;
            s.next = old;
        }
        if old == NIL {
            self.tail = idx;
        } else {
            self.slots[old as usize].prev = idx;
        }
        self.head = idx;
    }
}

/// Buckets of a hash table that can hold `capacity` items (hashbrown keeps 1/8 free).
fn buckets(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..8 => (capacity + 1).next_power_of_two(),
        _ => (capacity * 8 / 7).next_power_of_two(),
    }
}

fn map_bytes(buckets: usize) -> usize {
    // One (u64, u32) pair plus one control byte per bucket.
    buckets * (std::mem::size_of::<(u64, u32)>() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(3);
        for k in 1..=3u64 {
            let (v, new) = lru.get_or_insert_with(k, || k * 10);
            assert!(new);
            assert_eq!(*v, k * 10);
        }
        // Touch 1 so 2 is now the oldest.
        assert_eq!(lru.get_mut(1).copied(), Some(10));
        let (_, new) = lru.get_or_insert_with(4, || 40);
        assert!(new);
        assert!(lru.get_mut(2).is_none());
        assert_eq!(lru.get_mut(1).copied(), Some(10));
        assert_eq!(lru.get_mut(3).copied(), Some(30));
        assert_eq!(lru.get_mut(4).copied(), Some(40));
        assert_eq!(lru.len(), 3);
    }

    #[test]
    fn never_grows_past_its_cap() {
        let mut lru = Lru::new(100);
        for k in 0..10_000u64 {
            lru.get_or_insert_with(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), || k);
        }
        assert_eq!(lru.len(), 100);
        assert!(lru.slots.capacity() <= 100);
        assert!(lru.own_bytes() <= Lru::<u64>::own_bytes_bound(100));
    }

    #[test]
    fn matches_a_simple_model_under_random_operations() {
        // Model: keys in recency order, most recent last.
        let mut model: Vec<(u64, u64)> = Vec::new();
        let mut lru = Lru::new(5);
        let mut x = 0x1234_5678_u64;
        for step in 0..20_000u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let key = (x >> 33) % 9;
            if (x >> 20).is_multiple_of(3) {
                let got = lru.get_mut(key).map(|v| *v);
                let want = model.iter().position(|(k, _)| *k == key).map(|i| {
                    let e = model.remove(i);
                    model.push(e);
                    e.1
                });
                assert_eq!(got, want, "step {step}");
            } else {
                let (v, new) = lru.get_or_insert_with(key, || step);
                let value = *v;
                match model.iter().position(|(k, _)| *k == key) {
                    Some(i) => {
                        let e = model.remove(i);
                        assert!(!new && value == e.1, "step {step}");
                        model.push(e);
                    }
                    None => {
                        assert!(new && value == step, "step {step}");
                        if model.len() == 5 {
                            model.remove(0);
                        }
                        model.push((key, step));
                    }
                }
            }
            assert_eq!(lru.len(), model.len());
        }
    }
}
