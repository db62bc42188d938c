//! The streaming block writer: series arrive one at a time in label order,
//! chunks are packed into pages that are compressed and written as soon as
//! they fill, and each series' index entry is written to the index file as
//! soon as its pages are known (`index::IndexWriter`); postings are built
//! from that file at `finish`.

use crate::codec::{self, Reader};
use crate::index::IndexWriter;
use crate::{
    BlockError, BlockMeta, BlockStats, CHUNK_SAMPLES, CHUNKS_MAGIC, ChunkMeta, CompactionInfo,
    FORMAT_VERSION, PAGE_BYTES, fsync_dir, header, write_framed, write_json_atomic,
};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use strata_model::{Labels, Sample};

/// No single encoded chunk handed to the writer may be larger than this:
/// 480 samples take a few KiB at worst, so anything near it is a caller bug.
const MAX_CHUNK_BYTES: usize = 16 << 20;

/// One chunk of a series given to [`BlockWriter::add_series`].
#[derive(Debug, Clone, Copy)]
pub enum ChunkInput<'a> {
    /// A chunk already in the block column encoding (`codec::encode_chunk`
    /// output): written through, never decoded (unless the writer merges
    /// small chunks, see [`BlockWriter::merge_small_chunks`]).
    Encoded {
        min_t: i64,
        max_t: i64,
        num_samples: u32,
        data: &'a [u8],
    },
    /// Raw samples (sorted, unique t); the writer cuts them into chunks of up
    /// to 480 samples.
    Samples(&'a [Sample]),
}

/// A chunk reference whose page offset is only known once its page is written.
#[derive(Debug, Clone, Copy)]
struct ChunkRef {
    min_t: i64,
    max_t: i64,
    /// `None` while the chunk sits in the page being filled.
    page: Option<u64>,
    off: u32,
    len: u32,
}

/// A series whose index entry cannot be encoded yet because some of its
/// chunks are in the page being filled.
struct PendingSeries {
    labels: Labels,
    chunks: Vec<ChunkRef>,
}

/// Writes one block into `<parent>/<ulid>.tmp`, renamed to `<parent>/<ulid>`
/// by [`BlockWriter::finish`]. Memory: the page being filled (~64 KiB), the
/// series of the current page, 8 bytes per series written (the index's
/// offset table) and, in `finish`, one bounded postings pass
/// (`index::POSTINGS_PASS_BYTES`).
/// Dropped without `finish`, it removes its temp dir.
pub struct BlockWriter {
    parent: PathBuf,
    /// `None` once finished (or cleaned up).
    tmp: Option<PathBuf>,
    ulid: String,
    min_time: i64,
    max_time: i64,
    level: u32,
    sources: Vec<String>,
    chunks_file: Option<BufWriter<File>>,
    file_pos: u64,
    page: Vec<u8>,
    pending: Vec<PendingSeries>,
    /// `None` once finished.
    index: Option<IndexWriter>,
    num_series: u64,
    num_samples: u64,
    num_chunks: u64,
    prev_labels: Option<Labels>,
    merge_small: bool,
    /// Samples gathered from small chunks in merge mode.
    merge_buf: Vec<Sample>,
    /// Set by a failure in the middle of writing: the files no longer match
    /// the index, so the block can only be abandoned.
    broken: bool,
}

/// What `add_series` checked about one input chunk.
struct CheckedChunk {
    min_t: i64,
    max_t: i64,
    samples: usize,
}

fn check_chunk(labels: &Labels, c: &ChunkInput<'_>) -> Result<Option<CheckedChunk>, BlockError> {
    let bad = |why: &str| BlockError::BadInput(format!("chunk of {labels}: {why}"));
    match c {
        ChunkInput::Samples(s) => {
            if s.windows(2).any(|w| w[0].t >= w[1].t) {
                return Err(bad("samples not sorted by time or not unique"));
            }
            Ok(match (s.first(), s.last()) {
                (Some(a), Some(b)) => Some(CheckedChunk {
                    min_t: a.t,
                    max_t: b.t,
                    samples: s.len(),
                }),
                _ => None,
            })
        }
        ChunkInput::Encoded {
            min_t,
            max_t,
            num_samples,
            data,
        } => {
            if data.len() > MAX_CHUNK_BYTES {
                return Err(bad("encoded chunk too large"));
            }
            // The count and first timestamp lead the encoding: reading them
            // catches a mislabelled chunk without decoding it.
            let mut r = Reader::new(data);
            let n = r.uvarint().ok_or_else(|| bad("malformed chunk header"))?;
            if n != u64::from(*num_samples) {
                return Err(bad("num_samples differs from the chunk header"));
            }
            // The format promises chunks of at most CHUNK_SAMPLES samples.
            if n > CHUNK_SAMPLES as u64 {
                return Err(bad("more samples than a block chunk holds"));
            }
            if n == 0 {
                return Ok(None);
            }
            let t0 = r.varint().ok_or_else(|| bad("malformed chunk header"))?;
            if t0 != *min_t || min_t > max_t || (n == 1 && min_t != max_t) {
                return Err(bad("min_t/max_t do not match the chunk"));
            }
            Ok(Some(CheckedChunk {
                min_t: *min_t,
                max_t: *max_t,
                samples: n as usize,
            }))
        }
    }
}

