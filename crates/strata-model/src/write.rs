//! The write-side batch every ingest path (remote-write, scrape, rules,
//! Kafka) hands to storage.
//!
//! Labels are borrowed from the request buffer so decoding allocates nothing
//! per label; the batch itself is three flat vectors that callers reuse.

use crate::Sample;
use std::ops::Range;

/// A label whose strings live in the request buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// One series of a batch: index ranges into the batch's flat vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesEntry {
    pub labels: Range<u32>,
    pub samples: Range<u32>,
}

/// Series with their samples. Invariants (established by the producer, e.g.
/// `strata-ingest` validation): each series' labels are sorted by name,
/// names are unique, values non-empty, and every series has at least one
/// label. Samples within a series are in the order they were received.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch<'a> {
    pub labels: Vec<LabelRef<'a>>,
    pub samples: Vec<Sample>,
    pub series: Vec<SeriesEntry>,
    /// Per series, a `SeriesRef` an earlier append of the same tenant
    /// returned for the same labels (0: none); empty when no series has one.
    /// Storage uses a live ref instead of looking the labels up, which is
    /// what a scrape loop's cache saves on every sample; a stale one falls
    /// back to the labels.
    pub refs: Vec<SeriesRef>,
}

/// Storage's handle on a series of one tenant, valid while the series lives
/// (ids are never reused within a process); 0 means none.
pub type SeriesRef = u64;

impl<'a> WriteBatch<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the batch and hands back its allocations with no borrow
    /// left, for the next batch (`WriteBatch::reuse`): a remote-write
    /// request's label references alone take about a megabyte.
    pub fn into_spare(self) -> WriteBatch<'static> {
        let WriteBatch {
            mut labels,
            mut samples,
            mut series,
            mut refs,
        } = self;
        labels.clear();
        samples.clear();
        series.clear();
        refs.clear();
        WriteBatch {
            // Empty, so the closure never runs; collecting from a vector's
            // own iterator into an element type of the same layout keeps
            // the allocation.
            labels: labels
                .into_iter()
                .map(|_| LabelRef {
                    name: "",
                    value: "",
                })
                .collect(),
            samples,
            series,
            refs,
        }
    }

    /// A batch that starts with `spare`'s allocations.
    pub fn reuse(spare: WriteBatch<'static>) -> Self {
        let WriteBatch {
            labels,
            samples,
            series,
            refs,
        } = spare;
        WriteBatch {
            labels: labels.into_iter().collect(),
            samples,
            series,
            refs,
        }
    }

    pub fn clear(&mut self) {
        self.labels.clear();
        self.samples.clear();
        self.series.clear();
        self.refs.clear();
    }

    /// Adds one series with the ref an earlier append returned for it
    /// (0: none).
    pub fn push_with_ref(&mut self, labels: &[LabelRef<'a>], samples: &[Sample], r: SeriesRef) {
        if self.refs.len() < self.series.len() {
            self.refs.resize(self.series.len(), 0);
        }
        self.push(labels, samples);
        self.refs.push(r);
    }

    /// Series `i`'s ref, 0 when it has none.
    pub fn series_ref(&self, i: usize) -> SeriesRef {
        self.refs.get(i).copied().unwrap_or(0)
    }

    /// Whether the writer asked for refs (it pushed with `push_with_ref`).
    pub fn wants_refs(&self) -> bool {
        !self.refs.is_empty()
    }

    /// Adds one series; the caller guarantees the invariants above.
    pub fn push(&mut self, labels: &[LabelRef<'a>], samples: &[Sample]) {
        let l0 = self.labels.len() as u32;
        let s0 = self.samples.len() as u32;
        self.labels.extend_from_slice(labels);
        self.samples.extend_from_slice(samples);
        self.series.push(SeriesEntry {
            labels: l0..self.labels.len() as u32,
            samples: s0..self.samples.len() as u32,
        });
    }

    pub fn series_labels(&self, i: usize) -> &[LabelRef<'a>] {
        let r = &self.series[i].labels;
        &self.labels[r.start as usize..r.end as usize]
    }

    pub fn series_samples(&self, i: usize) -> &[Sample] {
        let r = &self.series[i].samples;
        &self.samples[r.start as usize..r.end as usize]
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_batch_keeps_its_allocations_and_nothing_else() {
        let owned: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
        let mut b = WriteBatch::new();
        for v in &owned {
            b.push(
                &[LabelRef {
                    name: "__name__",
                    value: v,
                }],
                &[Sample::new(1, 1.0)],
            );
        }
        let cap = (
            b.labels.capacity(),
            b.samples.capacity(),
            b.series.capacity(),
        );
        let spare = b.into_spare();
        drop(owned);
        let again = WriteBatch::reuse(spare);
        assert!(again.is_empty() && again.labels.is_empty() && again.samples.is_empty());
        assert_eq!(
            (
                again.labels.capacity(),
                again.samples.capacity(),
                again.series.capacity()
            ),
            cap
        );
    }
}
