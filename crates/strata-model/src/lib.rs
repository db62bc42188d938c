//! The vocabulary shared by every Strata layer: labels, samples, matchers,
//! tenants and the storage traits (read: `Queryable`; write: `Appendable`;
//! administration: `StorageAdmin`).
//!
//! Architecture invariant: this crate depends on no other Strata crate, and
//! the PromQL engine sees storage only through the traits defined here.

pub mod admin;
pub mod append;
pub mod format;
pub mod labels;
pub mod log;
pub mod matcher;
pub mod merge;
pub mod packed;
pub mod sample;
pub mod self_metrics;
pub mod storage;
pub mod tenant;
pub mod units;
pub mod varint;
pub mod write;

pub use admin::{CardinalityStats, StorageAdmin, TsdbMetrics};
pub use append::{AppendLimits, AppendOutcome, Appendable, RejectReason, Rejection};
pub use labels::{Label, LabelStr, Labels, LabelsBuilder, METRIC_NAME, hash_pairs};
pub use log::{LogCursor, LogPosition, LoggedSample, QueueProgress, SampleLog};
pub use matcher::{MatchOp, Matcher, MatcherError, PromRegex};
pub use merge::{MergeSampleIter, merge_samples, merge_series_sets, merge_series_sets_labels_only};
pub use packed::PackedLabels;
pub use sample::{STALE_NAN_BITS, Sample, is_stale_nan, stale_nan};
pub use self_metrics::StorageCollector;
pub use storage::{
    Querier, Queryable, SampleIter, SelectHints, Series, SeriesIter, StorageError, VecSampleIter,
};
pub use tenant::TenantId;
pub use write::{LabelRef, SeriesEntry, SeriesRef, WriteBatch};
