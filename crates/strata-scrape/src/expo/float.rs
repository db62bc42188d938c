//! Numbers as Prometheus' text parsers read and print them.
//!
//! Values go through Go's `strconv.ParseFloat` after Prometheus refuses any
//! `p`, `P` or `_` (it keeps to the pre-Go-1.13 syntax): decimal numbers with
//! an optional sign, fraction and exponent, and the case-insensitive specials
//! `NaN` (no sign), `Inf` and `Infinity` (optional sign). A finite literal
//! that overflows is an error in Go (`value out of range`), not infinity.

use std::fmt;

/// Prometheus' `value.NormalNaN`: every parsed NaN is stored with these bits,
/// so a scraped NaN can never be mistaken for a stale marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberError {
    /// Go: `invalid syntax`.
    Syntax,
    /// Go: `value out of range`.
    Range,
    /// Prometheus: `unsupported character in float` (`p`, `P` or `_`).
    Unsupported,
}

impl NumberError {
    /// The message Prometheus reports, given the offending text and Go's
    /// function name (`ParseFloat` or `ParseInt`).
    pub(crate) fn describe(self, func: &str, text: &[u8]) -> String {
        match self {
            NumberError::Unsupported => "unsupported character in float".to_string(),
            NumberError::Syntax => {
                format!("strconv.{func}: parsing {}: invalid syntax", GoQuoted(text))
            }
            NumberError::Range => format!(
                "strconv.{func}: parsing {}: value out of range",
                GoQuoted(text)
            ),
        }
    }
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Prometheus' `parseFloat`: Go's `ParseFloat(s, 64)` minus `p`, `P`, `_`.
/// NaN comes back with [`NORMAL_NAN_BITS`].
pub(crate) fn parse_value(s: &[u8]) -> Result<f64, NumberError> {
    if s.iter().any(|&c| matches!(c, b'p' | b'P' | b'_')) {
        return Err(NumberError::Unsupported);
    }
    parse_go_float(s)
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input (hexadecimal floats,
/// which Go also accepts, are refused: only the `le`/`quantile`
/// normalisation could see one, and then the label keeps its raw text).
pub(crate) fn parse_go_float(s: &[u8]) -> Result<f64, NumberError> {
    if let Some(v) = fast_decimal(s) {
        return Ok(v);
    }
    slow_float(s)
}

/// Exact decimal conversion when the digits fit in 53 bits and the power of
/// ten is exact (Clinger's fast path): one correctly rounded operation.
/// This covers nearly every value an exporter writes.
#[inline]
fn fast_decimal(s: &[u8]) -> Option<f64> {
    let (neg, mut i) = match *s.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut mant: u64 = 0;
    let mut digits = 0u32;
    let int_start = i;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        mant = mant * 10 + u64::from(c - b'0');
        digits += 1;
        if digits > 15 {
            return None;
        }
        i += 1;
    }
    let mut saw_digits = i > int_start;
    let mut frac = 0i32;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while let Some(&c) = s.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            mant = mant * 10 + u64::from(c - b'0');
            digits += 1;
            frac += 1;
            if digits > 15 {
                return None;
            }
            i += 1;
        }
        saw_digits |= i > frac_start;
    }
    if !saw_digits {
        return None;
    }
    let mut exp = 0i32;
    if let Some(&c) = s.get(i)
        && (c | 0x20) == b'e'
    {
        i += 1;
        let eneg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_start = i;
        while let Some(&c) = s.get(i) {
            if !c.is_ascii_digit() || i - exp_start >= 4 {
                break;
            }
            exp = exp * 10 + i32::from(c - b'0');
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        if eneg {
            exp = -exp;
        }
    }
    if i != s.len() {
        return None;
    }
    let e = exp - frac;
    let v = mant as f64;
    let v = if e == 0 {
        v
    } else if (1..=22).contains(&e) {
        v * POW10[e as usize]
    } else if (-22..0).contains(&e) {
        v / POW10[(-e) as usize]
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn slow_float(s: &[u8]) -> Result<f64, NumberError> {
    let (signed, neg, rest) = match s.first() {
        Some(b'-') => (true, true, &s[1..]),
        Some(b'+') => (true, false, &s[1..]),
        _ => (false, false, s),
    };
    match rest.first().map(|c| c | 0x20) {
        None => return Err(NumberError::Syntax),
        // Go's special(): a sign is allowed before "inf", never before "nan".
        Some(b'n') => {
            return if !signed && rest.eq_ignore_ascii_case(b"nan") {
                Ok(f64::from_bits(NORMAL_NAN_BITS))
            } else {
                Err(NumberError::Syntax)
            };
        }
        Some(b'i') => {
            return if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
                Ok(if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                })
            } else {
                Err(NumberError::Syntax)
            };
        }
        _ => {}
    }
    // What is left is Go's and Rust's common decimal grammar:
    // digits, one optional '.', an optional exponent with at least one digit.
    if !rest
        .iter()
        .all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(NumberError::Syntax);
    }
    let text = std::str::from_utf8(s).map_err(|_| NumberError::Syntax)?;
    let v: f64 = text.parse().map_err(|_| NumberError::Syntax)?;
    if v.is_infinite() {
        return Err(NumberError::Range);
    }
    if v.is_nan() {
        return Err(NumberError::Syntax);
    }
    Ok(v)
}

