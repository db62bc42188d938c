//! The write-ahead log of one tenant.
//!
//! Design constraints:
//! 1. A record is acknowledged only after `write(2)` returned for it (it
//!    survives `kill -9`), and under `WalSync::Always` only after fsync.
//! 2. Group commit: concurrent appenders enqueue framed records into one
//!    pending buffer; whoever waits first writes the whole buffer with one
//!    write (and one fsync) for everybody.
//! 3. Every record is framed with its length and a CRC-32C; replay stops at
//!    the first frame that does not check out, truncates the segment there
//!    and drops later segments, with a warning — never a panic, never a
//!    refusal to start.
//! 4. A new segment is started at every open, so a torn tail is never
//!    appended to.
//!
//! Format: docs/format-wal.md.

use crate::{TsdbError, WalSync};
use parking_lot::{Condvar, Mutex};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use strata_model::{Label, Labels, MatchOp, Matcher, Sample};

pub(crate) const SEGMENT_MAGIC: &[u8; 4] = b"SWAL";
pub(crate) const SEGMENT_VERSION: u8 = 1;
const HEADER_LEN: usize = 8;
/// No record is larger than this; a bigger length is corruption.
const MAX_RECORD: usize = 1 << 30;

pub(crate) const REC_SERIES: u8 = 1;
pub(crate) const REC_SAMPLES: u8 = 2;
pub(crate) const REC_TOMBSTONE: u8 = 3;
pub(crate) const REC_CHUNK: u8 = 4;
pub(crate) const REC_MIN_VALID: u8 = 5;

#[derive(Debug)]
pub(crate) enum Record {
    Series(Vec<(u32, Labels)>),
    Samples(Vec<(u32, Sample)>),
    Tombstone {
        matchers: Vec<Matcher>,
        mint: i64,
        maxt: i64,
    },
    Chunk {
        id: u32,
        data: Vec<u8>,
    },
    MinValid(i64),
}

// ---- encoding -------------------------------------------------------------

pub(crate) use strata_block::codec::{put_uvarint, put_varint};

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Appends one series entry to a series record under construction.
pub(crate) fn put_series<'a>(
    buf: &mut Vec<u8>,
    id: u32,
    labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) {
    put_uvarint(buf, u64::from(id));
    put_uvarint(buf, labels.len() as u64);
    for (n, v) in labels {
        put_bytes(buf, n.as_bytes());
        put_bytes(buf, v.as_bytes());
    }
}

pub(crate) fn put_sample(buf: &mut Vec<u8>, id: u32, s: Sample) {
    put_uvarint(buf, u64::from(id));
    put_varint(buf, s.t);
    buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
}

/// A series record under construction: the series a write created, logged
/// before any sample that refers to them.
#[derive(Default)]
pub(crate) struct SeriesRecordBuilder {
    body: Vec<u8>,
    n: u64,
}

impl SeriesRecordBuilder {
    pub fn push<'a>(&mut self, id: u32, labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>) {
        put_series(&mut self.body, id, labels);
        self.n += 1;
    }

    /// The record payload, or `None` when nothing was pushed. Resets the
    /// builder for reuse.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.n == 0 {
            return None;
        }
        let mut p = Vec::with_capacity(self.body.len() + 11);
        p.push(REC_SERIES);
        put_uvarint(&mut p, self.n);
        p.extend_from_slice(&self.body);
        self.body.clear();
        self.n = 0;
        Some(p)
    }
}

/// A samples record under construction.
#[derive(Default)]
pub(crate) struct SamplesRecordBuilder {
    body: Vec<u8>,
    n: u64,
}

impl SamplesRecordBuilder {
    pub fn push(&mut self, id: u32, s: Sample) {
        put_sample(&mut self.body, id, s);
        self.n += 1;
    }

    /// The record payload, or `None` when nothing was pushed. Resets the
    /// builder for reuse.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.n == 0 {
            return None;
        }
        let mut p = Vec::with_capacity(self.body.len() + 11);
        p.push(REC_SAMPLES);
        put_uvarint(&mut p, self.n);
        p.extend_from_slice(&self.body);
        self.body.clear();
        self.n = 0;
        Some(p)
    }
}

