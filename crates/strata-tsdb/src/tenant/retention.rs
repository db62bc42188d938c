//! Retention by time and by size.

use super::TenantDb;

use crate::wal::{self};
use crate::{DbOptions, TsdbError};
use std::sync::atomic::Ordering;
use strata_block::Block;

impl TenantDb {
    pub(super) fn apply_retention(&self, opts: &DbOptions) -> Result<(), TsdbError> {
        let now = opts.clock.now_ms();
        let mut doomed: Vec<Block> = Vec::new();
        {
            let blocks = self.blocks.read();
            if let Some(rt) = opts.retention_time_ms {
                doomed.extend(
                    blocks
                        .iter()
                        .filter(|b| b.meta().max_time < now - rt)
                        .cloned(),
                );
            }
            if let Some(limit) = opts.retention_size_bytes {
                let mut total: u64 = blocks.iter().map(|b| b.size_bytes()).sum::<u64>()
                    + wal::dir_size(&self.dir.join("wal"));
                for b in blocks.iter() {
                    if total <= limit {
                        break;
                    }
                    total = total.saturating_sub(b.size_bytes());
                    if !doomed.iter().any(|d| d.meta().ulid == b.meta().ulid) {
                        doomed.push(b.clone());
                    }
                }
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        let gone: Vec<String> = doomed.iter().map(|b| b.meta().ulid.clone()).collect();
        self.blocks
            .write()
            .retain(|b| !gone.contains(&b.meta().ulid));
        for b in &doomed {
            tracing::info!(ulid = %b.meta().ulid, max_time = b.meta().max_time, "deleting block by retention");
            super::blocks::delete_block_dir(b.dir())?;
            self.retention_deletes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}
