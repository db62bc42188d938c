//! Reading blocks: open (index and chunks mmap'd; a version-1 index is
//! converted to version 2 first), queriers, lazily decoded series,
//! tombstones.

use crate::codec::{self, Reader};
use crate::index::IndexWriter;
use crate::index::{INDEX_V1, MmapIndex};
use crate::{
    BlockError, BlockMeta, CHUNKS_MAGIC, ChunkMeta, FORMAT_VERSION, INDEX_MAGIC,
    TOMBSTONES_VERSION, Tombstone, TombstoneEntry, TombstoneFile, check_header, corrupt, fsync_dir,
    read_frame_at, read_framed, write_json_atomic,
};
use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_model::{
    Matcher, Querier, Sample, SampleIter, SelectHints, Series, SeriesIter, StorageError,
};

pub(crate) struct BlockInner {
    pub(crate) dir: PathBuf,
    pub(crate) meta: BlockMeta,
    pub(crate) index: MmapIndex,
    /// The file `index` maps (positioned reads for sequential walks).
    pub(crate) index_file: File,
    /// Read with positioned reads, page by page, not mapped: a query over
    /// every series would otherwise count each page of the file it touched
    /// in the process' RSS (146 MiB of the query phase's 513 at 100 k
    /// series, docs/benchmarks.md), where a read leaves them to the page
    /// cache.
    pub(crate) chunks: File,
    pub(crate) chunks_len: u64,
    pub(crate) tombstones: RwLock<Vec<Tombstone>>,
}

/// Pages a selection keeps decompressed: neighbouring series share pages,
/// and the engine decodes a selection's series on up to 8 threads, each
/// walking its own run of series in order, so one page per thread keeps
/// every run's page. One page for the whole block made two threads evict
/// each other's page at nearly every chunk (a 64 KiB page decompressed per
/// ~270-byte chunk).
const SELECTION_PAGES: usize = 8;

/// The decompressed pages of one selection, dropped with its series.
#[derive(Default)]
struct PageCache {
    /// Oldest first.
    pages: Mutex<Vec<(u64, Arc<Vec<u8>>)>>,
}

impl PageCache {
    fn get(&self, inner: &BlockInner, at: u64) -> Result<Arc<Vec<u8>>, BlockError> {
        if let Some((_, data)) = self.pages.lock().iter().find(|(p, _)| *p == at) {
            return Ok(data.clone());
        }
        // Decompressed outside the lock: the other threads' hits wait for
        // nothing but the lookup.
        let raw = Arc::new(inner.read_page(at)?);
        let mut pages = self.pages.lock();
        if pages.len() >= SELECTION_PAGES {
            pages.remove(0);
        }
        pages.push((at, raw.clone()));
        Ok(raw)
    }
}

/// An open block; cheap to clone.
#[derive(Clone)]
pub struct Block {
    pub(crate) inner: Arc<BlockInner>,
}

/// The scratch directory of an in-place index upgrade; a crash leaves it
/// behind, and the next writable open removes it.
const UPGRADE_SCRATCH: &str = "index.upgrade.tmp";

/// Feeds every series of a version-1 index body to `index`, checking each
/// chunk reference against the chunks file of `chunks_len` bytes.
fn convert_v1_body(
    path: &Path,
    chunks_path: &Path,
    chunks_len: usize,
    body: &[u8],
    index: &mut IndexWriter,
) -> Result<(), BlockError> {
    let bad = || corrupt(path, "malformed index body");
    let mut r = Reader::new(body);
    let n = r.uvarint().ok_or_else(bad)? as usize;
    let mut chunks = Vec::new();
    for _ in 0..n {
        let nl = r.uvarint().ok_or_else(bad)? as usize;
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(nl.min(64));
        for _ in 0..nl {
            let name = r.str().ok_or_else(bad)?;
            let value = r.str().ok_or_else(bad)?;
            pairs.push((name, value));
        }
        let nc = r.uvarint().ok_or_else(bad)? as usize;
        chunks.clear();
        for _ in 0..nc {
            let c = ChunkMeta {
                min_t: r.varint().ok_or_else(bad)?,
                max_t: r.varint().ok_or_else(bad)?,
                page: r.uvarint().ok_or_else(bad)?,
                off: u32::try_from(r.uvarint().ok_or_else(bad)?).map_err(|_| bad())?,
                len: u32::try_from(r.uvarint().ok_or_else(bad)?).map_err(|_| bad())?,
            };
            let end = c.page.checked_add(12).filter(|e| *e as usize <= chunks_len);
            if end.is_none() {
                return Err(corrupt(
                    chunks_path,
                    format!("chunk page offset {} beyond the file", c.page),
                ));
            }
            chunks.push(c);
        }
        if pairs.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(corrupt(path, "index labels not sorted by name"));
        }
        index.add_series(&crate::index::to_labels(&pairs), chunks.iter().copied())?;
    }
    if r.pos != body.len() {
        return Err(bad());
    }
    Ok(())
}

