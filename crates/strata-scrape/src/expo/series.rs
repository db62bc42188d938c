//! A parsed series and the ways to turn it into a label set.

use std::borrow::Cow;
use std::fmt;

use strata_model::{Label, LabelRef, Labels, METRIC_NAME, hash_pairs};

use super::float::{format_openmetrics_float, parse_go_float};
use super::parser::{LabelSpan, MetricType, Span};

/// One sample line. Names and values are unescaped (and `le`/`quantile`
/// normalised) only when asked for.
pub struct Series<'p> {
    pub(crate) body: &'p [u8],
    pub(crate) text: &'p str,
    pub(crate) series: &'p [u8],
    pub(crate) name: Span,
    pub(crate) labels: &'p [LabelSpan],
    /// Names strictly ascending as written (so sorting can be skipped).
    pub(crate) sorted: bool,
    pub(crate) kind: MetricType,
    pub value: f64,
    /// Milliseconds: the text format's integer as is, OpenMetrics' seconds
    /// times 1000 truncated as Prometheus does.
    pub timestamp_ms: Option<i64>,
}

/// The text of a span known to be valid UTF-8 (checked while parsing).
pub(crate) fn str_at<'a>(body: &'a [u8], text: &'a str, a: usize, b: usize) -> &'a str {
    if let Some(s) = text.get(a..b) {
        return s;
    }
    std::str::from_utf8(body.get(a..b).unwrap_or_default()).unwrap_or_default()
}

/// Prometheus' replacers: `\\` → `\`, `\n` → newline, and with `quote`
/// also `\"` → `"`; any other backslash stays as written.
pub(crate) fn unescape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('\\') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        match after.as_bytes().first() {
            Some(b'\\') => {
                out.push('\\');
                rest = &after[1..];
            }
            Some(b'n') => {
                out.push('\n');
                rest = &after[1..];
            }
            Some(b'"') if quote => {
                out.push('"');
                rest = &after[1..];
            }
            _ => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl<'p> Series<'p> {
    /// The raw bytes that identify the series within a scrape (metric name
    /// and label block, as written): Prometheus' scrape cache key.
    pub fn series_bytes(&self) -> &'p [u8] {
        self.series
    }

    /// A stable 64-bit hash of [`Series::series_bytes`] (xxh3, through
    /// `strata_model::hash_pairs` of the single pair (bytes, "")).
    pub fn series_hash(&self) -> u64 {
        hash_pairs(std::iter::once((self.series, &b""[..])))
    }

    /// The metric type in effect (the last `# TYPE` line, whatever its name).
    pub fn metric_type(&self) -> MetricType {
        self.kind
    }

    fn cow(&self, s: Span) -> Cow<'p, str> {
        let raw = str_at(self.body, self.text, s.start, s.end);
        if s.escaped {
            Cow::Owned(unescape(raw, true))
        } else {
            Cow::Borrowed(raw)
        }
    }

    pub fn name(&self) -> Cow<'p, str> {
        self.cow(self.name)
    }

    /// The number of [`Series::labels`].
    pub fn label_count(&self) -> usize {
        self.labels.len()
    }

    /// `(name, value)` pairs in exposition order, without `__name__` and
    /// without labels Prometheus deletes (those with an empty value, and
    /// any other of the same name). With a histogram's `le` or a summary's `quantile`
    /// the value is normalised as Prometheus 3 does (`1` → `1.0`).
    pub fn labels(&self) -> impl Iterator<Item = (Cow<'p, str>, Cow<'p, str>)> + '_ {
        self.labels.iter().map(move |l| {
            let name = self.cow(l.name);
            let value = self.normalised(&name, self.cow(l.value));
            (name, value)
        })
    }

    #[inline]
    fn normalised(&self, name: &str, value: Cow<'p, str>) -> Cow<'p, str> {
        if !matches!(self.kind, MetricType::Histogram | MetricType::Summary) {
            return value;
        }
        self.normalised_slow(name, value)
    }

    fn normalised_slow(&self, name: &str, value: Cow<'p, str>) -> Cow<'p, str> {
        let float_label = match self.kind {
            MetricType::Histogram => name == "le",
            MetricType::Summary => name == "quantile",
            _ => false,
        };
        if !float_label || value == "+Inf" {
            return value;
        }
        match parse_go_float(value.as_bytes()) {
            Ok(f) => {
                let s = format_openmetrics_float(f);
                if s == value { value } else { Cow::Owned(s) }
            }
            Err(_) => value,
        }
    }

    /// The label set Prometheus would store for this sample before target
    /// labels and relabelling: `__name__` included, sorted, empty values
    /// dropped.
    pub fn to_labels(&self) -> Labels {
        let mut v = Vec::with_capacity(self.labels.len() + 1);
        for (n, val) in self.labels() {
            if !val.is_empty() {
                v.push(Label {
                    name: n.into(),
                    value: val.into(),
                });
            }
        }
        let name = Label {
            name: METRIC_NAME.into(),
            value: self.name().into(),
        };
        if self.sorted {
            let at = v.partition_point(|l| l.name.as_str() < METRIC_NAME);
            v.insert(at, name);
        } else {
            v.push(name);
            // Names were proven unique while parsing.
            v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        }
        Labels::from_sorted(v)
    }

    /// The allocation-light path: writes the same sorted pairs as
    /// [`Series::to_labels`] into `out`, reusing its buffers.
    pub fn write_pairs(&self, out: &mut LabelPairs) {
        out.clear();
        let mut name_pushed = false;
        for l in self.labels {
            let name = self.cow(l.name);
            if self.sorted && !name_pushed && *name > *METRIC_NAME {
                out.push(METRIC_NAME, &self.name());
                name_pushed = true;
            }
            let value = self.normalised(&name, self.cow(l.value));
            if !value.is_empty() {
                out.push(&name, &value);
            }
        }
        if !name_pushed {
            out.push(METRIC_NAME, &self.name());
        }
        if !self.sorted {
            out.sort();
        }
    }
}

impl fmt::Debug for Series<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Series")
            .field("series", &String::from_utf8_lossy(self.series))
            .field("value", &self.value)
            .field("timestamp_ms", &self.timestamp_ms)
            .finish()
    }
}

