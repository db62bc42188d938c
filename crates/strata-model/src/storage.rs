//! The read side of storage as the query engine sees it.
//!
//! Architecture invariant: `strata-promql` depends on these traits only;
//! the TSDB (head + blocks) and, later, object storage implement them.

use crate::{Labels, Matcher, Sample, TenantId};

/// Storage errors, classified by whose fault they are so that the HTTP layer
/// can map them to status codes in one place.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The request itself is wrong (HTTP 400 / `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// A configured limit was hit (HTTP 422 for queries, 429 for writes).
    #[error("{0}")]
    LimitExceeded(String),
    /// Data on disk failed a checksum or could not be decoded.
    #[error("corrupt data in {location}: {reason}")]
    Corruption { location: String, reason: String },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The storage is shutting down or not ready.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the caller will do with the selected series, so storage can skip
/// work (as Prometheus' `storage.SelectHints`).
#[derive(Debug, Clone, Default)]
pub struct SelectHints {
    /// Inclusive start of the data needed, in ms.
    pub start: i64,
    /// Inclusive end of the data needed, in ms.
    pub end: i64,
    /// Only series labels are needed, no samples (`/api/v1/series`).
    pub series_only: bool,
    /// Stop after this many series (0 = no limit).
    pub limit: usize,
    /// The caller reads only the newest sample at or before `end` (an
    /// instant selector evaluated at one time). Storage may then hand out
    /// less than `[start, end]` holds — down to that one sample, when it
    /// knows it without decoding — as long as the newest sample at or
    /// before `end` of what it returns is the series' own.
    pub newest_only: bool,
    /// The caller does not need the series in label order (the PromQL
    /// engine orders its own output). Storage that would sort only to
    /// honour the order — the head, when no other source is merged with
    /// it — then hands them out in the order they were created, as
    /// Prometheus does for a select without `sortSeries`.
    pub any_order: bool,
}

/// A forward iterator over the samples of one series, in timestamp order.
pub trait SampleIter: Send {
    /// The next sample, or `None` at the end.
    fn next(&mut self) -> Option<Sample>;

    /// Advances to the first sample with `t >= ts` and returns it. Must not
    /// move backwards: a seek to a time before the current sample returns the
    /// current sample again. The default is a linear scan; chunked storage
    /// overrides it to skip whole chunks.
    fn seek(&mut self, ts: i64) -> Option<Sample> {
        loop {
            let s = self.next()?;
            if s.t >= ts {
                return Some(s);
            }
        }
    }

    /// The newest remaining sample with `t <= ts`, for an instant selector
    /// that needs only that one. The iterator must not be used afterwards.
    /// The default scans; storage that knows a series' newest sample (the
    /// head) answers without decoding anything.
    fn newest_at_or_before(&mut self, ts: i64) -> Option<Sample> {
        scan_newest_at_or_before(self, ts)
    }

    /// Any error met while decoding (a corrupt chunk ends the iterator early).
    fn err(&self) -> Option<&StorageError> {
        None
    }

    /// Inclusive bounds on the timestamps this iterator can return, asked
    /// before it is read and known without decoding (from chunk
    /// metadata), or `None` when unknown.
    /// A merge of sources whose bounds do not overlap reads them one after
    /// the other instead of comparing every sample: a series that spans
    /// several blocks is the common case of a query over blocks.
    fn time_bounds(&self) -> Option<(i64, i64)> {
        None
    }
}

/// `SampleIter::newest_at_or_before` by reading samples in order, for
/// iterators that have no shortcut (or whose shortcut does not apply).
pub fn scan_newest_at_or_before<I: SampleIter + ?Sized>(it: &mut I, ts: i64) -> Option<Sample> {
    let mut last = None;
    while let Some(s) = it.next() {
        if s.t > ts {
            break;
        }
        last = Some(s);
    }
    last
}

/// One selected series: its labels and an iterator over the samples within
/// the hinted window.
pub struct Series<'a> {
    pub labels: Labels,
    pub samples: Box<dyn SampleIter + 'a>,
}

/// Series come out sorted by labels (Prometheus' `labels.Compare` order).
pub type SeriesIter<'a> = Box<dyn Iterator<Item = Result<Series<'a>, StorageError>> + 'a>;

/// A consistent read view of one tenant's data over a time range.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers`, sorted by labels. At least one matcher
    /// must not match the empty string (the caller validates this, as
    /// Prometheus rejects `{x=""}`-only selectors).
    fn select<'a>(
        &'a self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesIter<'a>, StorageError>;

    /// Label names present on series matching `matchers` (all series when
    /// empty), sorted.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Values of label `name` on series matching `matchers`, sorted.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// Something that can open queriers: the TSDB, a block set, a remote store.
pub trait Queryable: Send + Sync {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier + '_>, StorageError>;
}

/// A sample iterator over an owned vector; for tests and small adapters.
pub struct VecSampleIter {
    samples: Vec<Sample>,
    pos: usize,
}

impl VecSampleIter {
    pub fn new(samples: Vec<Sample>) -> Self {
        Self { samples, pos: 0 }
    }
}

impl SampleIter for VecSampleIter {
    fn next(&mut self) -> Option<Sample> {
        let s = self.samples.get(self.pos).copied();
        if s.is_some() {
            self.pos += 1;
        }
        s
    }

    fn newest_at_or_before(&mut self, ts: i64) -> Option<Sample> {
        let rest = &self.samples[self.pos..];
        let n = rest.partition_point(|s| s.t <= ts);
        self.pos = self.samples.len();
        n.checked_sub(1).map(|i| rest[i])
    }

    fn seek(&mut self, ts: i64) -> Option<Sample> {
        // Do not move backwards past the last returned sample.
        let from = self.pos.saturating_sub(1);
        let idx = from + self.samples[from..].partition_point(|s| s.t < ts);
        self.pos = idx;
        self.next()
    }

    fn time_bounds(&self) -> Option<(i64, i64)> {
        Some((self.samples.first()?.t, self.samples.last()?.t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_iter_seek_never_goes_back() {
        let mut it = VecSampleIter::new((0..10).map(|i| Sample::new(i * 10, i as f64)).collect());
        assert_eq!(it.seek(35).map(|s| s.t), Some(40));
        assert_eq!(it.seek(0).map(|s| s.t), Some(40));
        assert_eq!(it.next().map(|s| s.t), Some(50));
        assert_eq!(it.seek(1000), None);
    }
}
