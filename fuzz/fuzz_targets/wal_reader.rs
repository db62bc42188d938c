#![no_main]
//! Any bytes as a WAL segment or record: replay stops cleanly at the first
//! bad frame, never panics, never allocates what a header merely claims.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata_tsdb::fuzz_parse_segment(data);
    // Version 1: the data as one record behind a valid checksum.
    let mut v1 = b"SWAL\x01\0\0\0".to_vec();
    v1.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v1.extend_from_slice(&crc32c(data).to_le_bytes());
    v1.extend_from_slice(data);
    let _ = strata_tsdb::fuzz_parse_segment(&v1);
    // Version 2: the data as a stored frame (a run of length-prefixed
    // records) and as a zstd frame body with a claimed size, both behind
    // valid checksums, so the fuzzer reaches the record decoder and the
    // bounded decompressor.
    for (codec, raw_len) in [(0u8, data.len() as u32), (1u8, claimed(data))] {
        let mut meta = vec![codec];
        meta.extend_from_slice(&raw_len.to_le_bytes());
        let mut both = meta.clone();
        both.extend_from_slice(data);
        let mut v2 = b"SWAL\x02\0\0\0".to_vec();
        v2.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v2.extend_from_slice(&crc32c(&both).to_le_bytes());
        v2.extend_from_slice(&both);
        let _ = strata_tsdb::fuzz_parse_segment(&v2);
    }
});

/// A decompressed size to claim, taken from the input so both honest and
/// lying headers get explored.
fn claimed(data: &[u8]) -> u32 {
    match data.first() {
        Some(&b) => u32::from(b) << (b % 24),
        None => 0,
    }
}

/// CRC-32C, so the fuzzer reaches the frame and record decoders behind the
/// checksum.
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