/// A label set in one reusable buffer: all strings in one `String`, pairs
/// as byte ranges into it. Sorted by name once filled by
/// [`Series::write_pairs`].
#[derive(Debug, Default, Clone)]
pub struct LabelPairs {
    buf: String,
    pairs: Vec<(usize, usize, usize)>,
    /// The bytes `hash_pairs` would stream, for one call instead of four
    /// per label.
    hash_buf: Vec<u8>,
}

impl LabelPairs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.pairs.clear();
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    fn push(&mut self, name: &str, value: &str) {
        let a = self.buf.len();
        self.buf.push_str(name);
        let b = self.buf.len();
        self.buf.push_str(value);
        self.pairs.push((a, b, self.buf.len()));
    }

    fn sort(&mut self) {
        let buf = self.buf.as_bytes();
        self.pairs
            .sort_unstable_by(|x, y| buf[x.0..x.1].cmp(&buf[y.0..y.1]));
    }

    fn pair(&self, p: &(usize, usize, usize)) -> (&str, &str) {
        (
            self.buf.get(p.0..p.1).unwrap_or_default(),
            self.buf.get(p.1..p.2).unwrap_or_default(),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.pairs.iter().map(|p| self.pair(p))
    }

    /// Equal to `Labels::hash64` of the same set. (`&mut` for a reused
    /// scratch buffer.)
    pub fn hash64(&mut self) -> u64 {
        // `hash_pairs` streams name, 0xff, value, 0xff per pair; one pair
        // (everything up to the last name, the last value) streams the same
        // bytes.
        let Some(last) = self.pairs.last().copied() else {
            return hash_pairs(std::iter::empty());
        };
        let buf = self.buf.as_bytes();
        self.hash_buf.clear();
        for &(a, b, c) in &self.pairs[..self.pairs.len() - 1] {
            self.hash_buf.extend_from_slice(&buf[a..b]);
            self.hash_buf.push(0xff);
            self.hash_buf.extend_from_slice(&buf[b..c]);
            self.hash_buf.push(0xff);
        }
        self.hash_buf.extend_from_slice(&buf[last.0..last.1]);
        hash_pairs(std::iter::once((&self.hash_buf[..], &buf[last.1..last.2])))
    }

    /// Appends the pairs as borrowed `LabelRef`s (for a `WriteBatch`).
    pub fn label_refs<'a>(&'a self, out: &mut Vec<LabelRef<'a>>) {
        out.extend(self.iter().map(|(name, value)| LabelRef { name, value }));
    }

    pub fn to_labels(&self) -> Labels {
        Labels::from_sorted(self.iter().map(|(n, v)| Label::new(n, v)).collect())
    }
}