impl BlockWriter {
    /// Starts a block covering `[min_time, max_time)` in `parent`. An empty
    /// `sources` means the block is its own source (a level-1 block).
    pub fn create(
        parent: &Path,
        min_time: i64,
        max_time: i64,
        level: u32,
        sources: Vec<String>,
    ) -> Result<Self, BlockError> {
        let ulid = ulid::Ulid::new().to_string();
        let tmp = parent.join(format!("{ulid}.tmp"));
        std::fs::create_dir_all(&tmp)?;
        let mut w = BlockWriter {
            parent: parent.to_path_buf(),
            tmp: Some(tmp.clone()),
            ulid,
            min_time,
            max_time,
            level,
            sources,
            chunks_file: None,
            file_pos: 0,
            page: Vec::with_capacity(PAGE_BYTES * 2),
            pending: Vec::new(),
            index: None,
            num_series: 0,
            num_samples: 0,
            num_chunks: 0,
            prev_labels: None,
            merge_small: false,
            merge_buf: Vec::new(),
            broken: false,
        };
        // On error `w` is dropped here and removes the temp dir.
        let mut f = BufWriter::new(File::create(tmp.join("chunks"))?);
        f.write_all(&header(CHUNKS_MAGIC))?;
        w.file_pos = 8;
        w.chunks_file = Some(f);
        w.index = Some(IndexWriter::create(&tmp.join("index"), &tmp)?);
        Ok(w)
    }

    /// With `on`, runs of consecutive chunks smaller than a full block chunk
    /// (480 samples) within a series are decoded and re-cut into full chunks,
    /// instead of being written through: the head closes chunks at 120
    /// samples, and four of them cost more bytes than one. Full encoded chunks
    /// are still written through. Memory: at most two chunks' samples.
    pub fn merge_small_chunks(&mut self, on: bool) -> &mut Self {
        self.merge_small = on;
        self
    }

    /// Sets the bytes one postings pass of `finish` may gather (tests force
    /// several passes with a small budget).
    #[cfg(test)]
    pub(crate) fn postings_pass_bytes(&mut self, bytes: u64) -> &mut Self {
        if let Some(ix) = self.index.as_mut() {
            ix.pass_bytes = bytes;
        }
        self
    }