/// Opens a version-1 index (one compressed body) by converting it into a
/// version-2 index, so that every block is read through the one mmap'd
/// index. Writable: the new index replaces the old one in the block
/// directory by an atomic rename, once. Read-only (or a directory we may
/// not write): it is built in a temporary directory and mapped from there.
fn upgrade_v1(
    dir: &Path,
    index_path: &Path,
    chunks_path: &Path,
    chunks_len: usize,
    writable: bool,
) -> Result<(MmapIndex, File), BlockError> {
    let ib = std::fs::read(index_path)?;
    check_header(index_path, &ib, INDEX_MAGIC)?;
    let (body, _) = read_framed(index_path, &ib, 8)?;
    drop(ib);
    let in_place = if writable {
        let scratch = dir.join(UPGRADE_SCRATCH);
        let _ = std::fs::remove_dir_all(&scratch);
        match std::fs::create_dir(&scratch) {
            Ok(()) => Some(scratch),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                None
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let temp;
    let scratch = match &in_place {
        Some(s) => s.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let converted = scratch.join("index");
    let mut w = IndexWriter::create(&converted, &scratch)?;
    convert_v1_body(index_path, chunks_path, chunks_len, &body, &mut w)?;
    drop(body);
    let (f, _) = w.finish()?;
    f.sync_all()?;
    drop(f);
    let path = if in_place.is_some() {
        std::fs::rename(&converted, index_path)?;
        fsync_dir(dir)?;
        let _ = std::fs::remove_dir_all(&scratch);
        tracing::info!(block = %dir.display(), "converted a version-1 block index to version 2");
        index_path.to_path_buf()
    } else {
        converted
    };
    // The temporary directory may go once the file is open and mapped.
    let file = File::open(&path)?;
    let ix = MmapIndex::open(&path, &file)?;
    Ok((ix, file))
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

impl Block {
    /// Opens a block; a version-1 index is converted to version 2 in place.
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        Self::open_with(dir, true)
    }

    /// Opens a block without writing to its directory.
    pub fn open_read_only(dir: &Path) -> Result<Block, BlockError> {
        Self::open_with(dir, false)
    }

    fn open_with(dir: &Path, writable: bool) -> Result<Block, BlockError> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = std::fs::read(&meta_path)?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes)
            .map_err(|e| corrupt(&meta_path, format!("meta.json: {e}")))?;
        if meta.version > FORMAT_VERSION {
            return Err(corrupt(
                &meta_path,
                format!(
                    "block version {} is newer than this Strata understands",
                    meta.version
                ),
            ));
        }
        let index_path = dir.join("index");
        let index_file = File::open(&index_path)?;
        let mut hdr = [0u8; 8];
        let hdr_len = index_file.read_at(&mut hdr, 0)?;
        let version = check_header(&index_path, &hdr[..hdr_len], INDEX_MAGIC)?;
        let chunks_path = dir.join("chunks");
        let chunks = File::open(&chunks_path)?;
        let chunks_len = chunks.metadata()?.len();
        let hdr_len = chunks.read_at(&mut hdr, 0)?;
        check_header(&chunks_path, &hdr[..hdr_len], CHUNKS_MAGIC)?;
        let (index, index_file) = if version <= INDEX_V1 {
            let len = usize::try_from(chunks_len)
                .map_err(|_| corrupt(&chunks_path, "chunks file too large"))?;
            upgrade_v1(dir, &index_path, &chunks_path, len, writable)?
        } else {
            if writable {
                let _ = std::fs::remove_dir_all(dir.join(UPGRADE_SCRATCH));
            }
            (MmapIndex::open(&index_path, &index_file)?, index_file)
        };
        let tombstones = read_tombstones(dir)?;
        Ok(Block {
            inner: Arc::new(BlockInner {
                dir: dir.to_path_buf(),
                meta,
                index,
                index_file,
                chunks,
                chunks_len,
                tombstones: RwLock::new(tombstones),
            }),
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.inner.meta
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn size_bytes(&self) -> u64 {
        dir_size(&self.inner.dir)
    }

    pub fn querier(&self, mint: i64, maxt: i64) -> BlockQuerier {
        BlockQuerier {
            inner: self.inner.clone(),
            mint,
            maxt,
        }
    }

    /// (label name, number of distinct values). A names table that fails
    /// to decode (it was checked at open) is logged and left out.
    pub fn label_cardinality(&self) -> Vec<(String, u64)> {
        self.inner.index.cardinality().unwrap_or_else(|e| {
            tracing::warn!(block = %self.inner.dir.display(), error = %e, "label cardinality");
            Vec::new()
        })
    }

    /// Number of series with label `name="value"`; 0 for an unreadable key
    /// (logged).
    pub fn postings_count(&self, name: &str, value: &str) -> u64 {
        self.inner.index.count(name, value).unwrap_or_else(|e| {
            tracing::warn!(block = %self.inner.dir.display(), error = %e, "postings count");
            0
        })
    }

    /// Ids of the series matching every matcher (all series when there are
    /// none); a missing label has the empty value, as in Prometheus.
    pub fn select_ids(&self, matchers: &[Matcher]) -> Result<RoaringBitmap, BlockError> {
        self.inner.index.select(matchers)
    }

    /// Number of series in the block.
    pub fn num_series(&self) -> u32 {
        self.inner.index.num_series()
    }

    pub fn has_tombstones(&self) -> bool {
        !self.inner.tombstones.read().is_empty()
    }

    /// Hides samples of matching series in [mint, maxt] (a `tombstones` file
    /// written atomically). Returns the number of series affected.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<u64, BlockError> {
        if maxt < self.inner.meta.min_time || mint >= self.inner.meta.max_time {
            return Ok(0);
        }
        let ids = self.inner.index.select(matchers)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let n = ids.len();
        let mut ts = self.inner.tombstones.write();
        ts.push(Tombstone { ids, mint, maxt });
        let file = TombstoneFile {
            version: TOMBSTONES_VERSION,
            intervals: ts
                .iter()
                .map(|t| TombstoneEntry {
                    ids: t.ids.iter().collect(),
                    mint: t.mint,
                    maxt: t.maxt,
                })
                .collect(),
        };
        write_json_atomic(&self.inner.dir.join("tombstones"), &file)?;
        fsync_dir(&self.inner.dir)?;
        Ok(n)
    }
}

fn read_tombstones(dir: &Path) -> Result<Vec<Tombstone>, BlockError> {
    let path = dir.join("tombstones");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let f: TombstoneFile =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e.to_string()))?;
    Ok(f.intervals
        .into_iter()
        .map(|t| Tombstone {
            ids: t.ids.into_iter().collect(),
            mint: t.mint,
            maxt: t.maxt,
        })
        .collect())
}

impl BlockInner {
    /// Decompresses the page at file offset `at`.
    pub(crate) fn read_page(&self, at: u64) -> Result<Vec<u8>, BlockError> {
        let path = self.dir.join("chunks");
        read_frame_at(&self.chunks, self.chunks_len, &path, at)
    }

    /// The bytes of chunk `c` within its decompressed page.
    pub(crate) fn chunk_bytes<'p>(
        &self,
        c: &ChunkMeta,
        page: &'p [u8],
    ) -> Result<&'p [u8], BlockError> {
        let s = c.off as usize;
        s.checked_add(c.len as usize)
            .and_then(|e| page.get(s..e))
            .ok_or_else(|| corrupt(&self.dir.join("chunks"), "chunk outside its page"))
    }

    /// Decodes chunk `c`, whose page is `page`, appending to `out`.
    pub(crate) fn decode_in(
        &self,
        c: &ChunkMeta,
        page: &[u8],
        out: &mut Vec<Sample>,
    ) -> Result<(), BlockError> {
        let bytes = self.chunk_bytes(c, page)?;
        codec::decode_chunk(&mut Reader::new(bytes), out)
            .ok_or_else(|| corrupt(&self.dir.join("chunks"), "malformed chunk"))
    }

    /// The tombstone intervals `[mint, maxt]` hiding samples of series `id`.
    pub(crate) fn deleted(&self, id: u32) -> Vec<(i64, i64)> {
        self.tombstones
            .read()
            .iter()
            .filter(|t| t.ids.contains(id))
            .map(|t| (t.mint, t.maxt))
            .collect()
    }
}

