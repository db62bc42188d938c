//! The block index, version 2: written in sections that the reader uses in
//! place from an mmap, so an open block costs a few words of heap instead of
//! its label sets and postings (docs/format-block.md, "index, version 2").
//!
//! ```text
//! header   "SIDX" u32(2)
//! series   entries: uvarint(nlabels) uvarint(key0) uvarint(key[i] - key[i-1])… uvarint(nchunks) chunk…
//! table    u64 × nseries: offset of each entry in `series`
//! postings roaring portable serializations, addressed by keys and names
//! strings  str(value or name)…, addressed by keys and names
//! keys     24 B × nkeys, sorted by (name, value): value u64, postings u64, plen u32, count u32
//! names    40 B × nnames, sorted: name u64, first key u64, nkeys u64, union postings u64, plen u32, count u32
//! toc      6 × (offset u64, len u64, crc32c u32), crc32c(toc) u32
//! ```
//!
//! A series entry names its labels by key: keys are sorted by (name,
//! value) and labels by name, so an entry's keys increase and are stored as
//! differences. A postings reference with `plen == 0` is a single series
//! whose id is the `postings` field itself (most keys of high-cardinality
//! labels are that).
//!
//! Writing: keys are only known once every series is in, so `add_series`
//! appends a draft entry (label values inline) to a temporary file and
//! keeps 8 bytes per series (its offset) and a few counters per label name.
//! `finish` builds the postings by re-reading the drafts in passes over
//! consecutive label names, each pass holding at most
//! [`POSTINGS_PASS_BYTES`] of (name, value, series) occurrences (one label
//! name alone may exceed it: 16 B per occurrence plus its distinct values);
//! each pass also spills the (series, key) pairs it assigned, sorted by
//! series, and the final entries are written by merging the drafts with
//! those spills.

use crate::codec::{Reader, put_str, put_uvarint, put_varint};
use crate::{BlockError, ChunkMeta, corrupt};
use roaring::RoaringBitmap;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use strata_model::{Label, Labels, MatchOp, Matcher};

pub(crate) const INDEX_V1: u32 = 1;
pub(crate) const INDEX_V2: u32 = 2;

const SERIES: usize = 0;
const TABLE: usize = 1;
const POSTINGS: usize = 2;
const STRINGS: usize = 3;
const KEYS: usize = 4;
const NAMES: usize = 5;
pub(crate) const SECTIONS: usize = 6;
const SECTION_NAMES: [&str; SECTIONS] = ["series", "table", "postings", "strings", "keys", "names"];
const TOC_LEN: usize = SECTIONS * 20 + 4;
const KEY_LEN: usize = 24;
const NAME_LEN: usize = 40;

/// Occurrence bytes one postings pass of the writer may gather.
pub(crate) const POSTINGS_PASS_BYTES: u64 = 4 << 20;

/// A `Write` that counts and checksums what goes through it.
struct CrcWriter<W: Write> {
    inner: W,
    crc: u32,
    len: u64,
}

impl<W: Write> CrcWriter<W> {
    fn new(inner: W) -> Self {
        CrcWriter {
            inner,
            crc: 0,
            len: 0,
        }
    }

