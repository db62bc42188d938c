//! The write-ahead log of one tenant.
//!
//! Design constraints:
//! 1. A record is acknowledged only after `write(2)` returned for it (it
//!    survives `kill -9`), and under `WalSync::Always` only after fsync.
//! 2. Group commit: concurrent appenders enqueue records into one pending
//!    buffer; whoever waits first writes the whole buffer with one write (and
//!    one fsync) for everybody.
//! 3. `enqueue` is a memcpy: callers hold a head lock while they enqueue (so
//!    WAL order is append order). Compression happens in the group-commit
//!    leader, after it took the pending buffer and released the state mutex:
//!    the buffer is cut into frames of about 1 MiB between records and each
//!    frame is zstd-compressed whole. One frame spans many records (often
//!    several requests), which compresses far better than record by record
//!    and costs appenders nothing; a torn frame only loses records nobody
//!    was acknowledged for yet, since the acknowledgement waits for the
//!    whole write.
//! 4. Every frame carries its length and a CRC-32C over what is on disk;
//!    replay stops at the first frame that does not check out, truncates the
//!    segment there and drops later segments, with a warning — never a
//!    panic, never a refusal to start. Decompression is bounded by the
//!    frame's declared size, itself capped.
//! 5. A new segment is started at every open, so a torn tail is never
//!    appended to.
//! 6. Replay and checkpoints stream segments frame by frame: memory is one
//!    frame and one decoded record, never a segment or the whole log.
//! 7. Version-1 segments and checkpoints (uncompressed, one record per
//!    frame) stay readable; only version 2 is written.
//!
//! Format: docs/format-wal.md.

mod checkpoint;
mod record;
mod segment;
mod tail;
#[cfg(test)]
mod tests;

// `checkpoint` replaces `write_checkpoint` once the head cut streams its
// checkpoint (the lead's head rewrite).
#[allow(unused_imports)]
pub(crate) use checkpoint::{CheckpointStats, checkpoint};
#[allow(unused_imports)]
pub(crate) use record::{
    REC_CHUNK, REC_MIN_VALID, REC_SAMPLES, REC_SERIES, REC_TOMBSTONE, Record, SamplesRecordBuilder,
    SeriesRecordBuilder, decode_record, put_series, put_uvarint, put_varint, tombstone_record,
};
#[allow(unused_imports)]
pub(crate) use segment::{HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION};
pub(crate) use tail::WalTail;

use crate::{TsdbError, WalSync};
use parking_lot::{Condvar, Mutex};
use segment::{BadFrame, FrameEncoder, Opened, SegmentReader, segment_header};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Read buffer for streaming segments: large enough that a frame is a few
/// reads, small next to a head.
const READ_BUFFER: usize = 256 << 10;

// ---- files -----------------------------------------------------------------

pub(crate) fn segment_name(n: u64) -> String {
    format!("{n:08}")
}

/// Numbered segments in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TsdbError> {
    list_numbered(dir, 8)
}

/// The UTF-8-named entries of `dir` with their paths; a missing
/// directory has none (a tenant or WAL not created yet).
pub(crate) fn dir_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, TsdbError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e?;
        if let Ok(name) = e.file_name().into_string() {
            out.push((name, e.path()));
        }
    }
    Ok(out)
}

/// Files of `dir` named by a number of exactly `digits` digits, ascending
/// (WAL segments, head chunk files); a missing directory has none.
pub(crate) fn list_numbered(dir: &Path, digits: usize) -> Result<Vec<(u64, PathBuf)>, TsdbError> {
    let mut out: Vec<(u64, PathBuf)> = dir_entries(dir)?
        .into_iter()
        .filter(|(name, _)| name.len() == digits && name.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|(name, path)| name.parse::<u64>().ok().map(|n| (n, path)))
        .collect();
    out.sort();
    Ok(out)
}

