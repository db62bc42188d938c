//! Checkpoints: the part of the log still needed once a head cut moved older
//! samples into a block, written as `checkpoint.N/00000000` in segment
//! format, replacing segments ≤ N.
//!
//! The streamed checkpoint reads the previous checkpoint and the segments
//! ≤ N frame by frame and writes what survives as it goes, so it holds one
//! input frame, one decoded record and one output frame — never the head or
//! the log. Crash safety: everything goes to `checkpoint.N.tmp/`, which is
//! fsynced and renamed to `checkpoint.N` and the WAL directory fsynced; a
//! `.tmp` left by a crash is never read (`latest_checkpoint` skips it) and is
//! removed by the next checkpoint or `truncate_before`. Until the rename the
//! previous checkpoint and every segment are untouched; after it the
//! segments ≤ N are redundant and deleting them is idempotent.

// Until the head cut calls `checkpoint` (the lead's head rewrite), only the
// tests do.

use super::record::{
    Record, SamplesRecordBuilder, SeriesRecordBuilder, encode_record, min_valid_record, put_uvarint,
};
use super::segment::{FRAME_TARGET, FrameEncoder, segment_header};
use super::{READ_BUFFER, segment_name};
use super::{ReplayStats, checkpoint_files, latest_checkpoint, list_segments, replay_file};
use crate::TsdbError;
use crate::chunk::XorIter;
use roaring::RoaringBitmap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use strata_model::Sample;

/// What a checkpoint kept and dropped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CheckpointStats {
    /// Segments read (besides the previous checkpoint).
    pub segments: u64,
    pub series: u64,
    pub samples: u64,
    pub tombstones: u64,
    pub dropped_series: u64,
    pub dropped_samples: u64,
    /// In-order samples left out because synced head chunk files hold them.
    pub in_chunk_files: u64,
    /// Size of the checkpoint file.
    pub bytes: u64,
}

/// Output records are merged up to these sizes: fewer, larger records
/// compress better and replay faster.
const MAX_SAMPLES_PER_RECORD: usize = 1 << 16;
const MAX_SERIES_PER_RECORD: u64 = 1 << 12;

/// Writes v2 frames to one file.
struct FrameFile {
    w: BufWriter<File>,
    raw: Vec<u8>,
    frames: Vec<u8>,
    encoder: FrameEncoder,
    bytes: u64,
}

impl FrameFile {
    fn create(path: &Path) -> Result<FrameFile, TsdbError> {
        let mut w = BufWriter::with_capacity(READ_BUFFER, File::create(path)?);
        w.write_all(&segment_header())?;
        Ok(FrameFile {
            w,
            raw: Vec::with_capacity(FRAME_TARGET + (FRAME_TARGET >> 2)),
            frames: Vec::new(),
            encoder: FrameEncoder::new(),
            bytes: super::HEADER_LEN as u64,
        })
    }

    fn record(&mut self, payload: &[u8]) -> std::io::Result<()> {
        put_uvarint(&mut self.raw, payload.len() as u64);
        self.raw.extend_from_slice(payload);
        if self.raw.len() >= FRAME_TARGET {
            self.flush_frame()?;
        }
        Ok(())
    }

    fn flush_frame(&mut self) -> std::io::Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        self.frames.clear();
        self.encoder.encode(&self.raw, &mut self.frames);
        self.raw.clear();
        self.w.write_all(&self.frames)?;
        self.bytes += self.frames.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> Result<u64, TsdbError> {
        self.flush_frame()?;
        let file = self.w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.bytes)
    }
}

