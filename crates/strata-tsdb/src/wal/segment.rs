//! Segment files: the header, frames (v1: one record each; v2: a compressed
//! run of records), a streaming reader and the frame encoder.

use super::record::Cursor;
use crate::TsdbError;
use std::io::Read;

pub(crate) const SEGMENT_MAGIC: &[u8; 4] = b"SWAL";
pub(crate) const VERSION_1: u8 = 1;
pub(crate) const SEGMENT_VERSION: u8 = 2;
pub(crate) const HEADER_LEN: usize = 8;
/// v1 frame header: len u32, crc u32.
const FRAME_V1_HEADER: usize = 8;
/// v2 frame header: len u32, crc u32, codec u8, raw_len u32.
pub(crate) const FRAME_V2_HEADER: usize = 13;
/// No frame body or decompressed frame is larger than this; a bigger claim
/// is corruption and nothing of that size is allocated.
pub(crate) const MAX_FRAME: usize = 1 << 30;
/// Records are grouped into frames of about this many uncompressed bytes: big
/// enough for the compressor to find repeats across requests, small enough
/// that a reader holds little.
pub(crate) const FRAME_TARGET: usize = 1 << 20;
/// Below this a frame is stored: compression would not pay for itself.
const MIN_COMPRESS: usize = 64;

pub(crate) const CODEC_STORED: u8 = 0;
pub(crate) const CODEC_ZSTD: u8 = 1;
const ZSTD_LEVEL: i32 = 1;

pub(crate) fn segment_header() -> [u8; HEADER_LEN] {
    let m = SEGMENT_MAGIC;
    [m[0], m[1], m[2], m[3], SEGMENT_VERSION, 0, 0, 0]
}

/// Turns the live log's pending bytes (a run of `uvarint(len) record`) into
/// v2 frames. Owned by whoever writes frames (the group-commit leader, a
/// checkpoint), never shared, so compression runs outside the state mutex.
pub(crate) struct FrameEncoder {
    zstd: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
}

impl FrameEncoder {
    pub fn new() -> FrameEncoder {
        // Without a compressor context (allocation failure) frames are stored.
        FrameEncoder {
            zstd: zstd::bulk::Compressor::new(ZSTD_LEVEL).ok(),
            scratch: Vec::new(),
        }
    }

    /// Appends `raw` (whole records) to `out` as v2 frames of about
    /// `FRAME_TARGET` bytes each, cut only between records.
    pub fn encode(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        let mut start = 0;
        while start < raw.len() {
            let mut end = start;
            while end < raw.len() && (end == start || end - start < FRAME_TARGET) {
                end = next_record_end(raw, end);
            }
            self.encode_one(&raw[start..end], out);
            start = end;
        }
    }

    fn encode_one(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        let mut codec = CODEC_STORED;
        if raw.len() >= MIN_COMPRESS
            && let Some(z) = &mut self.zstd
        {
            self.scratch.clear();
            self.scratch
                .reserve(zstd::zstd_safe::compress_bound(raw.len()));
            if z.compress_to_buffer(raw, &mut self.scratch).is_ok()
                && self.scratch.len() < raw.len()
            {
                codec = CODEC_ZSTD;
            }
        }
        let body: &[u8] = if codec == CODEC_ZSTD {
            &self.scratch
        } else {
            raw
        };
        let mut meta = [0u8; 5];
        meta[0] = codec;
        meta[1..].copy_from_slice(&(raw.len() as u32).to_le_bytes());
        let mut crc = crc32c::crc32c(&meta);
        crc = crc32c::crc32c_append(crc, body);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(body);
    }
}

/// The end of the record starting at `at` in trusted pending bytes; the end
/// of the buffer if the length prefix is broken (cannot happen for bytes the
/// live log wrote itself).
fn next_record_end(raw: &[u8], at: usize) -> usize {
    let mut c = Cursor::new(&raw[at..]);
    match c.uvarint().and_then(|l| usize::try_from(l).ok()) {
        Some(l) => at.saturating_add(c.pos).saturating_add(l).min(raw.len()),
        None => raw.len(),
    }
}

/// Where the valid log in a segment ends, and why.
#[derive(Debug)]
pub(crate) struct BadFrame {
    pub offset: u64,
    pub reason: String,
}

