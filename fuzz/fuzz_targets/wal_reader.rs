#![no_main]
//! Any bytes as a WAL segment or record: replay stops cleanly at the first
//! bad frame, never panics.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata_tsdb::fuzz_parse_segment(data);
    let mut framed = b"SWAL\x01\0\0\0".to_vec();
    framed.extend_from_slice(&(data.len() as u32).to_le_bytes());
    framed.extend_from_slice(&crc32c(data).to_le_bytes());
    framed.extend_from_slice(data);
    let _ = strata_tsdb::fuzz_parse_segment(&framed);
});

/// CRC-32C, so the fuzzer reaches the record decoder behind the checksum.
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
