//! The in-memory head: the most recent samples of one tenant.
//!
//! Design constraints:
//! 1. Series are created rarely and appended often: lookup is one hash of the
//!    borrowed label set and a label comparison on a hit; creation (labels
//!    copied, postings updated) only on a miss.
//! 2. Samples live in per-series Gorilla XOR chunks; a chunk closes after
//!    `SAMPLES_PER_CHUNK` samples and is shared read-only with queries.
//! 3. Out-of-order samples inside the configured window go to a small sorted
//!    per-series buffer, merged at read and at block cut.
//! 4. WAL replay uses the same append path in a mode that never rejects, so
//!    every acknowledged sample comes back.

use crate::chunk::{SAMPLES_PER_CHUNK, XorAppender, XorIter};
use crate::{RejectReason, TsdbError};
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::sync::Arc;
use strata_block::postings::MemPostings;
use strata_model::{
    Label, LabelRef, Labels, Matcher, Sample, SampleIter, SelectHints, Series, SeriesIter,
    StorageError, VecSampleIter,
};

#[derive(Debug, Clone)]
pub(crate) struct ClosedChunk {
    pub data: Arc<[u8]>,
    pub min_t: i64,
    pub max_t: i64,
}

#[derive(Debug)]
pub(crate) struct MemSeries {
    pub labels: CompactLabels,
    pub closed: Vec<ClosedChunk>,
    pub open: XorAppender,
    /// Newest in-order timestamp (i64::MIN when empty).
    pub max_t: i64,
    pub last_bits: u64,
    /// Out-of-order samples accepted within the window, sorted by time.
    pub ooo: Vec<Sample>,
}

impl MemSeries {
    fn new(labels: CompactLabels) -> Self {
        MemSeries {
            labels,
            closed: Vec::new(),
            open: XorAppender::new(),
            max_t: i64::MIN,
            last_bits: 0,
            ooo: Vec::new(),
        }
    }

    pub fn min_t(&self) -> i64 {
        let a = self
            .closed
            .first()
            .map(|c| c.min_t)
            .unwrap_or(if self.open.count() > 0 {
                self.open.min_t
            } else {
                i64::MAX
            });
        let b = self.ooo.first().map(|s| s.t).unwrap_or(i64::MAX);
        a.min(b)
    }

    pub fn newest(&self) -> i64 {
        self.max_t
            .max(self.ooo.last().map(|s| s.t).unwrap_or(i64::MIN))
    }

    fn num_samples(&self) -> u64 {
        // Closed chunks hold exactly SAMPLES_PER_CHUNK samples each.
        self.closed.len() as u64 * u64::from(SAMPLES_PER_CHUNK)
            + u64::from(self.open.count())
            + self.ooo.len() as u64
    }

    fn append_in_order(&mut self, s: Sample) {
        if self.open.count() >= SAMPLES_PER_CHUNK {
            let full = std::mem::replace(&mut self.open, XorAppender::new());
            // XOR suits the open chunk (bit-packed, appendable); a closed
            // chunk is immutable, so it takes the block column encoding,
            // typically about half the bytes of XOR.
            let xor = full.encoded();
            let samples: Vec<Sample> = XorIter::new(&xor).map(|(t, v)| Sample::new(t, v)).collect();
            let mut data = Vec::with_capacity(xor.len());
            strata_block::codec::encode_chunk(&samples, &mut data);
            self.closed.push(ClosedChunk {
                min_t: full.min_t,
                max_t: full.max_t(),
                data: data.into(),
            });
        }
        self.open.append(s.t, s.v);
        self.max_t = s.t;
        self.last_bits = s.v.to_bits();
    }

