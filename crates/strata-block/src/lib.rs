//! Immutable on-disk blocks: one directory per time range holding
//! `meta.json`, `index`, `chunks` and, after a deletion, `tombstones`.
//!
//! Design constraints:
//! 1. Written once, atomically: a temp dir is filled, fsynced and renamed.
//! 2. Nothing read back is trusted: the index and every page carry a CRC-32C,
//!    lengths are checked before use, decompression is bounded by a recorded
//!    size; a bad block fails `open` with `BlockError::Corruption`.
//! 3. Compression is where blocks beat the head: samples are column-encoded
//!    (delta-of-delta timestamps, exact decimal or XOR values, see `codec`)
//!    and pages of ~64 KiB of such chunks are zstd-compressed.
//! 4. The chunks file is mmap'd; the index is loaded into memory on open and
//!    its postings rebuilt as roaring bitmaps.
//!
//! Format: docs/format-block.md.

pub mod codec;
pub mod plan;
pub mod postings;

use codec::Reader;
use parking_lot::{Mutex, RwLock};
use postings::MemPostings;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_model::{
    Label, Labels, Matcher, Querier, Sample, SampleIter, SelectHints, Series, SeriesIter,
    StorageError,
};

pub const FORMAT_VERSION: u32 = 1;
const CHUNKS_MAGIC: &[u8; 4] = b"SCHK";
const INDEX_MAGIC: &[u8; 4] = b"SIDX";
/// Samples per block chunk: 2h of 15s scrapes.
const CHUNK_SAMPLES: usize = 480;
/// Uncompressed bytes gathered before a page is compressed.
const PAGE_BYTES: usize = 64 << 10;
/// No page or index body may claim more than this when decompressed.
const MAX_DECOMPRESSED: usize = 1 << 30;
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_series: u64,
    pub num_samples: u64,
    pub num_chunks: u64,
    pub num_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompactionInfo {
    pub level: u32,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub ulid: String,
    /// Inclusive, ms.
    pub min_time: i64,
    /// Exclusive, ms.
    pub max_time: i64,
    pub version: u32,
    pub stats: BlockStats,
    pub compaction: CompactionInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt block file {path}: {reason}")]
    Corruption { path: String, reason: String },
    #[error("{0}")]
    BadInput(String),
}

impl From<BlockError> for StorageError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::Io(e) => StorageError::Io(e),
            BlockError::Corruption { path, reason } => StorageError::Corruption {
                location: path,
                reason,
            },
            BlockError::BadInput(m) => StorageError::BadData(m),
        }
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> BlockError {
    BlockError::Corruption {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone)]
struct ChunkMeta {
    min_t: i64,
    max_t: i64,
    page: u64,
    off: u32,
    len: u32,
}