    /// Starts a new section: the checksum restarts, the length keeps
    /// counting file bytes.
    fn section(&mut self) -> (u64, u32) {
        let crc = std::mem::take(&mut self.crc);
        (self.len, crc)
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Spill = CrcWriter<BufWriter<File>>;

fn spill(path: &Path) -> Result<Spill, BlockError> {
    Ok(CrcWriter::new(BufWriter::new(File::create(path)?)))
}

/// Flushes a spill file; returns its (length, crc32c).
fn close_spill(w: Spill) -> Result<(u64, u32), BlockError> {
    let (len, crc) = (w.len, w.crc);
    w.inner
        .into_inner()
        .map_err(|e| BlockError::Io(e.into_error()))?;
    Ok((len, crc))
}

/// Where postings of one key or name are: inline (`len == 0`: `at` is the
/// single series id) or `len` bytes at `at` in the postings section.
#[derive(Clone, Copy, Debug)]
struct PostingsRef {
    at: u64,
    len: u32,
    count: u32,
}

/// Per label name, while writing.
struct NameStats {
    symbol: u32,
    occurrences: u64,
    value_bytes: u64,
}

fn bad_input(why: impl Into<String>) -> BlockError {
    BlockError::BadInput(why.into())
}

fn own_data() -> BlockError {
    bad_input("index draft unreadable while writing")
}

/// Builds a version-2 index file; see the module docs.
pub(crate) struct IndexWriter {
    path: PathBuf,
    spill_dir: PathBuf,
    /// Draft entries: uvarint(nlabels) (uvarint(symbol) str(value))… chunks.
    drafts: Option<Spill>,
    /// Offsets of the drafts, replaced by the final entries' offsets as
    /// `finish` writes them.
    offsets: Vec<u64>,
    names: HashMap<String, NameStats>,
    entry: Vec<u8>,
    /// Occurrence bytes per postings pass (tests make it small).
    pub(crate) pass_bytes: u64,
}

impl IndexWriter {
    /// The index goes to `path`; temporary files to `spill_dir` (the
    /// block's temp dir, removed with it on failure).
    pub(crate) fn create(path: &Path, spill_dir: &Path) -> Result<Self, BlockError> {
        Ok(IndexWriter {
            path: path.to_path_buf(),
            spill_dir: spill_dir.to_path_buf(),
            drafts: Some(spill(&spill_dir.join("index.drafts.tmp"))?),
            offsets: Vec::new(),
            names: HashMap::new(),
            entry: Vec::new(),
            pass_bytes: POSTINGS_PASS_BYTES,
        })
    }

    /// Appends the entry of the next series (ids are assigned in call order).
    pub(crate) fn add_series(
        &mut self,
        labels: &Labels,
        chunks: impl ExactSizeIterator<Item = ChunkMeta>,
    ) -> Result<(), BlockError> {
        if self.offsets.len() > u32::MAX as usize {
            return Err(bad_input("more series than a block holds"));
        }
        let e = &mut self.entry;
        e.clear();
        put_uvarint(e, labels.len() as u64);
        for l in labels.iter() {
            let next =
                u32::try_from(self.names.len()).map_err(|_| bad_input("too many label names"))?;
            let stats = match self.names.get_mut(l.name.as_str()) {
                Some(s) => s,
                None => self.names.entry(l.name.to_string()).or_insert(NameStats {
                    symbol: next,
                    occurrences: 0,
                    value_bytes: 0,
                }),
            };
            stats.occurrences += 1;
            stats.value_bytes += l.value.len() as u64;
            put_uvarint(e, u64::from(stats.symbol));
            put_str(e, &l.value);
        }
        put_chunks(e, chunks);
        let drafts = self
            .drafts
            .as_mut()
            .ok_or_else(|| bad_input("index writer already finished"))?;
        self.offsets.push(drafts.len);
        drafts.write_all(&self.entry)?;
        Ok(())
    }

    /// Writes the index; returns the file (not yet fsynced) and its length.
    pub(crate) fn finish(mut self) -> Result<(File, u64), BlockError> {
        let dir = self.spill_dir.clone();
        let drafts_path = dir.join("index.drafts.tmp");
        let drafts = self
            .drafts
            .take()
            .ok_or_else(|| bad_input("index writer already finished"))?;
        let (drafts_end, _) = close_spill(drafts)?;

        // Names in sorted order; `ranks` maps a draft symbol to its position.
        let mut names: Vec<(String, NameStats)> = self.names.drain().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let mut ranks = vec![0u32; names.len()];
        for (i, (_, s)) in names.iter().enumerate() {
            if let Some(slot) = ranks.get_mut(s.symbol as usize) {
                *slot = i as u32;
            }
        }
        let (postings_path, strings_path, keys_path) = (
            dir.join("index.postings.tmp"),
            dir.join("index.strings.tmp"),
            dir.join("index.keys.tmp"),
        );
        let mut out = Outputs {
            postings: spill(&postings_path)?,
            strings: spill(&strings_path)?,
            keys: spill(&keys_path)?,
            names: Vec::with_capacity(names.len()),
            nkeys: 0,
        };
        let mut refs_paths = Vec::new();
        let mut from = 0;
        while from < names.len() {
            let mut to = from;
            let mut budget = 0u64;
            while to < names.len() {
                let s = &names[to].1;
                let cost = s.occurrences * 16 + s.value_bytes;
                if to > from && budget + cost > self.pass_bytes {
                    break;
                }
                budget += cost;
                to += 1;
            }
            let refs_path = dir.join(format!("index.refs.{}.tmp", refs_paths.len()));
            let pass = PostingsPass {
                drafts: &drafts_path,
                drafts_end,
                offsets: &self.offsets,
                ranks: &ranks,
                pass: from..to,
            };
            pass.run(&names[from..to], &mut out, &refs_path)?;
            refs_paths.push(refs_path);
            from = to;
        }

        // Final entries: each draft with its labels replaced by its keys.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.path)?;
        let mut w = CrcWriter::new(BufWriter::new(file));
        w.write_all(&crate::header_v(crate::INDEX_MAGIC, INDEX_V2))?;
        w.section();
        let mut toc = [(0u64, 0u64, 0u32); SECTIONS];
        let mut refs: Vec<RefsReader> = refs_paths
            .iter()
            .map(|p| Ok(RefsReader::new(File::open(p)?)))
            .collect::<Result<_, BlockError>>()?;
        let mut window = SeriesWindow::new(File::open(&drafts_path)?, drafts_end);
        let mut keys: Vec<u32> = Vec::new();
        for id in 0..self.offsets.len() {
            let draft = window.entry(&self.offsets, id, 0)?;
            let mut r = Reader::new(draft);
            let n = r.uvarint().ok_or_else(own_data)?;
            for _ in 0..n {
                r.uvarint().ok_or_else(own_data)?;
                r.str().ok_or_else(own_data)?;
            }
            let chunks = draft.get(r.pos..).ok_or_else(own_data)?;
            keys.clear();
            for rr in &mut refs {
                rr.take(id as u32, &mut keys)?;
            }
            if keys.len() as u64 != n || keys.windows(2).any(|k| k[0] >= k[1]) {
                return Err(own_data());
            }
            let e = &mut self.entry;
            e.clear();
            put_uvarint(e, n);
            let mut prev = 0u32;
            for (i, k) in keys.iter().enumerate() {
                put_uvarint(e, u64::from(if i == 0 { *k } else { k - prev }));
                prev = *k;
            }
            e.extend_from_slice(chunks);
            // The draft's offset is no longer needed: the next draft's
            // start (its end) is read before it is replaced.
            self.offsets[id] = w.len - 8;
            w.write_all(&self.entry)?;
        }
        drop(window);
        drop(refs);
        let series_end = w.len;
        let (_, crc) = w.section();
        toc[SERIES] = (8, series_end - 8, crc);
        for o in &self.offsets {
            w.write_all(&o.to_le_bytes())?;
        }
        let (end, crc) = w.section();
        toc[TABLE] = (series_end, end - series_end, crc);

        let Outputs {
            postings,
            strings,
            keys: key_recs,
            names: name_recs,
            ..
        } = out;
        for (section, path, s) in [
            (POSTINGS, &postings_path, postings),
            (STRINGS, &strings_path, strings),
            (KEYS, &keys_path, key_recs),
        ] {
            let (len, crc) = close_spill(s)?;
            let start = w.len;
            std::io::copy(&mut File::open(path)?, &mut w)?;
            w.section();
            if w.len - start != len {
                return Err(bad_input("index spill file changed while copied"));
            }
            toc[section] = (start, len, crc);
        }
        let start = w.len;
        for r in &name_recs {
            w.write_all(r)?;
        }
        let (end, crc) = w.section();
        toc[NAMES] = (start, end - start, crc);
        let mut t = Vec::with_capacity(TOC_LEN);
        for (off, len, crc) in toc {
            t.extend_from_slice(&off.to_le_bytes());
            t.extend_from_slice(&len.to_le_bytes());
            t.extend_from_slice(&crc.to_le_bytes());
        }
        let c = crc32c::crc32c(&t);
        t.extend_from_slice(&c.to_le_bytes());
        w.write_all(&t)?;
        let len = w.len;
        let f = w
            .inner
            .into_inner()
            .map_err(|e| BlockError::Io(e.into_error()))?;
        for p in [&drafts_path, &postings_path, &strings_path, &keys_path]
            .into_iter()
            .chain(&refs_paths)
        {
            std::fs::remove_file(p)?;
        }
        Ok((f, len))
    }
}

fn put_chunks(e: &mut Vec<u8>, chunks: impl ExactSizeIterator<Item = ChunkMeta>) {
    put_uvarint(e, chunks.len() as u64);
    let (mut prev_t, mut prev_page) = (0i64, 0u64);
    for c in chunks {
        // Differences (wrapping, so any input round-trips): chunks of a
        // series follow one another in time and in the chunks file.
        put_varint(e, c.min_t.wrapping_sub(prev_t));
        put_varint(e, c.max_t.wrapping_sub(c.min_t));
        put_varint(e, c.page.wrapping_sub(prev_page) as i64);
        put_uvarint(e, u64::from(c.off));
        put_uvarint(e, u64::from(c.len));
        (prev_t, prev_page) = (c.max_t, c.page);
    }
}

/// What the postings passes produce.
struct Outputs {
    postings: Spill,
    strings: Spill,
    keys: Spill,
    names: Vec<[u8; NAME_LEN]>,
    nkeys: u64,
}

/// Reads a pass's (series id, key) spill, sorted by series id.
struct RefsReader {
    r: BufReader<File>,
    peeked: Option<(u32, u32)>,
}

impl RefsReader {
    fn new(f: File) -> Self {
        RefsReader {
            r: BufReader::with_capacity(64 << 10, f),
            peeked: None,
        }
    }

    fn peek(&mut self) -> Result<Option<(u32, u32)>, BlockError> {
        if self.peeked.is_none() {
            let mut b = [0u8; 8];
            match self.r.read_exact(&mut b) {
                Ok(()) => {
                    self.peeked = Some((
                        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                        u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
                    ))
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.peeked)
    }

    /// Appends the keys of series `id` to `out`.
    fn take(&mut self, id: u32, out: &mut Vec<u32>) -> Result<(), BlockError> {
        while let Some((sid, key)) = self.peek()? {
            if sid != id {
                break;
            }
            out.push(key);
            self.peeked = None;
        }
        Ok(())
    }
}

/// One pass of postings building over the label names `pass` (positions in
/// the sorted names).
struct PostingsPass<'a> {
    drafts: &'a Path,
    drafts_end: u64,
    offsets: &'a [u64],
    ranks: &'a [u32],
    pass: std::ops::Range<usize>,
}

impl PostingsPass<'_> {
    fn run(
        &self,
        names: &[(String, NameStats)],
        out: &mut Outputs,
        refs_path: &Path,
    ) -> Result<(), BlockError> {
        let too_big = || bad_input("label values of one name exceed 4 GiB in a block");
        let mut arena: Vec<u8> = Vec::new();
        // (rank in pass, series id, value offset in arena, value length)
        let mut occ: Vec<(u32, u32, u32, u32)> = Vec::new();
        let mut last: Vec<Option<(u32, u32)>> = vec![None; self.pass.len()];
        let mut window = SeriesWindow::new(File::open(self.drafts)?, self.drafts_end);
        for id in 0..self.offsets.len() {
            let mut r = Reader::new(window.entry(self.offsets, id, 0)?);
            let n = r.uvarint().ok_or_else(own_data)?;
            for _ in 0..n {
                let sym = r.uvarint().ok_or_else(own_data)?;
                let value = r.str().ok_or_else(own_data)?.as_bytes();
                let rank = usize::try_from(sym)
                    .ok()
                    .and_then(|s| self.ranks.get(s))
                    .ok_or_else(own_data)?;
                let Some(local) = (*rank as usize).checked_sub(self.pass.start) else {
                    continue;
                };
                let Some(slot) = last.get_mut(local) else {
                    continue;
                };
                // Series come sorted, so equal values of a name are often
                // neighbours: store them once.
                let (off, len) = match *slot {
                    Some((off, len))
                        if arena.get(off as usize..(off + len) as usize) == Some(value) =>
                    {
                        (off, len)
                    }
                    _ => {
                        let off = u32::try_from(arena.len()).map_err(|_| too_big())?;
                        let len = u32::try_from(value.len()).map_err(|_| too_big())?;
                        arena.extend_from_slice(value);
                        u32::try_from(arena.len()).map_err(|_| too_big())?;
                        (off, len)
                    }
                };
                *slot = Some((off, len));
                occ.push((local as u32, id as u32, off, len));
            }
        }
        drop(window);
        let val = |o: &(u32, u32, u32, u32)| &arena[o.2 as usize..(o.2 + o.3) as usize];
        occ.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| val(a).cmp(val(b)))
                .then(a.1.cmp(&b.1))
        });
        let mut ids: Vec<u32> = Vec::new();
        // (series id, key) of every occurrence, for the final entries.
        let mut refs: Vec<(u32, u32)> = Vec::with_capacity(occ.len());
        let mut i = 0;
        for (local, (name, _)) in names.iter().enumerate() {
            let first_key = out.nkeys;
            let mut union = RoaringBitmap::new();
            while occ.get(i).is_some_and(|o| o.0 as usize == local) {
                let v = val(&occ[i]);
                let key = u32::try_from(out.nkeys).map_err(|_| bad_input("too many keys"))?;
                ids.clear();
                while occ
                    .get(i)
                    .is_some_and(|o| o.0 as usize == local && val(o) == v)
                {
                    ids.push(occ[i].1);
                    refs.push((occ[i].1, key));
                    i += 1;
                }
                union.extend(ids.iter().copied());
                let value_at = out.strings.len;
                let mut s = Vec::with_capacity(v.len() + 5);
                put_uvarint(&mut s, v.len() as u64);
                s.extend_from_slice(v);
                out.strings.write_all(&s)?;
                let p = write_postings(&mut out.postings, &ids, None)?;
                out.keys.write_all(&value_at.to_le_bytes())?;
                put_ref(&mut out.keys, p)?;
                out.nkeys += 1;
            }
            let name_at = out.strings.len;
            let mut s = Vec::new();
            put_str(&mut s, name);
            out.strings.write_all(&s)?;
            let p = write_postings(&mut out.postings, &[], Some(&union))?;
            let mut rec = [0u8; NAME_LEN];
            rec[..8].copy_from_slice(&name_at.to_le_bytes());
            rec[8..16].copy_from_slice(&first_key.to_le_bytes());
            rec[16..24].copy_from_slice(&(out.nkeys - first_key).to_le_bytes());
            rec[24..32].copy_from_slice(&p.at.to_le_bytes());
            rec[32..36].copy_from_slice(&p.len.to_le_bytes());
            rec[36..40].copy_from_slice(&p.count.to_le_bytes());
            out.names.push(rec);
        }
        drop(occ);
        drop(arena);
        refs.sort_unstable();
        let mut w = BufWriter::new(File::create(refs_path)?);
        for (id, key) in refs {
            w.write_all(&id.to_le_bytes())?;
            w.write_all(&key.to_le_bytes())?;
        }
        w.into_inner().map_err(|e| BlockError::Io(e.into_error()))?;
        Ok(())
    }
}

