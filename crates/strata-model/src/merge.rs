//! Lazy k-way merges of what several storage sources hold (the role of
//! Prometheus' `storage/merge.go`): series sets merged by labels, and one
//! series' samples merged by time, pulled from the sources only as the
//! caller advances.
//!
//! Duplicates come from overlapping sources: a crash between a block write
//! and the WAL checkpoint leaves the same samples in a block and the head,
//! and blocks written before a compaction finished can overlap. **The first
//! source in the given order wins** a timestamp (and, for series sets, gives
//! its series' labels). Callers pass sources oldest block first and the head
//! last, so persisted data wins over what the head replayed.

use crate::{Sample, SampleIter, Series, SeriesIter, StorageError};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

/// Merges the samples of one series held by several sources, in time order;
/// a timestamp present in several children is returned once, from the first
/// child in the given order.
///
/// Children must each be in strictly increasing time order (the
/// [`SampleIter`] contract). A child that breaks it cannot make the output
/// go backwards: samples not newer than the last one returned are dropped.
pub struct MergeSampleIter<'a> {
    children: Vec<Box<dyn SampleIter + 'a>>,
    /// The next sample of each child, already taken from it but not yet
    /// returned; `None` once the child is exhausted. Meaningful once primed.
    heads: Vec<Option<Sample>>,
    primed: bool,
    /// Children with a head, keyed by (head time, child index) so that the
    /// first child wins ties. Only used with more than two children; two are
    /// compared directly.
    heap: BinaryHeap<Reverse<(i64, usize)>>,
    /// The last sample returned (none before the first or after the end):
    /// what a seek to an earlier time returns.
    cur: Option<Sample>,
}

impl<'a> MergeSampleIter<'a> {
    pub fn new(children: Vec<Box<dyn SampleIter + 'a>>) -> Self {
        let k = children.len();
        MergeSampleIter {
            children,
            heads: vec![None; k],
            primed: false,
            heap: BinaryHeap::new(),
            cur: None,
        }
    }

    fn uses_heap(&self) -> bool {
        self.children.len() > 2
    }

    fn rebuild_heap(&mut self) {
        if !self.uses_heap() {
            return;
        }
        let entries: Vec<Reverse<(i64, usize)>> = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|s| Reverse((s.t, i))))
            .collect();
        self.heap = BinaryHeap::from(entries);
    }

    fn prime_with_next(&mut self) {
        for (child, head) in self.children.iter_mut().zip(&mut self.heads) {
            *head = child.next();
        }
        self.primed = true;
        self.rebuild_heap();
    }

    /// The next sample in time order, possibly one not newer than `cur`
    /// (only from a child breaking the ordering contract).
    fn pop_min(&mut self) -> Option<Sample> {
        if self.uses_heap() {
            return self.pop_min_heap();
        }
        match self.heads.as_mut_slice() {
            [] => None,
            [a] => {
                let out = a.take()?;
                *a = self.children[0].next();
                Some(out)
            }
            [a, b, ..] => match (*a, *b) {
                (Some(x), Some(y)) => {
                    if x.t <= y.t {
                        *a = self.children[0].next();
                        if x.t == y.t {
                            *b = self.children[1].next();
                        }
                        Some(x)
                    } else {
                        *b = self.children[1].next();
                        Some(y)
                    }
                }
                (Some(x), None) => {
                    *a = self.children[0].next();
                    Some(x)
                }
                (None, Some(y)) => {
                    *b = self.children[1].next();
                    Some(y)
                }
                (None, None) => None,
            },
        }
    }

    fn pop_min_heap(&mut self) -> Option<Sample> {
        let Reverse((t, first)) = *self.heap.peek()?;
        let out = self.heads[first]?;
        // Advance the winner and every child holding the same timestamp;
        // each step consumes a sample, so this ends even on broken input.
        while let Some(mut top) = self.heap.peek_mut() {
            let Reverse((ht, i)) = *top;
            if ht != t {
                break;
            }
            match self.children[i].next() {
                Some(s) => {
                    self.heads[i] = Some(s);
                    *top = Reverse((s.t, i));
                }
                None => {
                    self.heads[i] = None;
                    std::collections::binary_heap::PeekMut::pop(top);
                }
            }
        }
        Some(out)
    }
}

