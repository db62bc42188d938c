//! The zero-copy remote-write decoder.

use crate::validate::{Limits, NameValidation, legacy_label_name, legacy_metric_name};
use std::fmt;
use strata_model::{LabelRef, METRIC_NAME, Sample, WriteBatch};

/// Whole-request failures: nothing in the request was stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("snappy decompression failed: {0}")]
    Snappy(String),
    #[error("protobuf decoding failed: {0}")]
    Protobuf(String),
    #[error("request too large: {what} is {size} bytes, the limit is {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    /// The tenant's ingestion rate limit: the whole request is refused and
    /// the writer should retry later.
    #[error(
        "ingestion rate limit of {rate} samples/s (burst {burst}) exceeded for tenant {tenant}; retry later"
    )]
    RateLimited {
        tenant: String,
        rate: f64,
        burst: f64,
    },
    #[error(transparent)]
    Storage(#[from] strata_model::StorageError),
}

/// Why one series of a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidReason {
    EmptyLabelSet,
    InvalidUtf8,
    EmptyLabelName,
    InvalidMetricName(String),
    InvalidLabelName(String),
    DuplicateLabelName(String),
    TooManyLabels {
        n: usize,
        max: usize,
    },
    NameTooLong {
        name: String,
        len: usize,
        max: usize,
    },
    ValueTooLong {
        name: String,
        len: usize,
        max: usize,
    },
    /// Only from writers that build a `WriteBatch` themselves: remote-write
    /// drops empty values while decoding.
    EmptyLabelValue(String),
    /// Only from writers that build a `WriteBatch` themselves: storage
    /// relies on sorted label sets.
    UnsortedLabels,
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidReason::EmptyLabelSet => write!(f, "empty label set"),
            InvalidReason::InvalidUtf8 => write!(f, "label name or value is not valid UTF-8"),
            InvalidReason::EmptyLabelName => write!(f, "invalid label name: empty label name"),
            InvalidReason::InvalidMetricName(n) => write!(f, "invalid metric name {n:?}"),
            InvalidReason::InvalidLabelName(n) => write!(f, "invalid label name {n:?}"),
            InvalidReason::DuplicateLabelName(n) => write!(f, "duplicate label name {n:?}"),
            InvalidReason::TooManyLabels { n, max } => {
                write!(
                    f,
                    "series has {n} labels, more than the limit of {max} labels per series"
                )
            }
            InvalidReason::NameTooLong { name, len, max } => {
                write!(
                    f,
                    "label name {name:?} is {len} bytes, longer than the limit of {max}"
                )
            }
            InvalidReason::EmptyLabelValue(n) => write!(f, "label {n:?} has an empty value"),
            InvalidReason::UnsortedLabels => write!(f, "labels are not sorted by name"),
            InvalidReason::ValueTooLong { name, len, max } => {
                write!(
                    f,
                    "value of label {name:?} is {len} bytes, longer than the limit of {max}"
                )
            }
        }
    }
}

/// A series left out of the batch, and why.
#[derive(Debug, Clone)]
pub struct InvalidSeries {
    /// The label set as far as it is printable (invalid UTF-8 replaced).
    pub labels: String,
    pub samples: u64,
    pub reason: InvalidReason,
}

/// The decoded request: valid series in `batch`, the rest described.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub batch: WriteBatch<'a>,
    pub invalid: Vec<InvalidSeries>,
    /// Native histogram samples seen and dropped (not stored yet).
    pub histograms_dropped: u64,
    pub exemplars_dropped: u64,
}

/// Owns the decompression buffer so it is reused across requests.
pub struct Decoder {
    limits: Limits,
    buf: Vec<u8>,
    snappy: snap::raw::Decoder,
    /// The previous request's batch allocations (see `Decoder::recycle`).
    spare: WriteBatch<'static>,
}

/// A cursor over protobuf wire format.
struct Wire<'a> {
    b: &'a [u8],
    pos: usize,
}

const WT_VARINT: u64 = 0;
const WT_I64: u64 = 1;
const WT_LEN: u64 = 2;
const WT_I32: u64 = 5;