#[derive(Debug)]
struct BlockSeries {
    labels: Labels,
    chunks: Vec<ChunkMeta>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TombstoneEntry {
    ids: Vec<u32>,
    mint: i64,
    maxt: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TombstoneFile {
    version: u32,
    intervals: Vec<TombstoneEntry>,
}

struct Tombstone {
    ids: RoaringBitmap,
    mint: i64,
    maxt: i64,
}

struct BlockInner {
    dir: PathBuf,
    meta: BlockMeta,
    series: Vec<BlockSeries>,
    postings: MemPostings,
    chunks: memmap2::Mmap,
    tombstones: RwLock<Vec<Tombstone>>,
    /// The last decompressed page: neighbouring series share pages.
    page_cache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

/// An open block; cheap to clone.
#[derive(Clone)]
pub struct Block {
    inner: Arc<BlockInner>,
}

fn fsync_dir(dir: &Path) -> Result<(), BlockError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn write_framed(w: &mut impl Write, raw: &[u8]) -> Result<u64, BlockError> {
    let compressed = zstd::bulk::compress(raw, ZSTD_LEVEL)?;
    w.write_all(&(compressed.len() as u32).to_le_bytes())?;
    w.write_all(&(raw.len() as u32).to_le_bytes())?;
    w.write_all(&crc32c::crc32c(&compressed).to_le_bytes())?;
    w.write_all(&compressed)?;
    Ok(12 + compressed.len() as u64)
}

/// Reads a framed zstd body at `at`; returns (body, bytes consumed).
fn read_framed(path: &Path, b: &[u8], at: usize) -> Result<(Vec<u8>, usize), BlockError> {
    let hdr = b
        .get(at..at + 12)
        .ok_or_else(|| corrupt(path, format!("truncated frame header at {at}")))?;
    let clen = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
    let rlen = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
    let crc = u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
    if rlen > MAX_DECOMPRESSED {
        return Err(corrupt(
            path,
            format!("frame at {at} claims {rlen} decompressed bytes"),
        ));
    }
    let body = b
        .get(at + 12..at + 12 + clen)
        .ok_or_else(|| corrupt(path, format!("truncated frame at {at}")))?;
    if crc32c::crc32c(body) != crc {
        return Err(corrupt(path, format!("checksum mismatch in frame at {at}")));
    }
    let raw = zstd::bulk::decompress(body, rlen)
        .map_err(|e| corrupt(path, format!("frame at {at}: {e}")))?;
    if raw.len() != rlen {
        return Err(corrupt(
            path,
            format!(
                "frame at {at} decompressed to {} bytes, expected {rlen}",
                raw.len()
            ),
        ));
    }
    Ok((raw, 12 + clen))
}

fn header(magic: &[u8; 4]) -> [u8; 8] {
    let v = FORMAT_VERSION.to_le_bytes();
    [
        magic[0], magic[1], magic[2], magic[3], v[0], v[1], v[2], v[3],
    ]
}

fn check_header(path: &Path, b: &[u8], magic: &[u8; 4]) -> Result<(), BlockError> {
    let h = b
        .get(..8)
        .ok_or_else(|| corrupt(path, "file shorter than its header"))?;
    if &h[..4] != magic {
        return Err(corrupt(path, "bad magic"));
    }
    let v = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if v > FORMAT_VERSION {
        return Err(corrupt(
            path,
            format!("format version {v} is newer than this Strata understands ({FORMAT_VERSION})"),
        ));
    }
    Ok(())
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
    let ulid = ulid::Ulid::new().to_string();
    let tmp = parent.join(format!("{ulid}.tmp"));
    std::fs::create_dir_all(&tmp)?;
    let result = write_into(&tmp, &ulid, min_time, max_time, level, sources, series);
    match result {
        Ok(Some(meta)) => {
            let fin = parent.join(&ulid);
            std::fs::rename(&tmp, &fin)?;
            fsync_dir(parent)?;
            Ok(Some(meta))
        }
        Ok(None) => {
            std::fs::remove_dir_all(&tmp)?;
            Ok(None)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn write_into(
    dir: &Path,
    ulid: &str,
    min_time: i64,
    max_time: i64,
    level: u32,
    sources: Vec<String>,
    series: impl Iterator<Item = (Labels, Vec<Sample>)>,
) -> Result<Option<BlockMeta>, BlockError> {
    let chunks_path = dir.join("chunks");
    let mut cw = BufWriter::new(File::create(&chunks_path)?);
    cw.write_all(&header(CHUNKS_MAGIC))?;
    let mut file_pos = 8u64;
    let mut page: Vec<u8> = Vec::with_capacity(PAGE_BYTES * 2);
    // (series index, chunk index) of chunks in the page being filled.
    let mut pending: Vec<(usize, usize)> = Vec::new();
    let mut index_series: Vec<BlockSeries> = Vec::new();
    let (mut num_samples, mut num_chunks) = (0u64, 0u64);
    let mut prev: Option<Labels> = None;
    for (labels, samples) in series {
        if samples.is_empty() {
            continue;
        }
        if prev.as_ref().is_some_and(|p| *p >= labels) {
            return Err(BlockError::BadInput(format!(
                "series not sorted or not unique at {labels}"
            )));
        }
        if samples.windows(2).any(|w| w[0].t >= w[1].t) {
            return Err(BlockError::BadInput(format!(
                "samples of {labels} not sorted by time"
            )));
        }
        let si = index_series.len();
        let mut metas = Vec::new();
        for chunk in samples.chunks(CHUNK_SAMPLES) {
            let off = page.len();
            codec::encode_chunk(chunk, &mut page);
            metas.push(ChunkMeta {
                min_t: chunk.first().map(|s| s.t).unwrap_or(0),
                max_t: chunk.last().map(|s| s.t).unwrap_or(0),
                page: 0,
                off: off as u32,
                len: (page.len() - off) as u32,
            });
            pending.push((si, metas.len() - 1));
            num_chunks += 1;
        }
        num_samples += samples.len() as u64;
        index_series.push(BlockSeries {
            labels: labels.clone(),
            chunks: metas,
        });
        prev = Some(labels);
        if page.len() >= PAGE_BYTES {
            flush_page(
                &mut cw,
                &mut file_pos,
                &mut page,
                &mut pending,
                &mut index_series,
            )?;
        }
    }
    if index_series.is_empty() {
        return Ok(None);
    }
    if !page.is_empty() {
        flush_page(
            &mut cw,
            &mut file_pos,
            &mut page,
            &mut pending,
            &mut index_series,
        )?;
    }
    let cf = cw
        .into_inner()
        .map_err(|e| BlockError::Io(e.into_error()))?;
    cf.sync_all()?;

    let mut body = Vec::with_capacity(index_series.len() * 128);
    codec::put_uvarint(&mut body, index_series.len() as u64);
    for s in &index_series {
        codec::put_uvarint(&mut body, s.labels.len() as u64);
        for l in s.labels.iter() {
            codec::put_str(&mut body, &l.name);
            codec::put_str(&mut body, &l.value);
        }
        codec::put_uvarint(&mut body, s.chunks.len() as u64);
        for c in &s.chunks {
            codec::put_varint(&mut body, c.min_t);
            codec::put_varint(&mut body, c.max_t);
            codec::put_uvarint(&mut body, c.page);
            codec::put_uvarint(&mut body, u64::from(c.off));
            codec::put_uvarint(&mut body, u64::from(c.len));
        }
    }
    let index_path = dir.join("index");
    let mut iw = BufWriter::new(File::create(&index_path)?);
    iw.write_all(&header(INDEX_MAGIC))?;
    let index_len = 8 + write_framed(&mut iw, &body)?;
    let inf = iw
        .into_inner()
        .map_err(|e| BlockError::Io(e.into_error()))?;
    inf.sync_all()?;

    let meta = BlockMeta {
        ulid: ulid.to_string(),
        min_time,
        max_time,
        version: FORMAT_VERSION,
        stats: BlockStats {
            num_series: index_series.len() as u64,
            num_samples,
            num_chunks,
            num_bytes: file_pos + index_len,
        },
        compaction: CompactionInfo {
            level,
            sources: if sources.is_empty() {
                vec![ulid.to_string()]
            } else {
                sources
            },
        },
    };
    write_json_atomic(&dir.join("meta.json"), &meta)?;
    fsync_dir(dir)?;
    Ok(Some(meta))
}

fn flush_page(
    w: &mut impl Write,
    file_pos: &mut u64,
    page: &mut Vec<u8>,
    pending: &mut Vec<(usize, usize)>,
    series: &mut [BlockSeries],
) -> Result<(), BlockError> {
    let at = *file_pos;
    *file_pos += write_framed(w, page)?;
    for (s, c) in pending.drain(..) {
        if let Some(meta) = series.get_mut(s).and_then(|s| s.chunks.get_mut(c)) {
            meta.page = at;
        }
    }
    page.clear();
    Ok(())
}

fn write_json_atomic<T: Serialize>(path: &Path, v: &T) -> Result<(), BlockError> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| BlockError::BadInput(e.to_string()))?;
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn parse_index(path: &Path, body: &[u8]) -> Result<Vec<BlockSeries>, BlockError> {
    let bad = || corrupt(path, "malformed index body");
    let mut r = Reader::new(body);
    let n = r.uvarint().ok_or_else(bad)? as usize;
    let mut out = Vec::with_capacity(n.min(body.len()));
    for _ in 0..n {
        let nl = r.uvarint().ok_or_else(bad)? as usize;
        let mut labels = Vec::with_capacity(nl.min(64));
        for _ in 0..nl {
            let name = r.str().ok_or_else(bad)?;
            let value = r.str().ok_or_else(bad)?;
            labels.push(Label::new(name, value));
        }
        let nc = r.uvarint().ok_or_else(bad)? as usize;
        let mut chunks = Vec::with_capacity(nc.min(body.len()));
        for _ in 0..nc {
            chunks.push(ChunkMeta {
                min_t: r.varint().ok_or_else(bad)?,
                max_t: r.varint().ok_or_else(bad)?,
                page: r.uvarint().ok_or_else(bad)?,
                off: u32::try_from(r.uvarint().ok_or_else(bad)?).map_err(|_| bad())?,
                len: u32::try_from(r.uvarint().ok_or_else(bad)?).map_err(|_| bad())?,
            });
        }
        out.push(BlockSeries {
            labels: Labels::new(labels),
            chunks,
        });
    }
    if r.pos != body.len() {
        return Err(bad());
    }
    Ok(out)
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
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
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
        let ib = std::fs::read(&index_path)?;
        check_header(&index_path, &ib, INDEX_MAGIC)?;
        let (body, _) = read_framed(&index_path, &ib, 8)?;
        let series = parse_index(&index_path, &body)?;
        let chunks_path = dir.join("chunks");
        let cf = File::open(&chunks_path)?;
        // SAFETY: blocks are immutable once renamed into place; Strata never
        // writes to a block's chunks file after that, so the mapping is not
        // mutated underneath us by this process.
        let chunks = unsafe { memmap2::Mmap::map(&cf)? };
        check_header(&chunks_path, &chunks, CHUNKS_MAGIC)?;
        let mut postings = MemPostings::default();
        for (i, s) in series.iter().enumerate() {
            postings.add(i as u32, &s.labels);
            for c in &s.chunks {
                let end = c
                    .page
                    .checked_add(12)
                    .filter(|e| *e as usize <= chunks.len());
                if end.is_none() {
                    return Err(corrupt(
                        &chunks_path,
                        format!("chunk page offset {} beyond the file", c.page),
                    ));
                }
            }
        }
        let tombstones = read_tombstones(dir)?;
        Ok(Block {
            inner: Arc::new(BlockInner {
                dir: dir.to_path_buf(),
                meta,
                series,
                postings,
                chunks,
                tombstones: RwLock::new(tombstones),
                page_cache: Mutex::new(None),
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

    pub fn label_cardinality(&self) -> Vec<(String, u64)> {
        self.inner.postings.cardinality()
    }

    pub fn postings(&self) -> &MemPostings {
        &self.inner.postings
    }

    pub fn postings_count(&self, name: &str, value: &str) -> u64 {
        self.inner.postings.count(name, value)
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
        let ids = self.inner.postings.select(matchers);
        if ids.is_empty() {
            return Ok(0);
        }
        let n = ids.len();
        let mut ts = self.inner.tombstones.write();
        ts.push(Tombstone { ids, mint, maxt });
        let file = TombstoneFile {
            version: FORMAT_VERSION,
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

    /// Every series with its (tombstone-filtered) samples, in label order.
    fn all_series(&self) -> Result<Vec<(Labels, Vec<Sample>)>, BlockError> {
        let mut out = Vec::with_capacity(self.inner.series.len());
        for id in 0..self.inner.series.len() as u32 {
            let samples = self.inner.read_series(id, i64::MIN, i64::MAX)?;
            if !samples.is_empty() {
                out.push((self.inner.series[id as usize].labels.clone(), samples));
            }
        }
        Ok(out)
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
    fn page(&self, at: u64) -> Result<Arc<Vec<u8>>, BlockError> {
        if let Some((_, data)) = self.page_cache.lock().as_ref().filter(|(p, _)| *p == at) {
            return Ok(data.clone());
        }
        let path = self.dir.join("chunks");
        let at_usize = usize::try_from(at).map_err(|_| corrupt(&path, "page offset overflows"))?;
        let (raw, _) = read_framed(&path, &self.chunks, at_usize)?;
        let raw = Arc::new(raw);
        *self.page_cache.lock() = Some((at, raw.clone()));
        Ok(raw)
    }

    fn decode(&self, c: &ChunkMeta, out: &mut Vec<Sample>) -> Result<(), BlockError> {
        let page = self.page(c.page)?;
        let (s, e) = (c.off as usize, c.off as usize + c.len as usize);
        let bytes = page
            .get(s..e)
            .ok_or_else(|| corrupt(&self.dir.join("chunks"), "chunk outside its page"))?;
        codec::decode_chunk(&mut Reader::new(bytes), out)
            .ok_or_else(|| corrupt(&self.dir.join("chunks"), "malformed chunk"))
    }

    fn deleted(&self, id: u32) -> Vec<(i64, i64)> {
        self.tombstones
            .read()
            .iter()
            .filter(|t| t.ids.contains(id))
            .map(|t| (t.mint, t.maxt))
            .collect()
    }

    fn read_series(&self, id: u32, lo: i64, hi: i64) -> Result<Vec<Sample>, BlockError> {
        let Some(s) = self.series.get(id as usize) else {
            return Ok(Vec::new());
        };
        let dels = self.deleted(id);
        let mut out = Vec::new();
        for c in s.chunks.iter().filter(|c| c.max_t >= lo && c.min_t <= hi) {
            self.decode(c, &mut out)?;
        }
        out.retain(|x| x.t >= lo && x.t <= hi && !dels.iter().any(|(a, b)| x.t >= *a && x.t <= *b));
        Ok(out)
    }
}

/// A read view of one block over a time range.
pub struct BlockQuerier {
    inner: Arc<BlockInner>,
    mint: i64,
    maxt: i64,
}

impl BlockQuerier {
    fn ids(&self, matchers: &[Matcher], lo: i64, hi: i64) -> Vec<u32> {
        self.inner
            .postings
            .select(matchers)
            .iter()
            .filter(|id| {
                self.inner
                    .series
                    .get(*id as usize)
                    .is_some_and(|s| s.chunks.iter().any(|c| c.max_t >= lo && c.min_t <= hi))
            })
            .collect()
    }
}

impl Querier for BlockQuerier {
    fn select<'a>(
        &'a self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesIter<'a>, StorageError> {
        let (lo, hi) = (self.mint.max(hints.start), self.maxt.min(hints.end));
        let mut ids = self.ids(matchers, lo, hi);
        if hints.limit > 0 {
            ids.truncate(hints.limit);
        }
        let inner = self.inner.clone();
        let series_only = hints.series_only;
        Ok(Box::new(ids.into_iter().filter_map(move |id| {
            let labels = inner.series.get(id as usize)?.labels.clone();
            if series_only {
                return Some(Ok(Series {
                    labels,
                    samples: Box::new(strata_model::VecSampleIter::new(Vec::new())),
                }));
            }
            let chunks: Vec<ChunkMeta> = inner.series[id as usize]
                .chunks
                .iter()
                .filter(|c| c.max_t >= lo && c.min_t <= hi)
                .cloned()
                .collect();
            let dels = inner.deleted(id);
            let it = BlockSeriesIter {
                inner: inner.clone(),
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
        })))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(self.inner.postings.label_names(None));
        }
        let ids: RoaringBitmap = self
            .ids(matchers, self.mint, self.maxt)
            .into_iter()
            .collect();
        Ok(self.inner.postings.label_names(Some(&ids)))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(self.inner.postings.label_values(name, None));
        }
        let ids: RoaringBitmap = self
            .ids(matchers, self.mint, self.maxt)
            .into_iter()
            .collect();
        Ok(self.inner.postings.label_values(name, Some(&ids)))
    }
}

/// Decodes a block series chunk by chunk into a reused buffer.
struct BlockSeriesIter {
    inner: Arc<BlockInner>,
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
            if let Err(e) = self.inner.decode(&c, &mut self.buf) {
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
}

/// Fuzzing entry point: decodes arbitrary bytes as a block chunk.
#[doc(hidden)]
pub fn fuzz_decode_chunk(bytes: &[u8]) -> usize {
    let mut out = Vec::new();
    let _ = codec::decode_chunk(&mut Reader::new(bytes), &mut out);
    out.len()
}

/// Merges series of several sources (each sorted by labels) into one sorted
/// list, samples merged by time with duplicate timestamps dropped (the first
/// source wins).
pub fn merge_series(mut sources: Vec<Vec<(Labels, Vec<Sample>)>>) -> Vec<(Labels, Vec<Sample>)> {
    let mut all: Vec<(Labels, Vec<Sample>)> = sources.drain(..).flatten().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(Labels, Vec<Sample>)> = Vec::with_capacity(all.len());
    for (l, s) in all {
        match out.last_mut() {
            Some((pl, ps)) if *pl == l => {
                ps.extend(s);
                ps.sort_by_key(|x| x.t);
                ps.dedup_by_key(|x| x.t);
            }
            _ => out.push((l, s)),
        }
    }
    out
}

/// Merges blocks into one new block in `parent` (level = max + 1, sources =
/// union), dropping tombstoned samples and duplicate timestamps. Inputs are
/// left in place for the caller to delete once the new block is durable.
pub fn compact(parent: &Path, blocks: &[&Block]) -> Result<Option<BlockMeta>, BlockError> {
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
    let mut inputs = Vec::with_capacity(blocks.len());
    for b in blocks {
        inputs.push(b.all_series()?);
    }
    let merged = merge_series(inputs);
    write_block(
        parent,
        min_time,
        max_time,
        level,
        sources,
        merged.into_iter(),
    )
}

/// Rewrites a block without its tombstoned samples.
pub fn rewrite_without_tombstones(
    parent: &Path,
    block: &Block,
) -> Result<Option<BlockMeta>, BlockError> {
    let m = block.meta();
    write_block(
        parent,
        m.min_time,
        m.max_time,
        m.compaction.level,
        m.compaction.sources.clone(),
        block.all_series()?.into_iter(),
    )
}

#[cfg(test)]
mod tests;

// TEMPORARY until the streaming writer lands: same API, buffers samples.
pub enum ChunkInput<'a> {
    Encoded {
        min_t: i64,
        max_t: i64,
        num_samples: u32,
        data: &'a [u8],
    },
    Samples(&'a [Sample]),
}

pub struct BlockWriter {
    parent: PathBuf,
    min_time: i64,
    max_time: i64,
    level: u32,
    sources: Vec<String>,
    series: Vec<(Labels, Vec<Sample>)>,
}

impl BlockWriter {
    pub fn create(
        parent: &Path,
        min_time: i64,
        max_time: i64,
        level: u32,
        sources: Vec<String>,
    ) -> Result<Self, BlockError> {
        Ok(BlockWriter {
            parent: parent.to_path_buf(),
            min_time,
            max_time,
            level,
            sources,
            series: Vec::new(),
        })
    }

    pub fn add_series(
        &mut self,
        labels: &Labels,
        chunks: &[ChunkInput<'_>],
    ) -> Result<(), BlockError> {
        let mut v = Vec::new();
        for c in chunks {
            match c {
                ChunkInput::Encoded { data, .. } => codec::decode(data, &mut v)
                    .ok_or_else(|| BlockError::BadInput("bad chunk".into()))?,
                ChunkInput::Samples(s) => v.extend_from_slice(s),
            }
        }
        self.series.push((labels.clone(), v));
        Ok(())
    }

    pub fn finish(self) -> Result<Option<BlockMeta>, BlockError> {
        write_block(
            &self.parent,
            self.min_time,
            self.max_time,
            self.level,
            self.sources,
            self.series.into_iter(),
        )
    }
}