impl SampleIter for MergeSampleIter<'_> {
    fn next(&mut self) -> Option<Sample> {
        if !self.primed {
            self.prime_with_next();
        }
        loop {
            let Some(s) = self.pop_min() else {
                // Exhausted stays exhausted: a later seek to an earlier
                // time has no current sample to return again.
                self.cur = None;
                return None;
            };
            if self.cur.is_none_or(|c| s.t > c.t) {
                self.cur = Some(s);
                return Some(s);
            }
        }
    }

    fn seek(&mut self, ts: i64) -> Option<Sample> {
        if let Some(c) = self.cur
            && c.t >= ts
        {
            return Some(c);
        }
        // Children seek on their own (skipping whole chunks); a head already
        // at or past `ts` stays.
        for (child, head) in self.children.iter_mut().zip(&mut self.heads) {
            if !self.primed || head.is_some_and(|h| h.t < ts) {
                *head = child.seek(ts);
            }
        }
        self.primed = true;
        self.rebuild_heap();
        self.next()
    }

    /// Each child answers with its own shortcut (the head without decoding);
    /// the merged answer is the newest of those, the first child winning a
    /// tie — a child holding that timestamp at all has it as its newest.
    fn newest_at_or_before(&mut self, ts: i64) -> Option<Sample> {
        let floor = self.cur.map(|c| c.t);
        let mut best: Option<Sample> = None;
        for i in 0..self.children.len() {
            let candidate = if !self.primed {
                self.children[i].newest_at_or_before(ts)
            } else {
                match self.heads[i] {
                    Some(h) if h.t <= ts => self.children[i].newest_at_or_before(ts).or(Some(h)),
                    _ => None,
                }
            };
            let Some(c) = candidate else { continue };
            if c.t > ts || floor.is_some_and(|f| c.t <= f) {
                // A child answering outside what it was asked breaks its
                // contract; its answer cannot be the merged one.
                continue;
            }
            if best.is_none_or(|b| c.t > b.t) {
                best = Some(c);
            }
        }
        self.primed = true;
        self.heads.iter_mut().for_each(|h| *h = None);
        self.heap.clear();
        best
    }

    fn err(&self) -> Option<&StorageError> {
        self.children.iter().find_map(|c| c.err())
    }
}

/// The samples of one series held by several sources, in time order, the
/// first source winning a timestamp: the sources one after the other when
/// their [`SampleIter::time_bounds`] are known, ascending and disjoint (a
/// series spanning several blocks and the head), else a
/// [`MergeSampleIter`].
pub fn merge_samples<'a>(mut children: Vec<Box<dyn SampleIter + 'a>>) -> Box<dyn SampleIter + 'a> {
    if children.len() == 1 {
        return children.swap_remove(0);
    }
    let bounds: Option<Vec<(i64, i64)>> = children.iter().map(|c| c.time_bounds()).collect();
    match bounds {
        Some(b) if b.windows(2).all(|w| w[0].1 < w[1].0) && b.iter().all(|(lo, hi)| lo <= hi) => {
            Box::new(ChainSampleIter {
                children,
                bounds: b,
                at: 0,
                cur: None,
            })
        }
        _ => Box::new(MergeSampleIter::new(children)),
    }
}

/// Sources of one series whose time ranges are ascending and disjoint,
/// read one after the other: no per-sample comparison, and a seek or an
/// instant lookup goes straight to the source that covers the time.
struct ChainSampleIter<'a> {
    children: Vec<Box<dyn SampleIter + 'a>>,
    bounds: Vec<(i64, i64)>,
    /// The child being read; children before it are done.
    at: usize,
    /// The last sample returned: what a seek to an earlier time returns.
    cur: Option<Sample>,
}