    /// All samples in [mint, maxt], in-order and out-of-order merged.
    pub fn samples(&self, mint: i64, maxt: i64) -> Vec<Sample> {
        let mut out = Vec::new();
        for c in self
            .closed
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
        {
            if strata_block::codec::decode(&c.data, &mut out).is_none() {
                tracing::error!("corrupt closed head chunk skipped");
            }
        }
        let open = self.open.encoded();
        out.extend(XorIter::new(&open).map(|(t, v)| Sample::new(t, v)));
        out.retain(|s| s.t >= mint && s.t <= maxt);
        if !self.ooo.is_empty() {
            out.extend(self.ooo.iter().filter(|s| s.t >= mint && s.t <= maxt));
            out.sort_by_key(|s| s.t);
            out.dedup_by_key(|s| s.t);
        }
        out
    }
}

/// A hasher for keys that are hashes already.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with this; fold anything else.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Per-tenant in-memory state.
#[derive(Default)]
pub(crate) struct Head {
    series: Vec<Option<Box<MemSeries>>>,
    /// Keyed by the label-set hash, which is already uniformly distributed:
    /// hashing it again would only cost time on every append.
    by_hash: HashMap<u64, Vec<u32>, std::hash::BuildHasherDefault<IdentityHasher>>,
    postings: MemPostings,
    /// Samples older than this are already in blocks: "too old".
    pub min_valid_t: i64,
    pub num_series: usize,
    pub ooo_window: i64,
}

pub(crate) enum Appended {
    Stored,
    Duplicate,
}

impl Head {
    pub fn new(ooo_window: i64) -> Self {
        Head {
            min_valid_t: i64::MIN,
            ooo_window,
            ..Default::default()
        }
    }

    pub fn series(&self, id: u32) -> Option<&MemSeries> {
        self.series.get(id as usize).and_then(|s| s.as_deref())
    }

    pub fn next_id(&self) -> u32 {
        self.series.len() as u32
    }

