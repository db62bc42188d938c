//! Column encoding of one chunk of samples, before page compression.
//!
//! ```text
//! chunk := uvarint(n) | timestamps | values
//! timestamps := varint(t0) | varint(t1-t0) | varint(dod)*   (zigzag; regular scrapes are runs of 0)
//! values := kind u8 | ...
//!   kind 0 (decimal, 2nd differences): u8 exp | varint(m0) | varint(m1-m0) | varint(dod of m)*
//!   kind 2 (decimal, 1st differences): u8 exp | varint(m0) | varint(m[i]-m[i-1])*
//!         every v == m / 10^exp exactly (counters and integer gauges: exp 0);
//!         the writer keeps whichever of 0 and 2 is shorter
//!   kind 1 (xor):     per value: uvarint(trailing zeros) | uvarint((bits ^ prev) >> tz)
//! ```
//! NaN payloads, ±Inf and the stale marker always take the XOR path, which
//! is bit-exact. zstd over a page of such chunks removes what is left.

use strata_model::Sample;

pub use strata_model::varint::{Reader, put_uvarint, put_varint};

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// The smallest decimal exponent that represents every value exactly.
fn decimal_exponent(samples: &[Sample]) -> Option<u8> {
    'exp: for exp in 0u8..=12 {
        let scale = 10f64.powi(i32::from(exp));
        for s in samples {
            let v = s.v;
            if !v.is_finite() || (v == 0.0 && v.is_sign_negative()) {
                return None;
            }
            let m = (v * scale).round();
            if m.abs() >= 9.0e15 || (m / scale).to_bits() != v.to_bits() {
                continue 'exp;
            }
        }
        return Some(exp);
    }
    None
}

/// Appends the encoding of `samples` (sorted by time) to `out`.
pub fn encode_chunk(samples: &[Sample], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    let (mut prev_t, mut prev_d) = (0i64, 0i64);
    for (i, s) in samples.iter().enumerate() {
        match i {
            0 => put_varint(out, s.t),
            1 => {
                prev_d = s.t.wrapping_sub(prev_t);
                put_varint(out, prev_d);
            }
            _ => {
                let d = s.t.wrapping_sub(prev_t);
                put_varint(out, d.wrapping_sub(prev_d));
                prev_d = d;
            }
        }
        prev_t = s.t;
    }
    match decimal_exponent(samples) {
        Some(exp) => {
            // Counters at a steady rate have tiny second differences; noisy
            // gauges and irregular counters have smaller first differences.
            // Encode both and keep the shorter.
            let scale = 10f64.powi(i32::from(exp));
            let mantissas: Vec<i64> = samples
                .iter()
                .map(|s| (s.v * scale).round() as i64)
                .collect();
            let mut dod = Vec::with_capacity(samples.len() * 2);
            let mut delta = Vec::with_capacity(samples.len() * 2);
            let (mut pm, mut pd) = (0i64, 0i64);
            for (i, m) in mantissas.iter().enumerate() {
                let d = m.wrapping_sub(pm);
                put_varint(&mut delta, if i == 0 { *m } else { d });
                match i {
                    0 => put_varint(&mut dod, *m),
                    1 => put_varint(&mut dod, d),
                    _ => put_varint(&mut dod, d.wrapping_sub(pd)),
                }
                pd = d;
                pm = *m;
            }
            if delta.len() < dod.len() {
                out.push(2);
                out.push(exp);
                out.extend_from_slice(&delta);
            } else {
                out.push(0);
                out.push(exp);
                out.extend_from_slice(&dod);
            }
        }
        None => {
            out.push(1);
            let mut prev = 0u64;
            for s in samples {
                let bits = s.v.to_bits();
                let x = bits ^ prev;
                let tz = if x == 0 { 0 } else { x.trailing_zeros() };
                put_uvarint(out, u64::from(tz));
                put_uvarint(out, x >> tz);
                prev = bits;
            }
        }
    }
}

