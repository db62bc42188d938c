//! The in-memory head: the most recent samples of one tenant.
//!
//! Design constraints:
//! 1. Series are created rarely and appended often: lookup is one hash of the
//!    borrowed label set and a label comparison on a hit; creation (labels
//!    copied, postings updated) only on a miss.
//! 2. Samples live in per-series Gorilla XOR chunks; a chunk closes after
//!    `SAMPLES_PER_CHUNK` samples (or `MAX_OPEN_CHUNK_BYTES`), goes to a
//!    head chunk file and is shared read-only with queries.
//! 3. Out-of-order samples inside the configured window go to a small sorted
//!    per-series buffer, merged at read and at block cut.
//! 4. WAL replay uses the same append path in a mode that never rejects, so
//!    every acknowledged sample comes back.
//! 5. No lock is global: series are found through striped hash maps and
//!    live in sharded stores (see `Head`), so appends of one tenant scale
//!    with cores and a head cut never stops writers; it works series by
//!    series and shard by shard.

use crate::chunk::{MAX_OPEN_CHUNK_BYTES, SAMPLES_PER_CHUNK, XorAppender, XorIter};
use crate::head_chunks::{ChunkBytes, ChunkInfo, HeadChunkFiles, LoadedChunk};
use crate::postings::MemPostings;
use crate::{RejectReason, TsdbError};
use parking_lot::{Mutex, MutexGuard, RwLock};
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicUsize, Ordering};
pub(crate) use strata_model::PackedLabels as CompactLabels;
use strata_model::{
    Label, LabelRef, Labels, Matcher, Sample, SampleIter, SelectHints, Series, SeriesIter,
    StorageError, VecSampleIter,
};

#[derive(Debug, Clone)]
pub(crate) struct ClosedChunk {
    /// Block column encoding (`strata_block::codec`), usually in a mapped
    /// head chunk file.
    pub data: ChunkBytes,
    pub min_t: i64,
    pub max_t: i64,
    pub num_samples: u16,
    /// Its samples can be read back from a head chunk file at start-up
    /// (it is mapped from one, or is a file chunk a head cut trimmed), so
    /// a WAL checkpoint may leave them out (see `Head::file_floors`).
    pub in_file: bool,
}

#[derive(Debug)]
pub(crate) struct MemSeries {
    pub labels: CompactLabels,
    /// The label-set hash, kept so removal finds the stripe without
    /// rehashing.
    pub hash: u64,
    pub closed: Vec<ClosedChunk>,
    pub open: XorAppender,
    /// Newest in-order timestamp (i64::MIN when empty).
    pub max_t: i64,
    pub last_bits: u64,
    /// Out-of-order samples accepted within the window, sorted by time.
    pub ooo: Vec<Sample>,
}

impl MemSeries {
    fn new(labels: CompactLabels, hash: u64) -> Self {
        MemSeries {
            labels,
            hash,
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
        self.closed
            .iter()
            .map(|c| u64::from(c.num_samples))
            .sum::<u64>()
            + u64::from(self.open.count())
            + self.ooo.len() as u64
    }

    /// Appends in time order. A full open chunk closes first: into a head
    /// chunk file when `files` is given (series `id`), else in memory.
    fn append_in_order(&mut self, id: u32, s: Sample, files: Option<&HeadChunkFiles>) {
        if self.open.count() >= SAMPLES_PER_CHUNK || self.open.byte_len() >= MAX_OPEN_CHUNK_BYTES {
            let full = std::mem::replace(&mut self.open, XorAppender::new());
            // XOR suits the open chunk (bit-packed, appendable); a closed
            // chunk is immutable, so it takes the block column encoding,
            // typically about half the bytes of XOR.
            let xor = full.encoded();
            let samples: Vec<Sample> = XorIter::new(&xor).map(|(t, v)| Sample::new(t, v)).collect();
            let mut data = Vec::with_capacity(xor.len());
            strata_block::codec::encode_chunk(&samples, &mut data);
            let info = ChunkInfo {
                min_t: full.min_t,
                max_t: full.max_t(),
                num_samples: full.count(),
                last_bits: self.last_bits,
            };
            let (data, in_file) = match files.and_then(|f| f.write(id, self.hash, &info, &data)) {
                Some(mapped) => (mapped, true),
                None => (ChunkBytes::Mem(data.into()), false),
            };
            self.closed.push(ClosedChunk {
                min_t: info.min_t,
                max_t: info.max_t,
                num_samples: info.num_samples,
                data,
                in_file,
            });
        }
        self.open.append(s.t, s.v);
        self.max_t = s.t;
        self.last_bits = s.v.to_bits();
    }

    fn append(
        &mut self,
        id: u32,
        s: Sample,
        replay: bool,
        min_valid: i64,
        window: i64,
        files: Option<&HeadChunkFiles>,
        wal_only: bool,
    ) -> Result<Appended, RejectReason> {
        if !replay && s.t < min_valid {
            return Err(RejectReason::TooOld);
        }
        if self.max_t == i64::MIN || s.t > self.max_t {
            if wal_only {
                self.max_t = s.t;
                self.last_bits = s.v.to_bits();
            } else {
                self.append_in_order(id, s, files);
            }
            return Ok(Appended::Stored);
        }
        if s.t == self.max_t {
            return if s.v.to_bits() == self.last_bits || replay {
                Ok(Appended::Duplicate)
            } else {
                Err(RejectReason::DuplicateTimestamp)
            };
        }
        if !replay && (window <= 0 || s.t < self.max_t - window) {
            return Err(RejectReason::OutOfOrder);
        }
        match self.ooo.binary_search_by_key(&s.t, |x| x.t) {
            Ok(i) => {
                if self.ooo[i].v.to_bits() == s.v.to_bits() || replay {
                    Ok(Appended::Duplicate)
                } else {
                    Err(RejectReason::DuplicateTimestamp)
                }
            }
            Err(i) => {
                self.ooo.insert(i, s);
                Ok(Appended::StoredOutOfOrder)
            }
        }
    }

    /// Drops every sample before `before`: closed chunks ending before it
    /// go whole, a chunk straddling it is re-encoded with what remains (one
    /// chunk per series, so the work is bounded). The ordering state stays,
    /// so old samples are still refused.
    fn drop_before(&mut self, before: i64) {
        self.closed.retain(|c| c.max_t >= before);
        if let Some(first) = self.closed.first()
            && first.min_t < before
        {
            let mut kept = Vec::with_capacity(usize::from(first.num_samples));
            if !first.data.decode_read(&mut Vec::new(), &mut kept) {
                tracing::error!("corrupt closed head chunk dropped at a head cut");
            }
            kept.retain(|s| s.t >= before);
            if kept.is_empty() {
                self.closed.remove(0);
            } else {
                // In memory: the file keeps the whole chunk, and a restart
                // trims it again at the min valid time.
                let mut data = Vec::new();
                strata_block::codec::encode_chunk(&kept, &mut data);
                let in_file = first.in_file;
                self.closed[0] = ClosedChunk {
                    min_t: kept[0].t,
                    max_t: kept[kept.len() - 1].t,
                    num_samples: kept.len() as u16,
                    data: ChunkBytes::Mem(data.into()),
                    in_file,
                };
            }
        }
        if self.open.count() > 0 {
            if self.open.max_t() < before {
                self.open = XorAppender::new();
            } else if self.open.min_t < before {
                let old = self.open.encoded();
                let mut fresh = XorAppender::new();
                for (t, v) in XorIter::new(&old).filter(|(t, _)| *t >= before) {
                    fresh.append(t, v);
                }
                self.open = fresh;
            }
        }
        self.ooo.retain(|s| s.t >= before);
    }

    fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.open.count() == 0 && self.ooo.is_empty()
    }