fn put_ref(w: &mut impl Write, p: PostingsRef) -> Result<(), BlockError> {
    w.write_all(&p.at.to_le_bytes())?;
    w.write_all(&p.len.to_le_bytes())?;
    w.write_all(&p.count.to_le_bytes())?;
    Ok(())
}

/// Writes the postings of sorted `ids` (or of `bitmap`) unless one series
/// can be referenced inline.
fn write_postings(
    out: &mut Spill,
    ids: &[u32],
    bitmap: Option<&RoaringBitmap>,
) -> Result<PostingsRef, BlockError> {
    let owned;
    let bm = match bitmap {
        Some(b) => b,
        None => {
            if let [id] = ids {
                return Ok(PostingsRef {
                    at: u64::from(*id),
                    len: 0,
                    count: 1,
                });
            }
            owned = RoaringBitmap::from_sorted_iter(ids.iter().copied())
                .map_err(|_| bad_input("postings ids not sorted"))?;
            &owned
        }
    };
    let count = u32::try_from(bm.len()).map_err(|_| bad_input("postings too large"))?;
    if let (1, Some(id)) = (count, bm.min()) {
        return Ok(PostingsRef {
            at: u64::from(id),
            len: 0,
            count,
        });
    }
    let at = out.len;
    let len = u32::try_from(bm.serialized_size()).map_err(|_| bad_input("postings too large"))?;
    bm.serialize_into(&mut *out)?;
    Ok(PostingsRef { at, len, count })
}

