#![no_main]
//! Any bytes, as a body or as an already-decompressed protobuf, must decode
//! or fail cleanly: never panic, never allocate beyond the limits.
use libfuzzer_sys::fuzz_target;
use strata_ingest::{Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_decompressed_bytes: 1 << 20, ..Limits::default() };
    let mut d = Decoder::new(limits.clone());
    let _ = d.decode(data);
    let body = snap::raw::Encoder::new().compress_vec(data).unwrap_or_default();
    let mut d = Decoder::new(limits);
    let _ = d.decode(&body);
});
