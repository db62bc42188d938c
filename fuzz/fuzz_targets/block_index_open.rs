#![no_main]
//! Any bytes as a block index (version 2 or 1), raw and framed into the
//! six version-2 sections behind valid checksums so the decoders of
//! series entries, keys, names and postings are reached: open and query
//! fail or answer, never panic or allocate what the bytes merely claim.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let _ = strata_block::fuzz_open_index(dir.path(), data);
    // The first 10 bytes give the lengths of the first five sections (u16
    // each, clipped to what is left); the rest goes to the last.
    let (lens, mut rest) = data.split_at(data.len().min(10));
    let mut sections: [&[u8]; 6] = [&[]; 6];
    for (i, s) in sections.iter_mut().enumerate().take(5) {
        let n = lens
            .get(2 * i..2 * i + 2)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .min(rest.len());
        (*s, rest) = rest.split_at(n);
    }
    sections[5] = rest;
    let framed = strata_block::fuzz_frame_index(sections);
    let _ = strata_block::fuzz_open_index(dir.path(), &framed);
});
