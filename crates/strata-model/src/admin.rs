//! The storage administration trait: what the HTTP admin, status and
//! `/metrics` endpoints need from storage beyond reads and writes, so the
//! API layer never names a storage implementation.

use crate::{Matcher, StorageError, TenantId};
use std::path::{Path, PathBuf};

/// One tenant's head statistics and top cardinality lists, as
/// `/api/v1/status/tsdb` reports them.
#[derive(Debug, Clone, Default)]
pub struct CardinalityStats {
    pub head_series: u64,
    pub head_chunks: u64,
    pub head_min_time: i64,
    pub head_max_time: i64,
    pub top_label_names_by_cardinality: Vec<(String, u64)>,
    pub top_series_count_by_metric_name: Vec<(String, u64)>,
    pub top_series_count_by_label_pair: Vec<(String, u64)>,
}

/// Gauges and counters for `/metrics`, summed over tenants; each field is
/// one `strata_tsdb_*` family (`self_metrics::StorageCollector`).
#[derive(Debug, Clone, Default)]
pub struct TsdbMetrics {
    pub tenants: u64,
    pub head_series: u64,
    pub head_chunks: u64,
    pub head_min_time_ms: i64,
    pub head_max_time_ms: i64,
    pub blocks: u64,
    pub block_bytes: u64,
    pub wal_bytes: u64,
    pub series_created_total: u64,
    pub series_removed_total: u64,
    pub head_cuts_total: u64,
    pub compactions_total: u64,
    pub compactions_failed_total: u64,
    pub blocks_deleted_by_retention_total: u64,
    pub wal_truncations_total: u64,
    pub wal_replay_samples: u64,
    pub wal_replay_seconds: f64,
}

/// Storage administration: snapshots, deletion, statistics and self-metrics.
/// A tenant that has no data yet is not an error: it snapshots to an empty
/// directory, deletes nothing and has empty statistics.
pub trait StorageAdmin: Send + Sync {
    /// Writes the tenant's blocks and head as blocks under `dir`; returns
    /// the block directories written.
    fn snapshot(&self, tenant: &TenantId, dir: &Path) -> Result<Vec<PathBuf>, StorageError>;

    /// Marks the series matching all `matchers` deleted in `[mint, maxt]` (ms).
    fn delete_series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<(), StorageError>;

    /// Rewrites blocks with tombstones without the deleted data.
    fn clean_tombstones(&self, tenant: &TenantId) -> Result<(), StorageError>;

    /// Head statistics with the `top_n` largest entries of each list.
    fn cardinality_stats(
        &self,
        tenant: &TenantId,
        top_n: usize,
    ) -> Result<CardinalityStats, StorageError>;

    /// Self-metrics summed over tenants; cheap enough to call per scrape.
    fn metrics(&self) -> TsdbMetrics;
}
