//! Record payloads: what one logical WAL entry (series created, samples
//! appended, a delete) looks like inside a frame. Format: docs/format-wal.md.

use strata_model::varint::Reader;
use strata_model::{Label, Labels, MatchOp, Matcher, Sample};

pub(crate) use strata_block::codec::{put_uvarint, put_varint};

pub(crate) const REC_SERIES: u8 = 1;
/// Version-1 samples: n × (uvarint id, varint t, u64 LE value). Still read.
pub(crate) const REC_SAMPLES_V1: u8 = 2;
pub(crate) const REC_TOMBSTONE: u8 = 3;
/// Only in version-1 checkpoints (and checkpoints written from head memory):
/// one series' samples as a head XOR chunk.
pub(crate) const REC_CHUNK: u8 = 4;
pub(crate) const REC_MIN_VALID: u8 = 5;
/// Version-2 samples: ids and timestamps delta-encoded against the previous
/// sample, values as eight byte planes.
pub(crate) const REC_SAMPLES: u8 = 6;
/// Samples the head took out of order (into its out-of-order buffer), in
/// type 6's layout: logged apart because replay skips in-order samples that
/// a head chunk file already holds, and these are never in one.
pub(crate) const REC_OOO_SAMPLES: u8 = 7;

#[derive(Debug, Clone)]
pub(crate) enum Record {
    Series(Vec<(u32, Labels)>),
    Samples(Vec<(u32, Sample)>),
    OutOfOrderSamples(Vec<(u32, Sample)>),
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

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn len(&self) -> u64 {
        self.n
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
///
/// Layout (type 6): `uvarint(n)`, the first sample's `uvarint(id)
/// varint(t)`, then for each later sample `varint(Δid) varint(Δt)` against
/// the sample before it, then the n value bit patterns as eight planes of n
/// bytes (all low bytes first). One request's samples mostly have ids that
/// count up by one and timestamps within a few ms of each other, so the
/// varints are one byte each and repeat; values of neighbouring series
/// share exponents and zero low mantissa bytes, which the planes line up for
/// the frame compressor.
#[derive(Default)]
pub(crate) struct SamplesRecordBuilder {
    deltas: Vec<u8>,
    values: Vec<u64>,
    prev: (u32, i64),
    out_of_order: bool,
}

impl SamplesRecordBuilder {
    /// A builder of out-of-order samples records (type 7).
    pub fn out_of_order() -> Self {
        SamplesRecordBuilder {
            out_of_order: true,
            ..Default::default()
        }
    }

    pub fn push(&mut self, id: u32, s: Sample) {
        if self.values.is_empty() {
            put_uvarint(&mut self.deltas, u64::from(id));
            put_varint(&mut self.deltas, s.t);
        } else {
            put_varint(&mut self.deltas, i64::from(id) - i64::from(self.prev.0));
            put_varint(&mut self.deltas, s.t.wrapping_sub(self.prev.1));
        }
        self.prev = (id, s.t);
        self.values.push(s.v.to_bits());
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The record payload, or `None` when nothing was pushed. Resets the
    /// builder for reuse.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.values.is_empty() {
            return None;
        }
        let n = self.values.len();
        let mut p = Vec::with_capacity(11 + self.deltas.len() + 8 * n);
        p.push(if self.out_of_order {
            REC_OOO_SAMPLES
        } else {
            REC_SAMPLES
        });
        put_uvarint(&mut p, n as u64);
        p.extend_from_slice(&self.deltas);
        for plane in 0..8 {
            let shift = plane * 8;
            p.extend(self.values.iter().map(|v| (v >> shift) as u8));
        }
        self.deltas.clear();
        self.values.clear();
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

pub(crate) fn min_valid_record(t: i64) -> Vec<u8> {
    let mut b = vec![REC_MIN_VALID];
    put_varint(&mut b, t);
    b
}

/// Re-encodes a decoded record (checkpoints rewrite what they keep).
pub(crate) fn encode_record(rec: &Record) -> Vec<u8> {
    match rec {
        Record::Series(list) => {
            let mut b = SeriesRecordBuilder::default();
            for (id, labels) in list {
                b.push(
                    *id,
                    labels.iter().map(|l| (l.name.as_str(), l.value.as_str())),
                );
            }
            b.finish().unwrap_or_else(|| vec![REC_SERIES, 0])
        }
        Record::Samples(list) => {
            let mut b = SamplesRecordBuilder::default();
            for (id, s) in list {
                b.push(*id, *s);
            }
            b.finish().unwrap_or_else(|| vec![REC_SAMPLES, 0])
        }
        Record::OutOfOrderSamples(list) => {
            let mut b = SamplesRecordBuilder::out_of_order();
            for (id, s) in list {
                b.push(*id, *s);
            }
            b.finish().unwrap_or_else(|| vec![REC_OOO_SAMPLES, 0])
        }
        Record::Tombstone {
            matchers,
            mint,
            maxt,
        } => tombstone_record(matchers, *mint, *maxt),
        Record::Chunk { id, data } => {
            let mut b = vec![REC_CHUNK];
            put_uvarint(&mut b, u64::from(*id));
            put_bytes(&mut b, data);
            b
        }
        Record::MinValid(t) => min_valid_record(*t),
    }
}

// ---- decoding --------------------------------------------------------------

pub(crate) struct Cursor<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }

    fn with_reader<T>(&mut self, f: impl FnOnce(&mut Reader<'a>) -> Option<T>) -> Option<T> {
        let mut r = Reader {
            b: self.b,
            pos: self.pos,
        };
        let v = f(&mut r);
        self.pos = r.pos;
        v
    }

    pub fn uvarint(&mut self) -> Option<u64> {
        self.with_reader(|r| r.uvarint())
    }

    fn varint(&mut self) -> Option<i64> {
        self.with_reader(|r| r.varint())
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

    fn done(&self) -> bool {
        self.pos == self.b.len()
    }
}

/// Decodes one record payload; `None` for anything malformed (never a panic,
/// never an allocation beyond what the payload's bytes can hold).
pub(crate) fn decode_record(p: &[u8]) -> Option<Record> {
    let (&kind, rest) = p.split_first()?;
    let mut c = Cursor::new(rest);
    // Counts come from disk: cap pre-allocation by what the bytes can hold.
    let cap = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).min(rest.len());
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
        REC_SAMPLES => return decode_samples(rest).map(Record::Samples),
        REC_OOO_SAMPLES => return decode_samples(rest).map(Record::OutOfOrderSamples),
        REC_SAMPLES_V1 => {
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
    c.done().then_some(rec)
}

fn decode_samples(rest: &[u8]) -> Option<Vec<(u32, Sample)>> {
    let mut c = Cursor::new(rest);
    let n = usize::try_from(c.uvarint()?).ok()?;
    // The value planes are the last 8n bytes; n is checked against the
    // payload before anything is allocated for it.
    let planes_len = n.checked_mul(8)?;
    let planes_at = rest.len().checked_sub(planes_len)?;
    if planes_at < c.pos {
        return None;
    }
    let planes = &rest[planes_at..];
    if n == 0 {
        return (c.pos == planes_at).then(Vec::new);
    }
    let deltas = &rest[c.pos..planes_at];
    let mut d = Reader::new(deltas);
    let mut out = Vec::with_capacity(n);
    let (mut id, mut t) = (u32::try_from(d.uvarint()?).ok()?, d.varint()?);
    out.push((id, Sample::new(t, 0.0)));
    for _ in 1..n {
        id = u32::try_from(i64::from(id).checked_add(d.varint()?)?).ok()?;
        t = t.wrapping_add(d.varint()?);
        out.push((id, Sample::new(t, 0.0)));
    }
    if d.pos != deltas.len() {
        return None;
    }
    // Plane by plane: sequential reads the compiler can vectorise, instead
    // of eight strided reads per sample.
    let mut bits = vec![0u64; n];
    for (k, plane) in planes.chunks_exact(n).enumerate() {
        let shift = 8 * k as u32;
        for (b, p) in bits.iter_mut().zip(plane) {
            *b |= u64::from(*p) << shift;
        }
    }
    for (o, b) in out.iter_mut().zip(bits) {
        o.1.v = f64::from_bits(b);
    }
    Some(out)
}
