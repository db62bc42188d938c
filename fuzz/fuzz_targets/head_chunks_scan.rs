#![no_main]
//! Any bytes as the records of a head chunk file: the start-up scan stops
//! at the first record that fails its checks, never panics, never
//! allocates what a length field merely claims beyond 1 MiB. The bytes are
//! also wrapped as one record with a true length and CRC, followed by the
//! rest, so the fuzzer reaches the checks behind the checksum.
use libfuzzer_sys::fuzz_target;

/// Header bytes of a record: id, labels hash, min t, max t, last value
/// bits, samples, encoding, reserved, data length (docs/format-wal.md).
const HEADER: usize = 44;

fuzz_target!(|data: &[u8]| {
    let _ = strata_tsdb::fuzz_scan_head_chunks(data);
    if data.len() < HEADER + 1 {
        return;
    }
    let body = &data[HEADER..];
    let len = usize::from(data[0]).min(body.len()).max(1);
    let mut rec = data[..HEADER].to_vec();
    rec[38] = 1;
    rec[40..44].copy_from_slice(&(len as u32).to_le_bytes());
    rec.extend_from_slice(&body[..len]);
    let crc = crc32c(&rec);
    rec.extend_from_slice(&crc.to_le_bytes());
    rec.extend_from_slice(&body[len..]);
    let _ = strata_tsdb::fuzz_scan_head_chunks(&rec);
});

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}