/// Reads a segment frame by frame: memory is one frame (plus its
/// decompressed form), never the file.
pub(crate) struct SegmentReader<R> {
    r: R,
    version: u8,
    /// Offset of the next frame.
    pos: u64,
    /// Bytes of the file after `pos`: lengths are checked against it before
    /// any allocation.
    remaining: u64,
    body: Vec<u8>,
    raw: Vec<u8>,
    zstd: Option<zstd::stream::raw::Decoder<'static>>,
}

/// What `SegmentReader::open` found.
pub(crate) enum Opened<R> {
    Reader(SegmentReader<R>),
    /// The header itself is bad: the valid log ends at offset 0.
    Bad(BadFrame),
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> SegmentReader<R> {
    /// `len` is the input's total size. `Err` is an I/O error or a segment
    /// from a newer Strata (never silently dropped).
    pub fn open(mut r: R, len: u64, location: &str) -> Result<Opened<R>, TsdbError> {
        let mut hdr = [0u8; HEADER_LEN];
        let got = read_full(&mut r, &mut hdr)?;
        let bad = |reason: &str| {
            Ok(Opened::Bad(BadFrame {
                offset: 0,
                reason: reason.into(),
            }))
        };
        if got < HEADER_LEN {
            return bad("segment shorter than its header");
        }
        if &hdr[..4] != SEGMENT_MAGIC {
            return bad("bad segment magic");
        }
        let version = hdr[4];
        if version > SEGMENT_VERSION {
            return Err(TsdbError::Corruption {
                location: location.into(),
                reason: format!(
                    "WAL segment version {version} is newer than this Strata understands ({SEGMENT_VERSION})"
                ),
            });
        }
        if version < VERSION_1 {
            return bad("unknown segment version 0");
        }
        Ok(Opened::Reader(SegmentReader {
            r,
            version,
            pos: HEADER_LEN as u64,
            remaining: len.saturating_sub(HEADER_LEN as u64),
            body: Vec::new(),
            raw: Vec::new(),
            zstd: None,
        }))
    }

    /// The next frame's records, `Ok(None)` at a clean end, `Err` where the
    /// valid log ends. I/O errors are reported as bad frames too: the caller
    /// decides whether that is a torn tail (replay) or a failure (checkpoint).
    /// A reader positioned at `pos` of a segment whose header said
    /// `version`, with `remaining` bytes after `pos` (tailing a live log).
    pub fn resume(r: R, version: u8, pos: u64, remaining: u64) -> SegmentReader<R> {
        SegmentReader {
            r,
            version,
            pos,
            remaining,
            body: Vec::new(),
            raw: Vec::new(),
            zstd: None,
        }
    }

    pub fn next_frame(&mut self) -> Result<Option<FrameRecords<'_>>, BadFrame> {
        let at = self.pos;
        let bad = |reason: String| BadFrame { offset: at, reason };
        let hdr_len = if self.version == VERSION_1 {
            FRAME_V1_HEADER
        } else {
            FRAME_V2_HEADER
        };
        let mut hdr = [0u8; FRAME_V2_HEADER];
        let got = read_full(&mut self.r, &mut hdr[..hdr_len]).map_err(|e| bad(e.to_string()))?;
        if got == 0 {
            return Ok(None);
        }
        if got < hdr_len {
            return Err(bad("torn record header".into()));
        }
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if len > MAX_FRAME {
            return Err(bad(format!("record length {len} is implausible")));
        }
        let frame_len = (hdr_len + len) as u64;
        if frame_len > self.remaining {
            return Err(bad("torn record".into()));
        }
        self.body.clear();
        self.body.resize(len, 0);
        let got = read_full(&mut self.r, &mut self.body).map_err(|e| bad(e.to_string()))?;
        if got < len {
            return Err(bad("torn record".into()));
        }
        let meta = &hdr[8..hdr_len];
        let actual = crc32c::crc32c_append(crc32c::crc32c(meta), &self.body);
        if actual != crc {
            return Err(bad("record checksum mismatch".into()));
        }
        self.pos += frame_len;
        self.remaining -= frame_len;
        if self.version == VERSION_1 {
            return Ok(Some(FrameRecords {
                b: &self.body,
                pos: 0,
                single: true,
            }));
        }
        let codec = hdr[8];
        let raw_len = u32::from_le_bytes([hdr[9], hdr[10], hdr[11], hdr[12]]) as usize;
        if raw_len > MAX_FRAME {
            return Err(bad(format!("frame claims {raw_len} bytes uncompressed")));
        }
        let raw: &[u8] = match codec {
            CODEC_STORED if raw_len == len => &self.body,
            CODEC_STORED => return Err(bad("stored frame with a wrong length".into())),
            CODEC_ZSTD => {
                if self.zstd.is_none() {
                    self.zstd = Some(
                        zstd::stream::raw::Decoder::new()
                            .map_err(|e| bad(format!("zstd context: {e}")))?,
                    );
                }
                let Some(z) = self.zstd.as_mut() else {
                    return Err(bad("zstd context".into()));
                };
                zstd_bounded(z, &self.body, raw_len, &mut self.raw).map_err(bad)?;
                if self.raw.len() != raw_len {
                    return Err(bad(format!(
                        "frame decompressed to {} bytes, header says {raw_len}",
                        self.raw.len()
                    )));
                }
                &self.raw
            }
            c => return Err(bad(format!("unknown frame codec {c}"))),
        };
        // Check the record lengths before handing out any record, so a frame
        // is accepted or refused whole.
        let mut c = Cursor::new(raw);
        while c.pos < raw.len() {
            let Some(l) = c.uvarint().and_then(|l| usize::try_from(l).ok()) else {
                return Err(bad("broken record length in frame".into()));
            };
            match c.pos.checked_add(l).filter(|e| *e <= raw.len()) {
                Some(e) => c.pos = e,
                None => return Err(bad("record runs past its frame".into())),
            }
        }
        Ok(Some(FrameRecords {
            b: raw,
            pos: 0,
            single: false,
        }))
    }