/// Reads series entries of an index file with positioned reads through a
/// window of at least 64 KiB, for sequential walks (writing postings,
/// compaction) that should not fault the whole mmap into the RSS.
pub(crate) struct SeriesWindow {
    file: File,
    section_end: u64,
    start: u64,
    buf: Vec<u8>,
}

impl SeriesWindow {
    pub(crate) fn new(file: File, section_end: u64) -> Self {
        SeriesWindow {
            file,
            section_end,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// The bytes of entry `id` whose offsets (relative to `base`) are in
    /// `offsets`.
    fn entry(&mut self, offsets: &[u64], id: usize, base: u64) -> Result<&[u8], BlockError> {
        let bad = || bad_input("series offsets out of order");
        let from = offsets.get(id).ok_or_else(bad)? + base;
        let to = match offsets.get(id + 1) {
            Some(o) => o + base,
            None => self.section_end,
        };
        self.range(from, to).ok_or_else(bad)
    }

    /// Bytes `[from, to)` of the file, which must lie before `section_end`.
    pub(crate) fn range(&mut self, from: u64, to: u64) -> Option<&[u8]> {
        if from > to || to > self.section_end {
            return None;
        }
        let end = self.start + self.buf.len() as u64;
        if from < self.start || to > end {
            let want = (to - from).max(64 << 10).min(self.section_end - from);
            self.buf.resize(usize::try_from(want).ok()?, 0);
            self.file.read_exact_at(&mut self.buf, from).ok()?;
            self.start = from;
        }
        let a = usize::try_from(from - self.start).ok()?;
        let b = usize::try_from(to - self.start).ok()?;
        self.buf.get(a..b)
    }
}

/// A decoded key: a (name, value) pair and where its series are.
struct Key<'a> {
    value: &'a str,
    postings: PostingsRef,
}

/// A decoded entry of the names section.
#[derive(Clone, Copy)]
struct NameRec<'a> {
    name: &'a str,
    first_key: u64,
    nkeys: u64,
    union: PostingsRef,
}

