//! The pull parser for the Prometheus text format and OpenMetrics 1.0.
//!
//! Hand-written byte scanners that accept exactly the documents Prometheus
//! 3's golex lexers (`promlex.l`, `openmetricslex.l`) and parsers accept,
//! without their token stream: a series line is scanned once, its label
//! names and values kept as spans of the body, and unescaping or building
//! label sets is left to whoever asks (`Series`).

use std::borrow::Cow;
use std::fmt;

use super::float::{GoQuoted, NumberError, go_f64_to_i64, parse_digits_i64, parse_value};
use super::negotiate::Format;
use super::series::{Series, unescape};

/// A metric family's type as `# TYPE` declares it. The text format's
/// `untyped` is `Unknown`, as in Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Unknown,
}

impl MetricType {
    /// Prometheus' `model.MetricType` spelling (as in the metadata API).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    fn from_text_format(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" => MetricType::Unknown,
            _ => return None,
        })
    }

    fn from_openmetrics(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"gaugehistogram" => MetricType::GaugeHistogram,
            b"summary" => MetricType::Summary,
            b"info" => MetricType::Info,
            b"stateset" => MetricType::StateSet,
            b"unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// Types whose OpenMetrics families may carry `_created` series.
    fn has_created(self) -> bool {
        matches!(
            self,
            MetricType::Counter | MetricType::Summary | MetricType::Histogram
        )
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of an exposition. Borrowed from the body where nothing had to
/// be unescaped.
#[derive(Debug)]
pub enum Entry<'p> {
    Series(Series<'p>),
    Type {
        metric: Cow<'p, str>,
        kind: MetricType,
    },
    Help {
        metric: Cow<'p, str>,
        text: Cow<'p, str>,
    },
    /// OpenMetrics only; `unit` may be empty.
    Unit {
        metric: Cow<'p, str>,
        unit: Cow<'p, str>,
    },
    /// A text-format comment line, `#` included, newline excluded.
    Comment(&'p [u8]),
}

/// A document Prometheus would refuse. `line` is 1-based, the line where
/// the offending entry starts; `message` follows Prometheus' wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A half-open byte range of the body; `escaped` when it holds a backslash
/// (the text must be unescaped before use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelSpan {
    pub name: Span,
    pub value: Span,
}

/// A failure before it has a line number.
struct Fail {
    at: usize,
    message: String,
}

type Res<T> = Result<T, Fail>;

enum Parsed {
    Series,
    Type(Span, MetricType),
    Help(Span, Span),
    Unit(Span, Span),
    Comment(usize, usize),
    Eof,
}

/// A pull parser over one scrape body. `next` returns entries until
/// `Ok(None)`; after an error it returns `Ok(None)`.
pub struct Parser<'b> {
    body: &'b [u8],
    /// The longest valid UTF-8 prefix of the body (usually all of it): one
    /// validation up front instead of one per label value; only spans past
    /// it are checked on their own.
    text: &'b str,
    pos: usize,
    openmetrics: bool,
    format: Format,
    done: bool,
    skip_created: bool,
    mtype: MetricType,
    // The current series.
    start: usize,
    series_end: usize,
    name: Span,
    labels: Vec<LabelSpan>,
    /// The labels' names are strictly ascending as written.
    sorted: bool,
    value: f64,
    timestamp_ms: Option<i64>,
}

/// A 256-entry membership table of the bytes for which `$pred` holds.
macro_rules! byte_table {
    (|$c:ident| $pred:expr) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $c = i as u8;
            t[i] = $pred;
            i += 1;
        }
        t
    }};
}

static METRIC_START: [bool; 256] =
    byte_table!(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':');
static METRIC_CONT: [bool; 256] =
    byte_table!(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
static LABEL_START: [bool; 256] = byte_table!(|c| c.is_ascii_alphabetic() || c == b'_');
static LABEL_CONT: [bool; 256] = byte_table!(|c| c.is_ascii_alphanumeric() || c == b'_');
static DIGITS: [bool; 256] = byte_table!(|c| c.is_ascii_digit());
/// Bytes that end a text-format value token (`[^{ \t\n]`, and NUL, which
/// the generated lexer never matches).
static TEXT_VALUE_END: [bool; 256] = byte_table!(|c| matches!(c, b'{' | b' ' | b'\t' | b'\n' | 0));
/// Bytes a quoted-string scan must look at.
static QUOTED_STOP: [bool; 256] = byte_table!(|c| matches!(c, b'"' | b'\\' | b'\n' | 0));

#[inline]
fn scan(b: &[u8], mut i: usize, t: &[bool; 256]) -> usize {
    while let Some(&c) = b.get(i) {
        if !t[c as usize] {
            break;
        }
        i += 1;
    }
    i
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if c != b' ' && c != b'\t' {
            break;
        }
        i += 1;
    }
    i
}

/// Where a quoted string may contain what.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoted {
    /// Names (metric or label, in braces or in `# HELP`): raw newlines
    /// allowed (`[^\\"]`), NUL not.
    Name,
    /// Text-format label values: raw newlines and NUL allowed.
    TextValue,
    /// OpenMetrics label values: no raw newline (NUL allowed, as the
    /// lexer skips it there).
    OpenMetricsValue,
    /// Exemplar names and values: neither raw newline nor NUL.
    Exemplar,
}

