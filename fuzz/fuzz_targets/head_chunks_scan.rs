#![no_main]
//! Any bytes as the records of a head chunk file: the start-up scan stops
//! at the first record that fails its checks, never panics, never
//! allocates what a length field merely claims beyond 1 MiB.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata_tsdb::fuzz_scan_head_chunks(data);
});