impl<'a> Wire<'a> {
    fn new(b: &'a [u8]) -> Self {
        Wire { b, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }

    /// Most varints in a write request (tags, lengths, small ints) are one
    /// byte: that case stays inline, the rest takes `varint_long`.
    #[inline]
    fn varint(&mut self) -> Result<u64, IngestError> {
        if let Some(&b) = self.b.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.varint_long()
    }

    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, IngestError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = *self
                .b
                .get(self.pos)
                .ok_or_else(|| IngestError::Protobuf("truncated varint".into()))?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err(IngestError::Protobuf("varint longer than 10 bytes".into()))
    }

    fn fixed64(&mut self) -> Result<u64, IngestError> {
        let end = self.pos.checked_add(8).filter(|e| *e <= self.b.len());
        let end = end.ok_or_else(|| IngestError::Protobuf("truncated fixed64".into()))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.b[self.pos..end]);
        self.pos = end;
        Ok(u64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8], IngestError> {
        let len = self.varint()?;
        let len =
            usize::try_from(len).map_err(|_| IngestError::Protobuf("length overflows".into()))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| {
                IngestError::Protobuf(format!(
                    "field length {len} exceeds the remaining {} bytes",
                    self.b.len() - self.pos
                ))
            })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Reads a tag: (field number, wire type).
    fn tag(&mut self) -> Result<(u64, u64), IngestError> {
        let t = self.varint()?;
        let field = t >> 3;
        if field == 0 {
            return Err(IngestError::Protobuf("field number 0".into()));
        }
        Ok((field, t & 7))
    }

    fn skip(&mut self, wire_type: u64) -> Result<(), IngestError> {
        match wire_type {
            WT_VARINT => self.varint().map(|_| ()),
            WT_I64 => self.fixed64().map(|_| ()),
            WT_LEN => self.bytes().map(|_| ()),
            WT_I32 => {
                let end = self.pos.checked_add(4).filter(|e| *e <= self.b.len());
                self.pos = end.ok_or_else(|| IngestError::Protobuf("truncated fixed32".into()))?;
                Ok(())
            }
            other => Err(IngestError::Protobuf(format!(
                "unsupported wire type {other}"
            ))),
        }
    }
}

fn expect_wt(field: &str, got: u64, want: u64) -> Result<(), IngestError> {
    if got == want {
        Ok(())
    } else {
        Err(IngestError::Protobuf(format!(
            "field {field} has wire type {got}, expected {want}"
        )))
    }
}

/// Raw label pair as read, before validation.
type RawLabel<'a> = (&'a [u8], &'a [u8]);

impl Decoder {
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            buf: Vec::new(),
            snappy: snap::raw::Decoder::new(),
            spare: WriteBatch::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decompresses and decodes one request. Per-series validation failures
    /// leave the series out and describe it in `invalid`; the request fails
    /// as a whole only when its bytes cannot be decoded.
    pub fn decode<'a>(&'a mut self, body: &[u8]) -> Result<Decoded<'a>, IngestError> {
        if body.len() > self.limits.max_body_bytes {
            return Err(IngestError::TooLarge {
                what: "the body",
                size: body.len(),
                limit: self.limits.max_body_bytes,
            });
        }
        let len =
            snap::raw::decompress_len(body).map_err(|e| IngestError::Snappy(e.to_string()))?;
        if len > self.limits.max_decompressed_bytes {
            return Err(IngestError::TooLarge {
                what: "the decompressed body",
                size: len,
                limit: self.limits.max_decompressed_bytes,
            });
        }
        self.buf.clear();
        self.buf.resize(len, 0);
        let n = self
            .snappy
            .decompress(body, &mut self.buf)
            .map_err(|e| IngestError::Snappy(e.to_string()))?;
        self.buf.truncate(n);
        let spare = std::mem::take(&mut self.spare);
        decode_request(&self.buf, &self.limits, WriteBatch::reuse(spare))
    }

    /// Takes back a decoded batch's allocations for the next request, so
    /// a steady stream of requests does not allocate (and, with the
    /// allocator returning freed pages at once, fault in) a megabyte each.
    pub fn recycle(&mut self, spare: WriteBatch<'static>) {
        self.spare = spare;
    }
}