impl SampleIter for ChainSampleIter<'_> {
    fn next(&mut self) -> Option<Sample> {
        while let Some(child) = self.children.get_mut(self.at) {
            if let Some(s) = child.next() {
                // A child returning a sample outside its bounds, or going
                // backwards, breaks its contract: the output stays ordered.
                if self.cur.is_none_or(|c| s.t > c.t) {
                    self.cur = Some(s);
                    return Some(s);
                }
                continue;
            }
            self.at += 1;
        }
        self.cur = None;
        None
    }

    fn seek(&mut self, ts: i64) -> Option<Sample> {
        if let Some(c) = self.cur
            && c.t >= ts
        {
            return Some(c);
        }
        // Whole sources that end before `ts` are skipped unread.
        while self.at + 1 < self.children.len() && self.bounds[self.at].1 < ts {
            self.at += 1;
        }
        while let Some(child) = self.children.get_mut(self.at) {
            if let Some(s) = child.seek(ts) {
                if self.cur.is_none_or(|c| s.t > c.t) {
                    self.cur = Some(s);
                    return Some(s);
                }
                return self.next();
            }
            self.at += 1;
        }
        self.cur = None;
        None
    }

    /// The newest source that starts at or before `ts` answers; an older
    /// one is asked only if that one holds nothing at or before `ts`.
    fn newest_at_or_before(&mut self, ts: i64) -> Option<Sample> {
        let floor = self.cur.map(|c| c.t);
        for i in (self.at..self.children.len()).rev() {
            if self.bounds[i].0 > ts {
                continue;
            }
            if let Some(s) = self.children[i].newest_at_or_before(ts)
                && s.t <= ts
                && floor.is_none_or(|f| s.t > f)
            {
                self.at = self.children.len();
                return Some(s);
            }
        }
        self.at = self.children.len();
        None
    }

    fn err(&self) -> Option<&StorageError> {
        self.children.iter().find_map(|c| c.err())
    }

    fn time_bounds(&self) -> Option<(i64, i64)> {
        Some((self.bounds.first()?.0, self.bounds.last()?.1))
    }
}

/// Merges label-sorted series sets into one label-sorted set, lazily: each
/// input is pulled only when its current series has been emitted. Series
/// with equal labels in several inputs become one series whose samples are
/// a [`MergeSampleIter`] over the inputs' in input order (the first input
/// wins a timestamp); a series only one input holds passes through as it
/// came. Input errors are passed through; an input that errs or is found
/// out of label order is not read further.
pub fn merge_series_sets<'a>(sets: Vec<SeriesIter<'a>>) -> SeriesIter<'a> {
    merge_sets(sets, true)
}

/// As [`merge_series_sets`] for callers that need labels only (series
/// selects with `series_only`): of series several inputs hold, the first
/// input's is kept as it is and no sample merge is built.
pub fn merge_series_sets_labels_only<'a>(sets: Vec<SeriesIter<'a>>) -> SeriesIter<'a> {
    merge_sets(sets, false)
}

fn merge_sets<'a>(mut sets: Vec<SeriesIter<'a>>, merge_samples: bool) -> SeriesIter<'a> {
    match sets.len() {
        0 => Box::new(std::iter::empty()),
        1 => sets.swap_remove(0),
        _ => Box::new(MergeSeriesSet {
            heads: BinaryHeap::with_capacity(sets.len()),
            inputs: sets.into_iter().map(Some).collect(),
            primed: false,
            errors: VecDeque::new(),
            merge_samples,
        }),
    }
}

/// An input's current series, ordered for a min-heap by labels, then by
/// input index so that the first input's copy comes out first.
struct HeadSeries<'a> {
    series: Series<'a>,
    input: usize,
}

impl Ord for HeadSeries<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        other
            .series
            .labels
            .cmp(&self.series.labels)
            .then_with(|| other.input.cmp(&self.input))
    }
}

impl PartialOrd for HeadSeries<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for HeadSeries<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for HeadSeries<'_> {}

struct MergeSeriesSet<'a> {
    /// `None` once an input is done (exhausted, failed or out of order).
    inputs: Vec<Option<SeriesIter<'a>>>,
    heads: BinaryHeap<HeadSeries<'a>>,
    primed: bool,
    errors: VecDeque<StorageError>,
    merge_samples: bool,
}

impl<'a> MergeSeriesSet<'a> {
    /// Takes input `i`'s next series into the heap. `after` is the label set
    /// just taken from it: the next must sort strictly after it.
    fn pull(&mut self, i: usize, after: Option<&crate::Labels>) {
        let Some(input) = self.inputs[i].as_mut() else {
            return;
        };
        match input.next() {
            Some(Ok(series)) => {
                if after.is_some_and(|prev| series.labels <= *prev) {
                    self.errors.push_back(StorageError::Internal(format!(
                        "series source {i} not sorted by labels at {}",
                        series.labels
                    )));
                    self.inputs[i] = None;
                    return;
                }
                self.heads.push(HeadSeries { series, input: i });
            }
            Some(Err(e)) => {
                self.errors.push_back(e);
                self.inputs[i] = None;
            }
            None => self.inputs[i] = None,
        }
    }
}

