//! The block index, version 2: written in sections that the reader uses in
//! place from an mmap, so an open block costs a few words of heap instead of
//! its label sets and postings (docs/format-block.md, "index, version 2").
//!
//! ```text
//! header   "SIDX" u32(2)
//! series   entries: uvarint(nlabels) (uvarint(symbol) str(value))… uvarint(nchunks) chunk…
//! table    u64 × nseries: offset of each entry in `series`
//! postings roaring portable serializations, addressed by keys and names
//! strings  str(value or name)…, addressed by keys and names
//! keys     24 B × nkeys, sorted by (name, value): value u64, postings u64, plen u32, count u32
//! names    40 B × nnames, sorted: name u64, first key u64, nkeys u64, union postings u64, plen u32, count u32
//! symbols  u32 × nsymbols: the names index of each symbol used in `series`
//! toc      7 × (offset u64, len u64, crc32c u32), crc32c(toc) u32
//! ```
//!
//! A postings reference with `plen == 0` is a single series whose id is the
//! `postings` field itself (most keys of high-cardinality labels are that).
//!
//! The writer streams series entries into the file as their chunk pages are
//! known, keeping 8 bytes per series (the offset table) and a few counters
//! per label name. Postings are built at `finish` by re-reading the series
//! section in passes over consecutive label names, each pass holding at most
//! [`POSTINGS_PASS_BYTES`] of (name, value, series) occurrences (one label
//! name alone may exceed it: its pass holds 16 B per occurrence plus its
//! distinct values).

use crate::codec::{Reader, put_str, put_uvarint, put_varint};
use crate::{BlockError, ChunkMeta, corrupt};
use roaring::RoaringBitmap;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
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
const SYMBOLS: usize = 6;
const SECTIONS: usize = 7;
const SECTION_NAMES: [&str; SECTIONS] = [
    "series", "table", "postings", "strings", "keys", "names", "symbols",
];
const TOC_LEN: usize = SECTIONS * 20 + 4;
const KEY_LEN: usize = 24;
const NAME_LEN: usize = 40;

/// Occurrence bytes one postings pass of the writer may gather.
pub(crate) const POSTINGS_PASS_BYTES: u64 = 16 << 20;

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

/// Builds a version-2 index file; see the module docs for the layout.
pub(crate) struct IndexWriter {
    path: PathBuf,
    out: CrcWriter<BufWriter<File>>,
    /// Entry offsets relative to the series section.
    offsets: Vec<u64>,
    names: HashMap<String, NameStats>,
    entry: Vec<u8>,
    /// The first series of the current group of `SERIES_GROUP`.
    base: Labels,
    /// Occurrence bytes per postings pass (tests make it small).
    pub(crate) pass_bytes: u64,
}

fn bad_input(why: impl Into<String>) -> BlockError {
    BlockError::BadInput(why.into())
}