/// A version-2 index, mmap'd; every offset read from it is checked.
pub(crate) struct MmapIndex {
    path: PathBuf,
    map: memmap2::Mmap,
    sections: [(usize, usize); SECTIONS],
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

fn postings_ref(b: &[u8], at: usize) -> Option<PostingsRef> {
    Some(PostingsRef {
        at: le64(b, at)?,
        len: le32(b, at + 8)?,
        count: le32(b, at + 12)?,
    })
}

impl MmapIndex {
    /// Checks the table of contents, every section's checksum (read with
    /// positioned reads into a small buffer, so the check does not make the
    /// whole index resident) and the names table.
    pub(crate) fn open(path: &Path, file: &File) -> Result<MmapIndex, BlockError> {
        // SAFETY: blocks are immutable once renamed into place; Strata never
        // writes to a block's index after that.
        let map = unsafe { memmap2::Mmap::map(file)? };
        let len = map.len();
        let toc_at = len
            .checked_sub(TOC_LEN)
            .filter(|t| *t >= 8)
            .ok_or_else(|| corrupt(path, "index shorter than its table of contents"))?;
        let toc = &map[toc_at..];
        if le32(toc, TOC_LEN - 4) != Some(crc32c::crc32c(&toc[..TOC_LEN - 4])) {
            return Err(corrupt(path, "index table of contents checksum mismatch"));
        }
        let mut sections = [(0usize, 0usize); SECTIONS];
        let mut expect = 8usize;
        let mut buf = vec![0u8; 64 << 10];
        for (i, s) in sections.iter_mut().enumerate() {
            let name = SECTION_NAMES[i];
            let bad = || corrupt(path, format!("index {name} section out of place"));
            let off = le64(toc, i * 20).ok_or_else(bad)?;
            let slen = le64(toc, i * 20 + 8).ok_or_else(bad)?;
            let crc = le32(toc, i * 20 + 16).ok_or_else(bad)?;
            let start = usize::try_from(off).map_err(|_| bad())?;
            let slen = usize::try_from(slen).map_err(|_| bad())?;
            let end = start.checked_add(slen).ok_or_else(bad)?;
            if start != expect || end > toc_at {
                return Err(bad());
            }
            let mut got = 0u32;
            let mut at = start;
            while at < end {
                let n = (end - at).min(buf.len());
                file.read_exact_at(&mut buf[..n], at as u64)?;
                got = crc32c::crc32c_append(got, &buf[..n]);
                at += n;
            }
            if got != crc {
                return Err(corrupt(
                    path,
                    format!("index {name} section checksum mismatch"),
                ));
            }
            *s = (start, end);
            expect = end;
        }
        if expect != toc_at {
            return Err(corrupt(path, "index sections do not fill the file"));
        }
        let idx = MmapIndex {
            path: path.to_path_buf(),
            map,
            sections,
        };
        idx.check_shape()?;
        Ok(idx)
    }

