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
}

impl<'a> WriteBatch<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.labels.clear();
        self.samples.clear();
        self.series.clear();
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
