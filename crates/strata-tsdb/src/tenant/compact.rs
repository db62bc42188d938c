//! Compaction: which blocks to merge, and merging them.

use super::TenantDb;

use crate::{DbOptions, TsdbError};
use std::sync::atomic::Ordering;
use strata_block::Block;

impl TenantDb {
    /// Merges overlapping blocks, then neighbours within exponentially larger
    /// aligned windows (3×, 9×, … the block range), as Prometheus does.
    pub(super) fn compact(
        &self,
        opts: &DbOptions,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<(), TsdbError> {
        let cap = opts
            .retention_time_ms
            .map(|r| r / 10)
            .unwrap_or(i64::MAX)
            .min(31 * 24 * 3600 * 1000);
        loop {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            let blocks = self.blocks_snapshot();
            let metas: Vec<strata_block::BlockMeta> =
                blocks.iter().map(|b| b.meta().clone()).collect();
            let Some(plan) = strata_block::plan::plan_compaction(&metas, self.block_range, cap)
            else {
                return Ok(());
            };
            let group: Vec<Block> = blocks
                .into_iter()
                .filter(|b| plan.contains(&b.meta().ulid))
                .collect();
            let refs: Vec<&Block> = group.iter().collect();
            let meta = strata_block::compact(&self.dir, &refs)
                .map_err(|e| TsdbError::Block(e.to_string()))?;
            if let Some(b) = self.replace_blocks(&group, meta)? {
                tracing::info!(ulid = %b.meta().ulid, inputs = group.len(), level = b.meta().compaction.level, "compacted blocks");
            }
            self.compactions.fetch_add(1, Ordering::Relaxed);
        }
    }
}
