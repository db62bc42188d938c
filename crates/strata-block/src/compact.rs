//! Streaming compaction: a k-way merge of the input blocks series by series.
//!
//! Each block's series are sorted by labels, so one cursor per block walks
//! them in step. For one label set, chunks that overlap no other chunk and no
//! tombstone are copied through as bytes; only overlapping or tombstoned
//! chunks are decoded, merged (duplicate timestamps: the earlier input wins)
//! and re-encoded. Runs of chunks smaller than a full block chunk are merged
//! into full ones by the writer (`merge_small_chunks`). Memory: one decompressed page per input plus the chunks
//! of one series, and the output's index.

use crate::codec::Reader;
use crate::index::{SeriesWindow, parse_entry, to_labels};
use crate::reader::BlockInner;
use crate::{Block, BlockError, BlockMeta, BlockWriter, ChunkInput, ChunkMeta, corrupt};
use std::sync::Arc;
use strata_model::{Labels, Sample};

/// Merges blocks into one new block in `parent` (level = max + 1, sources =
/// union), dropping tombstoned samples and duplicate timestamps (the earlier
/// block in `blocks` wins). Inputs are left in place for the caller to delete
/// once the new block is durable.
pub fn compact(
    parent: &std::path::Path,
    blocks: &[&Block],
) -> Result<Option<BlockMeta>, BlockError> {
    let Some(first) = blocks.first() else {
        return Ok(None);
    };
    let min_time = blocks
        .iter()
        .map(|b| b.meta().min_time)
        .min()
        .unwrap_or(first.meta().min_time);
    let max_time = blocks
        .iter()
        .map(|b| b.meta().max_time)
        .max()
        .unwrap_or(first.meta().max_time);
    let level = blocks
        .iter()
        .map(|b| b.meta().compaction.level)
        .max()
        .unwrap_or(1)
        + 1;
    let mut sources: Vec<String> = blocks
        .iter()
        .flat_map(|b| b.meta().compaction.sources.clone())
        .collect();
    sources.sort();
    sources.dedup();
    let mut writer = BlockWriter::create(parent, min_time, max_time, level, sources)?;
    // Compaction output lives long: small chunks (the head's 120-sample ones,
    // a block's partial last chunk) are worth merging; full ones are copied.
    writer.merge_small_chunks(true);
    merge_into(writer, blocks)
}

/// Rewrites a block without its tombstoned samples (same range, level and
/// sources); untouched chunks are copied through.
pub fn rewrite_without_tombstones(
    parent: &std::path::Path,
    block: &Block,
) -> Result<Option<BlockMeta>, BlockError> {
    let m = block.meta();
    let mut writer = BlockWriter::create(
        parent,
        m.min_time,
        m.max_time,
        m.compaction.level,
        m.compaction.sources.clone(),
    )?;
    writer.merge_small_chunks(true);
    merge_into(writer, &[block])
}

/// One input block being walked in label order.
struct Cursor<'a> {
    block: &'a BlockInner,
    /// A version-2 index's series section, read the same way.
    series: SeriesWindow,
    next: u32,
    /// The series at `next`, `None` past the end.
    current: Option<(Labels, Vec<ChunkMeta>)>,
    /// The last page read: a block's series are laid out in order, so the
    /// next series' chunks are usually in the same page.
    page: Option<(u64, Arc<Vec<u8>>)>,
}

