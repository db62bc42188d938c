//! A remote-write encoder for tests, benchmarks and (later) Strata's own
//! remote-write sender.

use strata_model::{Labels, Sample};

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn len_field(tag: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

fn push_series<'a>(
    labels: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    samples: impl Iterator<Item = (i64, f64)>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    item: &mut Vec<u8>,
) {
    scratch.clear();
    for (n, v) in labels {
        item.clear();
        len_field(0x0a, n, item);
        len_field(0x12, v, item);
        len_field(0x0a, item, scratch);
    }
    for (t, v) in samples {
        item.clear();
        item.push(0x09);
        item.extend_from_slice(&v.to_bits().to_le_bytes());
        item.push(0x10);
        varint(t as u64, item);
        len_field(0x12, item, scratch);
    }
    len_field(0x0a, scratch, out);
}

/// The uncompressed protobuf `WriteRequest` for raw label bytes (which may be
/// invalid on purpose, for tests).
pub fn encode_write_request_raw(series: &[(Vec<(&[u8], &[u8])>, Vec<(i64, f64)>)]) -> Vec<u8> {
    let (mut out, mut scratch, mut item) = (Vec::new(), Vec::new(), Vec::new());
    for (labels, samples) in series {
        push_series(
            labels.iter().copied(),
            samples.iter().copied(),
            &mut out,
            &mut scratch,
            &mut item,
        );
    }
    out
}

/// A snappy-compressed `WriteRequest`, ready to POST to `/api/v1/write`.
pub fn encode_write_request(series: &[(Labels, Vec<Sample>)]) -> Vec<u8> {
    let (mut out, mut scratch, mut item) = (Vec::new(), Vec::new(), Vec::new());
    for (labels, samples) in series {
        push_series(
            labels
                .iter()
                .map(|l| (l.name.as_bytes(), l.value.as_bytes())),
            samples.iter().map(|s| (s.t, s.v)),
            &mut out,
            &mut scratch,
            &mut item,
        );
    }
    snap::raw::Encoder::new()
        .compress_vec(&out)
        .unwrap_or_default()
}
