//! Loading a tenant's blocks from disk.

use super::TenantDb;

use crate::TsdbError;
use std::path::Path;
use strata_block::Block;

fn is_block_dir(name: &str) -> bool {
    name.len() == 26 && name.parse::<ulid::Ulid>().is_ok()
}

/// Opens every block in a tenant dir; a block that fails to open is moved to
/// `corrupted/` with a loud warning instead of stopping the server.
pub(crate) fn load_blocks(dir: &Path, read_only: bool) -> Result<(Vec<Block>, u64), TsdbError> {
    let mut blocks = Vec::new();
    let mut quarantined = 0;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((blocks, 0)),
        Err(e) => return Err(e.into()),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") && !read_only {
            // A block or checkpoint interrupted by a crash: never complete.
            let _ = std::fs::remove_dir_all(e.path());
            continue;
        }
        if !is_block_dir(name) {
            continue;
        }
        let opened = if read_only {
            Block::open_read_only(&e.path())
        } else {
            Block::open(&e.path())
        };
        match opened {
            Ok(b) => blocks.push(b),
            Err(err) => {
                tracing::error!(block = %e.path().display(), error = %err, "block failed to open: moving it to corrupted/");
                quarantined += 1;
                if !read_only {
                    let qdir = dir.join("corrupted");
                    std::fs::create_dir_all(&qdir)?;
                    std::fs::rename(e.path(), qdir.join(name))?;
                }
            }
        }
    }
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok((blocks, quarantined))
}

impl TenantDb {
    /// Swaps `old` blocks for the block just written as `new` (if any) in
    /// the live list, then deletes the old ones from disk. The new block is
    /// durable before this runs, so a crash in between leaves overlapping
    /// blocks that compaction merges, never a gap.
    pub(super) fn replace_blocks(
        &self,
        old: &[Block],
        new: Option<strata_block::BlockMeta>,
    ) -> Result<Option<Block>, TsdbError> {
        let new_block = match new {
            Some(m) => Some(
                Block::open(&self.dir.join(&m.ulid))
                    .map_err(|e| TsdbError::Block(e.to_string()))?,
            ),
            None => None,
        };
        {
            let mut blocks = self.blocks.write();
            blocks.retain(|b| !old.iter().any(|o| o.meta().ulid == b.meta().ulid));
            blocks.extend(new_block.clone());
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        for b in old {
            delete_block_dir(b.dir())?;
        }
        Ok(new_block)
    }

    pub(super) fn blocks_snapshot(&self) -> Vec<Block> {
        self.blocks.read().clone()
    }
}

/// Deletes a block directory so that a crash midway never leaves a block
/// with some files gone: it is renamed to `<ulid>.tmp` first (what startup
/// removes as unfinished), then removed.
pub(crate) fn delete_block_dir(dir: &Path) -> Result<(), TsdbError> {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let doomed = dir.with_file_name(format!("{name}.tmp"));
    std::fs::rename(dir, &doomed)?;
    if let Some(parent) = dir.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    std::fs::remove_dir_all(&doomed)?;
    Ok(())
}
