//! Snapshots (admin API) and tombstone cleaning.

use super::TenantDb;

use crate::TsdbError;
use std::path::{Path, PathBuf};

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
            self.replace_blocks(std::slice::from_ref(&b), meta)?;
        }
        Ok(())
    }
}