pub(crate) fn tombstone_record(matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<u8> {
    let mut b = vec![REC_TOMBSTONE];
    put_uvarint(&mut b, matchers.len() as u64);
    for m in matchers {
        b.push(match m.op {
            MatchOp::Equal => 0,
            MatchOp::NotEqual => 1,
            MatchOp::RegexMatch => 2,
            MatchOp::RegexNoMatch => 3,
        });
        put_bytes(&mut b, m.name.as_bytes());
        put_bytes(&mut b, m.value.as_bytes());
    }
    put_varint(&mut b, mint);
    put_varint(&mut b, maxt);
    b
}

/// Frames a record payload: `len u32 LE | crc32c u32 LE | payload`.
pub(crate) fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

fn segment_header() -> [u8; HEADER_LEN] {
    [
        SEGMENT_MAGIC[0],
        SEGMENT_MAGIC[1],
        SEGMENT_MAGIC[2],
        SEGMENT_MAGIC[3],
        SEGMENT_VERSION,
        0,
        0,
        0,
    ]
}

// ---- decoding --------------------------------------------------------------

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn varint(&mut self) -> Option<i64> {
        let z = self.uvarint()?;
        Some(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.uvarint()?).ok()?;
        let end = self.pos.checked_add(len).filter(|e| *e <= self.b.len())?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Some(s)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    fn u64le(&mut self) -> Option<u64> {
        let end = self.pos.checked_add(8).filter(|e| *e <= self.b.len())?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.b[self.pos..end]);
        self.pos = end;
        Some(u64::from_le_bytes(a))
    }

    fn id(&mut self) -> Option<u32> {
        u32::try_from(self.uvarint()?).ok()
    }
}

pub(crate) fn decode_record(p: &[u8]) -> Option<Record> {
    let (&kind, rest) = p.split_first()?;
    let mut c = Cursor { b: rest, pos: 0 };
    // Counts come from disk: cap pre-allocation by what the bytes can hold.
    let cap = |n: u64| (n as usize).min(rest.len());
    let rec = match kind {
        REC_SERIES => {
            let n = c.uvarint()?;
            let mut out = Vec::with_capacity(cap(n));
            for _ in 0..n {
                let id = c.id()?;
                let nl = c.uvarint()?;
                let mut labels = Vec::with_capacity(cap(nl));
                for _ in 0..nl {
                    let name = c.str()?;
                    let value = c.str()?;
                    labels.push(Label::new(name, value));
                }
                out.push((id, Labels::new(labels)));
            }
            Record::Series(out)
        }
        REC_SAMPLES => {
            let n = c.uvarint()?;
            let mut out = Vec::with_capacity(cap(n));
            for _ in 0..n {
                let id = c.id()?;
                let t = c.varint()?;
                let v = f64::from_bits(c.u64le()?);
                out.push((id, Sample::new(t, v)));
            }
            Record::Samples(out)
        }
        REC_TOMBSTONE => {
            let n = c.uvarint()?;
            let mut matchers = Vec::with_capacity(cap(n));
            for _ in 0..n {
                let op = match *c.b.get(c.pos)? {
                    0 => MatchOp::Equal,
                    1 => MatchOp::NotEqual,
                    2 => MatchOp::RegexMatch,
                    3 => MatchOp::RegexNoMatch,
                    _ => return None,
                };
                c.pos += 1;
                let name = c.str()?;
                let value = c.str()?;
                matchers.push(Matcher::new(op, name, value).ok()?);
            }
            let mint = c.varint()?;
            let maxt = c.varint()?;
            Record::Tombstone {
                matchers,
                mint,
                maxt,
            }
        }
        REC_CHUNK => {
            let id = c.id()?;
            let data = c.bytes()?.to_vec();
            Record::Chunk { id, data }
        }
        REC_MIN_VALID => Record::MinValid(c.varint()?),
        _ => return None,
    };
    if c.pos != rest.len() {
        return None;
    }
    Some(rec)
}

// ---- files -----------------------------------------------------------------

pub(crate) fn segment_name(n: u64) -> String {
    format!("{n:08}")
}

/// Numbered segments in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TsdbError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 8
            && name.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = name.parse::<u64>()
        {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest complete checkpoint: `checkpoint.NNNNNNNN` covering segments ≤ N.
pub(crate) fn latest_checkpoint(dir: &Path) -> Result<Option<(u64, PathBuf)>, TsdbError> {
    let mut best: Option<(u64, PathBuf)> = None;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix("checkpoint.")
            .and_then(|s| s.parse::<u64>().ok())
            && best.as_ref().is_none_or(|(b, _)| n > *b)
        {
            best = Some((n, e.path()));
        }
    }
    Ok(best)
}

pub(crate) struct ReplayStats {
    pub records: u64,
    pub samples: u64,
    pub segments: u64,
    pub last_segment: u64,
    pub truncated: bool,
}