    /// Finds a series by its borrowed labels.
    pub fn lookup(&self, hash: u64, labels: &[LabelRef<'_>]) -> Option<u32> {
        let ids = self.by_hash.get(&hash)?;
        ids.iter()
            .copied()
            .find(|id| self.series(*id).is_some_and(|s| s.labels.eq_refs(labels)))
    }

    /// Creates a series with a given id (replay) or the next id.
    pub fn create(&mut self, id: u32, hash: u64, labels: Labels) {
        let idx = id as usize;
        if self.series.len() <= idx {
            self.series.resize_with(idx + 1, || None);
        }
        self.postings.add(id, &labels);
        self.by_hash.entry(hash).or_default().push(id);
        self.series[idx] = Some(Box::new(MemSeries::new(CompactLabels::from_labels(
            &labels,
        ))));
        self.num_series += 1;
    }

    /// Appends one sample. `replay` accepts everything an earlier run
    /// acknowledged (out of order or not).
    pub fn append(&mut self, id: u32, s: Sample, replay: bool) -> Result<Appended, RejectReason> {
        let window = self.ooo_window;
        let min_valid = self.min_valid_t;
        let Some(series) = self
            .series
            .get_mut(id as usize)
            .and_then(|s| s.as_deref_mut())
        else {
            return Err(RejectReason::TooOld);
        };
        if !replay && s.t < min_valid {
            return Err(RejectReason::TooOld);
        }
        if series.max_t == i64::MIN || s.t > series.max_t {
            series.append_in_order(s);
            return Ok(Appended::Stored);
        }
        if s.t == series.max_t {
            return if s.v.to_bits() == series.last_bits || replay {
                Ok(Appended::Duplicate)
            } else {
                Err(RejectReason::DuplicateTimestamp)
            };
        }
        if !replay && (window <= 0 || s.t < series.max_t - window) {
            return Err(RejectReason::OutOfOrder);
        }
        match series.ooo.binary_search_by_key(&s.t, |x| x.t) {
            Ok(i) => {
                if series.ooo[i].v.to_bits() == s.v.to_bits() || replay {
                    Ok(Appended::Duplicate)
                } else {
                    Err(RejectReason::DuplicateTimestamp)
                }
            }
            Err(i) => {
                series.ooo.insert(i, s);
                Ok(Appended::Stored)
            }
        }
    }

    /// Replaces a series' samples with a prebuilt chunk (checkpoint replay).
    pub fn load_chunk(&mut self, id: u32, data: &[u8]) -> Result<(), TsdbError> {
        let samples: Vec<(i64, f64)> = {
            let mut it = XorIter::new(data);
            let v: Vec<_> = it.by_ref().collect();
            if it.is_corrupt() {
                return Err(TsdbError::Corruption {
                    location: "checkpoint".into(),
                    reason: format!("corrupt chunk for series {id}"),
                });
            }
            v
        };
        for (t, v) in samples {
            let _ = self.append(id, Sample::new(t, v), true);
        }
        Ok(())
    }

    /// Ids of series matching all matchers (all series when none).
    pub fn select_ids(&self, matchers: &[Matcher]) -> RoaringBitmap {
        self.postings.select(matchers)
    }

    pub fn postings(&self) -> &MemPostings {
        &self.postings
    }

    /// Removes a series entirely (after its samples moved to a block).
    fn remove(&mut self, id: u32) {
        let Some(slot) = self.series.get_mut(id as usize) else {
            return;
        };
        let Some(s) = slot.take() else { return };
        let labels = s.labels.to_labels();
        self.postings.remove(id, &labels);
        let hash = labels.hash64();
        if let Some(ids) = self.by_hash.get_mut(&hash) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                self.by_hash.remove(&hash);
            }
        }
        self.num_series -= 1;
    }

    /// Takes every sample older than `before` out of the head, sorted by
    /// labels, and drops series left empty.
    pub fn cut(&mut self, before: i64) -> Vec<(Labels, Vec<Sample>)> {
        let mut out = Vec::new();
        let mut emptied = Vec::new();
        for id in self.postings.all().iter().collect::<Vec<_>>() {
            let Some(series) = self
                .series
                .get_mut(id as usize)
                .and_then(|s| s.as_deref_mut())
            else {
                continue;
            };
            if series.min_t() >= before {
                continue;
            }
            let all = series.samples(i64::MIN, i64::MAX);
            let split = all.partition_point(|s| s.t < before);
            let (old, keep) = all.split_at(split);
            if !old.is_empty() {
                out.push((series.labels.to_labels(), old.to_vec()));
            }
            let mut fresh = MemSeries::new(series.labels.clone());
            for s in keep {
                fresh.append_in_order(*s);
            }
            if keep.is_empty() {
                // Keep ordering state so an old sample is still refused.
                fresh.max_t = series.max_t;
                fresh.last_bits = series.last_bits;
                emptied.push(id);
            }
            *series = fresh;
        }
        for id in emptied {
            self.remove(id);
        }
        self.min_valid_t = self.min_valid_t.max(before);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Copies every sample before `end`, sorted by labels, leaving the head
    /// as it is.
    pub fn copy_before(&self, end: i64) -> Vec<(Labels, Vec<Sample>)> {
        let mut out: Vec<(Labels, Vec<Sample>)> = self
            .iter_series()
            .filter(|(_, s)| s.min_t() < end)
            .map(|(_, s)| {
                (
                    s.labels.to_labels(),
                    s.samples(i64::MIN, end.saturating_sub(1)),
                )
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// WAL checkpoint records describing the whole head: series, their
    /// samples as XOR chunks, and the minimum valid time.
    pub fn checkpoint_records(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut min_valid = vec![crate::wal::REC_MIN_VALID];
        crate::wal::put_varint(&mut min_valid, self.min_valid_t);
        out.push(min_valid);
        for (id, s) in self.iter_series() {
            let mut rec = vec![crate::wal::REC_SERIES];
            crate::wal::put_uvarint(&mut rec, 1);
            crate::wal::put_series(&mut rec, id, s.labels.iter());
            out.push(rec);
            for part in s
                .samples(i64::MIN, i64::MAX)
                .chunks(usize::from(SAMPLES_PER_CHUNK))
            {
                let mut a = XorAppender::new();
                for x in part {
                    a.append(x.t, x.v);
                }
                let data = a.encoded();
                let mut rec = vec![crate::wal::REC_CHUNK];
                crate::wal::put_uvarint(&mut rec, u64::from(id));
                crate::wal::put_uvarint(&mut rec, data.len() as u64);
                rec.extend_from_slice(&data);
                out.push(rec);
            }
        }
        out
    }

    /// Deletes samples of matching series in [mint, maxt].
    pub fn delete(&mut self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<u32> {
        let ids: Vec<u32> = self.select_ids(matchers).iter().collect();
        let mut emptied = Vec::new();
        for id in &ids {
            let Some(series) = self
                .series
                .get_mut(*id as usize)
                .and_then(|s| s.as_deref_mut())
            else {
                continue;
            };
            let keep: Vec<Sample> = series
                .samples(i64::MIN, i64::MAX)
                .into_iter()
                .filter(|s| s.t < mint || s.t > maxt)
                .collect();
            let mut fresh = MemSeries::new(series.labels.clone());
            for s in &keep {
                fresh.append_in_order(*s);
            }
            if keep.is_empty() {
                emptied.push(*id);
            }
            *series = fresh;
        }
        for id in emptied {
            self.remove(id);
        }
        ids
    }

    pub fn stats(&self) -> (u64, u64, i64, i64) {
        let (mut samples, mut chunks, mut mint, mut maxt) = (0u64, 0u64, i64::MAX, i64::MIN);
        for s in self.series.iter().flatten() {
            samples += s.num_samples();
            chunks += s.closed.len() as u64 + u64::from(s.open.count() > 0);
            mint = mint.min(s.min_t());
            maxt = maxt.max(s.newest());
        }
        (samples, chunks, mint, maxt)
    }

    pub fn time_range(&self) -> (i64, i64) {
        let (_, _, a, b) = self.stats();
        (a, b)
    }

    pub fn iter_series(&self) -> impl Iterator<Item = (u32, &MemSeries)> {
        self.series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_deref().map(|s| (i as u32, s)))
    }

    /// A consistent copy of what a query needs, taken under the read lock so
    /// the lock is not held while the query runs.
    pub fn snapshot_series(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<HeadSeriesData> {
        let (lo, hi) = (mint.max(hints.start), maxt.min(hints.end));
        let mut out: Vec<HeadSeriesData> = Vec::new();
        for id in self.select_ids(matchers).iter() {
            let Some(s) = self.series(id) else { continue };
            if hints.series_only {
                if s.min_t() <= hi && s.newest() >= lo {
                    out.push(HeadSeriesData {
                        labels: s.labels.to_labels(),
                        closed: Vec::new(),
                        open: None,
                        ooo: Vec::new(),
                        lo,
                        hi,
                        newest: None,
                    });
                }
                continue;
            }
            let closed: Vec<Arc<[u8]>> = s
                .closed
                .iter()
                .filter(|c| c.max_t >= lo && c.min_t <= hi)
                .map(|c| c.data.clone())
                .collect();
            let open = (s.open.count() > 0 && s.open.max_t() >= lo && s.open.min_t <= hi)
                .then(|| s.open.encoded());
            let ooo: Vec<Sample> = s
                .ooo
                .iter()
                .filter(|x| x.t >= lo && x.t <= hi)
                .copied()
                .collect();
            if closed.is_empty() && open.is_none() && ooo.is_empty() {
                continue;
            }
            let newest = match (&open, s.open.last()) {
                (Some(_), Some((t, v))) if t <= hi => Some(Sample::new(t, v)),
                _ => None,
            };
            out.push(HeadSeriesData {
                labels: s.labels.to_labels(),
                closed,
                open,
                ooo,
                lo,
                hi,
                newest,
            });
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

/// A query's private copy of one head series: closed chunks (column
/// encoded, shared) and a copy of the open XOR chunk.
pub(crate) struct HeadSeriesData {
    pub labels: Labels,
    pub closed: Vec<Arc<[u8]>>,
    pub open: Option<Vec<u8>>,
    pub ooo: Vec<Sample>,
    pub lo: i64,
    pub hi: i64,
    /// The open chunk's newest sample when it lies within `[lo, hi]`: an
    /// instant selector's answer without decoding a chunk.
    pub newest: Option<Sample>,
}

impl HeadSeriesData {
    pub fn into_series<'a>(self) -> Series<'a> {
        let HeadSeriesData {
            labels,
            closed,
            open,
            ooo,
            lo,
            hi,
            newest,
        } = self;
        let mut it = ChunkIter {
            newest,
            closed,
            open,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            lo,
            hi,
            corrupt: None,
        };
        let samples: Box<dyn SampleIter + 'a> = if ooo.is_empty() {
            Box::new(it)
        } else {
            let mut all: Vec<Sample> = Vec::new();
            while let Some(s) = it.next() {
                all.push(s);
            }
            all.extend(ooo);
            all.sort_by_key(|s| s.t);
            all.dedup_by_key(|s| s.t);
            Box::new(VecSampleIter::new(all))
        };
        Series { labels, samples }
    }
}

/// Decodes head chunks one at a time into a reused buffer: the closed ones
/// (column encoded), then the open one (XOR).
struct ChunkIter {
    newest: Option<Sample>,
    closed: Vec<Arc<[u8]>>,
    open: Option<Vec<u8>>,
    next_chunk: usize,
    buf: Vec<Sample>,
    pos: usize,
    lo: i64,
    hi: i64,
    corrupt: Option<StorageError>,
}

impl ChunkIter {
    fn load_next(&mut self) -> bool {
        let (lo, hi) = (self.lo, self.hi);
        loop {
            self.buf.clear();
            self.pos = 0;
            if let Some(c) = self.closed.get(self.next_chunk) {
                self.next_chunk += 1;
                if strata_block::codec::decode(c, &mut self.buf).is_none() {
                    self.corrupt = Some(StorageError::Corruption {
                        location: "head chunk".into(),
                        reason: "malformed chunk".into(),
                    });
                    self.buf.clear();
                }
            } else if let Some(open) = self.open.take() {
                let mut it = XorIter::new(&open);
                self.buf.reserve(128);
                self.buf.extend(it.by_ref().map(|(t, v)| Sample::new(t, v)));
                if it.is_corrupt() {
                    self.corrupt = Some(StorageError::Corruption {
                        location: "head chunk".into(),
                        reason: "truncated chunk".into(),
                    });
                }
            } else {
                return false;
            }
            // Chunks are time-ordered: trim to [lo, hi] by position instead
            // of moving samples.
            let end = self.buf.partition_point(|s| s.t <= hi);
            self.buf.truncate(end);
            self.pos = self.buf.partition_point(|s| s.t < lo);
            if self.pos < self.buf.len() {
                return true;
            }
        }
    }
}

impl SampleIter for ChunkIter {
    fn newest_at_or_before(&mut self, ts: i64) -> Option<Sample> {
        // Untouched iterator and the open chunk's last sample qualifies: it
        // is the series' newest in-order sample, so nothing newer is <= ts.
        if self.pos == 0
            && self.buf.is_empty()
            && self.next_chunk == 0
            && let Some(n) = self.newest
            && n.t <= ts
            && n.t >= self.lo
        {
            self.closed.clear();
            self.open = None;
            return Some(n);
        }
        strata_model::storage::scan_newest_at_or_before(self, ts)
    }

    fn next(&mut self) -> Option<Sample> {
        if self.pos >= self.buf.len() && !self.load_next() {
            return None;
        }
        let s = self.buf.get(self.pos).copied();
        self.pos += 1;
        s
    }

    fn err(&self) -> Option<&StorageError> {
        self.corrupt.as_ref()
    }
}

/// A series' label set packed into one allocation: `uvarint(len) bytes` for
/// each name and value in label order. A `Labels` costs two heap strings per
/// label; a head holds millions of series, so this is most of the saving in
/// memory per series. `Labels` are built from it only for reads.
#[derive(Debug, Clone)]
pub(crate) struct CompactLabels(Box<[u8]>);

impl CompactLabels {
    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut buf = Vec::with_capacity(64);
        for (n, v) in pairs {
            strata_block::codec::put_uvarint(&mut buf, n.len() as u64);
            buf.extend_from_slice(n.as_bytes());
            strata_block::codec::put_uvarint(&mut buf, v.len() as u64);
            buf.extend_from_slice(v.as_bytes());
        }
        CompactLabels(buf.into_boxed_slice())
    }

    pub fn from_labels(l: &Labels) -> Self {
        Self::from_pairs(l.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// (name, value) pairs in label order, decoded without allocating.
    pub fn iter(&self) -> CompactIter<'_> {
        let mut probe = CompactIter {
            b: &self.0,
            pos: 0,
            left: usize::MAX,
        };
        let mut n = 0;
        while probe.next_str().is_some() {
            n += 1;
        }
        CompactIter {
            b: &self.0,
            pos: 0,
            left: n / 2,
        }
    }

    pub fn to_labels(&self) -> Labels {
        Labels::from_sorted(self.iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// Compares with a borrowed label set on raw bytes (no UTF-8 checks):
    /// this runs for every series of every write request.
    pub fn eq_refs(&self, refs: &[LabelRef<'_>]) -> bool {
        let b = &self.0;
        let mut pos = 0usize;
        let mut take = |want: &[u8]| -> bool {
            let (mut len, mut shift) = (0usize, 0u32);
            loop {
                let Some(&byte) = b.get(pos) else {
                    return false;
                };
                pos += 1;
                len |= usize::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    break;
                }
            }
            let ok = len == want.len() && b.get(pos..pos + len) == Some(want);
            pos += len;
            ok
        };
        for r in refs {
            if !take(r.name.as_bytes()) || !take(r.value.as_bytes()) {
                return false;
            }
        }
        pos == b.len()
    }
}

pub(crate) struct CompactIter<'a> {
    b: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> CompactIter<'a> {
    /// The next length-prefixed string. The bytes were valid UTF-8 when
    /// packed, so a failure here is a bug; it ends the iteration.
    fn next_str(&mut self) -> Option<&'a str> {
        if self.pos >= self.b.len() {
            return None;
        }
        let (mut len, mut shift) = (0usize, 0u32);
        loop {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                break;
            }
        }
        let end = self.pos.checked_add(len).filter(|e| *e <= self.b.len())?;
        let s = std::str::from_utf8(&self.b[self.pos..end]).ok()?;
        self.pos = end;
        Some(s)
    }
}

impl<'a> Iterator for CompactIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let n = self.next_str()?;
        let v = self.next_str()?;
        self.left = self.left.saturating_sub(1);
        Some((n, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for CompactIter<'_> {}

/// Builds `Labels` from a validated borrowed label set.
pub(crate) fn owned_labels(labels: &[LabelRef<'_>]) -> Labels {
    Labels::from_sorted(labels.iter().map(|l| Label::new(l.name, l.value)).collect())
}

pub(crate) fn select_from_head<'a>(data: Vec<HeadSeriesData>) -> SeriesIter<'a> {
    Box::new(data.into_iter().map(|d| Ok(d.into_series())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn compact_labels_round_trip(m in proptest::collection::btree_map("\\\\PC{1,20}", "\\\\PC{1,200}", 1..12)) {
            let labels = Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let c = CompactLabels::from_labels(&labels);
            prop_assert_eq!(c.to_labels(), labels.clone());
            prop_assert_eq!(c.iter().len(), labels.len());
            let refs: Vec<LabelRef<'_>> = labels.iter().map(|l| LabelRef { name: &l.name, value: &l.value }).collect();
            prop_assert!(c.eq_refs(&refs));
            prop_assert!(!c.eq_refs(&refs[..refs.len() - 1]));
        }
    }
}