    fn check_shape(&self) -> Result<(), BlockError> {
        let sized = |s: usize, n: usize| self.sec(s).len().is_multiple_of(n);
        if !sized(TABLE, 8) || !sized(KEYS, KEY_LEN) || !sized(NAMES, NAME_LEN) {
            return Err(self.bad("index section of a partial record"));
        }
        if self.sec(TABLE).len() / 8 > u32::MAX as usize + 1 {
            return Err(self.bad("more series than ids"));
        }
        // Names: strictly sorted, their key ranges tile the keys section.
        let mut next_key = 0u64;
        let mut prev: Option<&str> = None;
        for i in 0..self.num_names() {
            let n = self.name(i)?;
            if prev.is_some_and(|p| p >= n.name) || n.first_key != next_key || n.nkeys == 0 {
                return Err(self.bad("index names table malformed"));
            }
            next_key = next_key
                .checked_add(n.nkeys)
                .ok_or_else(|| self.bad("key count"))?;
            prev = Some(n.name);
        }
        if next_key != self.num_keys() {
            return Err(self.bad("index names do not cover the keys"));
        }
        Ok(())
    }

    fn bad(&self, why: &str) -> BlockError {
        corrupt(&self.path, why)
    }

    fn sec(&self, i: usize) -> &[u8] {
        let (a, b) = self.sections[i];
        self.map.get(a..b).unwrap_or_default()
    }

    pub(crate) fn num_series(&self) -> u32 {
        // check_shape bounds this by u32::MAX + 1; a full id space is clipped.
        u32::try_from(self.sec(TABLE).len() / 8).unwrap_or(u32::MAX)
    }

    /// The file offset where the series section ends (for `SeriesWindow`).
    pub(crate) fn series_end(&self) -> u64 {
        self.sections[SERIES].1 as u64
    }

    fn num_keys(&self) -> u64 {
        (self.sec(KEYS).len() / KEY_LEN) as u64
    }

    fn num_names(&self) -> usize {
        self.sec(NAMES).len() / NAME_LEN
    }

    fn string(&self, at: u64) -> Result<&str, BlockError> {
        let s = self.sec(STRINGS);
        usize::try_from(at)
            .ok()
            .and_then(|a| s.get(a..))
            .and_then(|b| Reader::new(b).str())
            .ok_or_else(|| self.bad("index string reference out of range"))
    }

    fn name(&self, i: usize) -> Result<NameRec<'_>, BlockError> {
        let b = self.sec(NAMES);
        let at = i * NAME_LEN;
        let bad = || self.bad("index name record out of range");
        let name = self.string(le64(b, at).ok_or_else(bad)?)?;
        Ok(NameRec {
            name,
            first_key: le64(b, at + 8).ok_or_else(bad)?,
            nkeys: le64(b, at + 16).ok_or_else(bad)?,
            union: postings_ref(b, at + 24).ok_or_else(bad)?,
        })
    }

