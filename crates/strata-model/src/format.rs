//! Float formatting exactly as Prometheus prints values.
//!
//! The HTTP API uses Go's `strconv.FormatFloat(v, 'f', -1, 64)`; promtool's
//! dump uses `%g`. Getting these byte-identical matters because clients and
//! the differential tests compare strings.

/// Go's `FormatFloat(v, 'f', -1, 64)` with Prometheus' spellings of
/// the special values (`NaN`, `+Inf`, `-Inf`).
pub fn format_api(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display is the shortest round-trip representation in plain
    // decimal notation, like Go's 'f' with precision -1.
    format!("{v}")
}

/// Go's `%g` (`FormatFloat(v, 'g', -1, 64)`): shortest round-trip digits, in
/// exponent form when the decimal exponent is < -4 or >= 6 (Go's threshold
/// for the shortest precision).
pub fn format_go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits as d.ddddde<exp>.
    let e = format!("{v:e}");
    let (mant, exp) = match e.split_once('e') {
        Some((m, x)) => (m, x.parse::<i32>().unwrap_or(0)),
        None => return e,
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

/// Go's `FormatFloat(v, 'e', -1, 64)` (Prometheus prints alert values so):
/// shortest round-trip mantissa, exponent with a sign and two digits.
pub fn format_go_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let e = format!("{v:e}");
    let Some((mantissa, exp)) = e.split_once('e') else {
        return e;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// Go's `url.QueryEscape` (`application/x-www-form-urlencoded`): scrape
/// URLs' `params` and the templates' `urlquery` must escape as Prometheus'.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_format_matches_go() {
        assert_eq!(format_go_e(1.0), "1e+00");
        assert_eq!(format_go_e(0.5), "5e-01");
        assert_eq!(format_go_e(1234.5), "1.2345e+03");
        assert_eq!(format_go_e(1e-300), "1e-300");
        assert_eq!(format_go_e(f64::INFINITY), "+Inf");
        assert_eq!(format_go_e(0.0), "0e+00");
    }

    #[test]
    fn api_format_matches_go_f() {
        assert_eq!(format_api(1.0), "1");
        assert_eq!(format_api(0.1), "0.1");
        assert_eq!(format_api(1e21), "1000000000000000000000");
        assert_eq!(format_api(f64::NAN), "NaN");
        assert_eq!(format_api(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn g_format_matches_go() {
        // Values checked against Go's fmt.Sprintf("%g", v).
        assert_eq!(format_go_g(1.0), "1");
        assert_eq!(format_go_g(123456.0), "123456");
        assert_eq!(format_go_g(1e6), "1e+06");
        assert_eq!(format_go_g(1234567.0), "1.234567e+06");
        assert_eq!(format_go_g(1e20), "1e+20");
        assert_eq!(format_go_g(0.0001), "0.0001");
        assert_eq!(format_go_g(0.00001), "1e-05");
        assert_eq!(format_go_g(-2.5), "-2.5");
        assert_eq!(format_go_g(1e100), "1e+100");
    }
}
