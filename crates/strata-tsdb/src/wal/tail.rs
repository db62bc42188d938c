//! Tailing the live log for remote-write queues (Prometheus' WAL watcher
//! role): samples in log order with their series' labels, from a position
//! on, following new frames as the group commit writes them.
//!
//! The reader never trusts the end of the newest segment: a frame there
//! may be mid-`write(2)`, so a frame that does not check out at the tail
//! is read again later from the same offset. Only once a newer segment
//! exists is a bad frame real damage (a torn tail after a crash); the
//! rest of that segment is skipped with a warning.
//!
//! Series come from series records: before the first position to deliver
//! the cursor reads records for their series only, starting at the newest
//! checkpoint older than that position (storage keeps it, and the segments
//! after it, while a queue's progress needs them). When the cursor passes
//! a checkpoint, it forgets series the checkpoint no longer names (the head
//! dropped them), so its map follows the head's live series, not every
//! series ever logged.

use super::record::{Record, decode_record};
use super::segment::{BadFrame, HEADER_LEN, SEGMENT_MAGIC, SegmentReader};
use super::{READ_BUFFER, checkpoint_files, checkpoints, list_segments, replay_file};
use crate::TsdbError;
use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use strata_model::{LogCursor, LogPosition, LoggedSample, PackedLabels, StorageError};

/// How often at most the cursor rereads a checkpoint to forget dropped series.
const FORGET_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Series ids and labels a checkpoint names.
fn checkpoint_series(cp: &Path, mut f: impl FnMut(u32, PackedLabels)) -> Result<(), TsdbError> {
    let mut stats = super::ReplayStats::default();
    for (_, file) in checkpoint_files(cp)? {
        let bad = replay_file(
            &file,
            |rec| {
                if let Record::Series(list) = rec {
                    for (id, labels) in list {
                        f(id, PackedLabels::from_labels(&labels));
                    }
                }
            },
            &mut stats,
        )?;
        if let Some(bad) = bad {
            tracing::error!(checkpoint = %file.display(), offset = bad.offset, reason = %bad.reason, "corrupt WAL checkpoint: series after this point are unknown to remote-write");
            break;
        }
    }
    Ok(())
}

pub(crate) struct WalTail {
    dir: PathBuf,
    /// Samples at or before this position are not delivered.
    after: LogPosition,
    series: HashMap<u32, PackedLabels>,
    /// The next frame to read.
    seg: u64,
    offset: u64,
    forgotten: Vec<u32>,
    last_forget: std::time::Instant,
    /// Samples whose series id no series record named (log damage).
    unknown: u64,
}

/// Where the log ends now: the newest segment's length.
pub(crate) fn log_end(dir: &Path) -> Result<LogPosition, TsdbError> {
    Ok(match list_segments(dir)?.last() {
        Some((n, path)) => LogPosition {
            segment: *n,
            offset: std::fs::metadata(path)?.len(),
            sample: 0,
        },
        None => LogPosition::default(),
    })
}

impl WalTail {
    pub fn open(dir: &Path, after: Option<LogPosition>) -> Result<WalTail, TsdbError> {
        let after = match after {
            Some(p) => p,
            None => log_end(dir)?,
        };
        let mut t = WalTail {
            dir: dir.to_path_buf(),
            after,
            series: HashMap::new(),
            seg: 1,
            offset: 0,
            forgotten: Vec::new(),
            last_forget: std::time::Instant::now(),
            unknown: 0,
        };
        // The newest checkpoint before the first segment to deliver from
        // names every series that segment and the ones before it refer to.
        let cps = checkpoints(dir)?;
        if let Some((n, path)) = cps.iter().rev().find(|(n, _)| *n < after.segment.max(1)) {
            checkpoint_series(path, |id, l| {
                t.series.insert(id, l);
            })?;
            t.seg = n + 1;
        }
        Ok(t)
    }

    /// The next segment after `seg` that exists, if any.
    fn next_segment(&self) -> Result<Option<u64>, TsdbError> {
        Ok(list_segments(&self.dir)?
            .into_iter()
            .map(|(n, _)| n)
            .find(|n| *n > self.seg))
    }

    fn enter(&mut self, seg: u64) -> Result<(), TsdbError> {
        // Passing checkpoint.N (entering a segment after it): series it no
        // longer names are gone from the head and never logged again.
        if self.last_forget.elapsed() >= FORGET_EVERY
            && let Some((_, cp)) = checkpoints(&self.dir)?
                .into_iter()
                .rev()
                .find(|(n, _)| *n < seg && *n >= self.seg)
        {
            let mut live = HashSet::new();
            checkpoint_series(&cp, |id, _| {
                live.insert(id);
            })?;
            let forgotten = &mut self.forgotten;
            self.series.retain(|id, _| {
                let keep = live.contains(id);
                if !keep {
                    forgotten.push(*id);
                }
                keep
            });
            self.last_forget = std::time::Instant::now();
        }
        self.seg = seg;
        self.offset = 0;
        Ok(())
    }