    /// A snapshot without chunks: the labels, and at most the newest sample.
    fn chunkless_snapshot(&self, lo: i64, hi: i64, newest: Option<Sample>) -> HeadSeriesData {
        HeadSeriesData {
            labels: self.labels.clone(),
            closed: Vec::new(),
            open: None,
            ooo: Vec::new(),
            lo,
            hi,
            newest,
            bounds: None,
        }
    }

    /// A query's copy of this series within `[lo, hi]`.
    fn snapshot(&self, hints: &SelectHints, lo: i64, hi: i64) -> Option<HeadSeriesData> {
        if hints.series_only {
            return (self.min_t() <= hi && self.newest() >= lo)
                .then(|| self.chunkless_snapshot(lo, hi, None));
        }
        if hints.newest_only
            && let Some((t, v)) = self.open.last()
            && t <= hi
            && t >= lo
        {
            // The open chunk's last sample is the series' newest (out-of-order
            // samples are all older): the whole answer, no chunk copied.
            return Some(self.chunkless_snapshot(lo, hi, Some(Sample::new(t, v))));
        }
        let closed: Vec<ChunkBytes> = self
            .closed
            .iter()
            .filter(|c| c.max_t >= lo && c.min_t <= hi)
            .map(|c| c.data.clone())
            .collect();
        let open = (self.open.count() > 0 && self.open.max_t() >= lo && self.open.min_t <= hi)
            .then(|| self.open.encoded());
        let ooo: Vec<Sample> = self
            .ooo
            .iter()
            .filter(|x| x.t >= lo && x.t <= hi)
            .copied()
            .collect();
        if closed.is_empty() && open.is_none() && ooo.is_empty() {
            return None;
        }
        let newest = match (&open, self.open.last()) {
            (Some(_), Some((t, v))) if t <= hi => Some(Sample::new(t, v)),
            _ => None,
        };
        Some(HeadSeriesData {
            labels: self.labels.clone(),
            closed,
            open,
            ooo,
            lo,
            hi,
            newest,
            bounds: Some((self.min_t().max(lo), self.newest().min(hi))),
        })
    }