/// The first position from `j` holding `"`, `\\`, a newline or NUL (or
/// `b.len()`), eight bytes at a time.
#[inline]
fn find_quoted_stop(b: &[u8], mut j: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    #[inline]
    fn has_zero(x: u64) -> u64 {
        x.wrapping_sub(LO) & !x & HI
    }
    while let Some(chunk) = b.get(j..j + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        let m = has_zero(x ^ (LO * u64::from(b'"')))
            | has_zero(x ^ (LO * u64::from(b'\\')))
            | has_zero(x ^ (LO * u64::from(b'\n')))
            | has_zero(x);
        if m != 0 {
            // The lowest flagged byte is a real match (borrows only run
            // upward from a true zero byte).
            return j + (m.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    while let Some(&c) = b.get(j) {
        if QUOTED_STOP[c as usize] {
            break;
        }
        j += 1;
    }
    j
}

/// Scans the quoted string whose opening quote is at `i`. Returns the span
/// inside the quotes and the position after the closing quote, or `None`
/// when it is not a valid quoted string (unterminated, a backslash before a
/// newline, a forbidden byte).
#[inline]
fn scan_quoted(b: &[u8], i: usize, kind: Quoted) -> Option<(Span, usize)> {
    let start = i + 1;
    let mut j = start;
    let mut escaped = false;
    // Where Prometheus' lexer skips NUL bytes (inside label values, where
    // it reads through `next()` in the label-value state).
    let skips_nul = matches!(kind, Quoted::TextValue | Quoted::OpenMetricsValue);
    loop {
        j = find_quoted_stop(b, j);
        match *b.get(j)? {
            b'"' => {
                let mut after = j + 1;
                if skips_nul && b.get(after) == Some(&0) {
                    // The lexer's look-ahead past the closing quote skips
                    // NULs too, so the token ends after them and Prometheus,
                    // which strips the token's last byte as the quote,
                    // keeps the quote and all but one NUL in the value.
                    while b.get(after) == Some(&0) {
                        after += 1;
                    }
                    return Some((
                        Span {
                            start,
                            end: after - 1,
                            escaped,
                        },
                        after,
                    ));
                }
                return Some((
                    Span {
                        start,
                        end: j,
                        escaped,
                    },
                    after,
                ));
            }
            b'\\' => {
                // `\\.`: any byte but a newline may follow; NUL never
                // matches, unless the lexer skips it here.
                let mut k = j + 1;
                if skips_nul {
                    while b.get(k) == Some(&0) {
                        k += 1;
                    }
                }
                match *b.get(k)? {
                    b'\n' | 0 => return None,
                    _ => {}
                }
                escaped = true;
                j = k + 1;
            }
            b'\n' => {
                if matches!(kind, Quoted::OpenMetricsValue | Quoted::Exemplar) {
                    return None;
                }
                j += 1;
            }
            _ => {
                // NUL.
                if !skips_nul {
                    return None;
                }
                j += 1;
            }
        }
    }
}

fn is_ascii_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

impl<'b> Parser<'b> {
    pub fn new(format: Format, body: &'b [u8]) -> Self {
        Parser {
            body,
            text: utf8_prefix(body),
            pos: 0,
            openmetrics: format.is_openmetrics(),
            format,
            done: false,
            skip_created: false,
            mtype: MetricType::Unknown,
            start: 0,
            series_end: 0,
            name: Span::default(),
            labels: Vec::with_capacity(16),
            sorted: false,
            value: 0.0,
            timestamp_ms: None,
        }
    }

    /// Skip OpenMetrics `_created` series of counters, summaries and
    /// histograms, as Prometheus does when created-timestamp ingestion is on
    /// (`created-timestamp-zero-ingestion`). Off by default: Prometheus 3
    /// ingests them as ordinary series unless that feature is enabled.
    pub fn skip_created_series(mut self, skip: bool) -> Self {
        self.skip_created = skip;
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The type of the last `# TYPE` line seen (Prometheus applies it to
    /// every following series, whatever their name).
    pub fn current_type(&self) -> MetricType {
        self.mtype
    }

    /// The next entry, `Ok(None)` at the end of the document.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let parsed = if self.openmetrics {
            self.next_openmetrics()
        } else {
            self.next_text()
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(f) => {
                self.done = true;
                let end = f.at.min(self.body.len());
                let line = 1 + self.body[..end].iter().filter(|&&c| c == b'\n').count();
                return Err(ParseError {
                    line,
                    message: f.message,
                });
            }
        };
        Ok(Some(match parsed {
            Parsed::Eof => {
                self.done = true;
                return Ok(None);
            }
            Parsed::Series => Entry::Series(Series {
                body: self.body,
                text: self.text,
                series: &self.body[self.start..self.series_end],
                name: self.name,
                labels: &self.labels,
                sorted: self.sorted,
                kind: self.mtype,
                value: self.value,
                timestamp_ms: self.timestamp_ms,
            }),
            Parsed::Type(name, kind) => Entry::Type {
                metric: self.meta_name(name),
                kind,
            },
            Parsed::Help(name, text) => {
                let raw = self.str_of(text);
                let text = if text.escaped {
                    // OpenMetrics unescapes HELP like label values; the
                    // text format knows only `\\` and `\n` there.
                    Cow::Owned(unescape(raw, self.openmetrics))
                } else {
                    Cow::Borrowed(raw)
                };
                Entry::Help {
                    metric: self.meta_name(name),
                    text,
                }
            }
            Parsed::Unit(name, unit) => Entry::Unit {
                metric: self.meta_name(name),
                unit: String::from_utf8_lossy(&self.body[unit.start..unit.end]),
            },
            Parsed::Comment(a, b) => Entry::Comment(&self.body[a..b]),
        }))
    }

    fn str_of(&self, s: Span) -> &'b str {
        super::series::str_at(self.body, self.text, s.start, s.end)
    }

    /// Metric names of metadata lines are not checked by Prometheus (only
    /// series names are); invalid UTF-8 is replaced rather than refused.
    fn meta_name(&self, s: Span) -> Cow<'b, str> {
        let raw = String::from_utf8_lossy(&self.body[s.start..s.end]);
        if s.escaped {
            Cow::Owned(unescape(&raw, true))
        } else {
            raw
        }
    }

    fn fail(&self, at: usize, message: String) -> Fail {
        Fail { at, message }
    }

    /// Prometheus' `parseError`: `<exp>, got "<token>" ("<KIND>") while parsing: "<line so far>"`.
    fn expected(&self, exp: &str, pos: usize) -> Fail {
        let (kind, end) = self.token_at(pos);
        let b = self.body;
        let tok_end = end.min(b.len());
        let tok = if pos < b.len() {
            &b[pos..tok_end]
        } else if !self.openmetrics && pos == b.len() {
            // The text parser sees the newline Prometheus appends.
            &b"\n"[..]
        } else {
            &b""[..]
        };
        let line = &b[self.start.min(b.len())..tok_end.max(self.start).min(b.len())];
        self.fail(
            self.start,
            format!(
                "{exp}, got {} ({}) while parsing: {}",
                GoQuoted(tok),
                GoQuoted(kind.as_bytes()),
                GoQuoted(line)
            ),
        )
    }

    /// A rough classification of the token at `pos`, for error messages.
    fn token_at(&self, pos: usize) -> (&'static str, usize) {
        let b = self.body;
        let Some(&c) = b.get(pos) else {
            return if !self.openmetrics && pos == b.len() {
                ("LINEBREAK", pos)
            } else {
                ("EOF", pos)
            };
        };
        match c {
            // Only where a line may end is a newline a token of its own.
            b'\n' => ("INVALID", pos + 1),
            b'{' => ("BOPEN", pos + 1),
            b'}' => ("BCLOSE", pos + 1),
            b'=' => ("EQUAL", pos + 1),
            b',' => ("COMMA", pos + 1),
            b' ' | b'\t' if !self.openmetrics => ("WHITESPACE", skip_ws(b, pos)),
            b'"' => match scan_quoted(b, pos, Quoted::Name) {
                Some((_, end)) => ("QSTRING", end),
                None => ("INVALID", pos + 1),
            },
            c if LABEL_START[c as usize] => ("LNAME", scan(b, pos, &LABEL_CONT)),
            c if c.is_ascii_digit() && !self.openmetrics => ("TIMESTAMP", scan(b, pos, &DIGITS)),
            _ => ("INVALID", pos + 1),
        }
    }

    fn number_error(&self, e: NumberError, func: &str, text: &[u8], upto: usize) -> Fail {
        self.fail(
            self.start,
            format!(
                "{} while parsing: {}",
                e.describe(func, text),
                GoQuoted(&self.body[self.start..upto])
            ),
        )
    }

    #[inline]
    fn is_utf8(&self, a: usize, b: usize) -> bool {
        b <= self.text.len() || std::str::from_utf8(&self.body[a..b]).is_ok()
    }

    fn check_value_utf8(&self, v: Span) -> Res<()> {
        if !self.is_utf8(v.start, v.end) {
            return Err(self.fail(
                self.start,
                format!(
                    "invalid UTF-8 label value: {}",
                    GoQuoted(
                        &self.body[v.start.saturating_sub(1)..(v.end + 1).min(self.body.len())]
                    )
                ),
            ));
        }
        Ok(())
    }

    /// A quoted metric or label name must be non-empty UTF-8 (Prometheus'
    /// scrape loop refuses the sample otherwise, failing the scrape).
    fn check_quoted_name(&self, n: Span, what: &str) -> Res<()> {
        let raw = &self.body[n.start..n.end];
        if raw.is_empty() || !self.is_utf8(n.start, n.end) {
            return Err(self.fail(
                self.start,
                format!(
                    "invalid {what} {} while parsing: {}",
                    GoQuoted(raw),
                    GoQuoted(&self.body[self.start..(n.end + 1).min(self.body.len())])
                ),
            ));
        }
        Ok(())
    }

    /// An empty value means "no such label": Prometheus' label builder
    /// deletes, by name, every label that had one, so `a="",a="x"` leaves
    /// no `a` at all (and no duplicate). An emptied `__name__` loses the
    /// metric name, which fails the scrape.
    fn drop_empty_labels(&mut self) -> Res<()> {
        if !self.labels.iter().any(|l| l.value.start == l.value.end) {
            return Ok(());
        }
        let name_of = |l: &LabelSpan| -> String {
            let s = self.str_of(l.name);
            if l.name.escaped {
                unescape(s, true)
            } else {
                s.to_string()
            }
        };
        let deleted: Vec<String> = self
            .labels
            .iter()
            .filter(|l| l.value.start == l.value.end)
            .map(name_of)
            .collect();
        if deleted.iter().any(|n| n == "__name__") {
            return Err(self.fail(
                self.start,
                format!(
                    "missing metric name (__name__ label) while parsing: {}",
                    GoQuoted(&self.body[self.start..self.series_end])
                ),
            ));
        }
        let keep: Vec<bool> = self
            .labels
            .iter()
            .map(|l| !deleted.contains(&name_of(l)))
            .collect();
        let mut k = keep.iter();
        self.labels.retain(|_| k.next().copied().unwrap_or(false));
        Ok(())
    }

    /// Names must be unique (Prometheus' head refuses the sample, failing
    /// the scrape), and `__name__` is taken by the metric name.
    fn check_duplicates(&self) -> Res<bool> {
        let labels = &self.labels;
        let b = self.body;
        let raw = |l: &LabelSpan| &b[l.name.start..l.name.end];
        if labels.iter().any(|l| l.name.escaped) {
            return self.check_duplicates_slow().map(|()| false);
        }
        for l in labels {
            if raw(l) == b"__name__" {
                return Err(self.duplicate("__name__"));
            }
        }
        // Client libraries write labels sorted: one pass proves uniqueness.
        if labels.windows(2).all(|w| bytes_lt(raw(&w[0]), raw(&w[1]))) {
            return Ok(true);
        }
        if labels.len() <= 32 {
            // Pairwise: names mostly differ in length or first byte, and
            // this needs no allocation.
            for (i, a) in labels.iter().enumerate() {
                let a = raw(a);
                if labels[..i].iter().any(|b| raw(b) == a) {
                    return Err(self.duplicate(&String::from_utf8_lossy(a)));
                }
            }
            return Ok(false);
        }
        let mut names: Vec<&[u8]> = labels.iter().map(raw).collect();
        names.sort_unstable();
        for w in names.windows(2) {
            if w[0] == w[1] {
                return Err(self.duplicate(&String::from_utf8_lossy(w[0])));
            }
        }
        Ok(false)
    }

    fn check_duplicates_slow(&self) -> Res<()> {
        let mut names: Vec<Cow<'_, str>> = self
            .labels
            .iter()
            .map(|l| {
                let s = self.str_of(l.name);
                if l.name.escaped {
                    Cow::Owned(unescape(s, true))
                } else {
                    Cow::Borrowed(s)
                }
            })
            .collect();
        names.push(Cow::Borrowed("__name__"));
        names.sort_unstable();
        for w in names.windows(2) {
            if w[0] == w[1] {
                return Err(self.duplicate(&w[0]));
            }
        }
        Ok(())
    }

    fn duplicate(&self, name: &str) -> Fail {
        self.fail(
            self.start,
            format!(
                "label name {} is not unique while parsing: {}",
                GoQuoted(name.as_bytes()),
                GoQuoted(&self.body[self.start..self.series_end.max(self.start)])
            ),
        )
    }

    // ---- Prometheus text format (0.0.4 and 1.0.0) ----

    fn next_text(&mut self) -> Res<Parsed> {
        loop {
            let b = self.body;
            let line_start = self.pos;
            let i = skip_ws(b, line_start);
            self.start = i;
            let Some(&c) = b.get(i) else {
                return Ok(Parsed::Eof);
            };
            match c {
                b'\n' => {
                    self.pos = i + 1;
                }
                // The lexer's `\0` rule: a NUL where a line may start ends
                // the document.
                0 => return Ok(Parsed::Eof),
                b'#' => return self.text_hash(i),
                b'{' => {
                    self.text_series(i, None)?;
                    return Ok(Parsed::Series);
                }
                c if METRIC_START[c as usize] => {
                    let end = scan(b, i + 1, &METRIC_CONT);
                    // Prometheus 3 takes the metric name from the start of
                    // the line, blanks before it included (promparse.go:
                    // `p.offsets = append(p.offsets, p.start, p.l.i)` with
                    // `p.start` set before blanks are skipped), and its
                    // UTF-8 name validation lets them through. Kept for
                    // identical series; 2.x failed such scrapes instead.
                    self.start = line_start;
                    self.text_series(line_start, Some(end))?;
                    return Ok(Parsed::Series);
                }
                _ => return Err(self.expected("expected a valid start token", i)),
            }
        }
    }

    fn text_hash(&mut self, i: usize) -> Res<Parsed> {
        let b = self.body;
        let j = skip_ws(b, i + 1);
        let line_end = |from: usize| {
            b[from..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| from + p)
        };
        if j == i + 1 {
            // `#` not followed by blanks: the lexer consumes the comment
            // byte by byte and a NUL there ends the document.
            let end = b[j..]
                .iter()
                .position(|&c| c == b'\n' || c == 0)
                .map_or(b.len(), |p| j + p);
            if b.get(end) == Some(&0) {
                return Ok(Parsed::Eof);
            }
            self.pos = end + 1;
            return Ok(Parsed::Comment(i, end));
        }
        if b.get(j) == Some(&0) {
            // The lexer meets this NUL outside the comment state (which
            // would skip it) and ends the document, as for `#` without blanks.
            return Ok(Parsed::Eof);
        }
        let keyword = |kw: &[u8]| text_keyword(b, j, kw);
        let (what, k) = match (keyword(b"HELP"), keyword(b"TYPE")) {
            (Some(k), _) => ("HELP", k),
            (_, Some(k)) => ("TYPE", k),
            _ => {
                let end = line_end(j);
                self.pos = end + 1;
                return Ok(Parsed::Comment(i, end));
            }
        };
        let is_help = what == "HELP";
        let is_type = !is_help;
        let (name, after) = match b.get(k) {
            Some(b'"') => match scan_quoted(b, k, Quoted::Name) {
                Some(q) => q,
                None => return Err(self.expected(&format!("expected metric name after {what}"), k)),
            },
            Some(&c) if METRIC_START[c as usize] => {
                let e = scan(b, k + 1, &METRIC_CONT);
                (
                    Span {
                        start: k,
                        end: e,
                        escaped: false,
                    },
                    e,
                )
            }
            _ => return Err(self.expected(&format!("expected metric name after {what}"), k)),
        };
        if b.get(after) == Some(&0) {
            // The lexer ends the text token at a NUL right after the name
            // and then finds no line break.
            return Err(self.expected("linebreak expected after metadata", after));
        }
        let end = line_end(after);
        let rest = &b[after..end];
        // The lexer's text token starts right after the name and loses its
        // first byte; a rest of only blanks is a whitespace token instead.
        let text = if rest.iter().all(|&c| is_ascii_ws(c)) {
            Span {
                start: end,
                end,
                escaped: false,
            }
        } else {
            Span {
                start: after + 1,
                end,
                escaped: rest[1..].contains(&b'\\'),
            }
        };
        self.pos = end + 1;
        let text_bytes = &b[text.start..text.end];
        if is_type {
            let Some(kind) = MetricType::from_text_format(text_bytes) else {
                return Err(self.fail(i, format!("invalid metric type {}", GoQuoted(text_bytes))));
            };
            self.mtype = kind;
            Ok(Parsed::Type(name, kind))
        } else {
            if !self.is_utf8(text.start, text.end) {
                return Err(self.fail(
                    i,
                    format!(
                        "help text {} is not a valid utf8 string",
                        GoQuoted(text_bytes)
                    ),
                ));
            }
            Ok(Parsed::Help(name, text))
        }
    }

    fn text_series(&mut self, start: usize, name_end: Option<usize>) -> Res<()> {
        let b = self.body;
        self.labels.clear();
        let mut name: Option<Span> = None;
        let mut i;
        match name_end {
            Some(end) => {
                name = Some(Span {
                    start,
                    end,
                    escaped: false,
                });
                self.series_end = end;
                i = skip_ws(b, end);
                if b.get(i) == Some(&b'{') {
                    i = self.text_labels(i + 1, &mut name)?;
                    self.series_end = i;
                    i = skip_ws(b, i);
                }
            }
            None => {
                i = self.text_labels(start + 1, &mut name)?;
                self.series_end = i;
                i = skip_ws(b, i);
            }
        }
        let Some(name) = name else {
            return Err(self.fail(
                start,
                format!(
                    "metric name not set while parsing: {}",
                    GoQuoted(&b[start..self.series_end])
                ),
            ));
        };
        self.name = name;
        self.drop_empty_labels()?;
        self.sorted = self.check_duplicates()?;
        let vstart = i;
        let vend = scan_not(b, i, &TEXT_VALUE_END);
        if vend == vstart {
            return Err(self.expected("expected value after metric", i));
        }
        self.value = parse_value(&b[vstart..vend])
            .map_err(|e| self.number_error(e, "ParseFloat", &b[vstart..vend], vend))?;
        i = skip_ws(b, vend);
        match b.get(i) {
            None | Some(b'\n') => {
                self.timestamp_ms = None;
            }
            Some(c) if c.is_ascii_digit() => {
                let tend = scan(b, i, &DIGITS);
                let ts = parse_digits_i64(&b[i..tend])
                    .map_err(|e| self.number_error(e, "ParseInt", &b[i..tend], tend))?;
                self.timestamp_ms = Some(ts);
                let j = skip_ws(b, tend);
                if !matches!(b.get(j), None | Some(b'\n')) {
                    return Err(self.expected("expected next entry after timestamp", j));
                }
                i = j;
            }
            Some(_) => return Err(self.expected("expected timestamp or new record", i)),
        }
        self.pos = i + 1;
        Ok(())
    }

    /// The inside of `{...}` from `i` (after the brace); returns the position
    /// after the closing brace. Blanks may surround every token, commas are
    /// optional between pairs and allowed after the last, as in Prometheus.
    fn text_labels(&mut self, mut i: usize, name: &mut Option<Span>) -> Res<usize> {
        let b = self.body;
        loop {
            i = skip_ws(b, i);
            let (tok, quoted, after) = match b.get(i) {
                Some(b'}') => return Ok(i + 1),
                Some(b'"') => match scan_quoted(b, i, Quoted::Name) {
                    Some((s, after)) => (s, true, after),
                    None => return Err(self.expected("expected label name", i)),
                },
                Some(&c) if LABEL_START[c as usize] => {
                    let e = scan(b, i + 1, &LABEL_CONT);
                    (
                        Span {
                            start: i,
                            end: e,
                            escaped: false,
                        },
                        false,
                        e,
                    )
                }
                _ => return Err(self.expected("expected label name", i)),
            };
            i = skip_ws(b, after);
            let next = b.get(i).copied();
            if quoted && matches!(next, Some(b',') | Some(b'}')) {
                if name.is_some() {
                    return Err(self.fail(
                        self.start,
                        format!(
                            "metric name already set while parsing: {}",
                            GoQuoted(&b[self.start..(i + 1).min(b.len())])
                        ),
                    ));
                }
                self.check_quoted_name(tok, "metric name")?;
                *name = Some(tok);
                i += 1;
                if next == Some(b'}') {
                    return Ok(i);
                }
                continue;
            }
            if quoted {
                self.check_quoted_name(tok, "label name")?;
            }
            if next != Some(b'=') {
                return Err(self.expected("expected equal", i));
            }
            i = skip_ws(b, i + 1);
            let value = match b.get(i) {
                Some(b'"') => match scan_quoted(b, i, Quoted::TextValue) {
                    Some((v, after)) => {
                        i = after;
                        v
                    }
                    None => return Err(self.expected("expected label value", i)),
                },
                _ => return Err(self.expected("expected label value", i)),
            };
            self.check_value_utf8(value)?;
            self.labels.push(LabelSpan { name: tok, value });
            i = skip_ws(b, i);
            if b.get(i) == Some(&b',') {
                i += 1;
            }
        }
    }

    // ---- OpenMetrics 1.0 ----

    fn next_openmetrics(&mut self) -> Res<Parsed> {
        loop {
            let b = self.body;
            let i = self.pos;
            self.start = i;
            let Some(&c) = b.get(i) else {
                return Err(self.fail(i, "data does not end with # EOF".into()));
            };
            match c {
                b'#' => return self.openmetrics_hash(i),
                b'{' => self.openmetrics_series(i, None)?,
                c if METRIC_START[c as usize] => {
                    let end = scan(b, i + 1, &METRIC_CONT);
                    self.openmetrics_series(i, Some(end))?;
                }
                _ => return Err(self.expected("expected a valid start token", i)),
            }
            if self.skip_created
                && self.mtype.has_created()
                && self.body[self.name.start..self.name.end].ends_with(b"_created")
            {
                continue;
            }
            return Ok(Parsed::Series);
        }
    }

    fn openmetrics_hash(&mut self, i: usize) -> Res<Parsed> {
        let b = self.body;
        if b.get(i + 1) != Some(&b' ') {
            return Err(self.expected("expected a valid start token", i));
        }
        // After `# ` the lexer is in its comment state, whose reads skip
        // NULs — all but the keyword's first byte, read before the switch.
        let skip_nul = |mut k: usize| {
            while b.get(k) == Some(&0) {
                k += 1;
            }
            k
        };
        let keyword = |kw: &[u8]| {
            let mut k = i + 2;
            for (n, &c) in kw.iter().enumerate() {
                if n > 0 {
                    k = skip_nul(k);
                }
                if b.get(k) != Some(&c) {
                    return None;
                }
                k += 1;
            }
            Some(k)
        };
        if let Some(k) = keyword(b"EOF") {
            // The optional newline and what follows are read that way too.
            let mut k = skip_nul(k);
            if b.get(k) == Some(&b'\n') {
                k = skip_nul(k + 1);
            }
            if k != b.len() {
                return Err(self.fail(i, "unexpected data after # EOF".into()));
            }
            return Ok(Parsed::Eof);
        }
        let found = [("HELP", b"HELP"), ("TYPE", b"TYPE"), ("UNIT", b"UNIT")]
            .into_iter()
            .find_map(|(what, kw)| {
                let k = skip_nul(keyword(kw)?);
                (b.get(k) == Some(&b' ')).then(|| (what, skip_nul(k + 1)))
            });
        let Some((what, k)) = found else {
            return Err(self.expected("expected a valid start token", i));
        };
        let (name, after) = match b.get(k) {
            Some(b'"') => match scan_quoted(b, k, Quoted::Name) {
                Some(q) => q,
                None => return Err(self.expected(&format!("expected metric name after {what}"), k)),
            },
            Some(&c) if METRIC_START[c as usize] => {
                let e = scan(b, k + 1, &METRIC_CONT);
                (
                    Span {
                        start: k,
                        end: e,
                        escaped: false,
                    },
                    e,
                )
            }
            _ => return Err(self.expected(&format!("expected metric name after {what}"), k)),
        };
        // `{S}{C}*\n`: exactly one space, then the text up to a newline
        // that must be there.
        let nl = if b.get(after) == Some(&b' ') {
            b[after..]
                .iter()
                .position(|&c| c == b'\n')
                .map(|p| after + p)
        } else {
            None
        };
        let Some(nl) = nl else {
            return Err(self.fail(i, format!("expected text in {what}")));
        };
        // The look-ahead past the newline is read in the text state, which
        // skips NULs: they end the token, whose last byte Prometheus strips
        // as the newline, so the newline and all but one NUL stay in the text.
        let mut token_end = nl + 1;
        while b.get(token_end) == Some(&0) {
            token_end += 1;
        }
        let text_end = if token_end > nl + 1 {
            token_end - 1
        } else {
            nl
        };
        let text = Span {
            start: after + 1,
            end: text_end,
            escaped: b[after + 1..text_end].contains(&b'\\'),
        };
        let text_bytes = &b[text.start..text.end];
        self.pos = token_end;
        match what {
            "TYPE" => {
                let Some(kind) = MetricType::from_openmetrics(text_bytes) else {
                    return Err(
                        self.fail(i, format!("invalid metric type {}", GoQuoted(text_bytes)))
                    );
                };
                self.mtype = kind;
                Ok(Parsed::Type(name, kind))
            }
            "HELP" => {
                if !self.is_utf8(text.start, text.end) {
                    return Err(self.fail(
                        i,
                        format!(
                            "help text {} is not a valid utf8 string",
                            GoQuoted(text_bytes)
                        ),
                    ));
                }
                Ok(Parsed::Help(name, text))
            }
            _ => {
                let metric = &b[name.start..name.end];
                let unit = text_bytes;
                let is_suffix = metric.len() > unit.len()
                    && metric.ends_with(unit)
                    && metric[metric.len() - unit.len() - 1] == b'_';
                if !(unit.is_empty() || is_suffix) {
                    return Err(self.fail(
                        i,
                        format!(
                            "unit {} not a suffix of metric {}",
                            GoQuoted(unit),
                            GoQuoted(metric)
                        ),
                    ));
                }
                Ok(Parsed::Unit(name, text))
            }
        }
    }

    fn openmetrics_series(&mut self, start: usize, name_end: Option<usize>) -> Res<()> {
        let b = self.body;
        self.labels.clear();
        let mut name: Option<Span> = None;
        let mut i = match name_end {
            Some(end) => {
                name = Some(Span {
                    start,
                    end,
                    escaped: false,
                });
                self.series_end = end;
                if b.get(end) == Some(&b'{') {
                    let i = self.openmetrics_labels(end + 1, &mut name, false)?;
                    self.series_end = i;
                    i
                } else {
                    end
                }
            }
            None => {
                let i = self.openmetrics_labels(start + 1, &mut name, false)?;
                self.series_end = i;
                i
            }
        };
        let Some(name) = name else {
            return Err(self.fail(
                start,
                format!(
                    "metric name not set while parsing: {}",
                    GoQuoted(&b[start..self.series_end])
                ),
            ));
        };
        self.name = name;
        self.drop_empty_labels()?;
        self.sorted = self.check_duplicates()?;
        let (value, vend) = self.openmetrics_number(i, "expected value after metric")?;
        self.value = value;
        self.timestamp_ms = None;
        i = vend;
        match b.get(i) {
            None => return Err(self.fail(start, "data does not end with # EOF".into())),
            Some(b'\n') => {}
            _ if b[i..].starts_with(b" # {") => {
                i = self.openmetrics_exemplar(i + 4)?;
            }
            _ => {
                let (ts, tend) = self.openmetrics_timestamp(i, "invalid timestamp")?;
                self.timestamp_ms = Some(ts);
                i = tend;
                match b.get(i) {
                    Some(b'\n') => {}
                    _ if b[i..].starts_with(b" # {") => {
                        i = self.openmetrics_exemplar(i + 4)?;
                    }
                    _ => return Err(self.expected("expected next entry after timestamp", i)),
                }
            }
        }
        self.pos = i + 1;
        Ok(())
    }

    /// ` <number>` at `i`: exactly one space, then bytes up to a space or a
    /// newline. Returns the value and the position after it.
    fn openmetrics_number(&self, i: usize, exp: &str) -> Res<(f64, usize)> {
        let b = self.body;
        let s = i + 1;
        let e = b
            .get(s..)
            .and_then(|r| r.iter().position(|&c| c == b' ' || c == b'\n'))
            .map_or(b.len(), |p| s + p);
        if b.get(i) != Some(&b' ') || e <= s {
            return Err(self.expected(exp, i));
        }
        let v = parse_value(&b[s..e])
            .map_err(|err| self.number_error(err, "ParseFloat", &b[s..e], e))?;
        Ok((v, e))
    }

    /// ` <seconds>` at `i`, converted to milliseconds as Prometheus does:
    /// `int64(ts * 1000)`.
    fn openmetrics_timestamp(&self, i: usize, what: &str) -> Res<(i64, usize)> {
        let (ts, e) = self.openmetrics_number(i, "expected timestamp or exemplar")?;
        if !ts.is_finite() {
            return Err(self.fail(self.start, format!("{what} {}", go_percent_f(ts))));
        }
        Ok((go_f64_to_i64(ts * 1000.0), e))
    }

    /// An exemplar after ` # {` (parsed and dropped). Returns the position of
    /// the line's newline.
    fn openmetrics_exemplar(&mut self, i: usize) -> Res<usize> {
        let b = self.body;
        let mut none = None;
        let i = self.openmetrics_labels(i, &mut none, true)?;
        let (_, mut i) = self.openmetrics_number(i, "expected value after exemplar labels")?;
        match b.get(i) {
            None => return Err(self.fail(self.start, "data does not end with # EOF".into())),
            Some(b'\n') => {}
            Some(_) => {
                if matches!(b.get(i + 1), None | Some(b' ') | Some(b'\n')) {
                    return Err(self.expected("expected timestamp or comment", i));
                }
                let (_, e) = self.openmetrics_timestamp(i, "invalid exemplar timestamp")?;
                i = e;
                if b.get(i) != Some(&b'\n') {
                    return Err(self.expected("expected next entry after exemplar timestamp", i));
                }
            }
        }
        Ok(i)
    }

    /// The inside of `{...}` in OpenMetrics: no blanks anywhere, a comma or
    /// the closing brace after each pair, a trailing comma allowed. In an
    /// exemplar the labels are checked but not kept, and a quoted metric
    /// name is not allowed.
    fn openmetrics_labels(
        &mut self,
        mut i: usize,
        name: &mut Option<Span>,
        exemplar: bool,
    ) -> Res<usize> {
        let b = self.body;
        let (name_quoting, value_quoting) = if exemplar {
            (Quoted::Exemplar, Quoted::Exemplar)
        } else {
            (Quoted::Name, Quoted::OpenMetricsValue)
        };
        loop {
            let (tok, quoted, after) = match b.get(i) {
                Some(b'}') => return Ok(i + 1),
                Some(b'"') => match scan_quoted(b, i, name_quoting) {
                    Some((s, after)) => (s, true, after),
                    None => return Err(self.expected("expected label name", i)),
                },
                Some(&c) if LABEL_START[c as usize] => {
                    let e = scan(b, i + 1, &LABEL_CONT);
                    (
                        Span {
                            start: i,
                            end: e,
                            escaped: false,
                        },
                        false,
                        e,
                    )
                }
                _ => return Err(self.expected("expected label name", i)),
            };
            i = after;
            let next = b.get(i).copied();
            if quoted && matches!(next, Some(b',') | Some(b'}')) {
                if exemplar {
                    return Err(self.expected("expected label name", i));
                }
                if name.is_some() {
                    return Err(self.fail(
                        self.start,
                        format!(
                            "metric name already set while parsing: {}",
                            GoQuoted(&b[self.start..(i + 1).min(b.len())])
                        ),
                    ));
                }
                self.check_quoted_name(tok, "metric name")?;
                *name = Some(tok);
                i += 1;
                if next == Some(b'}') {
                    return Ok(i);
                }
                continue;
            }
            if quoted && !exemplar {
                self.check_quoted_name(tok, "label name")?;
            }
            if next != Some(b'=') {
                return Err(self.expected("expected equal", i));
            }
            i += 1;
            let value = match b.get(i) {
                Some(b'"') => match scan_quoted(b, i, value_quoting) {
                    Some((v, after)) => {
                        i = after;
                        v
                    }
                    None => return Err(self.expected("expected label value", i)),
                },
                _ => return Err(self.expected("expected label value", i)),
            };
            self.check_value_utf8(value)?;
            if !exemplar {
                self.labels.push(LabelSpan { name: tok, value });
            }
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {}
                _ => return Err(self.expected("expected comma or brace close", i)),
            }
        }
    }
}