    /// Bytes held in the reader's buffers.
    #[cfg(test)]
    pub fn buffered_bytes(&self) -> usize {
        self.body.capacity() + self.raw.capacity()
    }

    /// Offset of the next frame (the end of the valid log once `next_frame`
    /// returned `Ok(None)`).
    pub fn offset(&self) -> u64 {
        self.pos
    }
}

/// The record payloads of one frame, checked to lie within it.
pub(crate) struct FrameRecords<'a> {
    b: &'a [u8],
    pos: usize,
    /// v1: the frame is one record.
    single: bool,
}

impl<'a> Iterator for FrameRecords<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.single {
            self.single = false;
            self.pos = usize::MAX;
            return Some(self.b);
        }
        if self.pos >= self.b.len() {
            return None;
        }
        let mut c = Cursor::new(&self.b[self.pos..]);
        let l = usize::try_from(c.uvarint()?).ok()?;
        let start = self.pos + c.pos;
        let end = start.checked_add(l).filter(|e| *e <= self.b.len())?;
        self.pos = end;
        Some(&self.b[start..end])
    }
}

/// Decompresses one zstd frame into `out`, refusing to produce more than
/// `limit` bytes. `out` grows with the output actually produced (doubling
/// from 64 KiB), so a size claimed by a header never is an allocation by
/// itself.
fn zstd_bounded(
    dec: &mut zstd::stream::raw::Decoder<'static>,
    src: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
    dec.reinit().map_err(|e| format!("zstd reset: {e}"))?;
    out.clear();
    let mut input = InBuffer::around(src);
    loop {
        if out.len() == out.capacity() {
            if out.len() >= limit {
                return Err(format!(
                    "frame decompresses to more than the {limit} bytes it declares"
                ));
            }
            let grow = out.len().max(64 << 10).min(limit - out.len());
            out.reserve_exact(grow);
        }
        let before = (input.pos(), out.len());
        let pos = out.len();
        let hint = {
            let mut o = OutBuffer::around_pos(out, pos);
            dec.run(&mut input, &mut o)
                .map_err(|e| format!("undecompressable frame: {e}"))?
        };
        if hint == 0 {
            if input.pos() != src.len() {
                return Err("bytes after the compressed frame".into());
            }
            return Ok(());
        }
        if (input.pos(), out.len()) == before {
            return Err("truncated compressed frame".into());
        }
    }
}
