//! The write side of storage: what every writer (remote-write, scrape, rule
//! evaluation, a Kafka consumer) appends through.
//!
//! Writers do not call storage directly: `strata-ingest`'s `Ingester` holds
//! an `Arc<dyn Appendable>` and applies validation, tenant limits and
//! accounting first, so no writer can bypass them.

use crate::{StorageError, TenantId, WriteBatch};
use std::fmt;

/// Why storage refused the samples of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    OutOfOrder,
    TooOld,
    DuplicateTimestamp,
    /// The tenant's series limit: a retry after series churn may succeed.
    SeriesLimit,
}

impl RejectReason {
    /// Whether the writer should retry later (HTTP 429) rather than drop the
    /// samples (HTTP 400).
    pub fn is_limit(self) -> bool {
        matches!(self, RejectReason::SeriesLimit)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectReason::OutOfOrder => "out of order sample",
            RejectReason::TooOld => {
                "out of bounds: sample is older than the head (already persisted to a block)"
            }
            RejectReason::DuplicateTimestamp => "duplicate sample for timestamp",
            RejectReason::SeriesLimit => "per-tenant series limit exceeded",
        })
    }
}

/// Samples of one series of a batch that were not stored.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// Index of the series in the batch.
    pub series_index: usize,
    pub samples: u64,
    pub reason: RejectReason,
}

/// What an append stored; series not named in `rejected` were stored whole.
#[derive(Debug, Clone, Default)]
pub struct AppendOutcome {
    pub samples_accepted: u64,
    pub series_created: u64,
    pub rejected: Vec<Rejection>,
    /// When the batch `wants_refs`: per series, its ref (0 when refused).
    pub refs: Vec<crate::write::SeriesRef>,
}

/// The limits a writer's policy sets on one append, enforced by storage
/// where only it can check them atomically (whether a series is new). The
/// ingester owns the policy and passes it with every append.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendLimits {
    /// Series the tenant may hold in the head (0: no limit); beyond it new
    /// series are refused with `RejectReason::SeriesLimit`.
    pub max_series: usize,
}

/// Storage that accepts writes. An append is durable when it returns `Ok`
/// (in the WAL, for the TSDB); per-series refusals are in the outcome, and
/// an `Err` means nothing of the batch can be assumed stored.
pub trait Appendable: Send + Sync {
    fn append(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
        limits: &AppendLimits,
    ) -> Result<AppendOutcome, StorageError>;
}
