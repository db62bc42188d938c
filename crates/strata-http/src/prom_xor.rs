//! Prometheus' XOR chunk encoding (`tsdb/chunkenc/xor.go`), which the
//! streamed remote-read response carries: a big-endian u16 sample count,
//! then the first timestamp as a varint and value as 64 bits, the second
//! timestamp as a uvarint delta, then delta-of-delta timestamps in 1, 16,
//! 20, 24 or 68 bits and Gorilla-XOR values with a 5-bit leading-zero
//! count capped at 31.

/// Samples per chunk, as Prometheus' head cuts them.
pub const SAMPLES_PER_CHUNK: usize = 120;

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Free bits in the last byte (0: start a new byte).
    free: u8,
}

impl BitWriter {
    fn bit(&mut self, b: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if b && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    /// The low `n` bits of `v`, most significant first.
    fn bits(&mut self, v: u64, n: u8) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    fn byte(&mut self, b: u8) {
        self.bits(u64::from(b), 8);
    }
}

/// Encodes one chunk of at most `u16::MAX` samples.
pub struct XorChunk {
    w: BitWriter,
    n: u16,
    t: i64,
    t_delta: u64,
    v: f64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        XorChunk::new()
    }
}

impl XorChunk {
    pub fn new() -> XorChunk {
        let mut w = BitWriter::default();
        w.byte(0);
        w.byte(0);
        XorChunk {
            w,
            n: 0,
            t: 0,
            t_delta: 0,
            v: 0.0,
            leading: 0xff,
            trailing: 0,
        }
    }

    pub fn len(&self) -> usize {
        usize::from(self.n)
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn varint(&mut self, x: i64) {
        let mut ux = (x as u64) << 1;
        if x < 0 {
            ux = !ux;
        }
        self.uvarint(ux);
    }

    fn uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.w.byte((x as u8) | 0x80);
            x >>= 7;
        }
        self.w.byte(x as u8);
    }

    pub fn append(&mut self, t: i64, v: f64) {
        match self.n {
            0 => {
                self.varint(t);
                self.w.bits(v.to_bits(), 64);
            }
            1 => {
                let delta = t.wrapping_sub(self.t) as u64;
                self.uvarint(delta);
                self.t_delta = delta;
                self.xor(v);
            }
            _ => {
                let delta = t.wrapping_sub(self.t) as u64;
                let dod = delta.wrapping_sub(self.t_delta) as i64;
                let fits =
                    |bits: u32| -((1i64 << (bits - 1)) - 1) <= dod && dod <= 1i64 << (bits - 1);
                if dod == 0 {
                    self.w.bit(false);
                } else if fits(14) {
                    self.w.bits(0b10, 2);
                    self.w.bits(dod as u64, 14);
                } else if fits(17) {
                    self.w.bits(0b110, 3);
                    self.w.bits(dod as u64, 17);
                } else if fits(20) {
                    self.w.bits(0b1110, 4);
                    self.w.bits(dod as u64, 20);
                } else {
                    self.w.bits(0b1111, 4);
                    self.w.bits(dod as u64, 64);
                }
                self.t_delta = delta;
                self.xor(v);
            }
        }
        self.t = t;
        self.v = v;
        self.n += 1;
    }

    fn xor(&mut self, v: f64) {
        let delta = v.to_bits() ^ self.v.to_bits();
        if delta == 0 {
            self.w.bit(false);
            return;
        }
        self.w.bit(true);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.w.bits(delta >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.w.bit(true);
        self.w.bits(u64::from(leading), 5);
        let sig = 64 - leading - trailing;
        // 64 significant bits do not fit in 6 bits: written as 0, read
        // back as 64.
        self.w.bits(u64::from(sig), 6);
        self.w.bits(delta >> trailing, sig);
    }

    /// The chunk's bytes, sample count included.
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.w.bytes.clone();
        let n = self.n.to_be_bytes();
        if let Some(h) = b.get_mut(..2) {
            h.copy_from_slice(&n);
        }
        b
    }
}