impl Cursor<'_> {
    /// Loads the series at `next` into `current`.
    fn load(&mut self) -> Result<(), BlockError> {
        let index = &self.block.index;
        if self.next >= index.num_series() {
            self.current = None;
            return Ok(());
        }
        let mut chunks = self.current.take().map(|(_, c)| c).unwrap_or_default();
        let bad = || corrupt(&self.block.dir.join("index"), "malformed series entry");
        let (from, to) = index.entry_range(self.next)?;
        let bytes = self.series.range(from, to).ok_or_else(bad)?;
        let mut keys = Vec::new();
        parse_entry(bytes, Some(&mut keys), &mut chunks).ok_or_else(bad)?;
        let labels = to_labels(&index.labels_of(&keys)?);
        self.current = Some((labels, chunks));
        Ok(())
    }

    fn advance(&mut self) -> Result<(), BlockError> {
        self.next += 1;
        self.load()
    }

    fn page(&mut self, at: u64) -> Result<Arc<Vec<u8>>, BlockError> {
        if let Some((_, p)) = self.page.as_ref().filter(|(p, _)| *p == at) {
            return Ok(p.clone());
        }
        // The block's own positioned reads (`BlockInner::read_page`).
        let p = Arc::new(self.block.read_page(at)?);
        self.page = Some((at, p.clone()));
        Ok(p)
    }
}

/// One chunk of the series being merged, from input `input`.
struct SourceChunk {
    input: usize,
    meta: ChunkMeta,
    page: Arc<Vec<u8>>,
    /// Whether a tombstone interval of its series touches the chunk (the
    /// intervals are in `dels[input]`).
    tombstoned: bool,
}

/// What the output series is made of, in time order.
enum Piece {
    /// Copied through: index into the series' source chunks.
    Copy(usize),
    /// Decoded, merged and filtered samples: index into `merged`.
    Samples(usize),
}

fn merge_into(mut writer: BlockWriter, blocks: &[&Block]) -> Result<Option<BlockMeta>, BlockError> {
    let mut cursors: Vec<Cursor<'_>> = Vec::with_capacity(blocks.len());
    for b in blocks {
        // The block's own handle: a version-1 block opened read-only
        // has its converted index elsewhere.
        let series = SeriesWindow::new(b.inner.index_file.try_clone()?, b.inner.index.series_end());
        let mut c = Cursor {
            block: &b.inner,
            series,
            next: 0,
            current: None,
            page: None,
        };
        c.load()?;
        cursors.push(c);
    }
    let mut members: Vec<usize> = Vec::with_capacity(cursors.len());
    // Per input, the tombstone intervals of the series being merged.
    let mut dels: Vec<Vec<(i64, i64)>> = vec![Vec::new(); cursors.len()];
    loop {
        // The smallest label set among the cursors, and every input holding it.
        members.clear();
        let mut min: Option<&Labels> = None;
        for (i, c) in cursors.iter().enumerate() {
            let Some((l, _)) = c.current.as_ref() else {
                continue;
            };
            match min.map(|m| l.cmp(m)) {
                None | Some(std::cmp::Ordering::Less) => {
                    min = Some(l);
                    members.clear();
                    members.push(i);
                }
                Some(std::cmp::Ordering::Equal) => members.push(i),
                Some(std::cmp::Ordering::Greater) => {}
            }
        }
        let Some(labels) = min.cloned() else {
            break;
        };
        merge_series(&mut writer, &labels, &mut cursors, &members, &mut dels)?;
        for &i in &members {
            cursors[i].advance()?;
        }
    }
    writer.finish()
}

