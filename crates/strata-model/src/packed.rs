//! Label sets packed into one allocation each, for the head and block
//! indexes that hold millions of them.

use crate::{Label, LabelRef, Labels};
use std::sync::Arc;

/// A series' label set packed into one allocation: `uvarint(len) bytes` for
/// each name and value in label order. A `Labels` costs two heap strings per
/// label; the head and every open block hold millions of series, so this is
/// most of the saving in memory per series. `Labels` are built from it only for reads.
///
/// Shared (`Arc`): the head's series and its hash index hold the same
/// bytes, and a head cut sorts series by label without copying them.
#[derive(Debug, Clone)]
pub struct PackedLabels(Arc<[u8]>);

/// The encoding is canonical (labels in order, lengths minimal), so equal
/// bytes are equal label sets.
impl PartialEq for PackedLabels {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for PackedLabels {}

impl Ord for PackedLabels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.cmp_labels(other)
    }
}

impl PartialOrd for PackedLabels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PackedLabels {
    pub fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut buf = Vec::with_capacity(64);
        for (n, v) in pairs {
            crate::varint::put_uvarint(&mut buf, n.len() as u64);
            buf.extend_from_slice(n.as_bytes());
            crate::varint::put_uvarint(&mut buf, v.len() as u64);
            buf.extend_from_slice(v.as_bytes());
        }
        PackedLabels(buf.into())
    }

    /// Prometheus' label-set order (name, then value, label by label),
    /// without building `Labels`. Head selections are sorted with it, and
    /// label sets sorted next to each other share long prefixes (the
    /// metric name, the job, …): the equal prefix is skipped with one byte
    /// comparison, and strings are decoded only from the label in which
    /// the first differing byte lies. Equal bytes up to there are equal
    /// labels up to there, since the encoding is canonical.
    pub fn cmp_labels(&self, other: &PackedLabels) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let (a, b): (&[u8], &[u8]) = (&self.0, &other.0);
        let common = common_prefix(a, b);
        if common == a.len() && common == b.len() {
            return Ordering::Equal;
        }
        let mut walk = PackedIter {
            b: a,
            pos: 0,
            left: usize::MAX,
        };
        let start = loop {
            let here = walk.pos;
            if walk.next_str().is_none() || walk.next_str().is_none() || walk.pos > common {
                break here;
            }
        };
        let mut x = PackedIter {
            b: a,
            pos: start,
            left: usize::MAX,
        };
        let mut y = PackedIter {
            b,
            pos: start,
            left: usize::MAX,
        };
        // Names and values alternate, so comparing the strings in turn is
        // comparing label by label, name first.
        loop {
            match (x.next_str(), y.next_str()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(p), Some(q)) => match p.cmp(q) {
                    Ordering::Equal => {}
                    o => return o,
                },
            }
        }
    }

    pub fn from_labels(l: &Labels) -> Self {
        Self::from_pairs(l.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// (name, value) pairs in label order, decoded without allocating.
    pub fn iter(&self) -> PackedIter<'_> {
        let mut probe = PackedIter {
            b: &self.0,
            pos: 0,
            left: usize::MAX,
        };
        let mut n = 0;
        while probe.next_str().is_some() {
            n += 1;
        }
        PackedIter {
            b: &self.0,
            pos: 0,
            left: n / 2,
        }
    }

    pub fn to_labels(&self) -> Labels {
        Labels::from_sorted(self.iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// Reads the first byte and the last, so a following comparison finds
    /// the label set in cache (batched lookups load many at once).
    pub fn touch(&self) -> u8 {
        self.0.first().copied().unwrap_or(0) ^ self.0.last().copied().unwrap_or(0)
    }

    /// Compares with a borrowed label set on raw bytes (no UTF-8 checks):
    /// this runs for every series of every write request.
    pub fn eq_refs(&self, refs: &[LabelRef<'_>]) -> bool {
        let b: &[u8] = &self.0;
        let mut pos = 0usize;
        for r in refs {
            for want in [r.name.as_bytes(), r.value.as_bytes()] {
                // Names and values under 128 bytes (nearly all) have a
                // one-byte length: compare it directly.
                let len = match b.get(pos) {
                    Some(&l) if l < 0x80 => {
                        pos += 1;
                        usize::from(l)
                    }
                    Some(_) => match read_len(b, &mut pos) {
                        Some(l) => l,
                        None => return false,
                    },
                    None => return false,
                };
                if len != want.len() || !b.get(pos..pos + len).is_some_and(|s| short_eq(s, want)) {
                    return false;
                }
                pos += len;
            }
        }
        pos == b.len()
    }
}

/// A multi-byte uvarint length at `pos`, advancing it.
fn read_len(b: &[u8], pos: &mut usize) -> Option<usize> {
    let (mut len, mut shift) = (0usize, 0u32);
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        len |= usize::from(byte & 0x7f).checked_shl(shift)?;
        shift += 7;
        if byte < 0x80 {
            return Some(len);
        }
    }
}

/// Byte equality of two equally long slices without a `memcmp` call for
/// short ones: label names and most values are a few bytes, and a write
/// request compares thousands of them.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    match n {
        0 => true,
        1..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// Length of the longest common prefix, compared 16 bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 16 <= n && a[i..i + 16] == b[i..i + 16] {
        i += 16;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

pub struct PackedIter<'a> {
    b: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> PackedIter<'a> {
    /// The next length-prefixed string. Reads walk only buffers
    /// `from_pairs` wrote (the field is private and the bytes immutable),
    /// so each string's bounds are those of a `&str` that was packed.
    fn next_str(&mut self) -> Option<&'a str> {
        if self.pos >= self.b.len() {
            return None;
        }
        let (mut len, mut shift) = (0usize, 0u32);
        loop {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                break;
            }
        }
        let end = self.pos.checked_add(len).filter(|e| *e <= self.b.len())?;
        let bytes = self.b.get(self.pos..end)?;
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `bytes` is exactly the bytes of a `&str` `from_pairs`
        // packed (see above): valid UTF-8. Validating again on every read
        // cost 7 % of a scrape's CPU.
        let s = unsafe { std::str::from_utf8_unchecked(bytes) };
        self.pos = end;
        Some(s)
    }
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let n = self.next_str()?;
        let v = self.next_str()?;
        self.left = self.left.saturating_sub(1);
        Some((n, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for PackedIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packed_labels_round_trip(m in proptest::collection::btree_map("\\\\PC{1,20}", "\\\\PC{1,200}", 1..12)) {
            let labels = Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let c = PackedLabels::from_labels(&labels);
            prop_assert_eq!(c.to_labels(), labels.clone());
            prop_assert_eq!(c.iter().len(), labels.len());
            let refs: Vec<LabelRef<'_>> = labels.iter().map(|l| LabelRef { name: &l.name, value: &l.value }).collect();
            prop_assert!(c.eq_refs(&refs));
            prop_assert!(!c.eq_refs(&refs[..refs.len() - 1]));
            let shorter = Labels::from_sorted(labels.iter().take(labels.len() - 1).cloned().collect());
            let s = PackedLabels::from_labels(&shorter);
            prop_assert_eq!(c.cmp(&s), labels.cmp(&shorter));
            prop_assert_eq!(s.cmp(&c), shorter.cmp(&labels));
            prop_assert!(c == PackedLabels::from_labels(&labels));
        }

        /// Label sets from a small alphabet, so that pairs share prefixes
        /// and differ in names, values, lengths and multi-byte lengths.
        #[test]
        fn packed_order_is_label_set_order(
            a in proptest::collection::btree_map(
                prop_oneof![Just("__name__"), Just("a"), Just("ab"), Just("b"), Just("job")],
                prop_oneof![Just(String::from("x")), Just(String::from("xy")), Just(String::from("y")), Just("v".repeat(130)), Just("v".repeat(131))],
                0..5),
            b in proptest::collection::btree_map(
                prop_oneof![Just("__name__"), Just("a"), Just("ab"), Just("b"), Just("job")],
                prop_oneof![Just(String::from("x")), Just(String::from("xy")), Just(String::from("y")), Just("v".repeat(130)), Just("v".repeat(131))],
                0..5),
        ) {
            let la = Labels::from_pairs(a.iter().map(|(k, v)| (*k, v.as_str())));
            let lb = Labels::from_pairs(b.iter().map(|(k, v)| (*k, v.as_str())));
            let (pa, pb) = (PackedLabels::from_labels(&la), PackedLabels::from_labels(&lb));
            prop_assert_eq!(pa.cmp_labels(&pb), la.cmp(&lb));
            prop_assert_eq!(pb.cmp_labels(&pa), lb.cmp(&la));
            prop_assert_eq!(pa.cmp_labels(&pa), std::cmp::Ordering::Equal);
        }

        #[test]
        fn short_eq_is_byte_equality(a in proptest::collection::vec(any::<u8>(), 0..40), flip in any::<usize>()) {
            prop_assert!(short_eq(&a, &a.clone()));
            if !a.is_empty() {
                let mut b = a.clone();
                let i = flip % b.len();
                b[i] ^= 1;
                prop_assert!(!short_eq(&a, &b));
                prop_assert!(!short_eq(&a, &a[..a.len() - 1]));
            }
        }
    }
}