struct BitReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let byte = *self.b.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }
    fn bits(&mut self, n: u8) -> Option<u64> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Some(v)
    }
    fn uvarint(&mut self) -> Option<u64> {
        let mut x = 0u64;
        let mut s = 0;
        loop {
            let b = self.bits(8)?;
            x |= (b & 0x7f) << s;
            if b < 0x80 {
                return Some(x);
            }
            s += 7;
        }
    }
    fn varint(&mut self) -> Option<i64> {
        let ux = self.uvarint()?;
        let mut x = (ux >> 1) as i64;
        if ux & 1 != 0 {
            x = !x;
        }
        Some(x)
    }
}

/// Prometheus' reading of an n-bit delta of delta: above 2^(n-1) is
/// negative (2^(n-1) itself is positive, as the writer's range allows).
fn sign_extend(v: u64, bits: u8) -> i64 {
    let v = v as i64;
    if v > 1 << (bits - 1) {
        v - (1 << bits)
    } else {
        v
    }
}

/// Reads a chunk back: (timestamp, value bits) per sample, `None` when the
/// bytes end early. Written from the format description; it checks the
/// encoder and reads streamed remote-read responses in tests.
pub fn decode(b: &[u8]) -> Option<Vec<(i64, u64)>> {
    let n = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
    let mut r = BitReader { b, pos: 16 };
    let mut out = Vec::with_capacity(n);
    let (mut t, mut delta, mut v) = (0i64, 0i64, 0u64);
    let (mut leading, mut trailing) = (0u8, 0u8);
    for i in 0..n {
        match i {
            0 => {
                t = r.varint()?;
                v = r.bits(64)?;
            }
            _ => {
                if i == 1 {
                    delta = r.uvarint()? as i64;
                } else {
                    let mut prefix = 0;
                    while prefix < 4 && r.bit()? {
                        prefix += 1;
                    }
                    let dod = match prefix {
                        0 => 0,
                        1 => sign_extend(r.bits(14)?, 14),
                        2 => sign_extend(r.bits(17)?, 17),
                        3 => sign_extend(r.bits(20)?, 20),
                        _ => r.bits(64)? as i64,
                    };
                    delta = delta.wrapping_add(dod);
                }
                t = t.wrapping_add(delta);
                if r.bit()? {
                    if r.bit()? {
                        leading = r.bits(5)? as u8;
                        let mut sig = r.bits(6)? as u8;
                        if sig == 0 {
                            sig = 64;
                        }
                        trailing = 64 - leading - sig;
                    }
                    let sig = 64 - leading - trailing;
                    v ^= r.bits(sig)? << trailing;
                }
            }
        }
        out.push((t, v));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(
            start in -1_000_000_000_000i64..2_000_000_000_000,
            steps in proptest::collection::vec((0i64..100_000_000, any::<f64>(), 0u8..4), 1..200),
        ) {
            let mut c = XorChunk::new();
            let mut t = start;
            let mut want = Vec::new();
            let mut prev = 0.0f64;
            for (dt, v, kind) in steps {
                t += match kind { 0 => 15_000, 1 => 15_000 + dt % 50, 2 => 15_000 + 8192 * (dt % 3), _ => dt };
                let v = if kind == 3 { prev } else { v };
                c.append(t, v);
                want.push((t, v.to_bits()));
                prev = v;
            }
            prop_assert_eq!(decode(&c.bytes()), Some(want));
        }
    }

    #[test]
    fn known_bytes_of_a_short_chunk() {
        let mut c = XorChunk::new();
        c.append(1000, 1.0);
        c.append(2000, 1.0);
        c.append(3000, 2.0);
        let b = c.bytes();
        assert_eq!(&b[..2], &[0, 3]);
        // varint(1000) = zigzag 2000 = 0xd0 0x0f.
        assert_eq!(&b[2..4], &[0xd0, 0x0f]);
        assert_eq!(
            decode(&b),
            Some(vec![
                (1000, 1f64.to_bits()),
                (2000, 1f64.to_bits()),
                (3000, 2f64.to_bits())
            ])
        );
    }
}
