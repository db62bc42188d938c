//! Label sets: the identity of a series.

use std::cmp::Ordering;
use std::fmt;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A label name or value. Most are short (names always, values mostly
/// under 24 bytes), and a query materialises the labels of every series it
/// selects: stored inline they cost no allocation to build, clone or free.
pub type LabelStr = compact_str::CompactString;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: LabelStr,
    pub value: LabelStr,
}

impl Label {
    pub fn new(name: impl Into<LabelStr>, value: impl Into<LabelStr>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A label set sorted by name with unique names and no empty values
/// (an empty value means "label absent", as in Prometheus).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    pub fn empty() -> Self {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs in any order. Empty values are dropped;
    /// for a repeated name the last value wins. Use [`Labels::from_sorted`]
    /// when the caller has already validated order and uniqueness.
    pub fn new(mut labels: Vec<Label>) -> Self {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        // Keep the last of equal names: reverse-dedup keeps the first seen.
        labels.reverse();
        labels.dedup_by(|a, b| a.name == b.name);
        labels.reverse();
        Labels(labels)
    }

    /// Trusts the caller: `labels` must be sorted by name, unique, non-empty values.
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(labels)
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Stable 64-bit hash of the whole set (xxh3 over name/value with
    /// separators that cannot appear in valid UTF-8).
    pub fn hash64(&self) -> u64 {
        hash_pairs(
            self.0
                .iter()
                .map(|l| (l.name.as_bytes(), l.value.as_bytes())),
        )
    }

    /// The set without `__name__`, as PromQL functions and operators return it.
    pub fn without_metric_name(&self) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }

    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            base: self.0.clone(),
        }
    }
}

/// Hashes label pairs already sorted by name. Shared by [`Labels::hash64`] and
/// the ingest path, which hashes borrowed slices without building `Labels`.
pub fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (n, v) in pairs {
        h.update(n);
        h.update(&[0xff]);
        h.update(v);
        h.update(&[0xff]);
    }
    h.digest()
}

impl Ord for Labels {
    /// Prometheus' `labels.Compare`: pairwise by name then value, shorter first.
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            match str_cmp(&a.name, &b.name).then_with(|| str_cmp(&a.value, &b.value)) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

/// Byte order of two strings, compared a word at a time: sorting a
/// query's selection compares mostly short, equal names and values, where
/// a `memcmp` call costs more than the comparison itself.
#[inline]
pub fn str_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len().min(b.len());
    if n > 32 {
        return a.cmp(b);
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_be_bytes(w)
    };
    let mut i = 0;
    while i + 8 <= n {
        let (x, y) = (word(a, i), word(b, i));
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Labels {
    /// Prometheus' `labels.String()`: `{__name__="up", job="x"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", l.name, quote(&l.value))?;
        }
        f.write_str("}")
    }
}

/// Go's `strconv.Quote` (printable Unicode kept as is), as Prometheus
/// prints label values and as templates' `%q` prints strings.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Edits a label set; `labels()` returns the sorted result.
#[derive(Debug, Clone)]
pub struct LabelsBuilder {
    base: Vec<Label>,
}

impl LabelsBuilder {
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.base.retain(|l| l.name != name);
        if !value.is_empty() {
            self.base.push(Label::new(name, value));
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.base.retain(|l| l.name != name);
        self
    }

    /// The current value of `name` (None when absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.base
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    /// The current labels, in no particular order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.base.iter()
    }

    /// Keeps the labels for which `f` is true.
    pub fn retain(&mut self, f: impl FnMut(&Label) -> bool) -> &mut Self {
        self.base.retain(f);
        self
    }

    pub fn keep(&mut self, names: &[String]) -> &mut Self {
        self.base.retain(|l| names.iter().any(|n| *n == l.name));
        self
    }

    pub fn labels(&self) -> Labels {
        Labels::new(self.base.clone())
    }

    /// Like [`LabelsBuilder::labels`], without copying.
    pub fn into_labels(self) -> Labels {
        Labels::new(self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The word-at-a-time comparison is byte order, whatever the
        /// lengths and wherever the first difference falls.
        #[test]
        fn str_cmp_is_byte_order(a in "[a-c\u{e9}]{0,40}", b in "[a-c\u{e9}]{0,40}") {
            prop_assert_eq!(str_cmp(&a, &b), a.as_bytes().cmp(b.as_bytes()));
            let ab = format!("{a}{b}");
            prop_assert_eq!(str_cmp(&ab, &a), ab.as_bytes().cmp(a.as_bytes()));
        }
    }

    #[test]
    fn sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        assert_eq!(l.to_string(), r#"{a="3", b="2"}"#);
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn display_quotes_like_go() {
        let l = Labels::from_pairs([("__name__", "up"), ("x", "a\"b\\c\nd")]);
        assert_eq!(l.to_string(), r#"{__name__="up", x="a\"b\\c\nd"}"#);
    }

    #[test]
    fn hash_distinguishes_boundaries() {
        let a = Labels::from_pairs([("a", "bc")]);
        let b = Labels::from_pairs([("ab", "c")]);
        assert_ne!(a.hash64(), b.hash64());
    }
}