    /// Adds one series. Series must come in strictly increasing label order;
    /// chunks in time order, non-overlapping. A series without samples is
    /// skipped. Bad input is refused with `BadInput` before anything of the
    /// series is written, so the writer stays usable — except an encoded chunk
    /// whose body turns out malformed when `merge_small_chunks` decodes it,
    /// and I/O errors: after those the writer refuses everything and must be
    /// dropped (which removes its temp dir).
    pub fn add_series(
        &mut self,
        labels: &Labels,
        chunks: &[ChunkInput<'_>],
    ) -> Result<(), BlockError> {
        if self.broken {
            return Err(BlockError::BadInput(
                "block writer failed earlier and must be dropped".into(),
            ));
        }
        let mut prev_max: Option<i64> = None;
        let mut samples = 0u64;
        for c in chunks {
            let Some(checked) = check_chunk(labels, c)? else {
                continue;
            };
            if prev_max.is_some_and(|p| checked.min_t <= p) {
                return Err(BlockError::BadInput(format!(
                    "chunks of {labels} overlap or are out of time order"
                )));
            }
            prev_max = Some(checked.max_t);
            samples += checked.samples as u64;
        }
        if samples == 0 {
            return Ok(());
        }
        if self.prev_labels.as_ref().is_some_and(|p| p >= labels) {
            return Err(BlockError::BadInput(format!(
                "series not sorted or not unique at {labels}"
            )));
        }
        match self.write_series(labels, chunks) {
            Ok(()) => {
                self.num_series += 1;
                self.num_samples += samples;
                self.prev_labels = Some(labels.clone());
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    fn write_series(
        &mut self,
        labels: &Labels,
        chunks: &[ChunkInput<'_>],
    ) -> Result<(), BlockError> {
        let mut refs: Vec<ChunkRef> = Vec::new();
        self.merge_buf.clear();
        for c in chunks {
            match *c {
                ChunkInput::Samples(s) if self.merge_small => {
                    // Top up what small chunks left, cut the rest directly:
                    // the buffer never holds more than a chunk's samples.
                    let mut rest = s;
                    if !self.merge_buf.is_empty() {
                        let take = CHUNK_SAMPLES
                            .saturating_sub(self.merge_buf.len())
                            .min(rest.len());
                        self.merge_buf.extend_from_slice(&rest[..take]);
                        rest = &rest[take..];
                        self.drain_merge_buf(&mut refs, false)?;
                    }
                    let full = rest.len() / CHUNK_SAMPLES * CHUNK_SAMPLES;
                    for piece in rest[..full].chunks(CHUNK_SAMPLES) {
                        self.put_samples(piece, &mut refs)?;
                    }
                    self.merge_buf.extend_from_slice(&rest[full..]);
                }
                ChunkInput::Samples(s) => {
                    for piece in s.chunks(CHUNK_SAMPLES) {
                        self.put_samples(piece, &mut refs)?;
                    }
                }
                ChunkInput::Encoded { num_samples: 0, .. } => {}
                ChunkInput::Encoded {
                    min_t,
                    max_t,
                    num_samples,
                    data,
                } => {
                    if self.merge_small && (num_samples as usize) < CHUNK_SAMPLES {
                        let before = self.merge_buf.len();
                        let ok = codec::decode(data, &mut self.merge_buf).is_some()
                            && self.merge_buf.len() - before == num_samples as usize
                            && self.merge_buf[before..].windows(2).all(|w| w[0].t < w[1].t)
                            && self.merge_buf.get(before).is_some_and(|s| s.t == min_t)
                            && self.merge_buf.last().is_some_and(|s| s.t == max_t);
                        if !ok {
                            return Err(BlockError::BadInput(format!(
                                "malformed encoded chunk of {labels}"
                            )));
                        }
                        self.drain_merge_buf(&mut refs, false)?;
                    } else {
                        // A full chunk goes through as it is; what was
                        // gathered before it becomes a chunk of its own.
                        self.drain_merge_buf(&mut refs, true)?;
                        self.put_encoded(min_t, max_t, data, &mut refs)?;
                    }
                }
            }
        }
        self.drain_merge_buf(&mut refs, true)?;
        self.pending.push(PendingSeries {
            labels: labels.clone(),
            chunks: refs,
        });
        self.resolve_pending()
    }

    /// Writes the full chunks gathered in merge mode (all of them when
    /// `all`), keeping the remainder for the next input chunk.
    fn drain_merge_buf(&mut self, refs: &mut Vec<ChunkRef>, all: bool) -> Result<(), BlockError> {
        let buf = std::mem::take(&mut self.merge_buf);
        let mut done = 0;
        while buf.len() - done >= CHUNK_SAMPLES || (all && done < buf.len()) {
            let end = (done + CHUNK_SAMPLES).min(buf.len());
            self.put_samples(&buf[done..end], refs)?;
            done = end;
        }
        self.merge_buf = buf;
        self.merge_buf.drain(..done);
        Ok(())
    }

    fn put_samples(&mut self, s: &[Sample], refs: &mut Vec<ChunkRef>) -> Result<(), BlockError> {
        let (Some(first), Some(last)) = (s.first(), s.last()) else {
            return Ok(());
        };
        let off = self.page.len();
        codec::encode_chunk(s, &mut self.page);
        self.push_ref(first.t, last.t, off, refs)
    }

    fn put_encoded(
        &mut self,
        min_t: i64,
        max_t: i64,
        data: &[u8],
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), BlockError> {
        let off = self.page.len();
        self.page.extend_from_slice(data);
        self.push_ref(min_t, max_t, off, refs)
    }

    fn push_ref(
        &mut self,
        min_t: i64,
        max_t: i64,
        off: usize,
        refs: &mut Vec<ChunkRef>,
    ) -> Result<(), BlockError> {
        let too_big = || BlockError::BadInput("page offset overflows".into());
        refs.push(ChunkRef {
            min_t,
            max_t,
            page: None,
            off: u32::try_from(off).map_err(|_| too_big())?,
            len: u32::try_from(self.page.len() - off).map_err(|_| too_big())?,
        });
        self.num_chunks += 1;
        if self.page.len() >= PAGE_BYTES {
            // A long series may span pages: the refs of this series in the
            // page just written are resolved here, the pending ones below.
            let at = self.flush_page()?;
            for r in refs.iter_mut().filter(|r| r.page.is_none()) {
                r.page = Some(at);
            }
        }
        Ok(())
    }

    /// Compresses and writes the page being filled; returns its file offset.
    /// Pending series get their page offsets (and are encoded by
    /// `resolve_pending`).
    fn flush_page(&mut self) -> Result<u64, BlockError> {
        let f = self
            .chunks_file
            .as_mut()
            .ok_or_else(|| BlockError::BadInput("block writer already finished".into()))?;
        let at = self.file_pos;
        self.file_pos += write_framed(f, &self.page)?;
        self.page.clear();
        for s in &mut self.pending {
            for r in s.chunks.iter_mut().filter(|r| r.page.is_none()) {
                r.page = Some(at);
            }
        }
        self.resolve_pending()?;
        Ok(at)
    }

    /// Writes the index entries of pending series whose chunk refs are all
    /// known, in order.
    fn resolve_pending(&mut self) -> Result<(), BlockError> {
        let ready = self
            .pending
            .iter()
            .take_while(|s| s.chunks.iter().all(|r| r.page.is_some()))
            .count();
        let index = self
            .index
            .as_mut()
            .ok_or_else(|| BlockError::BadInput("block writer already finished".into()))?;
        for s in self.pending.drain(..ready) {
            index.add_series(
                &s.labels,
                s.chunks.iter().map(|c| ChunkMeta {
                    min_t: c.min_t,
                    max_t: c.max_t,
                    page: c.page.unwrap_or(0),
                    off: c.off,
                    len: c.len,
                }),
            )?;
        }
        Ok(())
    }

    /// Writes the last page and the index, fsyncs them, writes meta.json,
    /// renames `<ulid>.tmp` to `<ulid>` and fsyncs the parent. `None` (and
    /// nothing left on disk) when no samples were added.
    pub fn finish(mut self) -> Result<Option<BlockMeta>, BlockError> {
        if self.broken {
            return Err(BlockError::BadInput(
                "block writer failed earlier and must be dropped".into(),
            ));
        }
        let Some(tmp) = self.tmp.clone() else {
            return Err(BlockError::BadInput("block writer already finished".into()));
        };
        if self.num_series == 0 {
            self.chunks_file = None;
            self.index = None;
            self.tmp = None;
            std::fs::remove_dir_all(&tmp)?;
            return Ok(None);
        }
        if !self.page.is_empty() {
            self.flush_page()?;
        }
        let cw = self
            .chunks_file
            .take()
            .ok_or_else(|| BlockError::BadInput("block writer already finished".into()))?;
        let cf = cw
            .into_inner()
            .map_err(|e| BlockError::Io(e.into_error()))?;
        cf.sync_all()?;
        drop(cf);

        let index = self
            .index
            .take()
            .ok_or_else(|| BlockError::BadInput("block writer already finished".into()))?;
        let (inf, index_len) = index.finish()?;
        inf.sync_all()?;
        drop(inf);

        let meta = BlockMeta {
            ulid: self.ulid.clone(),
            min_time: self.min_time,
            max_time: self.max_time,
            version: FORMAT_VERSION,
            stats: BlockStats {
                num_series: self.num_series,
                num_samples: self.num_samples,
                num_chunks: self.num_chunks,
                num_bytes: self.file_pos + index_len,
            },
            compaction: CompactionInfo {
                level: self.level,
                sources: if self.sources.is_empty() {
                    vec![self.ulid.clone()]
                } else {
                    std::mem::take(&mut self.sources)
                },
            },
        };
        write_json_atomic(&tmp.join("meta.json"), &meta)?;
        fsync_dir(&tmp)?;
        std::fs::rename(&tmp, self.parent.join(&self.ulid))?;
        // Renamed: from here on the directory is the block, not ours to remove.
        self.tmp = None;
        fsync_dir(&self.parent)?;
        Ok(Some(meta))
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            self.chunks_file = None;
            self.index = None;
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
}

/// Writes one block into `parent`. `series` must be sorted by labels with
/// unique label sets; samples sorted by time with unique timestamps, within
/// `[min_time, max_time)`. Returns `None` (and writes nothing) when there are
/// no samples.
pub fn write_block(
    parent: &Path,
    min_time: i64,
    max_time: i64,
    level: u32,
    sources: Vec<String>,
    series: impl Iterator<Item = (Labels, Vec<Sample>)>,
) -> Result<Option<BlockMeta>, BlockError> {
    let mut w = BlockWriter::create(parent, min_time, max_time, level, sources)?;
    for (labels, samples) in series {
        w.add_series(&labels, &[ChunkInput::Samples(&samples)])?;
    }
    w.finish()
}