fn merge_series(
    writer: &mut BlockWriter,
    labels: &Labels,
    cursors: &mut [Cursor<'_>],
    members: &[usize],
    dels: &mut [Vec<(i64, i64)>],
) -> Result<(), BlockError> {
    let mut sources: Vec<SourceChunk> = Vec::new();
    for &i in members {
        let c = &mut cursors[i];
        let block = c.block;
        let chunks: Vec<ChunkMeta> = match c.current.as_ref() {
            Some((_, chunks)) => chunks.clone(),
            None => continue,
        };
        dels[i] = block.deleted(c.next);
        let dels = &dels[i];
        for meta in chunks {
            let page = c.page(meta.page)?;
            sources.push(SourceChunk {
                input: i,
                meta,
                page,
                tombstoned: dels
                    .iter()
                    .any(|(a, b)| *a <= meta.max_t && *b >= meta.min_t),
            });
        }
    }
    // Stable: chunks starting together stay in input order.
    sources.sort_by_key(|s| s.meta.min_t);

    let mut pieces: Vec<Piece> = Vec::new();
    let mut merged: Vec<Vec<Sample>> = Vec::new();
    let mut start = 0;
    while start < sources.len() {
        // A run of chunks overlapping one another (transitively).
        let mut end = start + 1;
        let mut hi = sources[start].meta.max_t;
        while end < sources.len() && sources[end].meta.min_t <= hi {
            hi = hi.max(sources[end].meta.max_t);
            end += 1;
        }
        let run = &sources[start..end];
        if run.iter().all(|s| !s.tombstoned) && all_same_chunk(cursors, run)? {
            // One chunk, or identical copies of one (a block compacted with
            // a copy of itself after a crash): first-wins keeps it as is.
            pieces.push(Piece::Copy(start));
        } else {
            let samples = merge_run(cursors, dels, labels, run)?;
            if !samples.is_empty() {
                pieces.push(Piece::Samples(merged.len()));
                merged.push(samples);
            }
        }
        start = end;
    }

    let mut inputs: Vec<ChunkInput<'_>> = Vec::with_capacity(pieces.len());
    for p in &pieces {
        inputs.push(match *p {
            Piece::Copy(i) => {
                let s = &sources[i];
                let block = cursors[s.input].block;
                let data = block.chunk_bytes(&s.meta, &s.page)?;
                let num_samples = Reader::new(data)
                    .uvarint()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| corrupt(&block.dir.join("chunks"), "malformed chunk header"))?;
                ChunkInput::Encoded {
                    min_t: s.meta.min_t,
                    max_t: s.meta.max_t,
                    num_samples,
                    data,
                }
            }
            Piece::Samples(i) => ChunkInput::Samples(&merged[i]),
        });
    }
    writer.add_series(labels, &inputs)
}

/// Whether every chunk of `run` has the same time range and bytes.
fn all_same_chunk(cursors: &[Cursor<'_>], run: &[SourceChunk]) -> Result<bool, BlockError> {
    let Some((first, rest)) = run.split_first() else {
        return Ok(true);
    };
    let a = cursors[first.input]
        .block
        .chunk_bytes(&first.meta, &first.page)?;
    for s in rest {
        if s.meta.min_t != first.meta.min_t || s.meta.max_t != first.meta.max_t {
            return Ok(false);
        }
        if cursors[s.input].block.chunk_bytes(&s.meta, &s.page)? != a {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Decodes the chunks of `run`, drops tombstoned samples and merges them by
/// time; for a timestamp present in several inputs the earliest input wins.
fn merge_run(
    cursors: &[Cursor<'_>],
    dels: &[Vec<(i64, i64)>],
    labels: &Labels,
    run: &[SourceChunk],
) -> Result<Vec<Sample>, BlockError> {
    let mut order: Vec<&SourceChunk> = run.iter().collect();
    order.sort_by_key(|s| s.input);
    let mut out: Vec<Sample> = Vec::new();
    for s in order {
        let block = cursors[s.input].block;
        let before = out.len();
        block.decode_in(&s.meta, &s.page, &mut out)?;
        if s.tombstoned {
            let dels = dels.get(s.input).map(Vec::as_slice).unwrap_or_default();
            let mut k = before;
            for j in before..out.len() {
                let t = out[j].t;
                if !dels.iter().any(|(a, b)| t >= *a && t <= *b) {
                    out[k] = out[j];
                    k += 1;
                }
            }
            out.truncate(k);
        }
    }
    // Stable, so among equal timestamps the earliest input comes first and
    // dedup keeps it.
    out.sort_by_key(|s| s.t);
    out.dedup_by_key(|s| s.t);
    if out.is_empty() {
        tracing::debug!(series = %labels, "every sample of a merged run was deleted");
    }
    Ok(out)
}