    fn read_inner(
        &mut self,
        max_samples: usize,
        f: &mut dyn FnMut(LoggedSample<'_>),
    ) -> Result<usize, TsdbError> {
        let mut delivered = 0usize;
        loop {
            let path = self.dir.join(super::segment_name(self.seg));
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match self.next_segment()? {
                    Some(n) => {
                        if self.offset > 0 || n > self.seg + 1 {
                            tracing::warn!(
                                segment = self.seg,
                                next = n,
                                "WAL segments a remote-write queue needed are gone: skipping to the next one"
                            );
                        }
                        self.enter(n)?;
                        continue;
                    }
                    None => return Ok(delivered),
                },
                Err(e) => return Err(e.into()),
            };
            let len = file.metadata()?.len();
            let mut r = BufReader::with_capacity(READ_BUFFER, file);
            let mut hdr = [0u8; HEADER_LEN];
            if len < HEADER_LEN as u64 {
                // Being created (its header is written, then fsynced), or
                // empty and superseded.
                match self.next_segment()? {
                    Some(n) => {
                        self.enter(n)?;
                        continue;
                    }
                    None => return Ok(delivered),
                }
            }
            r.read_exact(&mut hdr)?;
            if &hdr[..4] != SEGMENT_MAGIC {
                tracing::warn!(segment = %path.display(), "not a WAL segment: remote-write skips it");
                match self.next_segment()? {
                    Some(n) => {
                        self.enter(n)?;
                        continue;
                    }
                    None => return Ok(delivered),
                }
            }
            let version = hdr[4];
            if self.offset < HEADER_LEN as u64 {
                self.offset = HEADER_LEN as u64;
            }
            if self.offset > len {
                // Progress past the end: frames written but lost to a power
                // failure before they were synced. Nothing to resend there.
                match self.next_segment()? {
                    Some(n) => {
                        self.enter(n)?;
                        continue;
                    }
                    None => return Ok(delivered),
                }
            }
            r.seek(SeekFrom::Start(self.offset))?;
            let mut reader = SegmentReader::resume(r, version, self.offset, len - self.offset);
            let mut bad: Option<BadFrame> = None;
            loop {
                if delivered >= max_samples {
                    return Ok(delivered);
                }
                let frame_at = reader.offset();
                let records = match reader.next_frame() {
                    Ok(Some(records)) => records,
                    Ok(None) => break,
                    Err(b) => {
                        bad = Some(b);
                        break;
                    }
                };
                let mut index = 0u32;
                for payload in records {
                    let Some(rec) = decode_record(payload) else {
                        // A checked frame with an undecodable record: damage,
                        // not a write in progress.
                        tracing::warn!(
                            segment = self.seg,
                            offset = frame_at,
                            "undecodable WAL record: remote-write skips the rest of its frame"
                        );
                        break;
                    };
                    match rec {
                        Record::Series(list) => {
                            for (id, labels) in list {
                                self.series.insert(id, PackedLabels::from_labels(&labels));
                            }
                        }
                        Record::Samples(list) | Record::OutOfOrderSamples(list) => {
                            for (id, sample) in list {
                                index = index.saturating_add(1);
                                let position = LogPosition {
                                    segment: self.seg,
                                    offset: frame_at,
                                    sample: index,
                                };
                                if position <= self.after {
                                    continue;
                                }
                                match self.series.get(&id) {
                                    Some(labels) => {
                                        delivered += 1;
                                        f(LoggedSample {
                                            position,
                                            series_id: id,
                                            labels,
                                            sample,
                                        });
                                    }
                                    None => self.unknown += 1,
                                }
                            }
                        }
                        Record::Tombstone { .. } | Record::Chunk { .. } | Record::MinValid(_) => {}
                    }
                }
                self.offset = reader.offset();
            }
            // The end of what is readable now: wait for more unless a newer
            // segment says this one is finished.
            match self.next_segment()? {
                Some(n) => {
                    if let Some(b) = &bad {
                        tracing::warn!(segment = self.seg, offset = b.offset, reason = %b.reason, "damaged WAL frame: remote-write skips the rest of the segment");
                    }
                    // A segment finished before the next was created, so
                    // what is in it now is all it will ever hold; read it
                    // once more after seeing the next one (a last frame may
                    // have landed between our read and the listing).
                    let len_now = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    if bad.is_none() && len_now > self.offset {
                        continue;
                    }
                    self.enter(n)?;
                }
                None => return Ok(delivered),
            }
        }
    }
}

impl LogCursor for WalTail {
    fn read(
        &mut self,
        max_samples: usize,
        f: &mut dyn FnMut(LoggedSample<'_>),
    ) -> Result<usize, StorageError> {
        let n = self.read_inner(max_samples, f)?;
        if self.unknown > 0 {
            tracing::warn!(
                samples = self.unknown,
                "WAL samples of series no series record names: remote-write skips them"
            );
            self.unknown = 0;
        }
        Ok(n)
    }

    fn position(&self) -> LogPosition {
        LogPosition {
            segment: self.seg,
            offset: self.offset.max(HEADER_LEN as u64),
            sample: 0,
        }
        .max(self.after)
    }

    fn take_forgotten(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.forgotten)
    }
}