fn decode_request<'a>(
    buf: &'a [u8],
    limits: &Limits,
    batch: WriteBatch<'a>,
) -> Result<Decoded<'a>, IngestError> {
    let mut out = Decoded {
        batch,
        invalid: Vec::new(),
        histograms_dropped: 0,
        exemplars_dropped: 0,
    };
    let mut labels: Vec<RawLabel<'a>> = Vec::with_capacity(32);
    let mut samples: Vec<Sample> = Vec::with_capacity(16);
    let mut refs: Vec<LabelRef<'a>> = Vec::with_capacity(32);
    let mut w = Wire::new(buf);
    while !w.done() {
        let (field, wt) = w.tag()?;
        if field == 1 {
            expect_wt("WriteRequest.timeseries", wt, WT_LEN)?;
            let ts = w.bytes()?;
            labels.clear();
            samples.clear();
            let ascii = decode_series(ts, &mut labels, &mut samples, &mut out)?;
            match validate(&labels, ascii, limits, &mut refs) {
                Ok(()) => {
                    if !samples.is_empty() {
                        out.batch.push(&refs, &samples);
                    }
                }
                Err(reason) => out.invalid.push(InvalidSeries {
                    labels: printable(&labels),
                    samples: samples.len() as u64,
                    reason,
                }),
            }
        } else {
            // Metadata (3) and anything newer: not stored yet.
            w.skip(wt)?;
        }
    }
    Ok(out)
}

/// Decodes one TimeSeries. Returns whether every label name and value is
/// known to be ASCII: senders write the labels first and back to back, so
/// one `is_ascii` over that run (tags and one-byte lengths are ASCII too)
/// replaces a UTF-8 validation per string on nearly every series.
fn decode_series<'a>(
    ts: &'a [u8],
    labels: &mut Vec<RawLabel<'a>>,
    samples: &mut Vec<Sample>,
    out: &mut Decoded<'a>,
) -> Result<bool, IngestError> {
    let mut w = Wire::new(ts);
    // The run of label fields from offset 0, while they are contiguous.
    let mut label_run_end = 0;
    let mut contiguous = true;
    while !w.done() {
        let field_start = w.pos;
        let (field, wt) = w.tag()?;
        match field {
            1 => {
                expect_wt("TimeSeries.labels", wt, WT_LEN)?;
                if field_start != label_run_end {
                    contiguous = false;
                }
                let mut lw = Wire::new(w.bytes()?);
                let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
                while !lw.done() {
                    let (f, t) = lw.tag()?;
                    match f {
                        1 => {
                            expect_wt("Label.name", t, WT_LEN)?;
                            name = lw.bytes()?;
                        }
                        2 => {
                            expect_wt("Label.value", t, WT_LEN)?;
                            value = lw.bytes()?;
                        }
                        _ => lw.skip(t)?,
                    }
                }
                labels.push((name, value));
                label_run_end = w.pos;
            }
            2 => {
                expect_wt("TimeSeries.samples", wt, WT_LEN)?;
                let mut sw = Wire::new(w.bytes()?);
                let (mut v, mut t) = (0f64, 0i64);
                while !sw.done() {
                    let (f, wt2) = sw.tag()?;
                    match f {
                        1 => {
                            expect_wt("Sample.value", wt2, WT_I64)?;
                            v = f64::from_bits(sw.fixed64()?);
                        }
                        2 => {
                            expect_wt("Sample.timestamp", wt2, WT_VARINT)?;
                            t = sw.varint()? as i64;
                        }
                        _ => sw.skip(wt2)?,
                    }
                }
                samples.push(Sample::new(t, v));
            }
            3 => {
                out.exemplars_dropped += 1;
                w.skip(wt)?;
            }
            4 => {
                out.histograms_dropped += 1;
                w.skip(wt)?;
            }
            _ => w.skip(wt)?,
        }
    }
    Ok(contiguous && ts.get(..label_run_end).is_some_and(<[u8]>::is_ascii))
}