impl IndexWriter {
    pub(crate) fn create(path: &Path) -> Result<Self, BlockError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let mut out = CrcWriter::new(BufWriter::new(file));
        out.write_all(&crate::header_v(crate::INDEX_MAGIC, INDEX_V2))?;
        out.section();
        Ok(IndexWriter {
            path: path.to_path_buf(),
            out,
            offsets: Vec::new(),
            names: HashMap::new(),
            entry: Vec::new(),
            base: Labels::empty(),
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
        let is_base = self.offsets.len().is_multiple_of(SERIES_GROUP as usize);
        if is_base {
            self.base = labels.clone();
        }
        let e = &mut self.entry;
        e.clear();
        put_uvarint(e, labels.len() as u64);
        for l in labels.iter() {
            let next =
                u32::try_from(self.names.len()).map_err(|_| bad_input("too many label names"))?;
            let stats = match self.names.get_mut(l.name.as_str()) {
                Some(s) => s,
                None => self.names.entry(l.name.clone()).or_insert(NameStats {
                    symbol: next,
                    occurrences: 0,
                    value_bytes: 0,
                }),
            };
            stats.occurrences += 1;
            stats.value_bytes += l.value.len() as u64;
            put_uvarint(e, u64::from(stats.symbol));
            if !is_base && self.base.get(&l.name) == Some(l.value.as_str()) {
                put_uvarint(e, 0);
            } else {
                put_uvarint(e, l.value.len() as u64 + 1);
                e.extend_from_slice(l.value.as_bytes());
            }
        }
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
        self.offsets.push(self.out.len - 8);
        self.out.write_all(&self.entry)?;
        Ok(())
    }

    /// Writes the remaining sections; returns the file (not yet fsynced) and
    /// its length. `spill_dir` holds two temporary files meanwhile.
    pub(crate) fn finish(mut self, spill_dir: &Path) -> Result<(File, u64), BlockError> {
        let mut toc = [(0u64, 0u64, 0u32); SECTIONS];
        let series_end = self.out.len;
        let (_, crc) = self.out.section();
        toc[SERIES] = (8, series_end - 8, crc);
        for o in &self.offsets {
            self.out.write_all(&o.to_le_bytes())?;
        }
        let (end, crc) = self.out.section();
        toc[TABLE] = (series_end, end - series_end, crc);
        self.out.flush()?;

        // Names in sorted order; symbols map back to their position.
        let mut names: Vec<(String, NameStats)> = self.names.drain().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let mut symbols = vec![0u32; names.len()];
        for (i, (_, s)) in names.iter().enumerate() {
            if let Some(slot) = symbols.get_mut(s.symbol as usize) {
                *slot = i as u32;
            }
        }
        let strings_path = spill_dir.join("index.strings.tmp");
        let keys_path = spill_dir.join("index.keys.tmp");
        let mut strings = CrcWriter::new(BufWriter::new(File::create(&strings_path)?));
        let mut keys = CrcWriter::new(BufWriter::new(File::create(&keys_path)?));
        let postings_start = self.out.len;
        let mut name_recs: Vec<[u8; NAME_LEN]> = Vec::with_capacity(names.len());
        let mut nkeys = 0u64;
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
            let pass = PostingsPass {
                series: &self.path,
                series_end,
                offsets: &self.offsets,
                symbols: &symbols,
                ranks: from..to,
            };
            pass.run(
                &names[from..to],
                postings_start,
                &mut self.out,
                &mut strings,
                &mut keys,
                &mut name_recs,
                &mut nkeys,
            )?;
            from = to;
        }
        let (postings_end, crc) = self.out.section();
        toc[POSTINGS] = (postings_start, postings_end - postings_start, crc);

        for (i, (spill, w)) in [(&strings_path, strings), (&keys_path, keys)]
            .into_iter()
            .enumerate()
        {
            let (len, crc) = (w.len, w.crc);
            let f = w
                .inner
                .into_inner()
                .map_err(|e| BlockError::Io(e.into_error()))?;
            drop(f);
            let start = self.out.len;
            std::io::copy(&mut File::open(spill)?, &mut self.out)?;
            self.out.section();
            if self.out.len - start != len {
                return Err(bad_input("index spill file changed while copied"));
            }
            toc[[STRINGS, KEYS][i]] = (start, len, crc);
            std::fs::remove_file(spill)?;
        }
        let start = self.out.len;
        for r in &name_recs {
            self.out.write_all(r)?;
        }
        let (end, crc) = self.out.section();
        toc[NAMES] = (start, end - start, crc);
        for s in &symbols {
            self.out.write_all(&s.to_le_bytes())?;
        }
        let (end2, crc) = self.out.section();
        toc[SYMBOLS] = (end, end2 - end, crc);
        let mut t = Vec::with_capacity(TOC_LEN);
        for (off, len, crc) in toc {
            t.extend_from_slice(&off.to_le_bytes());
            t.extend_from_slice(&len.to_le_bytes());
            t.extend_from_slice(&crc.to_le_bytes());
        }
        let c = crc32c::crc32c(&t);
        t.extend_from_slice(&c.to_le_bytes());
        self.out.write_all(&t)?;
        let len = self.out.len;
        let f = self
            .out
            .inner
            .into_inner()
            .map_err(|e| BlockError::Io(e.into_error()))?;
        Ok((f, len))
    }
}

/// One pass of postings building over the label names `ranks` (positions in
/// the sorted names).
struct PostingsPass<'a> {
    series: &'a Path,
    series_end: u64,
    offsets: &'a [u64],
    symbols: &'a [u32],
    ranks: std::ops::Range<usize>,
}