/// Writes `checkpoint.N` atomically from what `fill` writes into it.
fn publish<T>(
    dir: &Path,
    n: u64,
    fill: impl FnOnce(&mut FrameFile) -> Result<T, TsdbError>,
) -> Result<(T, u64), TsdbError> {
    let tmp = dir.join(format!("checkpoint.{}.tmp", segment_name(n)));
    let fin = dir.join(format!("checkpoint.{}", segment_name(n)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    let mut out = FrameFile::create(&tmp.join(segment_name(0)))?;
    let res = match fill(&mut out) {
        Ok(r) => r,
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let bytes = out.finish()?;
    File::open(&tmp)?.sync_all()?;
    if fin.exists() {
        std::fs::remove_dir_all(&fin)?;
    }
    std::fs::rename(&tmp, &fin)?;
    File::open(dir)?.sync_all()?;
    Ok((res, bytes))
}

/// The filter between the records read and the checkpoint written.
struct Folder<'a> {
    out: &'a mut FrameFile,
    live: &'a RoaringBitmap,
    min_t: i64,
    /// Per series id, in-order samples at or before this are in synced
    /// head chunk files: left out.
    floors: &'a [i64],
    series: SeriesRecordBuilder,
    samples: SamplesRecordBuilder,
    /// Out-of-order samples stay out-of-order records (see
    /// `REC_OOO_SAMPLES`).
    ooo_samples: SamplesRecordBuilder,
    stats: CheckpointStats,
    /// The first write error; later records are ignored once set.
    error: Option<std::io::Error>,
}

impl Folder<'_> {
    fn emit(&mut self, payload: Option<Vec<u8>>) {
        if let Some(p) = payload
            && self.error.is_none()
            && let Err(e) = self.out.record(&p)
        {
            self.error = Some(e);
        }
    }

    /// Pending merged records go out before anything that must follow them.
    fn flush(&mut self) {
        let s = self.series.finish();
        self.emit(s);
        let s = self.samples.finish();
        self.emit(s);
        let s = self.ooo_samples.finish();
        self.emit(s);
    }

    fn samples_builder(&mut self, out_of_order: bool) -> &mut SamplesRecordBuilder {
        if out_of_order {
            &mut self.ooo_samples
        } else {
            &mut self.samples
        }
    }

    fn sample(&mut self, id: u32, s: Sample, out_of_order: bool) {
        let in_file = !out_of_order && self.floors.get(id as usize).is_some_and(|f| s.t <= *f);
        if in_file {
            self.stats.in_chunk_files += 1;
            return;
        }
        if self.live.contains(id) && s.t >= self.min_t {
            if self.samples_builder(out_of_order).len() == 0 {
                // Series before samples: keep their order.
                let s = self.series.finish();
                self.emit(s);
            }
            let b = self.samples_builder(out_of_order);
            b.push(id, s);
            let full = (b.len() >= MAX_SAMPLES_PER_RECORD).then(|| b.finish());
            self.stats.samples += 1;
            if let Some(p) = full {
                self.emit(p);
            }
        } else {
            self.stats.dropped_samples += 1;
        }
    }

    fn add(&mut self, rec: Record) {
        match rec {
            Record::Series(list) => {
                for (id, labels) in list {
                    if !self.live.contains(id) {
                        self.stats.dropped_series += 1;
                        continue;
                    }
                    if self.series.len() == 0 {
                        let s = self.samples.finish();
                        self.emit(s);
                        let s = self.ooo_samples.finish();
                        self.emit(s);
                    }
                    self.series.push(
                        id,
                        labels.iter().map(|l| (l.name.as_str(), l.value.as_str())),
                    );
                    self.stats.series += 1;
                    if self.series.len() >= MAX_SERIES_PER_RECORD {
                        let s = self.series.finish();
                        self.emit(s);
                    }
                }
            }
            Record::Samples(list) => {
                for (id, s) in list {
                    self.sample(id, s, false);
                }
            }
            Record::OutOfOrderSamples(list) => {
                for (id, s) in list {
                    self.sample(id, s, true);
                }
            }
            Record::Chunk { id, data } => {
                if !self.live.contains(id) {
                    self.stats.dropped_samples += u64::from(
                        data.get(..2)
                            .map(|b| u16::from_be_bytes([b[0], b[1]]))
                            .unwrap_or(0),
                    );
                    return;
                }
                // Decoded whole first, as the head does when it loads one: a
                // corrupt chunk is skipped entirely, never half-kept.
                let mut it = XorIter::new(&data);
                let decoded: Vec<(i64, f64)> = it.by_ref().collect();
                if it.is_corrupt() {
                    tracing::error!(
                        series = id,
                        "skipping a corrupt chunk from the previous checkpoint"
                    );
                    return;
                }
                for (t, v) in decoded {
                    self.sample(id, Sample::new(t, v), false);
                }
            }
            Record::Tombstone { .. } => {
                self.flush();
                self.stats.tombstones += 1;
                self.emit(Some(encode_record(&rec)));
            }
            Record::MinValid(t) => {
                self.flush();
                self.emit(Some(min_valid_record(t.max(self.min_t))));
            }
        }
    }
}

/// Streams the previous checkpoint and segments ≤ `upto` into
/// `checkpoint.<upto>`: series only for ids in `live`, samples only for ids
/// in `live` with `t >= min_t`, tombstones and record order kept, version-1
/// chunk records turned into samples records, min valid time raised to
/// `min_t`. The caller then deletes the covered segments with
/// `truncate_before(dir, upto)`. Segments ≤ `upto` must be finished
/// (`Wal::rotate` returned `upto` or more).
///
/// A checkpoint already covering `upto` makes this a no-op. A damaged
/// segment is an error (nothing is replaced, nothing deleted); a damaged
/// previous checkpoint is folded in up to the damage, with an error log —
/// the same data replay would recover from it.
pub(crate) fn checkpoint(
    dir: &Path,
    upto: u64,
    live: &RoaringBitmap,
    min_t: i64,
    floors: &[i64],
) -> Result<CheckpointStats, TsdbError> {
    let prev = latest_checkpoint(dir)?;
    if prev.as_ref().is_some_and(|(p, _)| *p >= upto) {
        return Ok(CheckpointStats::default());
    }
    let after = prev.as_ref().map(|(p, _)| *p).unwrap_or(0);
    let segments: Vec<_> = list_segments(dir)?
        .into_iter()
        .filter(|(n, _)| *n > after && *n <= upto)
        .collect();
    let (stats, bytes) = publish(dir, upto, |out| {
        let mut folder = Folder {
            out,
            live,
            min_t,
            floors,
            series: SeriesRecordBuilder::default(),
            samples: SamplesRecordBuilder::default(),
            ooo_samples: SamplesRecordBuilder::out_of_order(),
            stats: CheckpointStats::default(),
            error: None,
        };
        folder.emit(Some(min_valid_record(min_t)));
        let mut scratch = ReplayStats::default();
        if let Some((_, cp)) = &prev {
            for (_, file) in checkpoint_files(cp)? {
                let bad = replay_file(&file, |rec| folder.add(rec), &mut scratch)?;
                if let Some(bad) = bad {
                    tracing::error!(checkpoint = %file.display(), offset = bad.offset, reason = %bad.reason, "corrupt WAL checkpoint: folding in only what precedes the damage");
                    break;
                }
            }
        }
        for (_, path) in &segments {
            folder.stats.segments += 1;
            if let Some(bad) = replay_file(path, |rec| folder.add(rec), &mut scratch)? {
                return Err(TsdbError::Corruption {
                    location: path.display().to_string(),
                    reason: format!(
                        "{} at offset {}; not checkpointing past it",
                        bad.reason, bad.offset
                    ),
                });
            }
        }
        folder.flush();
        if let Some(e) = folder.error.take() {
            return Err(e.into());
        }
        Ok(folder.stats)
    })?;
    Ok(CheckpointStats { bytes, ..stats })
}
