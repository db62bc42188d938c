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
//! 4. The chunks file and the index are mmap'd: an open block's heap does not
//!    grow with its series. The index (format 2, `index.rs`) is used in
//!    place: matchers binary-search its sorted postings keys, series labels
//!    and chunk references are decoded per selected series. Version-1
//!    indexes (one compressed body) are still read into memory, their
//!    postings rebuilt as roaring bitmaps.
//! 5. Writing and compacting cost memory per series, not per block: the
//!    writer (`writer.rs`) takes one series at a time and flushes pages as
//!    they fill, and compaction (`compact.rs`) merges its inputs series by
//!    series, copying chunks that overlap nothing as bytes.
//!
//! Modules: `writer` (BlockWriter, write_block), `reader` (Block, queriers),
//! `index` (the version-2 index: writer and mmap'd reader), `compact`
//! (compact, rewrite_without_tombstones), `codec`, `postings`, `plan`.
//!
//! Format: docs/format-block.md.

pub mod codec;
mod compact;
mod index;
pub mod plan;
pub mod postings;
mod reader;
mod writer;

pub use compact::{compact, rewrite_without_tombstones};
pub use reader::{Block, BlockQuerier};
pub use writer::{BlockWriter, ChunkInput, write_block};

use codec::Reader;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use strata_model::StorageError;

/// Block format version: 2 has the mmap'd index (`index.rs`); version-1
/// blocks (index loaded into memory) are still read.
pub const FORMAT_VERSION: u32 = 2;
/// The tombstones file did not change with block format 2.
pub(crate) const TOMBSTONES_VERSION: u32 = 1;
pub(crate) const CHUNKS_MAGIC: &[u8; 4] = b"SCHK";
pub(crate) const INDEX_MAGIC: &[u8; 4] = b"SIDX";
/// Most samples the writer puts in one chunk cut from raw samples: 2h of
/// 15s scrapes.
pub const CHUNK_SAMPLES: usize = 480;
/// Uncompressed bytes gathered before a page is compressed.
pub(crate) const PAGE_BYTES: usize = 64 << 10;
/// No page or index body may claim more than this when decompressed.
pub(crate) const MAX_DECOMPRESSED: usize = 1 << 30;
pub(crate) const ZSTD_LEVEL: i32 = 3;

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

pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> BlockError {
    BlockError::Corruption {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ChunkMeta {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) page: u64,
    pub(crate) off: u32,
    pub(crate) len: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TombstoneEntry {
    pub(crate) ids: Vec<u32>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct TombstoneFile {
    pub(crate) version: u32,
    pub(crate) intervals: Vec<TombstoneEntry>,
}

pub(crate) struct Tombstone {
    pub(crate) ids: RoaringBitmap,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<(), BlockError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

pub(crate) fn write_framed(w: &mut impl Write, raw: &[u8]) -> Result<u64, BlockError> {
    let compressed = compress_frame(raw)?;
    w.write_all(&(compressed.len() as u32).to_le_bytes())?;
    w.write_all(&(raw.len() as u32).to_le_bytes())?;
    w.write_all(&crc32c::crc32c(&compressed).to_le_bytes())?;
    w.write_all(&compressed)?;
    Ok(12 + compressed.len() as u64)
}

/// The 12-byte frame header: (compressed length, raw length, crc32c).
fn frame_header(path: &Path, at: u64, hdr: &[u8]) -> Result<(usize, usize, u32), BlockError> {
    let word = |i: usize| {
        hdr.get(i..i + 4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .ok_or_else(|| corrupt(path, format!("truncated frame header at {at}")))
    };
    let (clen, rlen, crc) = (word(0)? as usize, word(4)? as usize, word(8)?);
    if rlen > MAX_DECOMPRESSED {
        return Err(corrupt(
            path,
            format!("frame at {at} claims {rlen} decompressed bytes"),
        ));
    }
    Ok((clen, rlen, crc))
}

thread_local! {
    /// One zstd context of each kind per thread, reused for every page: a
    /// query over blocks reads a 64 KiB page per few hundred series, a head
    /// cut or compaction writes one, and a fresh context costs an
    /// allocation of its own size each time. `None` only if creating one
    /// failed; then each page gets a context of its own, as before.
    static PAGE_COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok());
    static PAGE_DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}

fn compress_frame(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    PAGE_COMPRESSOR.with(|cell| match cell.try_borrow_mut().as_deref_mut() {
        Ok(Some(c)) => c.compress(raw),
        _ => zstd::bulk::compress(raw, ZSTD_LEVEL),
    })
}

/// Decompresses a zstd frame into a new buffer of at most `rlen` bytes.
fn decompress_frame(body: &[u8], rlen: usize) -> std::io::Result<Vec<u8>> {
    PAGE_DECOMPRESSOR.with(|cell| match cell.try_borrow_mut().as_deref_mut() {
        Ok(Some(d)) => d.decompress(body, rlen),
        _ => zstd::bulk::decompress(body, rlen),
    })
}

/// Checks and decompresses a frame body whose header said (rlen, crc).
fn frame_body(
    path: &Path,
    at: u64,
    body: &[u8],
    rlen: usize,
    crc: u32,
) -> Result<Vec<u8>, BlockError> {
    if crc32c::crc32c(body) != crc {
        return Err(corrupt(path, format!("checksum mismatch in frame at {at}")));
    }
    let raw =
        decompress_frame(body, rlen).map_err(|e| corrupt(path, format!("frame at {at}: {e}")))?;
    if raw.len() != rlen {
        return Err(corrupt(
            path,
            format!(
                "frame at {at} decompressed to {} bytes, expected {rlen}",
                raw.len()
            ),
        ));
    }
    Ok(raw)
}

/// Reads a framed zstd body at `at` of `b`; returns (body, bytes consumed).
pub(crate) fn read_framed(
    path: &Path,
    b: &[u8],
    at: usize,
) -> Result<(Vec<u8>, usize), BlockError> {
    let truncated = || corrupt(path, format!("truncated frame at {at}"));
    let hdr = at
        .checked_add(12)
        .and_then(|e| b.get(at..e))
        .ok_or_else(truncated)?;
    let (clen, rlen, crc) = frame_header(path, at as u64, hdr)?;
    let body = (at + 12)
        .checked_add(clen)
        .and_then(|e| b.get(at + 12..e))
        .ok_or_else(truncated)?;
    Ok((frame_body(path, at as u64, body, rlen, crc)?, 12 + clen))
}

/// Reads the frame at `at` of an open file of `file_len` bytes with
/// positioned reads: compaction streams through whole files, and reading
/// them through the mmap would count every page it touched in its RSS.
pub(crate) fn read_frame_at(
    file: &File,
    file_len: u64,
    path: &Path,
    at: u64,
) -> Result<Vec<u8>, BlockError> {
    use std::os::unix::fs::FileExt;
    let truncated = || corrupt(path, format!("truncated frame at {at}"));
    let body_at = at
        .checked_add(12)
        .filter(|e| *e <= file_len)
        .ok_or_else(truncated)?;
    let mut hdr = [0u8; 12];
    file.read_exact_at(&mut hdr, at)?;
    let (clen, rlen, crc) = frame_header(path, at, &hdr)?;
    // Checked against the file before allocating what the header claims.
    if (clen as u64) > file_len - body_at {
        return Err(truncated());
    }
    let mut body = vec![0u8; clen];
    file.read_exact_at(&mut body, body_at)?;
    frame_body(path, at, &body, rlen, crc)
}

pub(crate) fn header(magic: &[u8; 4]) -> [u8; 8] {
    header_v(magic, FORMAT_VERSION)
}

pub(crate) fn header_v(magic: &[u8; 4], version: u32) -> [u8; 8] {
    let v = version.to_le_bytes();
    [
        magic[0], magic[1], magic[2], magic[3], v[0], v[1], v[2], v[3],
    ]
}

/// Checks magic and version; returns the version.
pub(crate) fn check_header(path: &Path, b: &[u8], magic: &[u8; 4]) -> Result<u32, BlockError> {
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
    Ok(v)
}

pub(crate) fn write_json_atomic<T: Serialize>(path: &Path, v: &T) -> Result<(), BlockError> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| BlockError::BadInput(e.to_string()))?;
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Fuzzing entry point: decodes arbitrary bytes as a block chunk.
#[doc(hidden)]
pub fn fuzz_decode_chunk(bytes: &[u8]) -> usize {
    let mut out = Vec::new();
    let _ = codec::decode_chunk(&mut Reader::new(bytes), &mut out);
    out.len()
}

/// Fuzzing entry point: builds a version-2 index file around `sections`
/// (header, the six sections in order, a table of contents with valid
/// checksums), so a fuzzer reaches the decoders behind the checksums.
#[doc(hidden)]
pub fn fuzz_frame_index(sections: [&[u8]; 6]) -> Vec<u8> {
    let mut out = header_v(INDEX_MAGIC, FORMAT_VERSION).to_vec();
    let mut toc = Vec::new();
    for s in sections {
        toc.extend_from_slice(&(out.len() as u64).to_le_bytes());
        toc.extend_from_slice(&(s.len() as u64).to_le_bytes());
        toc.extend_from_slice(&crc32c::crc32c(s).to_le_bytes());
        out.extend_from_slice(s);
    }
    let c = crc32c::crc32c(&toc);
    out.extend_from_slice(&toc);
    out.extend_from_slice(&c.to_le_bytes());
    out
}

/// Fuzzing entry point: `index` as the index of a block in `dir` (an empty
/// directory; a valid meta.json and an empty chunks file are written next
/// to it), opened and queried. Errors are fine; returns series seen.
#[doc(hidden)]
pub fn fuzz_open_index(dir: &Path, index: &[u8]) -> usize {
    use strata_model::{MatchOp, Matcher, Querier, SelectHints};
    let meta = BlockMeta {
        ulid: "fuzz".into(),
        min_time: 0,
        max_time: 1000,
        version: FORMAT_VERSION,
        stats: BlockStats {
            num_series: 0,
            num_samples: 0,
            num_chunks: 0,
            num_bytes: 0,
        },
        compaction: CompactionInfo {
            level: 1,
            sources: Vec::new(),
        },
    };
    let written = write_json_atomic(&dir.join("meta.json"), &meta).is_ok()
        && std::fs::write(dir.join("chunks"), header(CHUNKS_MAGIC)).is_ok()
        && std::fs::write(dir.join("index"), index).is_ok();
    if !written {
        return 0;
    }
    let Ok(block) = Block::open(dir) else {
        return 0;
    };
    let mut seen = 0;
    let mut matchers = vec![
        vec![],
        vec![Matcher::equal("a", "x")],
        vec![Matcher::equal("b", "")],
    ];
    for (op, v) in [(MatchOp::RegexMatch, "x.*"), (MatchOp::RegexNoMatch, ".*y")] {
        if let Ok(m) = Matcher::new(op, "a", v) {
            matchers.push(vec![m]);
        }
    }
    let q = block.querier(i64::MIN, i64::MAX);
    for ms in &matchers {
        for series_only in [true, false] {
            let hints = SelectHints {
                start: i64::MIN,
                end: i64::MAX,
                series_only,
                limit: 0,
                newest_only: false,
                any_order: false,
            };
            if let Ok(it) = q.select(&hints, ms) {
                for s in it.flatten() {
                    let mut samples = s.samples;
                    while samples.next().is_some() {}
                    seen += 1;
                }
            }
        }
        let _ = q.label_names(ms);
        let _ = q.label_values("a", ms);
    }
    seen + block.label_cardinality().len() + block.postings_count("a", "x") as usize
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod index_tests;