/// Reads one segment file, calling `f` for each valid record. Returns the
/// byte offset of the first bad frame, if any.
fn replay_file(
    path: &Path,
    f: impl FnMut(Record),
    stats: &mut ReplayStats,
) -> Result<Option<(u64, String)>, TsdbError> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    parse_segment(&bytes, f, stats).map_err(|reason| TsdbError::Corruption {
        location: path.display().to_string(),
        reason,
    })
}

/// Parses a whole segment held in memory. `Ok(Some((offset, why)))` marks
/// where the valid log ends; `Err` is a segment from a newer Strata.
fn parse_segment(
    bytes: &[u8],
    mut f: impl FnMut(Record),
    stats: &mut ReplayStats,
) -> Result<Option<(u64, String)>, String> {
    if bytes.len() < HEADER_LEN {
        return Ok(Some((0, "segment shorter than its header".into())));
    }
    if &bytes[..4] != SEGMENT_MAGIC {
        return Ok(Some((0, "bad segment magic".into())));
    }
    if bytes[4] > SEGMENT_VERSION {
        return Err(format!(
            "WAL segment version {} is newer than this Strata understands ({SEGMENT_VERSION})",
            bytes[4]
        ));
    }
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let Some(hdr) = bytes.get(pos..pos + 8) else {
            return Ok(Some((pos as u64, "torn record header".into())));
        };
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if len > MAX_RECORD {
            return Ok(Some((
                pos as u64,
                format!("record length {len} is implausible"),
            )));
        }
        let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
            return Ok(Some((pos as u64, "torn record".into())));
        };
        if crc32c::crc32c(payload) != crc {
            return Ok(Some((pos as u64, "record checksum mismatch".into())));
        }
        let Some(rec) = decode_record(payload) else {
            return Ok(Some((pos as u64, "undecodable record".into())));
        };
        if let Record::Samples(s) = &rec {
            stats.samples += s.len() as u64;
        }
        stats.records += 1;
        f(rec);
        pos += 8 + len;
    }
    Ok(None)
}

/// Fuzzing entry point: parses arbitrary bytes as a WAL segment and as a
/// single record payload; returns the number of valid records.
#[doc(hidden)]
pub fn fuzz_parse_segment(bytes: &[u8]) -> u64 {
    let mut stats = ReplayStats {
        records: 0,
        samples: 0,
        segments: 0,
        last_segment: 0,
        truncated: false,
    };
    let _ = parse_segment(bytes, |_| {}, &mut stats);
    let _ = decode_record(bytes);
    stats.records
}

/// Replays checkpoint + segments. With `repair`, a corrupt tail is truncated
/// and later segments are deleted; read-only callers just stop there.
pub(crate) fn replay(
    dir: &Path,
    repair: bool,
    mut f: impl FnMut(Record),
) -> Result<ReplayStats, TsdbError> {
    let mut stats = ReplayStats {
        records: 0,
        samples: 0,
        segments: 0,
        last_segment: 0,
        truncated: false,
    };
    let mut after = 0u64;
    if let Some((n, cp)) = latest_checkpoint(dir)? {
        after = n;
        stats.last_segment = n;
        let file = cp.join(segment_name(0));
        if let Some((off, why)) = replay_file(&file, &mut f, &mut stats)? {
            // A checkpoint is written whole and renamed into place; damage
            // here is not a torn write, so say it loudly and go on.
            tracing::error!(checkpoint = %file.display(), offset = off, reason = %why, "corrupt WAL checkpoint: data after this point in it is lost");
        }
    }
    let segments: Vec<(u64, PathBuf)> = list_segments(dir)?
        .into_iter()
        .filter(|(n, _)| *n > after)
        .collect();
    let total = segments.len();
    let started = std::time::Instant::now();
    let mut corrupt_from: Option<usize> = None;
    for (i, (n, path)) in segments.iter().enumerate() {
        stats.segments += 1;
        stats.last_segment = stats.last_segment.max(*n);
        if let Some((off, why)) = replay_file(path, &mut f, &mut stats)? {
            tracing::warn!(segment = %path.display(), offset = off, reason = %why, "WAL corruption: truncating the log here");
            stats.truncated = true;
            if repair {
                let file = OpenOptions::new().write(true).open(path)?;
                file.set_len(off.max(HEADER_LEN as u64))?;
                file.sync_all()?;
            }
            corrupt_from = Some(i + 1);
            break;
        }
        if total > 1 {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            tracing::info!(
                segment = n,
                done = i + 1,
                total,
                samples = stats.samples,
                samples_per_sec = (stats.samples as f64 / secs) as u64,
                "WAL replay progress"
            );
        }
    }
    if let Some(from) = corrupt_from {
        for (n, path) in &segments[from..] {
            tracing::warn!(segment = n, "dropping WAL segment after corruption");
            if repair {
                std::fs::remove_file(path)?;
            }
        }
    }
    Ok(stats)
}

