//! Gorilla XOR chunks for the head: delta-of-delta timestamps and XOR'd
//! values, bit-packed (Facebook's Gorilla paper, as Prometheus' chunkenc).
//!
//! Layout of an encoded chunk: `u16` sample count (big-endian), then the bit
//! stream: first timestamp as a zigzag varint, first value as 64 raw bits,
//! second timestamp delta as a zigzag varint, then per sample a
//! delta-of-delta code and an XOR value code. Values are compared by bits, so
//! NaN payloads and the stale marker round-trip exactly.

/// Samples per head chunk before it is closed (Prometheus uses 120).
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// Encoded bytes at which an open head chunk closes before it has
/// `SAMPLES_PER_CHUNK` samples. The open chunk is the head's memory per
/// series (closed ones live in the head chunk files); values that compress
/// badly (random gauges, counters with many decimals: 4–6 bytes a sample
/// in XOR) would otherwise hold ~700 bytes per series. Block chunks are
/// re-cut to full length at the head cut, so this costs nothing on disk.
pub const MAX_OPEN_CHUNK_BYTES: usize = 224;

#[derive(Debug, Clone, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free in the last byte (0 = need a new byte).
    free: u8,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v`, most significant first, filling the
    /// current byte and then whole bytes (not bit by bit: this is the
    /// ingest hot path).
    fn write_bits(&mut self, v: u64, mut n: u8) {
        while n > 0 {
            if self.free == 0 {
                if self.bytes.len() == self.bytes.capacity() {
                    // Grow by a quarter, not double: an open chunk's buffer
                    // is the head's memory per series.
                    self.bytes.reserve_exact((self.bytes.len() / 4).max(32));
                }
                self.bytes.push(0);
                self.free = 8;
            }
            let k = self.free.min(n);
            // The next k bits of v, from the top of the remaining n bits.
            let chunk = ((v >> (n - k)) & ((1u64 << k) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (self.free - k);
            }
            self.free -= k;
            n -= k;
        }
    }

    fn write_varint(&mut self, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                self.write_bits(u64::from(byte), 8);
                return;
            }
            self.write_bits(u64::from(byte | 0x80), 8);
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize, // bit position
}

impl<'a> BitReader<'a> {
    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `n` (≤ 64) bits, most significant first. One unaligned 8-byte
    /// load covers any read that fits in it, which is all but the widest
    /// value reads; those take the bytewise path.
    fn read_bits(&mut self, n: u8) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        let n_us = usize::from(n);
        if self.pos + n_us > self.bytes.len() * 8 {
            return None;
        }
        let byte = self.pos / 8;
        let shift = self.pos % 8;
        if shift + n_us <= 64 {
            let mut buf = [0u8; 8];
            let avail = (self.bytes.len() - byte).min(8);
            buf[..avail].copy_from_slice(&self.bytes[byte..byte + avail]);
            let w = u64::from_be_bytes(buf) << shift;
            self.pos += n_us;
            return Some(w >> (64 - n_us));
        }
        self.read_bits_bytewise(n)
    }

    fn read_bits_bytewise(&mut self, mut n: u8) -> Option<u64> {
        let mut v = 0u64;
        while n > 0 {
            let byte = *self.bytes.get(self.pos / 8)?;
            let used = (self.pos % 8) as u8;
            let avail = 8 - used;
            let k = avail.min(n);
            let bits = (byte >> (avail - k)) & (((1u16 << k) - 1) as u8);
            v = (v << k) | u64::from(bits);
            self.pos += usize::from(k);
            n -= k;
        }
        Some(v)
    }

    fn read_varint(&mut self) -> Option<i64> {
        let mut z = 0u64;
        for i in 0..10 {
            let byte = self.read_bits(8)?;
            z |= (byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        None
    }
}

/// An append-only XOR chunk.
#[derive(Debug, Clone, Default)]
pub struct XorAppender {
    w: BitWriter,
    count: u16,
    t: i64,
    t_delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
    pub min_t: i64,
}

impl XorAppender {
    pub fn new() -> Self {
        XorAppender {
            leading: 0xff,
            ..Default::default()
        }
    }

    pub fn count(&self) -> u16 {
        self.count
    }

    /// Bytes of the bit stream so far.
    pub fn byte_len(&self) -> usize {
        self.w.bytes.len()
    }

    pub fn max_t(&self) -> i64 {
        self.t
    }

    /// Reads the byte the next append writes to (see `Shard::warm`).
    pub fn touch_tail(&self) -> u8 {
        self.w.bytes.last().copied().unwrap_or(0)
    }

    /// The newest appended sample, without decoding.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.count > 0).then(|| (self.t, f64::from_bits(self.v_bits)))
    }

    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.w.write_varint(t);
                self.w.write_bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                self.w.write_varint(delta);
                self.write_value(bits);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.t_delta);
                // Buckets as in Prometheus: 0, 14, 17, 20 bits, else 64.
                if dod == 0 {
                    self.w.write_bit(false);
                } else if (-(1 << 13)..(1 << 13)).contains(&dod) {
                    self.w.write_bits(0b10, 2);
                    self.w.write_bits(dod as u64 & ((1 << 14) - 1), 14);
                } else if (-(1 << 16)..(1 << 16)).contains(&dod) {
                    self.w.write_bits(0b110, 3);
                    self.w.write_bits(dod as u64 & ((1 << 17) - 1), 17);
                } else if (-(1 << 19)..(1 << 19)).contains(&dod) {
                    self.w.write_bits(0b1110, 4);
                    self.w.write_bits(dod as u64 & ((1 << 20) - 1), 20);
                } else {
                    self.w.write_bits(0b1111, 4);
                    self.w.write_bits(dod as u64, 64);
                }
                self.write_value(bits);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v_bits = bits;
        self.count = self.count.saturating_add(1);
    }

    fn write_value(&mut self, bits: u64) {
        let x = bits ^ self.v_bits;
        if x == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.w.write_bits(x >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.w.write_bit(true);
            self.w.write_bits(u64::from(leading), 5);
            let sig = 64 - leading - trailing;
            // 64 significant bits are stored as 0 in 6 bits.
            self.w.write_bits(u64::from(sig) & 0x3f, 6);
            self.w.write_bits(x >> trailing, sig);
        }
    }

    /// The encoded chunk: count + bit stream. Valid at any point, so the open
    /// chunk can be read and checkpointed while it is still being appended to.
    pub fn encoded(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.w.bytes.len());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.w.bytes);
        out
    }

    pub fn size_bytes(&self) -> usize {
        2 + self.w.bytes.len()
    }
}

/// Decodes an encoded chunk sample by sample.
pub struct XorIter<'a> {
    r: BitReader<'a>,
    remaining: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
    corrupt: bool,
}

impl<'a> XorIter<'a> {
    pub fn new(chunk: &'a [u8]) -> Self {
        let (count, rest) = match chunk {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
            _ => (0, &[][..]),
        };
        XorIter {
            r: BitReader {
                bytes: rest,
                pos: 0,
            },
            remaining: count,
            read: 0,
            t: 0,
            t_delta: 0,
            v_bits: 0,
            leading: 0,
            trailing: 0,
            corrupt: chunk.len() < 2,
        }
    }

    /// True when the chunk ended before its declared sample count.
    pub fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    fn step(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v_bits = self.r.read_bits(64)?;
            }
            1 => {
                self.t_delta = self.r.read_varint()?;
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
            _ => {
                let dod: i64 = if !self.r.read_bit()? {
                    0
                } else if !self.r.read_bit()? {
                    sign_extend(self.r.read_bits(14)?, 14)
                } else if !self.r.read_bit()? {
                    sign_extend(self.r.read_bits(17)?, 17)
                } else if !self.r.read_bit()? {
                    sign_extend(self.r.read_bits(20)?, 20)
                } else {
                    self.r.read_bits(64)? as i64
                };
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
        }
        self.read += 1;
        Some((self.t, f64::from_bits(self.v_bits)))
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if self.r.read_bit()? {
            self.leading = self.r.read_bits(5)? as u8;
            let mut sig = self.r.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            self.trailing = 64u8.checked_sub(self.leading)?.checked_sub(sig)?;
        }
        let sig = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)?;
        let x = self.r.read_bits(sig)?;
        self.v_bits ^= x.checked_shl(u32::from(self.trailing)).unwrap_or(0);
        Some(())
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        match self.step() {
            Some(s) => Some(s),
            None => {
                self.corrupt = true;
                self.remaining = 0;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, u64)]) -> Result<(), TestCaseError> {
        let mut a = XorAppender::new();
        for (t, bits) in samples {
            a.append(*t, f64::from_bits(*bits));
        }
        let enc = a.encoded();
        let mut it = XorIter::new(&enc);
        let got: Vec<(i64, u64)> = it.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
        prop_assert!(!it.is_corrupt());
        prop_assert_eq!(got, samples.to_vec());
        Ok(())
    }

    fn special() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            Just(f64::NAN.to_bits()),
            Just(strata_model::STALE_NAN_BITS),
            Just(f64::INFINITY.to_bits()),
            Just(f64::NEG_INFINITY.to_bits()),
            Just(0f64.to_bits()),
            Just((-0f64).to_bits()),
            (0u32..1000).prop_map(|i| f64::from(i).to_bits()),
        ]
    }

    proptest! {
        #[test]
        fn any_values_and_gaps_round_trip(
            start in any::<i64>(),
            steps in proptest::collection::vec((prop_oneof![Just(15_000i64), 0i64..100, 0i64..1_000_000_000, any::<i64>()], special()), 1..300)
        ) {
            let mut t = start;
            let samples: Vec<(i64, u64)> = steps.iter().map(|(d, v)| { t = t.wrapping_add(*d); (t, *v) }).collect();
            round_trip(&samples)?;
        }

        #[test]
        fn counters_with_resets(n in 1usize..240, reset_every in 2usize..50) {
            let mut v = 0.0;
            let samples: Vec<(i64, u64)> = (0..n).map(|i| {
                v = if i % reset_every == 0 { 0.0 } else { v + 1.5 };
                (1_700_000_000_000 + i as i64 * 15_000 + (i as i64 % 3), f64::to_bits(v))
            }).collect();
            round_trip(&samples)?;
        }

        #[test]
        fn truncated_chunks_never_panic(samples in proptest::collection::vec((any::<i64>(), any::<u64>()), 1..50), cut in 0usize..400) {
            let mut a = XorAppender::new();
            for (t, b) in &samples { a.append(*t, f64::from_bits(*b)); }
            let enc = a.encoded();
            let cut = cut.min(enc.len());
            let _ = XorIter::new(&enc[..cut]).count();
        }
    }

    #[test]
    fn regular_scrapes_are_small() {
        let mut a = XorAppender::new();
        for i in 0..120 {
            a.append(1_700_000_000_000 + i * 15_000, 42.0);
        }
        assert!(a.size_bytes() < 64, "{} bytes", a.size_bytes());
    }
}