/// Checks one series and fills `refs` with its labels sorted by name, empty
/// values dropped (an empty value means the label is absent).
/// `ascii`: the caller has checked that every name and value is ASCII.
fn validate<'a>(
    labels: &[RawLabel<'a>],
    ascii: bool,
    limits: &Limits,
    refs: &mut Vec<LabelRef<'a>>,
) -> Result<(), InvalidReason> {
    refs.clear();
    for (n, v) in labels {
        let (name, value) = if ascii {
            debug_assert!(n.is_ascii() && v.is_ascii());
            // SAFETY: ASCII bytes are valid UTF-8 (`decode_series` checked
            // the whole run of label fields holding them).
            unsafe {
                (
                    std::str::from_utf8_unchecked(n),
                    std::str::from_utf8_unchecked(v),
                )
            }
        } else {
            (
                std::str::from_utf8(n).map_err(|_| InvalidReason::InvalidUtf8)?,
                std::str::from_utf8(v).map_err(|_| InvalidReason::InvalidUtf8)?,
            )
        };
        if name.is_empty() {
            return Err(InvalidReason::EmptyLabelName);
        }
        if name.len() > limits.max_label_name_len {
            return Err(InvalidReason::NameTooLong {
                name: truncate(name),
                len: name.len(),
                max: limits.max_label_name_len,
            });
        }
        if value.len() > limits.max_label_value_len {
            return Err(InvalidReason::ValueTooLong {
                name: name.to_string(),
                len: value.len(),
                max: limits.max_label_value_len,
            });
        }
        if limits.name_validation == NameValidation::Legacy {
            if name == METRIC_NAME {
                if !legacy_metric_name(value.as_bytes()) {
                    return Err(InvalidReason::InvalidMetricName(truncate(value)));
                }
            } else if !legacy_label_name(name.as_bytes()) {
                return Err(InvalidReason::InvalidLabelName(truncate(name)));
            }
        }
        if value.is_empty() {
            continue;
        }
        refs.push(LabelRef { name, value });
    }
    if refs.is_empty() {
        return Err(InvalidReason::EmptyLabelSet);
    }
    if refs.len() > limits.max_labels_per_series {
        return Err(InvalidReason::TooManyLabels {
            n: refs.len(),
            max: limits.max_labels_per_series,
        });
    }
    // Senders sort (the spec requires it); sort only when one did not.
    if !refs.windows(2).all(|w| w[0].name < w[1].name) {
        refs.sort_by(|a, b| a.name.cmp(b.name));
    }
    if let Some(w) = refs.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(InvalidReason::DuplicateLabelName(w[0].name.to_string()));
    }
    // A duplicate whose second value was empty was skipped above; Prometheus
    // still calls that a duplicate.
    if labels.len() != refs.len() {
        let mut names: Vec<&[u8]> = labels.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(InvalidReason::DuplicateLabelName(
                String::from_utf8_lossy(w[0]).into_owned(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn truncate(s: &str) -> String {
    if s.len() <= 64 {
        return s.to_string();
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn printable(labels: &[RawLabel<'_>]) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in labels.iter().take(32).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&truncate(&String::from_utf8_lossy(n)));
        s.push('=');
        s.push_str(&strata_model::labels::quote(&truncate(
            &String::from_utf8_lossy(v),
        )));
    }
    if labels.len() > 32 {
        s.push_str(", …");
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{encode_write_request, encode_write_request_raw};
    use proptest::prelude::*;
    use strata_model::Labels;

    fn dec(
        limits: Limits,
        body: &[u8],
    ) -> Result<(Vec<(Labels, Vec<Sample>)>, Vec<InvalidSeries>), IngestError> {
        let mut d = Decoder::new(limits);
        let out = d.decode(body)?;
        let series = (0..out.batch.len())
            .map(|i| {
                let l = Labels::from_pairs(
                    out.batch.series_labels(i).iter().map(|l| (l.name, l.value)),
                );
                (l, out.batch.series_samples(i).to_vec())
            })
            .collect();
        Ok((series, out.invalid))
    }

    fn raw(series: &[(Vec<(&[u8], &[u8])>, Vec<(i64, f64)>)]) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&encode_write_request_raw(series))
            .unwrap_or_default()
    }

    #[test]
    fn whole_request_errors() {
        let l = Limits::default();
        assert!(matches!(
            dec(l.clone(), b"not snappy at all"),
            Err(IngestError::Snappy(_))
        ));
        let garbage = snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])
            .unwrap_or_default();
        assert!(matches!(
            dec(l.clone(), &garbage),
            Err(IngestError::Protobuf(_))
        ));
        let wrong_wt = snap::raw::Encoder::new()
            .compress_vec(&[0x08, 0x01])
            .unwrap_or_default();
        assert!(matches!(
            dec(l.clone(), &wrong_wt),
            Err(IngestError::Protobuf(_))
        ));
        let small = Limits {
            max_decompressed_bytes: 10,
            ..Limits::default()
        };
        let body = encode_write_request(&[(
            Labels::from_pairs([("__name__", "a_long_metric_name")]),
            vec![Sample::new(1, 1.0)],
        )]);
        assert!(matches!(
            dec(small, &body),
            Err(IngestError::TooLarge { .. })
        ));
        let tiny_body = Limits {
            max_body_bytes: 4,
            ..Limits::default()
        };
        assert!(matches!(
            dec(tiny_body, &body),
            Err(IngestError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        // WriteRequest with a varint field 5, fixed32 field 6, fixed64 field 7,
        // and a metadata entry (3) around one valid series.
        let mut req = vec![
            0x28, 0x96, 0x01, 0x35, 1, 2, 3, 4, 0x39, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, 0x02, 0x08,
            0x01,
        ];
        req.extend(encode_write_request_raw(&[(
            vec![(b"__name__", b"m")],
            vec![(5, 2.5)],
        )]));
        let body = snap::raw::Encoder::new()
            .compress_vec(&req)
            .unwrap_or_default();
        let (series, invalid) = dec(Limits::default(), &body).unwrap_or_else(|e| panic!("{e}"));
        assert!(invalid.is_empty());
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].1, vec![Sample::new(5, 2.5)]);
    }

    /// The ASCII shortcut over the run of label fields must not let
    /// invalid UTF-8 through when labels and samples interleave, and must
    /// keep non-ASCII and long (two-byte length) values valid.
    #[test]
    fn utf8_checked_whatever_the_field_order() {
        fn label(name: &[u8], value: &[u8]) -> Vec<u8> {
            let mut l = vec![0x0a, name.len() as u8];
            l.extend_from_slice(name);
            l.push(0x12);
            let mut len = value.len();
            while len >= 0x80 {
                l.push((len as u8) | 0x80);
                len >>= 7;
            }
            l.push(len as u8);
            l.extend_from_slice(value);
            let mut f = vec![0x0a];
            let mut len = l.len();
            while len >= 0x80 {
                f.push((len as u8) | 0x80);
                len >>= 7;
            }
            f.push(len as u8);
            f.extend(l);
            f
        }
        let sample = {
            let mut s = vec![0x12, 11, 0x09];
            s.extend_from_slice(&1.5f64.to_le_bytes());
            s.extend_from_slice(&[0x10, 7]);
            s
        };
        let request = |fields: Vec<Vec<u8>>| {
            let ts: Vec<u8> = fields.concat();
            let mut req = vec![0x0a];
            let mut len = ts.len();
            while len >= 0x80 {
                req.push((len as u8) | 0x80);
                len >>= 7;
            }
            req.push(len as u8);
            req.extend(ts);
            snap::raw::Encoder::new()
                .compress_vec(&req)
                .unwrap_or_default()
        };
        let interleaved = request(vec![
            label(b"__name__", b"m"),
            sample.clone(),
            label(b"x", b"\xff"),
        ]);
        let (series, invalid) =
            dec(Limits::default(), &interleaved).unwrap_or_else(|e| panic!("{e}"));
        assert!(series.is_empty());
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].reason, InvalidReason::InvalidUtf8);

        let long = "v".repeat(200);
        let valid = request(vec![
            label(b"__name__", b"m"),
            label(b"city", "Z\u{fc}rich".as_bytes()),
            label(b"long", long.as_bytes()),
            sample,
        ]);
        let (series, invalid) = dec(Limits::default(), &valid).unwrap_or_else(|e| panic!("{e}"));
        assert!(invalid.is_empty(), "{invalid:?}");
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].0.get("city"), Some("Z\u{fc}rich"));
        assert_eq!(series[0].0.get("long"), Some(long.as_str()));
        assert_eq!(series[0].1, vec![Sample::new(7, 1.5)]);
    }

    #[test]
    fn per_series_reasons() {
        let cases: Vec<(Vec<(&[u8], &[u8])>, fn(&InvalidReason) -> bool)> = vec![
            (vec![], |r| *r == InvalidReason::EmptyLabelSet),
            (vec![(b"a", b"")], |r| *r == InvalidReason::EmptyLabelSet),
            (vec![(b"__name__", b"m"), (b"x", b"\xff")], |r| {
                *r == InvalidReason::InvalidUtf8
            }),
            (vec![(b"__name__", b"m"), (b"", b"v")], |r| {
                *r == InvalidReason::EmptyLabelName
            }),
            (vec![(b"__name__", b"m"), (b"a", b"1"), (b"a", b"2")], |r| {
                matches!(r, InvalidReason::DuplicateLabelName(_))
            }),
            (vec![(b"__name__", b"m"), (b"a", b"1"), (b"a", b"")], |r| {
                matches!(r, InvalidReason::DuplicateLabelName(_))
            }),
            (
                vec![
                    (b"__name__", b"m"),
                    (b"a", b"1"),
                    (b"b", b"1"),
                    (b"c", b"1"),
                ],
                |r| matches!(r, InvalidReason::TooManyLabels { .. }),
            ),
            (vec![(b"__name__", b"m"), (b"abcdefghijk", b"1")], |r| {
                matches!(r, InvalidReason::NameTooLong { .. })
            }),
            (
                vec![(b"__name__", b"m"), (b"a", b"abcdefghijklmnopqrstu")],
                |r| matches!(r, InvalidReason::ValueTooLong { .. }),
            ),
        ];
        let limits = Limits {
            max_labels_per_series: 3,
            max_label_name_len: 10,
            max_label_value_len: 20,
            ..Limits::default()
        };
        for (labels, check) in cases {
            let body = raw(&[
                (labels.clone(), vec![(1, 1.0), (2, 2.0)]),
                (vec![(b"__name__", b"good")], vec![(1, 1.0)]),
            ]);
            let (series, invalid) = dec(limits.clone(), &body).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(series.len(), 1, "{labels:?}: the good series is kept");
            assert_eq!(invalid.len(), 1, "{labels:?}");
            assert!(
                check(&invalid[0].reason),
                "{labels:?}: got {}",
                invalid[0].reason
            );
            assert_eq!(invalid[0].samples, 2);
        }
    }

    #[test]
    fn legacy_names() {
        let l = Limits {
            name_validation: NameValidation::Legacy,
            ..Limits::default()
        };
        let body = raw(&[
            (vec![(b"__name__", b"http.requests")], vec![(1, 1.0)]),
            (vec![(b"__name__", b"ok:metric_1")], vec![(1, 1.0)]),
            (
                vec![(b"__name__", b"ok"), (b"bad-name", b"x")],
                vec![(1, 1.0)],
            ),
        ]);
        let (series, invalid) = dec(l, &body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(series.len(), 1);
        assert!(matches!(
            invalid[0].reason,
            InvalidReason::InvalidMetricName(_)
        ));
        assert!(matches!(
            invalid[1].reason,
            InvalidReason::InvalidLabelName(_)
        ));
        // UTF-8 mode accepts both.
        let body = raw(&[(
            vec![(b"__name__", b"http.requests"), (b"bad-name", b"x")],
            vec![(1, 1.0)],
        )]);
        assert_eq!(
            dec(Limits::default(), &body).map(|(s, _)| s.len()).ok(),
            Some(1)
        );
    }

    #[test]
    fn unsorted_labels_are_sorted() {
        let body = raw(&[(
            vec![(b"z", b"1"), (b"__name__", b"m"), (b"a", b"2")],
            vec![(1, 1.0)],
        )]);
        let (series, _) = dec(Limits::default(), &body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(series[0].0.to_string(), r#"{__name__="m", a="2", z="1"}"#);
    }

    fn arb_series() -> impl Strategy<Value = (Labels, Vec<Sample>)> {
        (
            proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{1,12}", 1..6),
            proptest::collection::vec((any::<i64>(), any::<u64>()), 0..20),
        )
            .prop_map(|(m, s)| {
                let labels = Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                (
                    labels,
                    s.into_iter()
                        .map(|(t, bits)| Sample::new(t, f64::from_bits(bits)))
                        .collect(),
                )
            })
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(series in proptest::collection::vec(arb_series(), 0..8)) {
            let body = encode_write_request(&series);
            let (got, invalid) = dec(Limits::default(), &body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(invalid.is_empty());
            let want: Vec<_> = series.iter().filter(|(_, s)| !s.is_empty()).cloned().collect();
            prop_assert_eq!(got.len(), want.len());
            for ((gl, gs), (wl, ws)) in got.iter().zip(&want) {
                prop_assert_eq!(gl, wl);
                prop_assert_eq!(gs.len(), ws.len());
                for (a, b) in gs.iter().zip(ws) {
                    prop_assert!(a.bit_eq(b));
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = dec(Limits::default(), &bytes);
            let body = snap::raw::Encoder::new().compress_vec(&bytes).unwrap_or_default();
            let _ = dec(Limits::default(), &body);
        }
    }
}