impl<'a> Iterator for MergeSeriesSet<'a> {
    type Item = Result<Series<'a>, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.inputs.len() {
                self.pull(i, None);
            }
        }
        if let Some(e) = self.errors.pop_front() {
            return Some(Err(e));
        }
        let first = self.heads.pop()?;
        let mut group: Vec<Box<dyn SampleIter + 'a>> = Vec::new();
        while self
            .heads
            .peek()
            .is_some_and(|h| h.series.labels == first.series.labels)
        {
            if let Some(dup) = self.heads.pop() {
                self.pull(dup.input, Some(&first.series.labels));
                if self.merge_samples {
                    group.push(dup.series.samples);
                }
            }
        }
        self.pull(first.input, Some(&first.series.labels));
        if group.is_empty() {
            return Some(Ok(first.series));
        }
        let Series { labels, samples } = first.series;
        group.insert(0, samples);
        Some(Ok(Series {
            labels,
            samples: merge_samples(group),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::scan_newest_at_or_before;
    use crate::{Labels, VecSampleIter, stale_nan};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A child without shortcuts: a linear seek and the trait's default
    /// newest, as an iterator without chunk knowledge has. (The trait's
    /// default seek cannot return the current sample again, having no
    /// memory of it; the merge never asks a child for that.)
    struct PlainIter {
        rest: std::vec::IntoIter<Sample>,
        cur: Option<Sample>,
    }
    impl SampleIter for PlainIter {
        fn next(&mut self) -> Option<Sample> {
            // As the vector and block iterators: the last sample stays
            // current after the end.
            let s = self.rest.next();
            self.cur = s.or(self.cur);
            s
        }
        fn seek(&mut self, ts: i64) -> Option<Sample> {
            if let Some(c) = self.cur
                && c.t >= ts
            {
                return Some(c);
            }
            loop {
                let s = self.next()?;
                if s.t >= ts {
                    return Some(s);
                }
            }
        }
    }

    /// Ends after `ok` samples with a decoding error.
    struct FailingIter {
        rest: std::vec::IntoIter<Sample>,
        err: Option<StorageError>,
    }
    impl SampleIter for FailingIter {
        fn next(&mut self) -> Option<Sample> {
            let s = self.rest.next();
            if s.is_none() && self.err.is_none() {
                self.err = Some(StorageError::Corruption {
                    location: "test chunk".into(),
                    reason: "truncated".into(),
                });
            }
            s
        }
        fn err(&self) -> Option<&StorageError> {
            self.err.as_ref()
        }
    }

    fn child<'a>(samples: Vec<Sample>, plain: bool) -> Box<dyn SampleIter + 'a> {
        if plain {
            Box::new(PlainIter {
                rest: samples.into_iter(),
                cur: None,
            })
        } else {
            Box::new(VecSampleIter::new(samples))
        }
    }

    fn samples(ts: &[(i64, f64)]) -> Vec<Sample> {
        ts.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    fn drain(it: &mut dyn SampleIter) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        while let Some(s) = it.next() {
            out.push((s.t, s.v.to_bits()));
        }
        out
    }

    type Source = BTreeMap<Labels, Vec<Sample>>;

    fn series_set<'a>(src: &Source, plain: bool) -> SeriesIter<'a> {
        let v: Vec<Series<'a>> = src
            .iter()
            .map(|(l, s)| Series {
                labels: l.clone(),
                samples: child(s.clone(), plain),
            })
            .collect();
        Box::new(v.into_iter().map(Ok))
    }

    /// The merge by definition: every source's samples into one map per
    /// label set, a timestamp taken from the first source that has it.
    fn brute_force(sources: &[Source]) -> BTreeMap<Labels, Vec<Sample>> {
        let mut all: BTreeMap<Labels, BTreeMap<i64, Sample>> = BTreeMap::new();
        for src in sources {
            for (l, ss) in src {
                let m = all.entry(l.clone()).or_default();
                for s in ss {
                    m.entry(s.t).or_insert(*s);
                }
            }
        }
        all.into_iter()
            .map(|(l, m)| (l, m.into_values().collect()))
            .collect()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Next,
        Seek(i64),
    }

    fn labels_of(k: u8) -> Labels {
        let v = k.to_string();
        // Some sets carry an extra label so that length breaks ties in the
        // label order too.
        if k.is_multiple_of(3) {
            Labels::from_pairs([("__name__", "m"), ("i", v.as_str()), ("z", "x")])
        } else {
            Labels::from_pairs([("__name__", "m"), ("i", v.as_str())])
        }
    }

    fn source(id: usize) -> impl Strategy<Value = Source> {
        let value = prop_oneof![
            9 => (0u32..1000).prop_map(move |v| (id * 1_000_000) as f64 + f64::from(v)),
            1 => Just(stale_nan()),
        ];
        proptest::collection::btree_map(
            0u8..10,
            proptest::collection::btree_map(-20i64..60, value, 0..25),
            0..8,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|(k, ss)| {
                    (
                        labels_of(k),
                        ss.into_iter().map(|(t, v)| Sample::new(t, v)).collect(),
                    )
                })
                .collect()
        })
    }

    fn sources() -> impl Strategy<Value = Vec<Source>> {
        (0usize..6).prop_flat_map(|n| (0..n).map(source).collect::<Vec<_>>())
    }

    fn ops() -> impl Strategy<Value = (Vec<Op>, Option<i64>)> {
        let op = prop_oneof![3 => Just(Op::Next), 1 => (-25i64..570).prop_map(Op::Seek)];
        (
            proptest::collection::vec(op, 0..12),
            proptest::option::of(-25i64..570),
        )
    }

    /// Merges `srcs` as series sets and checks every series against the
    /// brute-force merge under one of the scripts of reads.
    fn check_merge(
        srcs: &[Source],
        plain_mask: u8,
        script: &[(Vec<Op>, Option<i64>)],
    ) -> Result<(), TestCaseError> {
        let expected = brute_force(srcs);
        let sets = srcs
            .iter()
            .enumerate()
            .map(|(i, s)| series_set(s, plain_mask & (1 << i) != 0))
            .collect();
        let merged: Vec<Series<'_>> = merge_series_sets(sets)
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            merged.iter().map(|s| &s.labels).collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        for (n, (mut got, want)) in merged.into_iter().zip(expected.values()).enumerate() {
            let (ops, newest) = &script[n % script.len()];
            // The reference: the brute-force samples behind the plain
            // vector iterator, whose seek semantics are the trait's.
            let mut reference = VecSampleIter::new(want.clone());
            for op in ops {
                let (g, w) = match op {
                    Op::Next => (got.samples.next(), reference.next()),
                    Op::Seek(t) => (got.samples.seek(*t), reference.seek(*t)),
                };
                prop_assert_eq!(
                    g.map(|s| (s.t, s.v.to_bits())),
                    w.map(|s| (s.t, s.v.to_bits())),
                    "{:?} on {}",
                    op,
                    got.labels
                );
                if g.is_none() {
                    // What a seek after the end returns is not part
                    // of the contract (the vector iterator returns its
                    // last sample, the merge nothing).
                    break;
                }
            }
            match newest {
                Some(t) => {
                    let g = got.samples.newest_at_or_before(*t);
                    let w = scan_newest_at_or_before(&mut reference, *t);
                    prop_assert_eq!(
                        g.map(|s| (s.t, s.v.to_bits())),
                        w.map(|s| (s.t, s.v.to_bits())),
                        "newest at {} on {}",
                        t,
                        got.labels
                    );
                }
                None => prop_assert_eq!(drain(got.samples.as_mut()), drain(&mut reference)),
            }
            prop_assert!(got.samples.err().is_none());
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn lazy_merge_equals_brute_force(
            srcs in sources(),
            plain_mask in any::<u8>(),
            script in proptest::collection::vec(ops(), 10),
        ) {
            check_merge(&srcs, plain_mask, &script)?;
        }

        /// Sources each holding a later stretch of time than the one
        /// before, as blocks and the head do: with known bounds the
        /// series are read one source after the other.
        #[test]
        fn chained_sources_equal_brute_force(
            srcs in sources(),
            plain_mask in any::<u8>(),
            script in proptest::collection::vec(ops(), 10),
        ) {
            let shifted: Vec<Source> = srcs
                .into_iter()
                .enumerate()
                .map(|(i, src)| {
                    src.into_iter()
                        .map(|(l, ss)| {
                            let ss = ss.into_iter().map(|x| Sample::new(x.t + 100 * i as i64, x.v)).collect();
                            (l, ss)
                        })
                        .collect()
                })
                .collect();
            check_merge(&shifted, plain_mask, &script)?;
        }

        #[test]
        fn labels_only_merge_keeps_first_source(srcs in sources()) {
            let expected = brute_force(&srcs);
            let sets = srcs.iter().map(|s| series_set(s, false)).collect();
            let merged: Vec<Series<'_>> = merge_series_sets_labels_only(sets)
                .collect::<Result<_, _>>()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(merged.len(), expected.len());
            for (mut got, want) in merged.into_iter().zip(expected.keys()) {
                prop_assert_eq!(&got.labels, want);
                let first = srcs.iter().find_map(|s| s.get(want)).cloned().unwrap_or_default();
                prop_assert_eq!(drain(got.samples.as_mut()), drain(&mut VecSampleIter::new(first)));
            }
        }
    }

    #[test]
    fn disjoint_bounded_sources_are_chained() {
        let chained = merge_samples(vec![
            child(samples(&[(0, 0.0), (10, 1.0)]), false),
            child(samples(&[(20, 2.0)]), false),
            child(samples(&[(30, 3.0), (40, 4.0)]), false),
        ]);
        assert_eq!(chained.time_bounds(), Some((0, 40)));
        // Overlapping bounds, or one source without bounds: the merge.
        let overlapping = merge_samples(vec![
            child(samples(&[(0, 0.0), (20, 1.0)]), false),
            child(samples(&[(20, 2.0)]), false),
        ]);
        assert_eq!(overlapping.time_bounds(), None);
        let unbounded = merge_samples(vec![
            child(samples(&[(0, 0.0)]), true),
            child(samples(&[(20, 2.0)]), false),
        ]);
        assert_eq!(unbounded.time_bounds(), None);
    }

    /// A bounded source that counts how often it is asked for its newest
    /// sample.
    struct Watched {
        inner: VecSampleIter,
        asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }
    impl SampleIter for Watched {
        fn next(&mut self) -> Option<Sample> {
            self.inner.next()
        }
        fn newest_at_or_before(&mut self, ts: i64) -> Option<Sample> {
            self.asked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.newest_at_or_before(ts)
        }
        fn time_bounds(&self) -> Option<(i64, i64)> {
            self.inner.time_bounds()
        }
    }

    #[test]
    fn chain_newest_asks_older_sources_only_when_needed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let older = std::sync::Arc::new(AtomicUsize::new(0));
        let watched = |ss: &[(i64, f64)]| -> Box<dyn SampleIter> {
            Box::new(Watched {
                inner: VecSampleIter::new(samples(ss)),
                asked: older.clone(),
            })
        };
        // The newer source holds the answer: the older one is not asked.
        let mut it = merge_samples(vec![
            watched(&[(0, 0.0), (10, 1.0)]),
            child(samples(&[(20, 2.0), (30, 3.0)]), false),
        ]);
        assert_eq!(it.newest_at_or_before(35).map(|s| s.v), Some(3.0));
        assert_eq!(older.load(Ordering::Relaxed), 0);
        // It starts after the time: the older one answers.
        let mut it = merge_samples(vec![
            watched(&[(0, 0.0), (10, 1.0)]),
            child(samples(&[(20, 2.0), (30, 3.0)]), false),
        ]);
        assert_eq!(it.newest_at_or_before(15).map(|s| s.v), Some(1.0));
        assert_eq!(older.load(Ordering::Relaxed), 1);
        let mut it = merge_samples(vec![
            child(samples(&[(0, 0.0), (10, 1.0)]), false),
            child(samples(&[(20, 2.0), (30, 3.0)]), false),
        ]);
        assert_eq!(it.seek(25).map(|s| s.t), Some(30));
        assert_eq!(it.seek(5).map(|s| s.t), Some(30));
        assert_eq!(it.newest_at_or_before(35), None);
    }

    #[test]
    fn first_child_wins_a_shared_timestamp() {
        for k in [2usize, 3, 5] {
            let children = (0..k)
                .map(|i| {
                    child(
                        samples(&[(10, i as f64), (20 + i as i64, i as f64)]),
                        i % 2 == 1,
                    )
                })
                .collect();
            let mut it = MergeSampleIter::new(children);
            let got = drain(&mut it);
            let mut want = vec![(10, 0f64.to_bits())];
            want.extend((0..k).map(|i| (20 + i as i64, (i as f64).to_bits())));
            assert_eq!(got, want, "{k} children");
        }
    }

    #[test]
    fn seek_never_moves_back_and_newest_sees_peeked_heads() {
        let mut it = MergeSampleIter::new(vec![
            child(samples(&[(0, 0.0), (30, 3.0)]), false),
            child(samples(&[(10, 1.0), (40, 4.0)]), true),
            child(samples(&[(20, 2.0)]), false),
        ]);
        assert_eq!(it.seek(15).map(|s| s.t), Some(20));
        assert_eq!(it.seek(5).map(|s| s.t), Some(20));
        assert_eq!(it.next().map(|s| s.t), Some(30));
        // Child 1's head (40) was taken from it by the merge already.
        assert_eq!(it.newest_at_or_before(45).map(|s| s.v), Some(4.0));
    }

    #[test]
    fn child_error_is_reported_and_ends_nothing_else() {
        let failing: Box<dyn SampleIter> = Box::new(FailingIter {
            rest: samples(&[(5, 0.5)]).into_iter(),
            err: None,
        });
        let mut it =
            MergeSampleIter::new(vec![child(samples(&[(1, 1.0), (9, 9.0)]), false), failing]);
        assert_eq!(drain(&mut it).len(), 3);
        assert!(matches!(it.err(), Some(StorageError::Corruption { .. })));
    }

    fn set_of<'a>(items: Vec<Result<(Labels, Vec<Sample>), StorageError>>) -> SeriesIter<'a> {
        Box::new(items.into_iter().map(|r| {
            r.map(|(labels, ss)| Series {
                labels,
                samples: child(ss, false),
            })
        }))
    }

    #[test]
    fn series_set_errors_pass_through() {
        let a = set_of(vec![
            Ok((labels_of(1), samples(&[(1, 1.0)]))),
            Err(StorageError::Internal("block index".into())),
        ]);
        let b = set_of(vec![Ok((labels_of(2), samples(&[(1, 2.0)])))]);
        let out: Vec<_> = merge_series_sets(vec![a, b]).collect();
        assert_eq!(out.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 2);
        assert!(
            merge_series_sets(vec![
                set_of(vec![Err(StorageError::Internal("x".into()))]),
                set_of(Vec::new())
            ])
            .collect::<Result<Vec<_>, _>>()
            .is_err()
        );
    }

    #[test]
    fn unsorted_input_is_an_error_not_a_wrong_answer() {
        let a = set_of(vec![
            Ok((labels_of(2), samples(&[(1, 1.0)]))),
            Ok((labels_of(1), samples(&[(1, 1.0)]))),
        ]);
        let b = set_of(vec![Ok((labels_of(4), samples(&[(1, 2.0)])))]);
        let out: Result<Vec<_>, _> = merge_series_sets(vec![a, b]).collect();
        assert!(matches!(out, Err(StorageError::Internal(_))));
    }

    #[test]
    fn merge_pulls_inputs_only_as_needed() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
        let pulled = Arc::new(AtomicUsize::new(0));
        let counting = |ks: Vec<u8>| -> SeriesIter<'static> {
            let pulled = pulled.clone();
            Box::new(ks.into_iter().map(move |k| {
                pulled.fetch_add(1, AtomicOrdering::SeqCst);
                Ok(Series {
                    labels: labels_of(k),
                    samples: child(samples(&[(1, 1.0)]), false),
                })
            }))
        };
        let mut m = merge_series_sets(vec![counting(vec![1, 2, 4, 5, 7]), counting(vec![1, 2, 8])]);
        assert!(m.next().is_some_and(|r| r.is_ok()));
        // The first series of each input, then the successors of the group.
        assert_eq!(pulled.load(AtomicOrdering::SeqCst), 4);
        let first_two: Vec<_> = m.take(1).collect();
        assert_eq!(first_two.len(), 1);
        assert_eq!(pulled.load(AtomicOrdering::SeqCst), 6);
    }
}