    /// All samples in [mint, maxt], in-order and out-of-order merged.
    pub fn samples(&self, mint: i64, maxt: i64) -> Vec<Sample> {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for c in self
            .closed
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt)
        {
            if !c.data.decode_read(&mut scratch, &mut out) {
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

/// Stripes of the label-hash index and shards of the series store. Both are
/// powers of two; neither is part of any on-disk format.
const STRIPES: usize = 64;
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// The stripe of a label-set hash. hashbrown uses the low bits for the
/// bucket and the top seven for its tag, so the stripe takes middle bits:
/// otherwise every key of a stripe would share its bucket bits.
fn stripe_of(hash: u64) -> usize {
    ((hash >> 32) as usize) & (STRIPES - 1)
}

pub(crate) fn shard_of(id: u32) -> usize {
    id as usize & (SHARDS - 1)
}

fn slot_of(id: u32) -> usize {
    (id >> SHARD_BITS) as usize
}

/// Series whose memory is loaded together before appending to them (see
/// `Shard::warm`): enough misses in flight to use the memory system's
/// parallelism, few enough to stay in L1.
pub(crate) const WARM_WINDOW: usize = 16;

/// Series sharing one label hash: almost always one.
enum HashEntry {
    One(u32, CompactLabels),
    Many(Vec<(u32, CompactLabels)>),
}

impl HashEntry {
    fn find(&self, labels: &[LabelRef<'_>]) -> Option<u32> {
        match self {
            HashEntry::One(id, l) => l.eq_refs(labels).then_some(*id),
            HashEntry::Many(v) => v.iter().find(|(_, l)| l.eq_refs(labels)).map(|(id, _)| *id),
        }
    }

    fn touch(&self) -> u8 {
        match self {
            HashEntry::One(_, l) => l.touch(),
            HashEntry::Many(v) => v.first().map_or(0, |(_, l)| l.touch()),
        }
    }

    fn find_labels(&self, labels: &CompactLabels) -> Option<u32> {
        match self {
            HashEntry::One(id, l) => (l == labels).then_some(*id),
            HashEntry::Many(v) => v.iter().find(|(_, l)| l == labels).map(|(id, _)| *id),
        }
    }

    fn push(&mut self, id: u32, labels: CompactLabels) {
        match self {
            HashEntry::One(a, la) => *self = HashEntry::Many(vec![(*a, la.clone()), (id, labels)]),
            HashEntry::Many(v) => v.push((id, labels)),
        }
    }

    /// Removes `id`; true when the entry is left empty.
    fn remove(&mut self, id: u32) -> bool {
        match self {
            HashEntry::One(a, _) => *a == id,
            HashEntry::Many(v) => {
                v.retain(|(x, _)| *x != id);
                v.is_empty()
            }
        }
    }
}

type Stripe = HashMap<u64, HashEntry, std::hash::BuildHasherDefault<IdentityHasher>>;

/// Replayed samples queued per head shard (see `Head::flush_replayed`);
/// the flag marks out-of-order samples.
pub(crate) struct ReplayBatch {
    buckets: Vec<Vec<(u32, bool, Sample)>>,
    len: usize,
}

impl ReplayBatch {
    pub fn new() -> Self {
        ReplayBatch {
            buckets: (0..SHARDS).map(|_| Vec::new()).collect(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

/// One shard of the series store; series `id` lives in shard `id % SHARDS`
/// at slot `id / SHARDS`.
#[derive(Default)]
pub(crate) struct Shard {
    series: Vec<Option<Box<MemSeries>>>,
}

impl Shard {
    fn get(&self, id: u32) -> Option<&MemSeries> {
        self.series.get(slot_of(id)).and_then(|s| s.as_deref())
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut MemSeries> {
        self.series
            .get_mut(slot_of(id))
            .and_then(|s| s.as_deref_mut())
    }

    /// Loads the memory the appends to `ids` are about to use — each
    /// series, then its open chunk's tail — with no load depending on
    /// another of its kind, so their cache misses overlap instead of
    /// queueing behind one append at a time. Series are scattered over the
    /// heap and a request (or WAL record) touches thousands of them.
    fn warm(&self, ids: impl Iterator<Item = u32> + Clone) {
        let mut acc = 0u64;
        for id in ids.clone() {
            if let Some(s) = self.get(id) {
                acc ^= s.max_t as u64 ^ u64::from(s.open.count());
            }
        }
        for id in ids {
            if let Some(s) = self.get(id) {
                acc ^= u64::from(s.open.touch_tail());
            }
        }
        std::hint::black_box(acc);
    }

    fn place(&mut self, id: u32, s: MemSeries) {
        let slot = slot_of(id);
        if self.series.len() <= slot {
            self.series.resize_with(slot + 1, || None);
        }
        self.series[slot] = Some(Box::new(s));
    }

    fn iter(&self, shard: usize) -> impl Iterator<Item = (u32, &MemSeries)> {
        self.series.iter().enumerate().filter_map(move |(slot, s)| {
            s.as_deref()
                .map(|s| (((slot as u32) << SHARD_BITS) | shard as u32, s))
        })
    }
}

/// Per-tenant in-memory state, safe for concurrent appends and reads.
///
/// Locks, always taken in this order and never held across I/O:
/// a hash stripe (`stripes`, finding and creating series) → a series shard
/// (`shards`, one series' samples) → `postings`. Appends of one request lock
/// one shard at a time, so concurrent requests of a tenant run in parallel
/// unless they touch the same shard at the same moment; queries copy chunk
/// references out of each shard they need and decode without locks.
pub(crate) struct Head {
    stripes: Box<[RwLock<Stripe>]>,
    shards: Box<[Mutex<Shard>]>,
    postings: RwLock<MemPostings>,
    next_id: AtomicU32,
    /// Samples older than this are already in blocks: "too old".
    min_valid_t: AtomicI64,
    /// Reads of the head see only samples at or after this time: older ones
    /// were cut into a block (and may linger in memory until dropped).
    trunc_t: AtomicI64,
    num_series: AtomicUsize,
    pub ooo_window: i64,
    /// Agent mode: series and their newest timestamp only (ordering
    /// checks), no samples; the WAL is the storage.
    wal_only: bool,
    /// Where full chunks go (`None`: read-only, or tests of memory only).
    chunk_files: Option<HeadChunkFiles>,
    /// Chunks found in the head chunk files at start-up, waiting for their
    /// series' WAL record (replay only).
    replay_chunks: Mutex<HashMap<u32, Vec<LoadedChunk>>>,
    /// Per series id, the newest time its replayed file chunks cover: WAL
    /// samples at or before it are in those chunks (replay only).
    replay_floor: Mutex<Vec<i64>>,
}

pub(crate) enum Appended {
    Stored,
    /// Stored in the out-of-order buffer (logged apart: a restart must not
    /// take it for a sample already in a head chunk file).
    StoredOutOfOrder,
    Duplicate,
    /// The series was removed by a head cut after the caller looked it up.
    Gone,
}

/// Exclusive access to one shard for appending.
pub(crate) struct ShardGuard<'h> {
    head: &'h Head,
    shard: MutexGuard<'h, Shard>,
}

impl ShardGuard<'_> {
    /// See `Shard::warm`.
    pub fn warm(&self, ids: impl Iterator<Item = u32> + Clone) {
        self.shard.warm(ids);
    }

    /// Appends one sample. `replay` accepts everything an earlier run
    /// acknowledged (out of order or not).
    pub fn append(&mut self, id: u32, s: Sample, replay: bool) -> Result<Appended, RejectReason> {
        let min_valid = self.head.min_valid_t.load(Ordering::Acquire);
        let window = self.head.ooo_window;
        let Some(series) = self.shard.get_mut(id) else {
            return Ok(Appended::Gone);
        };
        series.append(
            id,
            s,
            replay,
            min_valid,
            window,
            self.head.chunk_files.as_ref(),
            self.head.wal_only,
        )
    }
}

impl Head {
    /// A head whose full chunks go to `files`, starting from the chunks
    /// `loaded` from them (attached as the WAL replay creates their series).
    pub fn with_chunk_files(
        ooo_window: i64,
        files: Option<HeadChunkFiles>,
        loaded: HashMap<u32, Vec<LoadedChunk>>,
    ) -> Self {
        Head {
            stripes: (0..STRIPES)
                .map(|_| RwLock::new(Stripe::default()))
                .collect(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            postings: RwLock::new(MemPostings::default()),
            next_id: AtomicU32::new(0),
            min_valid_t: AtomicI64::new(i64::MIN),
            trunc_t: AtomicI64::new(i64::MIN),
            num_series: AtomicUsize::new(0),
            ooo_window,
            wal_only: false,
            chunk_files: files,
            replay_chunks: Mutex::new(loaded),
            replay_floor: Mutex::new(Vec::new()),
        }
    }

    /// A head for agent mode (see `wal_only`): samples are logged, not kept.
    pub fn wal_only() -> Self {
        let mut h = Head::with_chunk_files(0, None, HashMap::new());
        h.wal_only = true;
        h
    }

    pub fn chunk_files(&self) -> Option<&HeadChunkFiles> {
        self.chunk_files.as_ref()
    }

    /// Ends replay: drops chunks no series claimed and the replay floors.
    pub fn finish_replay(&self) -> usize {
        let unclaimed: usize = self
            .replay_chunks
            .lock()
            .drain()
            .map(|(_, v)| v.len())
            .sum();
        *self.replay_floor.lock() = Vec::new();
        unclaimed
    }

    /// Hands series `id` its chunks from the head chunk files: those with
    /// its label hash, not older than the min valid time, each starting
    /// after the one before (a prefix of its in-order samples).
    fn attach_file_chunks(&self, id: u32, series: &mut MemSeries) {
        let Some(chunks) = self.replay_chunks.lock().remove(&id) else {
            return;
        };
        let min_valid = self.min_valid_t();
        for c in chunks {
            if c.labels_hash != series.hash
                || c.info.max_t < min_valid
                || (series.max_t != i64::MIN && c.info.min_t <= series.max_t)
            {
                continue;
            }
            series.closed.push(ClosedChunk {
                min_t: c.info.min_t,
                max_t: c.info.max_t,
                num_samples: c.info.num_samples,
                data: c.bytes,
                in_file: true,
            });
            series.max_t = c.info.max_t;
            series.last_bits = c.info.last_bits;
        }
        if series.max_t != i64::MIN {
            let mut floor = self.replay_floor.lock();
            let i = id as usize;
            if floor.len() <= i {
                floor.resize(i + 1, i64::MIN);
            }
            floor[i] = series.max_t;
        }
    }

    pub fn num_series(&self) -> usize {
        self.num_series.load(Ordering::Relaxed)
    }

    pub fn min_valid_t(&self) -> i64 {
        self.min_valid_t.load(Ordering::Acquire)
    }

    /// Raises the time before which samples are refused (never lowers it).
    pub fn raise_min_valid(&self, t: i64) {
        self.min_valid_t.fetch_max(t, Ordering::AcqRel);
    }

    pub fn trunc_t(&self) -> i64 {
        self.trunc_t.load(Ordering::Acquire)
    }

    /// Hides samples before `t` from reads (they are in a block now).
    pub fn raise_trunc(&self, t: i64) {
        self.trunc_t.fetch_max(t, Ordering::AcqRel);
    }

    pub fn lock_shard(&self, shard: usize) -> ShardGuard<'_> {
        ShardGuard {
            head: self,
            shard: self.shards[shard & (SHARDS - 1)].lock(),
        }
    }

    /// Finds a series by its borrowed labels.
    pub fn lookup(&self, hash: u64, labels: &[LabelRef<'_>]) -> Option<u32> {
        self.stripes[stripe_of(hash)]
            .read()
            .get(&hash)?
            .find(labels)
    }

    /// Finds the series of many label sets at once (`None`: not in the
    /// head): grouped by stripe, one read lock per stripe, and in windows
    /// whose hash-table and label loads are issued together. One lookup
    /// at a time waits for two cache misses in a row per series, and the
    /// lock's atomic in between stops the CPU from overlapping them.
    pub fn lookup_many<'l>(
        &self,
        hashes: &[u64],
        labels: impl Fn(usize) -> &'l [LabelRef<'l>],
    ) -> Vec<Option<u32>> {
        let mut out = vec![None; hashes.len()];
        // Batch indexes grouped by stripe (a counting sort: one allocation).
        let mut starts = [0usize; STRIPES + 1];
        for h in hashes {
            starts[stripe_of(*h) + 1] += 1;
        }
        for k in 0..STRIPES {
            starts[k + 1] += starts[k];
        }
        let mut fill = starts;
        let mut grouped = vec![0u32; hashes.len()];
        for (i, h) in hashes.iter().enumerate() {
            let k = stripe_of(*h);
            grouped[fill[k]] = i as u32;
            fill[k] += 1;
        }
        for k in 0..STRIPES {
            let idx = &grouped[starts[k]..starts[k + 1]];
            if idx.is_empty() {
                continue;
            }
            let stripe = self.stripes[k].read();
            for window in idx.chunks(WARM_WINDOW) {
                let mut hits: [Option<&HashEntry>; WARM_WINDOW] = [None; WARM_WINDOW];
                for (slot, &i) in window.iter().enumerate() {
                    hits[slot] = stripe.get(&hashes[i as usize]);
                }
                let mut acc = 0u8;
                for e in hits.iter().flatten() {
                    acc ^= e.touch();
                }
                std::hint::black_box(acc);
                for (slot, &i) in window.iter().enumerate() {
                    out[i as usize] = hits[slot].and_then(|e| e.find(labels(i as usize)));
                }
            }
        }
        out
    }

    /// Finds or creates a series. On creation `log` runs (with the new id)
    /// before any other writer can see the series, so its WAL series record
    /// precedes every samples record that refers to it. `max_series` 0 means
    /// no limit.
    pub fn get_or_create(
        &self,
        hash: u64,
        labels: &[LabelRef<'_>],
        max_series: usize,
        log: impl FnOnce(u32),
    ) -> Result<(u32, bool), RejectReason> {
        if let Some(id) = self.lookup(hash, labels) {
            return Ok((id, false));
        }
        let mut stripe = self.stripes[stripe_of(hash)].write();
        if let Some(id) = stripe.get(&hash).and_then(|e| e.find(labels)) {
            return Ok((id, false));
        }
        let before = self.num_series.fetch_add(1, Ordering::AcqRel);
        if max_series > 0 && before >= max_series {
            self.num_series.fetch_sub(1, Ordering::AcqRel);
            return Err(RejectReason::SeriesLimit);
        }
        let id = self.next_id.fetch_add(1, Ordering::AcqRel);
        let owned = owned_labels(labels);
        let compact = CompactLabels::from_labels(&owned);
        self.shards[shard_of(id)]
            .lock()
            .place(id, MemSeries::new(compact.clone(), hash));
        self.postings.write().add(id, &owned);
        match stripe.get_mut(&hash) {
            Some(e) => e.push(id, compact),
            None => {
                stripe.insert(hash, HashEntry::One(id, compact));
            }
        }
        log(id);
        Ok((id, true))
    }

    /// Creates a series with a given id (WAL replay). A label set already
    /// present (a checkpoint and a segment both naming it) keeps its id.
    /// Returns whether it was created: the caller then adds it to the
    /// postings (`add_replayed_postings`), on another thread, before
    /// anything selects series.
    pub fn create_replayed(&self, id: u32, labels: &Labels) -> bool {
        let hash = labels.hash64();
        let compact = CompactLabels::from_labels(labels);
        let mut stripe = self.stripes[stripe_of(hash)].write();
        if stripe
            .get(&hash)
            .and_then(|e| e.find_labels(&compact))
            .is_some()
        {
            return false;
        }
        {
            let mut shard = self.shards[shard_of(id)].lock();
            if shard.get(id).is_some() {
                return false;
            }
            let mut series = MemSeries::new(compact.clone(), hash);
            self.attach_file_chunks(id, &mut series);
            shard.place(id, series);
        }
        match stripe.get_mut(&hash) {
            Some(e) => e.push(id, compact),
            None => {
                stripe.insert(hash, HashEntry::One(id, compact));
            }
        }
        self.next_id
            .fetch_max(id.saturating_add(1), Ordering::AcqRel);
        self.num_series.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Adds replayed series (see `create_replayed`) to the postings.
    pub fn add_replayed_postings(&self, created: &[(u32, Labels)]) {
        let mut p = self.postings.write();
        for (id, labels) in created {
            p.add(*id, labels);
        }
    }

    /// Queues a WAL samples record's samples for `flush_replayed`. In-order
    /// samples at or before their series' replay floor are already in its
    /// file chunks and are dropped here; `out_of_order` ones (logged apart)
    /// never are.
    pub fn queue_replayed(
        &self,
        batch: &mut ReplayBatch,
        samples: &[(u32, Sample)],
        out_of_order: bool,
    ) {
        let floor = self.replay_floor.lock();
        for &(id, s) in samples {
            if !out_of_order && floor.get(id as usize).is_some_and(|f| s.t <= *f) {
                continue;
            }
            batch.buckets[shard_of(id)].push((id, out_of_order, s));
            batch.len += 1;
        }
    }

    /// Appends the queued samples, shard by shard, on up to `threads`
    /// threads. Per series the queue keeps WAL order. A WAL record spans
    /// thousands of series, so appending record by record misses the cache
    /// on every sample; a shard's queued samples touch only that shard's
    /// series, few enough to stay in cache while they take several samples
    /// each.
    pub fn flush_replayed(&self, batch: &mut ReplayBatch, threads: usize) {
        if batch.len == 0 {
            return;
        }
        let threads = threads.clamp(1, SHARDS);
        let work = |k: usize, buckets: &[Vec<(u32, bool, Sample)>]| {
            for (shard, queued) in buckets.iter().enumerate().skip(k).step_by(threads) {
                if queued.is_empty() {
                    continue;
                }
                let mut g = self.lock_shard(shard);
                for window in queued.chunks(WARM_WINDOW) {
                    g.warm(window.iter().map(|(id, _, _)| *id));
                    for &(id, _, s) in window {
                        let _ = g.append(id, s, true);
                    }
                }
            }
        };
        if threads == 1 {
            work(0, &batch.buckets);
        } else {
            let buckets = &batch.buckets;
            std::thread::scope(|scope| {
                for k in 1..threads {
                    scope.spawn(move || work(k, buckets));
                }
                work(0, buckets);
            });
        }
        for b in &mut batch.buckets {
            b.clear();
        }
        batch.len = 0;
    }

    /// Adds a checkpoint chunk's samples to a series (checkpoint replay).
    pub fn load_chunk(&self, id: u32, data: &[u8]) -> Result<(), TsdbError> {
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
        let floor = self
            .replay_floor
            .lock()
            .get(id as usize)
            .copied()
            .unwrap_or(i64::MIN);
        let mut g = self.lock_shard(shard_of(id));
        for (t, v) in samples.into_iter().filter(|(t, _)| *t > floor) {
            let _ = g.append(id, Sample::new(t, v), true);
        }
        Ok(())
    }

    /// Ids of series matching all matchers (all series when none).
    pub fn select_ids(&self, matchers: &[Matcher]) -> RoaringBitmap {
        self.postings.read().select(matchers)
    }

    pub fn postings(&self) -> parking_lot::RwLockReadGuard<'_, MemPostings> {
        self.postings.read()
    }

    /// Every live series id (what a WAL checkpoint keeps).
    pub fn live_ids(&self) -> RoaringBitmap {
        self.postings.read().all().clone()
    }

    /// Agent mode: removes series whose newest sample is before `before`
    /// (a sample for one later creates it afresh, with a new series record).
    pub fn remove_idle(&self, before: i64) -> u64 {
        let mut idle = Vec::new();
        for (i, shard) in self.shards.iter().enumerate() {
            let shard = shard.lock();
            for (slot, s) in shard.series.iter().enumerate() {
                if let Some(series) = s.as_deref()
                    && series.newest() < before
                {
                    idle.push(((slot as u32) << SHARD_BITS) | i as u32);
                }
            }
        }
        self.remove_where(&idle, |s| s.newest() < before)
    }

    /// Removes series that hold no samples (after a cut or a delete). Each
    /// is re-checked under its locks: a sample appended meanwhile keeps it.
    fn remove_if_empty(&self, ids: &[u32]) -> u64 {
        self.remove_where(ids, MemSeries::is_empty)
    }

    fn remove_where(&self, ids: &[u32], remove: impl Fn(&MemSeries) -> bool) -> u64 {
        let mut removed: Vec<(u32, Labels)> = Vec::new();
        for &id in ids {
            let Some(hash) = self.shards[shard_of(id)].lock().get(id).map(|s| s.hash) else {
                continue;
            };
            let mut stripe = self.stripes[stripe_of(hash)].write();
            let mut shard = self.shards[shard_of(id)].lock();
            let Some(series) = shard.get(id) else {
                continue;
            };
            if !remove(series) {
                continue;
            }
            let labels = series.labels.to_labels();
            if let Some(slot) = shard.series.get_mut(slot_of(id)) {
                *slot = None;
            }
            drop(shard);
            if stripe.get_mut(&hash).is_some_and(|e| e.remove(id)) {
                stripe.remove(&hash);
            }
            drop(stripe);
            removed.push((id, labels));
        }
        if !removed.is_empty() {
            let mut p = self.postings.write();
            for (id, labels) in &removed {
                p.remove(*id, labels);
            }
            self.num_series.fetch_sub(removed.len(), Ordering::AcqRel);
        }
        removed.len() as u64
    }

    /// Drops every sample before `before` from memory (they are in a block),
    /// shard by shard, and removes series left empty. Returns the number of
    /// series removed.
    pub fn truncate(&self, before: i64) -> u64 {
        self.raise_min_valid(before);
        self.raise_trunc(before);
        let mut emptied = Vec::new();
        // A few hundred series per lock hold, so appends to the shard wait
        // microseconds, not the whole shard's trimming.
        const BATCH: usize = 256;
        for (i, shard) in self.shards.iter().enumerate() {
            let mut from = 0;
            loop {
                let mut shard = shard.lock();
                if from >= shard.series.len() {
                    break;
                }
                let to = (from + BATCH).min(shard.series.len());
                for slot in from..to {
                    if let Some(series) = shard.series[slot].as_deref_mut() {
                        series.drop_before(before);
                        if series.is_empty() {
                            emptied.push(((slot as u32) << SHARD_BITS) | i as u32);
                        }
                    }
                }
                from = to;
            }
        }
        let removed = self.remove_if_empty(&emptied);
        if let Some(files) = &self.chunk_files
            && let Err(e) = files.truncate_before(before)
        {
            tracing::error!(error = %e, "could not delete old head chunk files");
        }
        removed
    }

    /// Series with samples in `[lo, end)`, sorted by labels: what a block of
    /// that range holds. Only label references are collected, never samples.
    pub fn series_in_range(&self, lo: i64, end: i64) -> Vec<(CompactLabels, u32)> {
        let lo = lo.max(self.trunc_t());
        let mut out = Vec::new();
        for (i, shard) in self.shards.iter().enumerate() {
            let shard = shard.lock();
            out.extend(
                shard
                    .iter(i)
                    .filter(|(_, s)| s.min_t() < end && s.newest() >= lo)
                    .map(|(id, s)| (s.labels.clone(), id)),
            );
        }
        out.sort_by(|a, b| a.0.cmp_labels(&b.0));
        out
    }

    /// One series' data in `[lo, end)` as block writer input: closed chunks
    /// entirely inside the range by reference (written through without
    /// decoding), everything else decoded and clipped. `None` when the
    /// series is gone or holds nothing there.
    pub fn series_range_chunks(&self, id: u32, lo: i64, end: i64) -> Option<RangeChunks> {
        let lo = lo.max(self.trunc_t());
        let hi = end.saturating_sub(1);
        let mut out = RangeChunks::default();
        // Under the shard lock only references and the open chunk's copy;
        // chunks that need decoding are read after it is released (no I/O
        // under a head lock).
        let mut partial: Vec<ClosedChunk> = Vec::new();
        let mut open: Option<Vec<u8>> = None;
        {
            let shard = self.shards[shard_of(id)].lock();
            let s = shard.get(id)?;
            if s.ooo.iter().any(|x| x.t >= lo && x.t < end) {
                // Out-of-order samples interleave with the chunks: merge them.
                out.tail = s.samples(lo, hi);
            } else {
                for c in s.closed.iter().filter(|c| c.max_t >= lo && c.min_t <= hi) {
                    if c.min_t >= lo && c.max_t <= hi && partial.is_empty() {
                        out.encoded.push(c.clone());
                    } else {
                        partial.push(c.clone());
                    }
                }
                if s.open.count() > 0 && s.open.min_t <= hi && s.open.max_t() >= lo {
                    open = Some(s.open.encoded());
                }
            }
        }
        let mut bytes = Vec::new();
        for c in &partial {
            // Read, not through the map (see `write_head_range`).
            if !c.data.decode_read(&mut bytes, &mut out.tail) {
                tracing::error!("corrupt closed head chunk skipped");
            }
        }
        if let Some(open) = open {
            out.tail
                .extend(XorIter::new(&open).map(|(t, v)| Sample::new(t, v)));
        }
        out.tail.retain(|x| x.t >= lo && x.t <= hi);
        if out.encoded.is_empty() && out.tail.is_empty() {
            return None;
        }
        Some(out)
    }

    /// Deletes samples of matching series in [mint, maxt].
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<u32> {
        let ids: Vec<u32> = self.select_ids(matchers).iter().collect();
        let mut emptied = Vec::new();
        for &id in &ids {
            let mut shard = self.shards[shard_of(id)].lock();
            let Some(series) = shard.get_mut(id) else {
                continue;
            };
            let keep: Vec<Sample> = series
                .samples(i64::MIN, i64::MAX)
                .into_iter()
                .filter(|s| s.t < mint || s.t > maxt)
                .collect();
            // Rewritten chunks stay in memory: the head chunk files keep
            // the old ones, and a restart replays the delete over them.
            let mut fresh = MemSeries::new(series.labels.clone(), series.hash);
            for s in &keep {
                fresh.append_in_order(id, *s, None);
            }
            if keep.is_empty() {
                fresh.max_t = series.max_t;
                fresh.last_bits = series.last_bits;
                emptied.push(id);
            }
            *series = fresh;
        }
        self.remove_if_empty(&emptied);
        ids
    }

    /// Per series id, the newest time up to which its in-order samples can
    /// be read back from head chunk files — the end of its leading run of
    /// `in_file` chunks (`i64::MIN`: none). Taken before the files are
    /// synced, so every chunk it counts is durable once they are.
    pub fn file_floors(&self) -> Vec<i64> {
        let mut floors = vec![i64::MIN; self.next_id.load(Ordering::Acquire) as usize];
        for (i, shard) in self.shards.iter().enumerate() {
            let shard = shard.lock();
            for (id, s) in shard.iter(i) {
                let floor = s
                    .closed
                    .iter()
                    .take_while(|c| c.in_file)
                    .last()
                    .map_or(i64::MIN, |c| c.max_t);
                if let Some(f) = floors.get_mut(id as usize) {
                    *f = floor;
                }
            }
        }
        floors
    }

    /// Per series id, one below its newest timestamp: an agent checkpoint
    /// keeps only samples above it.
    pub fn newest_floors(&self) -> Vec<i64> {
        let mut floors = vec![i64::MAX; self.next_id.load(Ordering::Acquire) as usize];
        for (i, shard) in self.shards.iter().enumerate() {
            let shard = shard.lock();
            for (id, s) in shard.iter(i) {
                if let Some(f) = floors.get_mut(id as usize) {
                    *f = s.newest().saturating_sub(1);
                }
            }
        }
        floors
    }

    /// Closed chunks held in head chunk files (not on the heap).
    pub fn chunks_in_files(&self) -> u64 {
        let mut n = 0u64;
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for s in shard.series.iter().flatten() {
                n += s
                    .closed
                    .iter()
                    .filter(|c| matches!(c.data, ChunkBytes::Mapped { .. }))
                    .count() as u64;
            }
        }
        n
    }

    /// (samples, chunks, min time, max time) over the visible head.
    pub fn stats(&self) -> (u64, u64, i64, i64) {
        let trunc = self.trunc_t();
        let (mut samples, mut chunks, mut mint, mut maxt) = (0u64, 0u64, i64::MAX, i64::MIN);
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for s in shard.series.iter().flatten() {
                samples += s.num_samples();
                chunks += s.closed.len() as u64 + u64::from(s.open.count() > 0);
                mint = mint.min(s.min_t().max(trunc));
                maxt = maxt.max(s.newest());
            }
        }
        (samples, chunks, mint, maxt)
    }

    /// The newest timestamp any series took (i64::MIN when none did).
    pub fn newest_sample_t(&self) -> i64 {
        let mut newest = i64::MIN;
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for s in shard.series.iter().flatten() {
                newest = newest.max(s.newest());
            }
        }
        newest
    }

    /// The head's oldest (readable) and newest timestamps. Maintenance asks
    /// every round, so it walks the series without counting samples.
    pub fn time_range(&self) -> (i64, i64) {
        let trunc = self.trunc_t();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        self.for_each_series(|_, s| {
            mint = mint.min(s.min_t().max(trunc));
            maxt = maxt.max(s.newest());
        });
        (mint, maxt)
    }

    /// Visits every series (stats, checkpoints), one shard lock at a time.
    pub fn for_each_series(&self, mut f: impl FnMut(u32, &MemSeries)) {
        for (i, shard) in self.shards.iter().enumerate() {
            let shard = shard.lock();
            for (id, s) in shard.iter(i) {
                f(id, s);
            }
        }
    }

    /// A consistent copy of what a query needs: chunk references and a copy
    /// of the open chunk, taken one shard lock at a time so no lock is held
    /// while the query runs.
    pub fn snapshot_series(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        sorted: bool,
    ) -> Vec<HeadSeriesData> {
        let (lo, hi) = (
            mint.max(hints.start).max(self.trunc_t()),
            maxt.min(hints.end),
        );
        let mut by_shard: Vec<Vec<u32>> = vec![Vec::new(); SHARDS];
        for id in self.select_ids(matchers).iter() {
            by_shard[shard_of(id)].push(id);
        }
        let mut out: Vec<(u32, HeadSeriesData)> = Vec::new();
        for (i, ids) in by_shard.iter().enumerate() {
            if ids.is_empty() {
                continue;
            }
            let shard = self.shards[i].lock();
            for &id in ids {
                let Some(s) = shard.get(id) else { continue };
                if let Some(d) = s.snapshot(hints, lo, hi) {
                    out.push((id, d));
                }
            }
        }
        if sorted {
            // Label sets are unique in the head: no need for a stable sort.
            // Comparing label sets is most of an instant query over many
            // series, which is why callers that need no order skip it.
            out.sort_unstable_by(|a, b| a.1.labels.cmp(&b.1.labels));
        } else {
            // Creation order (ids are handed out ascending), not the
            // shards' order: the order Prometheus' head gives an unsorted
            // select, so aggregations add the series up as it does.
            out.sort_unstable_by_key(|(id, _)| *id);
        }
        out.into_iter().map(|(_, d)| d).collect()
    }
}

/// One series' part of a block range, see `Head::series_range_chunks`.
#[derive(Default)]
pub(crate) struct RangeChunks {
    /// Closed chunks inside the range, oldest first, already block-encoded.
    pub encoded: Vec<ClosedChunk>,
    /// Decoded samples after the encoded chunks, sorted, within the range.
    pub tail: Vec<Sample>,
}

/// A query's private copy of one head series: closed chunks (column
/// encoded, shared) and a copy of the open XOR chunk.
pub(crate) struct HeadSeriesData {
    /// The series' own packed labels (shared, not copied): a selection of
    /// every head series holds no decoded label set until it is read.
    pub labels: CompactLabels,
    pub closed: Vec<ChunkBytes>,
    pub open: Option<Vec<u8>>,
    pub ooo: Vec<Sample>,
    pub lo: i64,
    pub hi: i64,
    /// The open chunk's newest sample when it lies within `[lo, hi]`: an
    /// instant selector's answer without decoding a chunk.
    pub newest: Option<Sample>,
    /// Where the copied samples lie, from the series' chunk metadata
    /// (see `SampleIter::time_bounds`).
    pub bounds: Option<(i64, i64)>,
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
            bounds,
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
            bounds,
            corrupt: None,
        };
        let samples: Box<dyn SampleIter + 'a> = if let (true, None, true, Some(n)) =
            (it.closed.is_empty(), &it.open, ooo.is_empty(), it.newest)
        {
            // A `newest_only` snapshot: its one sample, however it is read.
            Box::new(NewestOnly(Some(n)))
        } else if ooo.is_empty() {
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
        Series {
            labels: labels.to_labels(),
            samples,
        }
    }
}

/// A series' newest sample alone (see `SelectHints::newest_only`).
struct NewestOnly(Option<Sample>);

impl SampleIter for NewestOnly {
    fn next(&mut self) -> Option<Sample> {
        self.0.take()
    }

    fn newest_at_or_before(&mut self, ts: i64) -> Option<Sample> {
        self.0.take().filter(|s| s.t <= ts)
    }

    fn time_bounds(&self) -> Option<(i64, i64)> {
        self.0.map(|s| (s.t, s.t))
    }
}

/// Decodes head chunks one at a time into a reused buffer: the closed ones
/// (column encoded), then the open one (XOR).
struct ChunkIter {
    newest: Option<Sample>,
    closed: Vec<ChunkBytes>,
    open: Option<Vec<u8>>,
    next_chunk: usize,
    buf: Vec<Sample>,
    pos: usize,
    lo: i64,
    hi: i64,
    bounds: Option<(i64, i64)>,
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

    fn time_bounds(&self) -> Option<(i64, i64)> {
        self.bounds
    }
}

/// Builds `Labels` from a validated borrowed label set.
pub(crate) fn owned_labels(labels: &[LabelRef<'_>]) -> Labels {
    Labels::from_sorted(labels.iter().map(|l| Label::new(l.name, l.value)).collect())
}

pub(crate) fn select_from_head<'a>(data: Vec<HeadSeriesData>) -> SeriesIter<'a> {
    Box::new(data.into_iter().map(|d| Ok(d.into_series())))
}