/// A read view of one block over a time range.
pub struct BlockQuerier {
    inner: Arc<BlockInner>,
    mint: i64,
    maxt: i64,
}

impl BlockQuerier {
    /// Series matching `matchers` with a chunk overlapping `[lo, hi]`.
    fn ids(&self, matchers: &[Matcher], lo: i64, hi: i64) -> Result<RoaringBitmap, BlockError> {
        let index = &self.inner.index;
        let mut chunks = Vec::new();
        let mut out = RoaringBitmap::new();
        for id in index.select(matchers)? {
            index.chunks(id, &mut chunks)?;
            if chunks.iter().any(|c| c.max_t >= lo && c.min_t <= hi) {
                out.insert(id);
            }
        }
        Ok(out)
    }
}

/// A selected series: its labels and its chunks overlapping the range, or
/// `None` when none does.
fn selected(
    inner: &BlockInner,
    id: u32,
    lo: i64,
    hi: i64,
) -> Result<Option<(strata_model::Labels, Vec<ChunkMeta>)>, BlockError> {
    let mut chunks = Vec::new();
    let labels = inner.index.series(id, &mut chunks)?;
    chunks.retain(|c| c.max_t >= lo && c.min_t <= hi);
    Ok((!chunks.is_empty()).then_some((labels, chunks)))
}

