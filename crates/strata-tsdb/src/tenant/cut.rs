//! The head cut: the oldest range of the head becomes a block.

use super::TenantDb;

use crate::wal::{self};
use crate::{DbOptions, TsdbError};
use std::sync::atomic::Ordering;
use strata_block::Block;

impl TenantDb {
    /// Writes head samples before `end` as a block, then drops them from the
    /// head and checkpoints the WAL. See the crash notes inline.
    pub(crate) fn cut_head(&self, end: i64) -> Result<(), TsdbError> {
        let wal = self.wal()?;
        // (a) From now on samples before `end` are refused, so the copy below
        // stays complete while we write the block without the lock.
        let data = {
            let mut head = self.head.write();
            head.min_valid_t = head.min_valid_t.max(end);
            head.copy_before(end)
        };
        let start = data
            .iter()
            .filter_map(|(_, s)| s.first().map(|x| x.t))
            .min();
        // (b) The block: durable before the WAL forgets anything. A crash
        // after this and before (d) replays samples the block also holds;
        // queries and compaction deduplicate them.
        if let Some(start) = start {
            let block_start = start.div_euclid(self.block_range) * self.block_range;
            if let Some(meta) =
                strata_block::write_block(&self.dir, block_start, end, 1, vec![], data.into_iter())
                    .map_err(|e| TsdbError::Block(e.to_string()))?
            {
                let b = Block::open(&self.dir.join(&meta.ulid))
                    .map_err(|e| TsdbError::Block(e.to_string()))?;
                let mut blocks = self.blocks.write();
                blocks.push(b);
                blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
                tracing::info!(ulid = %meta.ulid, min_time = meta.min_time, max_time = meta.max_time, series = meta.stats.num_series, samples = meta.stats.num_samples, bytes = meta.stats.num_bytes, "head cut into a block");
            }
        }
        // (c) Drop the samples and snapshot what remains for the checkpoint.
        let (finished, records) = {
            let mut head = self.head.write();
            head.cut(end);
            let finished = wal.rotate()?;
            (finished, head.checkpoint_records())
        };
        // (d) Checkpoint, then forget the segments it replaces.
        wal::write_checkpoint(&self.dir.join("wal"), finished, &records)?;
        wal::truncate_before(&self.dir.join("wal"), finished)?;
        self.head_cuts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn flush_all(&self) -> Result<(), TsdbError> {
        let (_, maxt) = self.head.read().time_range();
        if maxt == i64::MIN {
            return Ok(());
        }
        self.cut_head(maxt.saturating_add(1))
    }

    pub fn maintenance(&self, opts: &DbOptions) -> Result<(), TsdbError> {
        // Head cut: Prometheus' rule, when the head spans 1.5 block ranges.
        loop {
            let (mint, maxt) = self.head.read().time_range();
            if mint == i64::MAX || maxt - mint <= self.block_range * 3 / 2 {
                break;
            }
            let end = mint.div_euclid(self.block_range) * self.block_range + self.block_range;
            self.cut_head(end)?;
        }
        if let Err(e) = self.compact(opts) {
            self.compactions_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, tenant_dir = %self.dir.display(), "compaction failed; the inputs are untouched");
        }
        self.apply_retention(opts)
    }
}
