#![no_main]
//! Any bytes as a block chunk: decode or fail, never panic or over-allocate.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata_block::fuzz_decode_chunk(data);
});