/// Go's `strconv.ParseInt(s, 10, 64)` for a run of ASCII digits (the text
/// lexer only hands digits to it).
pub(crate) fn parse_digits_i64(s: &[u8]) -> Result<i64, NumberError> {
    if s.is_empty() {
        return Err(NumberError::Syntax);
    }
    let mut v: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(NumberError::Syntax);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or(NumberError::Range)?;
    }
    Ok(v)
}

/// Go's `int64(f)` on amd64 (CVTTSD2SQ): truncation toward zero, and the
/// "integer indefinite" value `math.MinInt64` when `f` does not fit.
/// OpenMetrics timestamps go through `int64(ts * 1000)`.
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    // 2^63 is exact in f64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_63..TWO_63).contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}

/// Prometheus' `labels.FormatOpenMetricsFloat`: Go's `%g` with shortest
/// digits, plus `.0` when the result has neither `.` nor `e`.
pub fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f == 0.0 {
        return "0.0".into();
    }
    let mut s = strata_model::format::format_go_g(f);
    if !s.contains(['.', 'e']) && f.is_finite() {
        s.push_str(".0");
    }
    s
}

/// Go's `%q` of a byte string, for error messages (printable ASCII as is,
/// the usual escapes, `\xNN` otherwise; valid UTF-8 kept).
pub(crate) struct GoQuoted<'a>(pub &'a [u8]);

impl fmt::Display for GoQuoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    '\0' => f.write_str("\\x00")?,
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
                    c => write!(f, "{c}")?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> f64 {
        match parse_value(s.as_bytes()) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    #[test]
    fn values_go_accepts() {
        assert_eq!(ok("1"), 1.0);
        assert_eq!(ok("+1"), 1.0);
        assert_eq!(ok("-1.5"), -1.5);
        assert_eq!(ok(".5"), 0.5);
        assert_eq!(ok("5."), 5.0);
        assert_eq!(ok("1e3"), 1000.0);
        assert_eq!(ok("1E+3"), 1000.0);
        assert_eq!(ok("1.5e-3"), 0.0015);
        assert_eq!(ok("007"), 7.0);
        assert_eq!(ok("1e-400"), 0.0);
        assert_eq!(ok("123456789012345678901234567890"), 1.2345678901234568e29);
        assert_eq!(ok("0.1"), 0.1);
        assert_eq!(ok("3.141592653589793238"), std::f64::consts::PI);
        assert!(ok("-0").is_sign_negative());
        assert_eq!(ok("Inf"), f64::INFINITY);
        assert_eq!(ok("+Inf"), f64::INFINITY);
        assert_eq!(ok("-inf"), f64::NEG_INFINITY);
        assert_eq!(ok("INFINITY"), f64::INFINITY);
        assert_eq!(ok("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(ok("NaN").to_bits(), NORMAL_NAN_BITS);
        assert_eq!(ok("nan").to_bits(), NORMAL_NAN_BITS);
    }

    #[test]
    fn values_go_or_prometheus_refuse() {
        for s in [
            "",
            "+",
            "-",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "1e5.5",
            "+nan",
            "-NaN",
            "infin",
            "Infinityy",
            "nan1",
            "0x1A",
            "0x1p3",
            "1_000",
            "1 ",
            " 1",
            "1,5",
            "٣",
        ] {
            assert!(parse_value(s.as_bytes()).is_err(), "{s:?} accepted");
        }
        assert_eq!(parse_value(b"1e400"), Err(NumberError::Range));
        assert_eq!(parse_value(b"-1e309"), Err(NumberError::Range));
        assert_eq!(parse_value(b"0x1p3"), Err(NumberError::Unsupported));
        assert_eq!(parse_value(b"1_0"), Err(NumberError::Unsupported));
    }

    #[test]
    fn fast_path_agrees_with_the_correctly_rounded_parse() {
        for s in [
            "0.3",
            "123.456",
            "9007199254740993",
            "1e22",
            "1e23",
            "123456789012345",
            "0.000001",
            "4.35",
            "1.7976931348623157e308",
        ] {
            let expected: f64 = s.parse().unwrap_or(f64::NAN);
            assert_eq!(ok(s).to_bits(), expected.to_bits(), "{s}");
        }
    }

    #[test]
    fn timestamps_as_go_parse_int() {
        assert_eq!(parse_digits_i64(b"0"), Ok(0));
        assert_eq!(parse_digits_i64(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(
            parse_digits_i64(b"9223372036854775808"),
            Err(NumberError::Range)
        );
    }

    #[test]
    fn go_conversion_to_int64() {
        assert_eq!(go_f64_to_i64(-1.5 * 1000.0), -1500);
        assert_eq!(go_f64_to_i64(1e30), i64::MIN);
        assert_eq!(go_f64_to_i64(-9.3e18), i64::MIN);
    }

    #[test]
    fn openmetrics_float_format() {
        assert_eq!(format_openmetrics_float(1.0), "1.0");
        assert_eq!(format_openmetrics_float(-0.0), "0.0");
        assert_eq!(format_openmetrics_float(0.25), "0.25");
        assert_eq!(format_openmetrics_float(1000.0), "1000.0");
        assert_eq!(format_openmetrics_float(1e6), "1e+06");
        assert_eq!(format_openmetrics_float(f64::INFINITY), "+Inf");
        assert_eq!(format_openmetrics_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_openmetrics_float(f64::NAN), "NaN");
    }

    #[test]
    fn go_quoting() {
        assert_eq!(GoQuoted(b"a\"b\n\xff").to_string(), "\"a\\\"b\\n\\xff\"");
    }
}