/// Complete checkpoints (`checkpoint.NNNNNNNN`, covering segments ≤ N),
/// ascending. A `checkpoint.N.tmp` (a crash while writing one) is never
/// listed.
pub(crate) fn checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TsdbError> {
    let mut out: Vec<(u64, PathBuf)> = dir_entries(dir)?
        .into_iter()
        .filter_map(|(name, path)| {
            let n = name.strip_prefix("checkpoint.")?.parse::<u64>().ok()?;
            Some((n, path))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The newest complete checkpoint.
pub(crate) fn latest_checkpoint(dir: &Path) -> Result<Option<(u64, PathBuf)>, TsdbError> {
    Ok(checkpoints(dir)?.pop())
}

#[derive(Debug, Default)]
pub(crate) struct ReplayStats {
    pub records: u64,
    pub samples: u64,
    pub segments: u64,
    pub last_segment: u64,
    pub truncated: bool,
}

/// Streams one segment, calling `f` for each valid record. `Ok(Some(bad))`
/// marks where the valid log ends; `Err` is I/O trouble opening it or a
/// segment from a newer Strata.
pub(crate) fn read_segment<R: Read>(
    r: R,
    len: u64,
    location: &str,
    mut f: impl FnMut(Record),
    stats: &mut ReplayStats,
) -> Result<Option<BadFrame>, TsdbError> {
    let mut reader = match SegmentReader::open(r, len, location)? {
        Opened::Reader(r) => r,
        Opened::Bad(b) => return Ok(Some(b)),
    };
    loop {
        let offset = reader.offset();
        let records = match reader.next_frame() {
            Ok(Some(records)) => records,
            Ok(None) => return Ok(None),
            Err(bad) => return Ok(Some(bad)),
        };
        for payload in records {
            let Some(rec) = decode_record(payload) else {
                // The frame passed its checksum, so this is not a torn
                // write; the records before it in the frame were intact.
                return Ok(Some(BadFrame {
                    offset,
                    reason: "undecodable record".into(),
                }));
            };
            if let Record::Samples(s) | Record::OutOfOrderSamples(s) = &rec {
                stats.samples += s.len() as u64;
            }
            stats.records += 1;
            f(rec);
        }
    }
}

pub(super) fn replay_file(
    path: &Path,
    f: impl FnMut(Record),
    stats: &mut ReplayStats,
) -> Result<Option<BadFrame>, TsdbError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    read_segment(
        BufReader::with_capacity(READ_BUFFER, file),
        len,
        &path.display().to_string(),
        f,
        stats,
    )
}

/// Fuzzing entry point: parses arbitrary bytes as a WAL segment and as a
/// single record payload; returns the number of valid records.
#[doc(hidden)]
pub fn fuzz_parse_segment(bytes: &[u8]) -> u64 {
    let mut stats = ReplayStats::default();
    let _ = read_segment(bytes, bytes.len() as u64, "fuzz", |_| {}, &mut stats);
    let _ = decode_record(bytes);
    stats.records
}

/// The files of a checkpoint directory, ascending (one today; more are read
/// if a future writer splits checkpoints).
fn checkpoint_files(cp: &Path) -> Result<Vec<(u64, PathBuf)>, TsdbError> {
    list_segments(cp)
}

/// Replays checkpoint + segments. With `repair`, a corrupt tail is truncated
/// and later segments are deleted; read-only callers just stop there.
pub(crate) fn replay(
    dir: &Path,
    repair: bool,
    mut f: impl FnMut(Record),
) -> Result<ReplayStats, TsdbError> {
    let mut stats = ReplayStats::default();
    let mut after = 0u64;
    if let Some((n, cp)) = latest_checkpoint(dir)? {
        after = n;
        stats.last_segment = n;
        for (_, file) in checkpoint_files(&cp)? {
            if let Some(bad) = replay_file(&file, &mut f, &mut stats)? {
                // A checkpoint is written whole and renamed into place;
                // damage here is not a torn write, so say it loudly and go on.
                tracing::error!(checkpoint = %file.display(), offset = bad.offset, reason = %bad.reason, "corrupt WAL checkpoint: data after this point in it is lost");
                break;
            }
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
        if let Some(bad) = replay_file(path, &mut f, &mut stats)? {
            tracing::warn!(segment = %path.display(), offset = bad.offset, reason = %bad.reason, "WAL corruption: truncating the log here");
            stats.truncated = true;
            if repair {
                let file = OpenOptions::new().write(true).open(path)?;
                file.set_len(bad.offset.max(HEADER_LEN as u64))?;
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

/// Deletes segments ≤ n, checkpoints older than n and leftover
/// `checkpoint.*.tmp` directories.
#[cfg(test)]
pub(crate) fn truncate_before(dir: &Path, n: u64) -> Result<(), TsdbError> {
    truncate_held(dir, n, None)
}

/// `truncate_before`, keeping what a remote-write queue reading samples
/// from segment `held` still needs: those segments, and the newest
/// checkpoint before them with the segments after it (the series records
/// they refer to).
pub(crate) fn truncate_held(dir: &Path, n: u64, held: Option<u64>) -> Result<(), TsdbError> {
    let n = match held {
        None => n,
        Some(m) => {
            let newest_before = checkpoints(dir)?
                .into_iter()
                .map(|(c, _)| c)
                .rfind(|c| *c < m)
                .unwrap_or(0);
            n.min(newest_before)
        }
    };
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
    /// Enqueued records not yet written: a run of `uvarint(len) record`,
    /// which is exactly the uncompressed content of v2 frames.
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
    encoder: FrameEncoder,
    /// The leader's encoded frames, reused between flushes.
    out: Vec<u8>,
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
                encoder: FrameEncoder::new(),
                out: Vec::new(),
            }),
            sync,
            segment_bytes: segment_bytes.max(4096),
        })
    }

    /// Copies records into the pending buffer; returns the sequence number to
    /// wait for. Call under the head lock so WAL order equals append order;
    /// it only copies bytes.
    pub fn enqueue(&self, payloads: &[&[u8]]) -> u64 {
        let mut st = self.state.lock();
        for p in payloads {
            put_uvarint(&mut st.pending, p.len() as u64);
            st.pending.extend_from_slice(p);
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

    /// Compresses `raw` into frames and writes them with one write. Runs in
    /// the group-commit leader, outside the state mutex.
    fn write_out(&self, raw: &[u8]) -> Result<(), TsdbError> {
        if raw.is_empty() {
            return Ok(());
        }
        let mut guard = self.writer.lock();
        let w = &mut *guard;
        w.out.clear();
        w.encoder.encode(raw, &mut w.out);
        if w.size + w.out.len() as u64 > self.segment_bytes && w.size > HEADER_LEN as u64 {
            w.file.sync_all()?;
            let next = w.seg + 1;
            w.file = create_segment(&self.dir, next)?;
            w.seg = next;
            w.size = HEADER_LEN as u64;
            w.dirty = false;
        }
        w.file.write_all(&w.out)?;
        w.size += w.out.len() as u64;
        if matches!(self.sync, WalSync::Always) {
            w.file.sync_data()?;
        } else {
            w.dirty = true;
        }
        // A burst can leave a large buffer behind; don't keep it for good.
        if w.out.capacity() > 4 * segment::FRAME_TARGET {
            w.out = Vec::new();
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

    /// Finishes the current segment and starts a new one; returns the number
    /// of the finished one. Safe while other threads enqueue and flush: every
    /// flush writes its frames with one `write` under the writer mutex, and
    /// the switch happens under that mutex too, so each flushed batch lies
    /// wholly in one segment — ≤ the returned number if it was written
    /// before the switch, above it otherwise — and nothing pending is
    /// touched. When this returns, segments ≤ the returned number are
    /// complete and fsynced and no write will go to them again, so a
    /// checkpoint can read them.
    pub fn rotate(&self) -> Result<u64, TsdbError> {
        // Flush what is pending now so the finished segment holds it.
        self.sync()?;
        let mut w = self.writer.lock();
        // A leader may have written after our sync, before we got the lock.
        if w.dirty {
            w.file.sync_data()?;
            w.dirty = false;
        }
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