/// Writes a checkpoint directory atomically: records into `checkpoint.N.tmp`,
/// fsync, rename to `checkpoint.N`.
pub(crate) fn write_checkpoint(dir: &Path, n: u64, records: &[Vec<u8>]) -> Result<(), TsdbError> {
    let tmp = dir.join(format!("checkpoint.{}.tmp", segment_name(n)));
    let fin = dir.join(format!("checkpoint.{}", segment_name(n)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    let mut buf = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(&segment_header());
    for r in records {
        frame(&mut buf, r);
    }
    let mut f = File::create(tmp.join(segment_name(0)))?;
    f.write_all(&buf)?;
    f.sync_all()?;
    File::open(&tmp)?.sync_all()?;
    if fin.exists() {
        std::fs::remove_dir_all(&fin)?;
    }
    std::fs::rename(&tmp, &fin)?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Deletes segments ≤ n and checkpoints older than n.
pub(crate) fn truncate_before(dir: &Path, n: u64) -> Result<(), TsdbError> {
    for (s, path) in list_segments(dir)? {
        if s <= n {
            std::fs::remove_file(path)?;
        }
    }
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(rest) = name.strip_prefix("checkpoint.") {
            let num = rest.trim_end_matches(".tmp").parse::<u64>().unwrap_or(0);
            if num < n || rest.ends_with(".tmp") {
                std::fs::remove_dir_all(e.path())?;
            }
        }
    }
    Ok(())
}

// ---- the live log ----------------------------------------------------------

struct State {
    pending: Vec<u8>,
    enqueued: u64,
    flushed: u64,
    flushing: bool,
    error: Option<String>,
}

struct Writer {
    file: File,
    seg: u64,
    size: u64,
    dirty: bool,
}

pub(crate) struct Wal {
    dir: PathBuf,
    state: Mutex<State>,
    cv: Condvar,
    writer: Mutex<Writer>,
    sync: WalSync,
    segment_bytes: u64,
}

fn create_segment(dir: &Path, n: u64) -> Result<File, TsdbError> {
    let path = dir.join(segment_name(n));
    let mut f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)?;
    f.write_all(&segment_header())?;
    f.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(f)
}

impl Wal {
    /// Opens the log for appending, starting a fresh segment after `last`.
    pub fn open(
        dir: &Path,
        last_segment: u64,
        sync: WalSync,
        segment_bytes: u64,
    ) -> Result<Wal, TsdbError> {
        std::fs::create_dir_all(dir)?;
        let seg = last_segment + 1;
        let file = create_segment(dir, seg)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                pending: Vec::with_capacity(1 << 16),
                enqueued: 0,
                flushed: 0,
                flushing: false,
                error: None,
            }),
            cv: Condvar::new(),
            writer: Mutex::new(Writer {
                file,
                seg,
                size: HEADER_LEN as u64,
                dirty: false,
            }),
            sync,
            segment_bytes: segment_bytes.max(4096),
        })
    }

    /// Frames records into the pending buffer; returns the sequence number to
    /// wait for. Call under the head lock so WAL order equals append order.
    pub fn enqueue(&self, payloads: &[&[u8]]) -> u64 {
        let mut st = self.state.lock();
        for p in payloads {
            frame(&mut st.pending, p);
        }
        st.enqueued += 1;
        st.enqueued
    }

    /// Waits until the record with sequence `seq` is written (group commit).
    pub fn wait(&self, seq: u64) -> Result<(), TsdbError> {
        let mut st = self.state.lock();
        loop {
            if let Some(e) = &st.error {
                return Err(TsdbError::Wal(e.clone()));
            }
            if st.flushed >= seq {
                return Ok(());
            }
            if st.flushing {
                self.cv.wait(&mut st);
                continue;
            }
            st.flushing = true;
            let buf = std::mem::take(&mut st.pending);
            let upto = st.enqueued;
            drop(st);
            let res = self.write_out(&buf);
            st = self.state.lock();
            st.flushing = false;
            match res {
                Ok(()) => st.flushed = upto,
                Err(e) => st.error = Some(e.to_string()),
            }
            // Give the buffer back for reuse when nothing queued meanwhile.
            if st.pending.is_empty() {
                let mut b = buf;
                b.clear();
                st.pending = b;
            }
            self.cv.notify_all();
        }
    }

    fn write_out(&self, buf: &[u8]) -> Result<(), TsdbError> {
        if buf.is_empty() {
            return Ok(());
        }
        let mut w = self.writer.lock();
        if w.size + buf.len() as u64 > self.segment_bytes && w.size > HEADER_LEN as u64 {
            w.file.sync_all()?;
            let next = w.seg + 1;
            w.file = create_segment(&self.dir, next)?;
            w.seg = next;
            w.size = HEADER_LEN as u64;
        }
        w.file.write_all(buf)?;
        w.size += buf.len() as u64;
        if matches!(self.sync, WalSync::Always) {
            w.file.sync_data()?;
        } else {
            w.dirty = true;
        }
        Ok(())
    }

    /// Flushes everything enqueued and fsyncs (interval policy and close).
    pub fn sync(&self) -> Result<(), TsdbError> {
        let seq = self.state.lock().enqueued;
        self.wait(seq)?;
        let mut w = self.writer.lock();
        if w.dirty {
            w.file.sync_data()?;
            w.dirty = false;
        }
        Ok(())
    }

    /// Starts a new segment; returns the number of the last finished one.
    /// The caller holds the head lock, so nothing is enqueued meanwhile.
    pub fn rotate(&self) -> Result<u64, TsdbError> {
        self.sync()?;
        let mut w = self.writer.lock();
        let done = w.seg;
        let next = w.seg + 1;
        w.file = create_segment(&self.dir, next)?;
        w.seg = next;
        w.size = HEADER_LEN as u64;
        Ok(done)
    }

    pub fn size_bytes(&self) -> u64 {
        dir_size(&self.dir)
    }
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples_rec(n: usize, base: i64) -> Vec<u8> {
        let mut b = vec![REC_SAMPLES];
        put_uvarint(&mut b, n as u64);
        for i in 0..n {
            put_sample(&mut b, 1, Sample::new(base + i as i64, i as f64));
        }
        b
    }

    fn collect(dir: &Path, repair: bool) -> Result<Vec<i64>, TsdbError> {
        let mut ts = Vec::new();
        replay(dir, repair, |r| {
            if let Record::Samples(s) = r {
                ts.extend(s.iter().map(|(_, s)| s.t));
            }
        })?;
        Ok(ts)
    }

    #[test]
    fn torn_tail_at_every_offset_keeps_the_prefix() -> Result<(), TsdbError> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("wal");
        let wal = Wal::open(&dir, 0, WalSync::Always, 1 << 20)?;
        for i in 0..3 {
            let rec = samples_rec(2, i * 10);
            let seq = wal.enqueue(&[&rec]);
            wal.wait(seq)?;
        }
        drop(wal);
        let seg = dir.join(segment_name(1));
        let full = std::fs::read(&seg)?;
        let last_start = full.len() - (8 + samples_rec(2, 20).len());
        for cut in last_start..full.len() {
            std::fs::write(&seg, &full[..cut])?;
            assert_eq!(collect(&dir, false)?, vec![0, 1, 10, 11], "cut at {cut}");
        }
        // A flipped byte inside the second record: only the first survives,
        // and repair truncates the file so the next replay is clean.
        let mut bad = full.clone();
        bad[HEADER_LEN + 8 + samples_rec(2, 0).len() + 10] ^= 0x55;
        std::fs::write(&seg, &bad)?;
        assert_eq!(collect(&dir, true)?, vec![0, 1]);
        assert_eq!(
            std::fs::metadata(&seg)?.len() as usize,
            HEADER_LEN + 8 + samples_rec(2, 0).len()
        );
        Ok(())
    }

    #[test]
    fn group_commit_under_concurrent_appenders() -> Result<(), TsdbError> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("wal");
        let wal = std::sync::Arc::new(Wal::open(&dir, 0, WalSync::Always, 4096)?);
        let mut handles = Vec::new();
        for th in 0..4 {
            let wal = wal.clone();
            handles.push(std::thread::spawn(move || -> Result<(), TsdbError> {
                for i in 0..200 {
                    let rec = samples_rec(1, th * 1000 + i);
                    let seq = wal.enqueue(&[&rec]);
                    wal.wait(seq)?;
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| TsdbError::Wal("thread panicked".into()))??;
        }
        drop(wal);
        let mut got = collect(&dir, false)?;
        got.sort();
        let mut want: Vec<i64> = (0..4)
            .flat_map(|th| (0..200).map(move |i| th * 1000 + i))
            .collect();
        want.sort();
        assert_eq!(got, want);
        assert!(list_segments(&dir)?.len() > 1, "small segments must rotate");
        Ok(())
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = decode_record(&bytes);
        }
    }
}