/// Decodes one whole encoded chunk into `out`; `None` when malformed.
pub fn decode(bytes: &[u8], out: &mut Vec<Sample>) -> Option<()> {
    let mut r = Reader::new(bytes);
    decode_chunk(&mut r, out)?;
    (r.pos == bytes.len()).then_some(())
}

/// Decodes a chunk into `out`; `None` when the bytes are malformed.
pub(crate) fn decode_chunk(r: &mut Reader<'_>, out: &mut Vec<Sample>) -> Option<()> {
    let n = usize::try_from(r.uvarint()?).ok()?;
    // Each sample takes at least two bytes: refuse counts the data cannot hold.
    if n > r.b.len().saturating_sub(r.pos) {
        return None;
    }
    let start = out.len();
    let (mut t, mut d) = (0i64, 0i64);
    for i in 0..n {
        let x = r.varint()?;
        match i {
            0 => t = x,
            1 => {
                d = x;
                t = t.wrapping_add(d);
            }
            _ => {
                d = d.wrapping_add(x);
                t = t.wrapping_add(d);
            }
        }
        out.push(Sample::new(t, 0.0));
    }
    match r.u8()? {
        kind @ (0 | 2) => {
            let exp = r.u8()?;
            if exp > 12 {
                return None;
            }
            let scale = 10f64.powi(i32::from(exp));
            let (mut m, mut md) = (0i64, 0i64);
            for i in 0..n {
                let x = r.varint()?;
                if kind == 2 {
                    m = if i == 0 { x } else { m.wrapping_add(x) };
                } else {
                    match i {
                        0 => m = x,
                        1 => {
                            md = x;
                            m = m.wrapping_add(md);
                        }
                        _ => {
                            md = md.wrapping_add(x);
                            m = m.wrapping_add(md);
                        }
                    }
                }
                out[start + i].v = m as f64 / scale;
            }
        }
        1 => {
            let mut prev = 0u64;
            for i in 0..n {
                let tz = r.uvarint()?;
                if tz > 63 {
                    return None;
                }
                let x = r.uvarint()? << tz;
                prev ^= x;
                out[start + i].v = f64::from_bits(prev);
            }
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::from_bits(strata_model::STALE_NAN_BITS)),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            (0i64..1_000_000).prop_map(|i| i as f64),
            (0i64..1_000_000).prop_map(|i| i as f64 / 100.0),
            (-1000i64..1000).prop_map(|i| i as f64 * 0.001),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_bit_exact(
            t0 in any::<i64>(),
            steps in proptest::collection::vec((prop_oneof![Just(15_000i64), 14_990i64..15_010, 0i64..10, any::<i64>()], value()), 0..600),
        ) {
            let mut t = t0;
            let samples: Vec<Sample> = steps.iter().map(|(d, v)| { t = t.wrapping_add(*d); Sample::new(t, *v) }).collect();
            let mut buf = Vec::new();
            encode_chunk(&samples, &mut buf);
            let mut out = Vec::new();
            prop_assert!(decode_chunk(&mut Reader::new(&buf), &mut out).is_some());
            prop_assert_eq!(out.len(), samples.len());
            for (a, b) in out.iter().zip(&samples) {
                prop_assert!(a.bit_eq(b), "{:?} vs {:?}", a, b);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut out = Vec::new();
            let _ = decode_chunk(&mut Reader::new(&bytes), &mut out);
        }
    }

    #[test]
    fn counters_are_tiny() {
        let samples: Vec<Sample> = (0..480)
            .map(|i| Sample::new(1_700_000_000_000 + i * 15_000, 1000.0 + i as f64 * 3.0))
            .collect();
        let mut buf = Vec::new();
        encode_chunk(&samples, &mut buf);
        assert!(buf.len() < 480 * 2 + 32, "{} bytes", buf.len());
    }
}