impl Querier for BlockQuerier {
    fn select<'a>(
        &'a self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesIter<'a>, StorageError> {
        let (lo, hi) = (self.mint.max(hints.start), self.maxt.min(hints.end));
        let ids = self.inner.index.select(matchers)?;
        let limit = if hints.limit > 0 {
            hints.limit
        } else {
            usize::MAX
        };
        let inner = self.inner.clone();
        let pages = Arc::new(PageCache::default());
        let series_only = hints.series_only;
        Ok(Box::new(
            ids.into_iter()
                .filter_map(move |id| {
                    let (labels, chunks) = match selected(&inner, id, lo, hi) {
                        Ok(s) => s?,
                        Err(e) => return Some(Err(StorageError::from(e))),
                    };
                    if series_only {
                        return Some(Ok(Series {
                            labels,
                            samples: Box::new(strata_model::VecSampleIter::new(Vec::new())),
                        }));
                    }
                    let dels = inner.deleted(id);
                    let it = BlockSeriesIter {
                        inner: inner.clone(),
                        pages: pages.clone(),
                        chunks,
                        next: 0,
                        buf: Vec::new(),
                        pos: 0,
                        lo,
                        hi,
                        dels,
                        err: None,
                    };
                    Some(Ok(Series {
                        labels,
                        samples: Box::new(it),
                    }))
                })
                .take(limit),
        ))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(self.inner.index.label_names(None)?);
        }
        let ids = self.ids(matchers, self.mint, self.maxt)?;
        Ok(self.inner.index.label_names(Some(&ids))?)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(self.inner.index.label_values(name, None)?);
        }
        let ids = self.ids(matchers, self.mint, self.maxt)?;
        Ok(self.inner.index.label_values(name, Some(&ids))?)
    }
}

/// Decodes a block series chunk by chunk into a reused buffer.
struct BlockSeriesIter {
    inner: Arc<BlockInner>,
    pages: Arc<PageCache>,
    chunks: Vec<ChunkMeta>,
    next: usize,
    buf: Vec<Sample>,
    pos: usize,
    lo: i64,
    hi: i64,
    dels: Vec<(i64, i64)>,
    err: Option<StorageError>,
}

impl BlockSeriesIter {
    fn load(&mut self) -> bool {
        while let Some(c) = self.chunks.get(self.next).cloned() {
            self.next += 1;
            self.buf.clear();
            self.pos = 0;
            let decoded = self
                .pages
                .get(&self.inner, c.page)
                .and_then(|page| self.inner.decode_in(&c, &page, &mut self.buf));
            if let Err(e) = decoded {
                self.err = Some(e.into());
                self.buf.clear();
                return false;
            }
            let (lo, hi) = (self.lo, self.hi);
            let dels = &self.dels;
            self.buf.retain(|x| {
                x.t >= lo && x.t <= hi && !dels.iter().any(|(a, b)| x.t >= *a && x.t <= *b)
            });
            if !self.buf.is_empty() {
                return true;
            }
        }
        false
    }
}

impl SampleIter for BlockSeriesIter {
    fn next(&mut self) -> Option<Sample> {
        if self.pos >= self.buf.len() && !self.load() {
            return None;
        }
        let s = self.buf.get(self.pos).copied();
        self.pos += 1;
        s
    }

    fn seek(&mut self, ts: i64) -> Option<Sample> {
        if self.buf.last().is_some_and(|s| s.t >= ts) {
            let from = self.pos.saturating_sub(1);
            let idx = from + self.buf[from..].partition_point(|s| s.t < ts);
            self.pos = idx;
            return self.next();
        }
        // Skip whole chunks that end before ts without decoding them.
        while self.chunks.get(self.next).is_some_and(|c| c.max_t < ts) {
            self.next += 1;
        }
        self.buf.clear();
        self.pos = 0;
        loop {
            let s = self.next()?;
            if s.t >= ts {
                return Some(s);
            }
        }
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }

    fn time_bounds(&self) -> Option<(i64, i64)> {
        let min = self.chunks.iter().map(|c| c.min_t).min()?;
        let max = self.chunks.iter().map(|c| c.max_t).max()?;
        Some((min.max(self.lo), max.min(self.hi)))
    }
}
