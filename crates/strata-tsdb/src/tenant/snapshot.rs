//! Snapshots (admin API) and tombstone cleaning.

use super::TenantDb;

use crate::TsdbError;
use std::path::{Path, PathBuf};
use strata_block::Block;

impl TenantDb {
    /// Writes existing blocks (hard-linked) and the head (as a new block)
    /// into `dir`.
    pub fn snapshot(&self, dir: &Path) -> Result<Vec<PathBuf>, TsdbError> {
        std::fs::create_dir_all(dir)?;
        let mut out = Vec::new();
        for b in self.blocks_snapshot() {
            let target = dir.join(&b.meta().ulid);
            std::fs::create_dir_all(&target)?;
            for e in std::fs::read_dir(b.dir())? {
                let e = e?;
                let to = target.join(e.file_name());
                if std::fs::hard_link(e.path(), &to).is_err() {
                    std::fs::copy(e.path(), &to)?;
                }
            }
            out.push(target);
        }
        let (mint, maxt) = self.head.time_range();
        if mint <= maxt
            && let Some(meta) =
                self.write_head_range(dir, i64::MIN, i64::MAX, mint, maxt.saturating_add(1))?
        {
            out.push(dir.join(meta.ulid));
        }
        Ok(out)
    }

    pub fn clean_tombstones(&self) -> Result<(), TsdbError> {
        for b in self
            .blocks_snapshot()
            .into_iter()
            .filter(|b| b.has_tombstones())
        {
            let meta = strata_block::rewrite_without_tombstones(&self.dir, &b)
                .map_err(|e| TsdbError::Block(e.to_string()))?;
            let new_block = match meta {
                Some(m) => Some(
                    Block::open(&self.dir.join(&m.ulid))
                        .map_err(|e| TsdbError::Block(e.to_string()))?,
                ),
                None => None,
            };
            {
                let mut blocks = self.blocks.write();
                blocks.retain(|x| x.meta().ulid != b.meta().ulid);
                blocks.extend(new_block);
                blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
            }
            super::blocks::delete_block_dir(b.dir())?;
        }
        Ok(())
    }
}