    fn find_name(&self, name: &str) -> Result<Option<NameRec<'_>>, BlockError> {
        let (mut lo, mut hi) = (0, self.num_names());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let n = self.name(mid)?;
            match n.name.cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(n)),
            }
        }
        Ok(None)
    }

    fn key(&self, k: u64) -> Result<Key<'_>, BlockError> {
        let b = self.sec(KEYS);
        let bad = || self.bad("index key out of range");
        let at = usize::try_from(k)
            .ok()
            .and_then(|k| k.checked_mul(KEY_LEN))
            .ok_or_else(bad)?;
        let value = self.string(le64(b, at).ok_or_else(bad)?)?;
        Ok(Key {
            value,
            postings: postings_ref(b, at + 8).ok_or_else(bad)?,
        })
    }

    /// The first key of `n` whose value is ≥ `value`.
    fn lower_bound(&self, n: &NameRec<'_>, value: &str) -> Result<u64, BlockError> {
        let (mut lo, mut hi) = (n.first_key, n.first_key + n.nkeys);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(mid)?.value < value {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    fn find_key(&self, name: &str, value: &str) -> Result<Option<Key<'_>>, BlockError> {
        let Some(n) = self.find_name(name)? else {
            return Ok(None);
        };
        let k = self.lower_bound(&n, value)?;
        if k >= n.first_key + n.nkeys {
            return Ok(None);
        }
        let key = self.key(k)?;
        Ok((key.value == value).then_some(key))
    }

    fn postings(&self, p: PostingsRef) -> Result<RoaringBitmap, BlockError> {
        let bad = || self.bad("index postings out of range");
        if p.len == 0 {
            let id = u32::try_from(p.at).map_err(|_| bad())?;
            if p.count != 1 || id >= self.num_series() {
                return Err(bad());
            }
            return Ok(std::iter::once(id).collect());
        }
        let s = self.sec(POSTINGS);
        let bytes = usize::try_from(p.at)
            .ok()
            .and_then(|a| s.get(a..a.checked_add(p.len as usize)?))
            .ok_or_else(bad)?;
        let bm = RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| self.bad(&format!("index postings: {e}")))?;
        if bm.len() != u64::from(p.count) || bm.max().is_some_and(|m| m >= self.num_series()) {
            return Err(bad());
        }
        Ok(bm)
    }

    fn postings_intersect(&self, p: PostingsRef, ids: &RoaringBitmap) -> Result<bool, BlockError> {
        if p.len == 0 {
            return Ok(u32::try_from(p.at).is_ok_and(|id| ids.contains(id)));
        }
        Ok(!self.postings(p)?.is_disjoint(ids))
    }

    fn all(&self) -> RoaringBitmap {
        let mut b = RoaringBitmap::new();
        b.insert_range(0..self.num_series());
        b
    }

    fn label_union(&self, name: &str) -> Result<RoaringBitmap, BlockError> {
        match self.find_name(name)? {
            Some(n) => self.postings(n.union),
            None => Ok(RoaringBitmap::new()),
        }
    }

    fn equal(&self, name: &str, value: &str) -> Result<RoaringBitmap, BlockError> {
        match self.find_key(name, value)? {
            Some(k) => self.postings(k.postings),
            None => Ok(RoaringBitmap::new()),
        }
    }

    fn regex_values(&self, m: &Matcher) -> Result<RoaringBitmap, BlockError> {
        let mut out = RoaringBitmap::new();
        let (Some(n), Some(re)) = (self.find_name(&m.name)?, m.regex()) else {
            return Ok(out);
        };
        if let Some(set) = re.literal_set() {
            for v in set {
                if let Some(k) = self.find_key(&m.name, v)? {
                    out |= self.postings(k.postings)?;
                }
            }
            return Ok(out);
        }
        let prefix = re.required_prefix();
        let end = n.first_key + n.nkeys;
        let mut k = self.lower_bound(&n, prefix)?;
        // Single-series keys are gathered and inserted at once.
        let mut singles: Vec<u32> = Vec::new();
        while k < end {
            let key = self.key(k)?;
            if !key.value.starts_with(prefix) {
                break;
            }
            if re.is_match(key.value) {
                if key.postings.len == 0 {
                    singles.push(
                        u32::try_from(key.postings.at)
                            .map_err(|_| self.bad("index postings out of range"))?,
                    );
                } else {
                    out |= self.postings(key.postings)?;
                }
            }
            k += 1;
        }
        if singles.iter().any(|id| *id >= self.num_series()) {
            return Err(self.bad("index postings out of range"));
        }
        singles.sort_unstable();
        out.extend(singles);
        Ok(out)
    }

    /// Series matching one matcher, a missing label having the empty value.
    fn for_matcher(&self, m: &Matcher) -> Result<RoaringBitmap, BlockError> {
        let name = m.name.as_str();
        let lacking =
            || -> Result<RoaringBitmap, BlockError> { Ok(self.all() - self.label_union(name)?) };
        Ok(match m.op {
            MatchOp::Equal if m.value.is_empty() => lacking()?,
            MatchOp::Equal => self.equal(name, &m.value)?,
            MatchOp::NotEqual if m.value.is_empty() => self.label_union(name)?,
            MatchOp::NotEqual => self.all() - self.equal(name, &m.value)?,
            MatchOp::RegexMatch => {
                let mut out = self.regex_values(m)?;
                if m.matches_empty() {
                    out |= lacking()?;
                }
                out
            }
            MatchOp::RegexNoMatch => {
                let mut matched = self.regex_values(m)?;
                if m.regex().is_some_and(|r| r.matches_empty()) {
                    matched |= lacking()?;
                }
                self.all() - matched
            }
        })
    }

    /// Series matching every matcher (all series when there are none).
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Result<RoaringBitmap, BlockError> {
        crate::postings::intersect_matchers(matchers, |m| self.for_matcher(m), || self.all())
    }

    pub(crate) fn label_names(
        &self,
        ids: Option<&RoaringBitmap>,
    ) -> Result<Vec<String>, BlockError> {
        let mut out = Vec::new();
        for i in 0..self.num_names() {
            let n = self.name(i)?;
            let keep = match ids {
                None => true,
                Some(ids) => self.postings_intersect(n.union, ids)?,
            };
            if keep {
                out.push(n.name.to_string());
            }
        }
        Ok(out)
    }

    pub(crate) fn label_values(
        &self,
        name: &str,
        ids: Option<&RoaringBitmap>,
    ) -> Result<Vec<String>, BlockError> {
        let Some(n) = self.find_name(name)? else {
            return Ok(Vec::new());
        };
        if let Some(ids) = ids {
            // Fewer series than values: read the series, not every postings list.
            if ids.len() < n.nkeys {
                let mut values = BTreeSet::new();
                for id in ids {
                    if let Some(v) = self.series_value(id, &n)? {
                        values.insert(v);
                    }
                }
                return Ok(values.into_iter().map(str::to_string).collect());
            }
        }
        let mut out = Vec::new();
        for k in n.first_key..n.first_key + n.nkeys {
            let key = self.key(k)?;
            if let Some(ids) = ids
                && !self.postings_intersect(key.postings, ids)?
            {
                continue;
            }
            out.push(key.value.to_string());
        }
        Ok(out)
    }

    /// (label name, number of distinct values).
    pub(crate) fn cardinality(&self) -> Result<Vec<(String, u64)>, BlockError> {
        (0..self.num_names())
            .map(|i| self.name(i).map(|n| (n.name.to_string(), n.nkeys)))
            .collect()
    }

    pub(crate) fn count(&self, name: &str, value: &str) -> Result<u64, BlockError> {
        Ok(self
            .find_key(name, value)?
            .map_or(0, |k| u64::from(k.postings.count)))
    }

    pub(crate) fn entry_range(&self, id: u32) -> Result<(u64, u64), BlockError> {
        let bad = || self.bad("index series reference out of range");
        let t = self.sec(TABLE);
        let i = id as usize;
        let from = le64(t, i * 8).ok_or_else(bad)?;
        let to = match le64(t, (i + 1) * 8) {
            Some(o) => o,
            None if (i + 1) * 8 == t.len() => self.sec(SERIES).len() as u64,
            None => return Err(bad()),
        };
        if from > to || to > self.sec(SERIES).len() as u64 {
            return Err(bad());
        }
        Ok((from + 8, to + 8))
    }

    fn entry(&self, id: u32) -> Result<&[u8], BlockError> {
        let (from, to) = self.entry_range(id)?;
        self.map
            .get(from as usize..to as usize)
            .ok_or_else(|| self.bad("index series reference out of range"))
    }

    /// The position of the name whose key range holds key `k`, searching
    /// names from `from` on (an entry's keys increase, so its names do).
    fn name_of_key(&self, k: u64, from: usize) -> Result<usize, BlockError> {
        let b = self.sec(NAMES);
        let (mut lo, mut hi) = (from, self.num_names());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (Some(first), Some(n)) =
                (le64(b, mid * NAME_LEN + 8), le64(b, mid * NAME_LEN + 16))
            else {
                break;
            };
            if k < first {
                hi = mid;
            } else if k - first >= n {
                lo = mid + 1;
            } else {
                return Ok(mid);
            }
        }
        Err(self.bad("index series names a key out of range"))
    }

    /// (name, value) of the labels whose keys are `keys` (increasing, so the
    /// names come sorted; a name twice is refused).
    pub(crate) fn labels_of(&self, keys: &[u64]) -> Result<Vec<(&str, &str)>, BlockError> {
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(keys.len());
        let mut from = 0;
        for &k in keys {
            let i = self.name_of_key(k, from)?;
            if i < from {
                return Err(self.bad("index series has a label name twice"));
            }
            from = i + 1;
            out.push((self.name(i)?.name, self.key(k)?.value));
        }
        Ok(out)
    }

    /// The labels and chunk metas of series `id`.
    pub(crate) fn series(
        &self,
        id: u32,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<Labels, BlockError> {
        let mut keys = Vec::new();
        parse_entry(self.entry(id)?, Some(&mut keys), chunks)
            .ok_or_else(|| self.bad("malformed index series entry"))?;
        Ok(to_labels(&self.labels_of(&keys)?))
    }

    /// Only the chunk metas of series `id`.
    pub(crate) fn chunks(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<(), BlockError> {
        parse_entry(self.entry(id)?, None, chunks)
            .ok_or_else(|| self.bad("malformed index series entry"))
    }

    /// The value of label `n` of series `id`, if it has it.
    fn series_value(&self, id: u32, n: &NameRec<'_>) -> Result<Option<&str>, BlockError> {
        let mut keys = Vec::new();
        parse_entry(self.entry(id)?, Some(&mut keys), &mut Vec::new())
            .ok_or_else(|| self.bad("malformed index series entry"))?;
        match keys
            .into_iter()
            .find(|k| (n.first_key..n.first_key + n.nkeys).contains(k))
        {
            Some(k) => Ok(Some(self.key(k)?.value)),
            None => Ok(None),
        }
    }
}

/// Parses a series entry: its keys (increasing) into `keys` when given,
/// chunk metas into `chunks`. `None` when malformed.
pub(crate) fn parse_entry(
    bytes: &[u8],
    mut keys: Option<&mut Vec<u64>>,
    chunks: &mut Vec<ChunkMeta>,
) -> Option<()> {
    let mut r = Reader::new(bytes);
    let n = r.uvarint()?;
    let mut key = 0u64;
    for i in 0..n {
        let d = r.uvarint()?;
        if i > 0 && d == 0 {
            return None;
        }
        key = key.checked_add(d)?;
        if let Some(out) = keys.as_deref_mut() {
            out.push(key);
        }
    }
    let nc = r.uvarint()?;
    chunks.clear();
    let (mut prev_t, mut prev_page) = (0i64, 0u64);
    for _ in 0..nc {
        let min_t = prev_t.wrapping_add(r.varint()?);
        let max_t = min_t.wrapping_add(r.varint()?);
        let page = prev_page.wrapping_add(r.varint()? as u64);
        let off = u32::try_from(r.uvarint()?).ok()?;
        let len = u32::try_from(r.uvarint()?).ok()?;
        chunks.push(ChunkMeta {
            min_t,
            max_t,
            page,
            off,
            len,
        });
        (prev_t, prev_page) = (max_t, page);
    }
    (r.pos == bytes.len()).then_some(())
}

pub(crate) fn to_labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_sorted(pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect())
}