impl PostingsPass<'_> {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        names: &[(String, NameStats)],
        postings_start: u64,
        out: &mut CrcWriter<BufWriter<File>>,
        strings: &mut CrcWriter<BufWriter<File>>,
        keys: &mut CrcWriter<BufWriter<File>>,
        name_recs: &mut Vec<[u8; NAME_LEN]>,
        nkeys: &mut u64,
    ) -> Result<(), BlockError> {
        let too_big = || bad_input("label values of one name exceed 4 GiB in a block");
        let mut arena: Vec<u8> = Vec::new();
        // (rank in pass, series id, value offset in arena, value length)
        let mut occ: Vec<(u32, u32, u32, u32)> = Vec::new();
        let mut last: Vec<Option<(u32, u32)>> = vec![None; self.ranks.len()];
        let mut window = SeriesWindow::new(File::open(self.series)?, self.series_end);
        let own = || bad_input("index series section unreadable while writing");
        let mut base: Vec<(u64, String)> = Vec::new();
        let mut scratch = Vec::new();
        for id in 0..self.offsets.len() {
            let bytes = window.entry(self.offsets, id, 8)?;
            let mut raw: Vec<RawLabel<'_>> = Vec::new();
            parse_entry(bytes, Some(&mut raw), &mut scratch).ok_or_else(own)?;
            if id.is_multiple_of(SERIES_GROUP as usize) {
                base.clear();
                for (sym, v) in &raw {
                    base.push((*sym, v.ok_or_else(own)?.to_string()));
                }
            }
            for &(sym, v) in &raw {
                let value = match v {
                    Some(v) => v.as_bytes(),
                    None => base
                        .iter()
                        .find(|(s, _)| *s == sym)
                        .map(|(_, v)| v.as_bytes())
                        .ok_or_else(own)?,
                };
                let Some(&rank) = usize::try_from(sym).ok().and_then(|s| self.symbols.get(s))
                else {
                    return Err(own());
                };
                let Some(local) = (rank as usize).checked_sub(self.ranks.start) else {
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
        let mut i = 0;
        for (local, (name, _)) in names.iter().enumerate() {
            let first_key = *nkeys;
            let mut union = RoaringBitmap::new();
            while occ.get(i).is_some_and(|o| o.0 as usize == local) {
                let v = val(&occ[i]);
                ids.clear();
                while occ
                    .get(i)
                    .is_some_and(|o| o.0 as usize == local && val(o) == v)
                {
                    ids.push(occ[i].1);
                    i += 1;
                }
                union.extend(ids.iter().copied());
                let value_at = strings.len;
                let mut s = Vec::with_capacity(v.len() + 5);
                put_uvarint(&mut s, v.len() as u64);
                s.extend_from_slice(v);
                strings.write_all(&s)?;
                let p = write_postings(out, postings_start, &ids, None)?;
                keys.write_all(&value_at.to_le_bytes())?;
                put_ref(keys, p)?;
                *nkeys += 1;
            }
            let name_at = strings.len;
            let mut s = Vec::new();
            put_str(&mut s, name);
            strings.write_all(&s)?;
            let p = write_postings(out, postings_start, &[], Some(&union))?;
            let mut rec = [0u8; NAME_LEN];
            rec[..8].copy_from_slice(&name_at.to_le_bytes());
            rec[8..16].copy_from_slice(&first_key.to_le_bytes());
            rec[16..24].copy_from_slice(&(*nkeys - first_key).to_le_bytes());
            rec[24..32].copy_from_slice(&p.at.to_le_bytes());
            rec[32..36].copy_from_slice(&p.len.to_le_bytes());
            rec[36..40].copy_from_slice(&p.count.to_le_bytes());
            name_recs.push(rec);
        }
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
    out: &mut CrcWriter<BufWriter<File>>,
    postings_start: u64,
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
    let at = out.len - postings_start;
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
        if !sized(TABLE, 8)
            || !sized(KEYS, KEY_LEN)
            || !sized(NAMES, NAME_LEN)
            || !sized(SYMBOLS, 4)
        {
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
        let nn = self.num_names() as u32;
        for s in self.sec(SYMBOLS).chunks_exact(4) {
            if le32(s, 0).is_none_or(|v| v >= nn) {
                return Err(self.bad("index symbol out of range"));
            }
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

    /// Series matching one matcher, as `MemPostings::for_matcher`.
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

    /// Series matching every matcher, as `MemPostings::select`.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Result<RoaringBitmap, BlockError> {
        let mut order: Vec<&Matcher> = matchers.iter().collect();
        order.sort_by_key(|m| match m.op {
            MatchOp::Equal if !m.value.is_empty() => 0,
            MatchOp::RegexMatch => 1,
            _ => 2,
        });
        let mut acc: Option<RoaringBitmap> = None;
        for m in order {
            let p = self.for_matcher(m)?;
            let next = match acc {
                None => p,
                Some(a) => a & p,
            };
            let empty = next.is_empty();
            acc = Some(next);
            if empty {
                break;
            }
        }
        Ok(acc.unwrap_or_else(|| self.all()))
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
                    if let Some(v) = self.series_value(id, name)? {
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

    fn symbol_name(&self, sym: u64) -> Result<&str, BlockError> {
        let i = usize::try_from(sym)
            .ok()
            .and_then(|s| s.checked_mul(4))
            .and_then(|at| le32(self.sec(SYMBOLS), at))
            .ok_or_else(|| self.bad("index symbol out of range"))?;
        Ok(self.name(i as usize)?.name)
    }

    /// The labels of series `id` as (symbol, value), values taken from the
    /// group's first series resolved; its chunk metas into `chunks`.
    fn resolved(
        &self,
        id: u32,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<Vec<(u64, &str)>, BlockError> {
        let bad = || self.bad("malformed index series entry");
        let mut raw = Vec::new();
        parse_entry(self.entry(id)?, Some(&mut raw), chunks).ok_or_else(bad)?;
        let mut base = Vec::new();
        if raw.iter().any(|(_, v)| v.is_none()) {
            let base_id = id - id % SERIES_GROUP;
            if base_id == id {
                return Err(bad());
            }
            parse_entry(self.entry(base_id)?, Some(&mut base), &mut Vec::new()).ok_or_else(bad)?;
        }
        raw.into_iter()
            .map(|(sym, v)| {
                let v = match v {
                    Some(v) => Some(v),
                    None => base.iter().find(|(s, _)| *s == sym).and_then(|(_, v)| *v),
                };
                v.map(|v| (sym, v)).ok_or_else(bad)
            })
            .collect()
    }

    /// (name, value) pairs of resolved labels, checked sorted by name.
    pub(crate) fn named<'a>(
        &'a self,
        labels: impl IntoIterator<Item = (u64, &'a str)>,
    ) -> Result<Vec<(&'a str, &'a str)>, BlockError> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for (sym, v) in labels {
            let name = self.symbol_name(sym)?;
            if out.last().is_some_and(|(p, _)| *p >= name) {
                return Err(self.bad("index labels not sorted by name"));
            }
            out.push((name, v));
        }
        Ok(out)
    }

    /// The labels and chunk metas of series `id`.
    pub(crate) fn series(
        &self,
        id: u32,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<Labels, BlockError> {
        let labels = self.resolved(id, chunks)?;
        Ok(to_labels(&self.named(labels)?))
    }

    /// Only the chunk metas of series `id`.
    pub(crate) fn chunks(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<(), BlockError> {
        parse_entry(self.entry(id)?, None, chunks)
            .ok_or_else(|| self.bad("malformed index series entry"))
    }

    fn series_value(&self, id: u32, name: &str) -> Result<Option<&str>, BlockError> {
        let labels = self.resolved(id, &mut Vec::new())?;
        Ok(self
            .named(labels)?
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v))
    }
}

/// Series ids come in groups of this many: an entry may take a label value
/// from the first series of its group instead of repeating it (sorted
/// neighbours share most values).
pub(crate) const SERIES_GROUP: u32 = 16;

/// A label of an entry as stored: its symbol and its value, `None` when it
/// is the value of the same symbol in the group's first series.
pub(crate) type RawLabel<'a> = (u64, Option<&'a str>);

/// Parses a series entry: labels into `labels` when given, chunk metas into
/// `chunks`. `None` when malformed.
pub(crate) fn parse_entry<'a>(
    bytes: &'a [u8],
    mut labels: Option<&mut Vec<RawLabel<'a>>>,
    chunks: &mut Vec<ChunkMeta>,
) -> Option<()> {
    let mut r = Reader::new(bytes);
    let n = r.uvarint()?;
    for _ in 0..n {
        let sym = r.uvarint()?;
        let value = match r.uvarint()? {
            0 => None,
            len => {
                let len = usize::try_from(len - 1).ok()?;
                Some(std::str::from_utf8(r.bytes(len)?).ok()?)
            }
        };
        if let Some(out) = labels.as_deref_mut() {
            out.push((sym, value));
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

/// Postings of an index rebuilt in memory, for comparing the mmap'd index
/// against in tests.
#[cfg(test)]
pub(crate) fn mem_postings(labels: &[Labels]) -> crate::postings::MemPostings {
    let mut p = crate::postings::MemPostings::default();
    for (i, l) in labels.iter().enumerate() {
        p.add(i as u32, l);
    }
    p
}