/// `a < b` for short names: most differ in their first bytes, where a
/// call to memcmp costs more than the comparison.
#[inline]
fn bytes_lt(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// `HELP[\t ]+` or `TYPE[\t ]+` at `j` as the text lexer reads it in its
/// comment state, skipping NULs after the keyword's first byte. Returns
/// where the metric name starts.
fn text_keyword(b: &[u8], j: usize, kw: &[u8]) -> Option<usize> {
    let skip_nul = |mut k: usize| {
        while b.get(k) == Some(&0) {
            k += 1;
        }
        k
    };
    let mut k = j;
    for (n, &c) in kw.iter().enumerate() {
        if n > 0 {
            k = skip_nul(k);
        }
        if b.get(k) != Some(&c) {
            return None;
        }
        k += 1;
    }
    k = skip_nul(k);
    if !b.get(k).is_some_and(|&c| is_ascii_ws(c)) {
        return None;
    }
    loop {
        k = skip_nul(k);
        match b.get(k) {
            Some(&c) if is_ascii_ws(c) => k += 1,
            _ => return Some(k),
        }
    }
}

#[inline]
fn scan_not(b: &[u8], mut i: usize, stop: &[bool; 256]) -> usize {
    while let Some(&c) = b.get(i) {
        if stop[c as usize] {
            break;
        }
        i += 1;
    }
    i
}

fn utf8_prefix(body: &[u8]) -> &str {
    match std::str::from_utf8(body) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// Go's `%f` of a non-finite float.
fn go_percent_f(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn word_scan_finds_what_a_byte_scan_finds(
            b in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'\n'), Just(0u8), Just(b'a'), Just(0x80u8), Just(0xffu8), any::<u8>()], 0..64),
            from in 0usize..64,
        ) {
            let from = from.min(b.len());
            let naive = b[from..].iter().position(|&c| QUOTED_STOP[c as usize]).map_or(b.len(), |p| from + p);
            prop_assert_eq!(find_quoted_stop(&b, from), naive);
        }
    }
}
