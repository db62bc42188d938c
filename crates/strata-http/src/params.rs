//! Request parameters as Prometheus reads them: form-encoded POST body and
//! query string merged, repeated keys kept (`match[]`), and parsed with
//! Prometheus' rules and error messages.

use crate::error::ApiError;
use strata_model::Matcher;

/// Earliest/latest times the API accepts when `start`/`end` are absent.
pub const MIN_TIME_MS: i64 = i64::MIN / 4;
pub const MAX_TIME_MS: i64 = i64::MAX / 4;

/// How Go formats Prometheus' own `MinTime`/`MaxTime` (client_golang sends
/// them for open ranges): years beyond what RFC 3339 parsers take.
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Body values come first, as in Go's `Request.Form`: a key present in
    /// both reads the body's value.
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(b) = form_body {
            v.extend(form_urlencoded::parse(b).into_owned());
        }
        if let Some(q) = query {
            v.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Params(v)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// An optional time parameter in ms (`time`, and `start`/`end` of the
    /// metadata endpoints); `default` when absent or empty.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s).ok_or_else(|| {
                ApiError::bad_data(format!(
                    "invalid parameter \"{name}\": invalid time value for '{name}': cannot parse {} to a valid timestamp",
                    go_quote(s)
                ))
            }),
        }
    }

    /// A required time parameter (`start`/`end` of `query_range`): absent
    /// or empty is an error, worded as Prometheus words it.
    pub fn required_time(&self, name: &str) -> Result<i64, ApiError> {
        let s = self.get(name).unwrap_or("");
        parse_time(s).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"{name}\": cannot parse {} to a valid timestamp",
                go_quote(s)
            ))
        })
    }

    /// `limit`: 0 (absent or empty) means none. Prometheus parses it with
    /// Go's `strconv.Atoi`, whose error the message repeats.
    pub fn limit(&self) -> Result<usize, ApiError> {
        let s = match self.get("limit") {
            None | Some("") => return Ok(0),
            Some(s) => s,
        };
        let bad = |why: String| ApiError::bad_data(format!("invalid parameter \"limit\": {why}"));
        match parse_go_int(s) {
            Ok(n) if n < 0 => Err(bad("limit must be non-negative".into())),
            Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(why) => Err(bad(format!("strconv.Atoi: parsing {}: {why}", go_quote(s)))),
        }
    }

    /// Every `match[]` selector, each expanded into its matcher sets
    /// (Prometheus 3's `{a="1" or b="2"}` yields two sets); an error names
    /// the parameter, as `/api/v1/series` does.
    pub fn match_sets(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        self.match_sets_with(|e| format!("invalid parameter \"match[]\": {e}"))
    }

    /// The same for the label endpoints, whose errors Prometheus gives as
    /// the parser's message alone.
    pub fn label_match_sets(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        self.match_sets_with(|e| e)
    }

    fn match_sets_with(
        &self,
        msg: impl Fn(String) -> String,
    ) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let mut sets = Vec::new();
        for s in self.get_all("match[]") {
            let parsed = parse_selector(s).map_err(|e| ApiError::bad_data(msg(e)))?;
            sets.extend(parsed);
        }
        Ok(sets)
    }
}

/// Go's `strconv.Atoi`: optional sign, decimal digits, 64-bit range; the
/// error is the reason Go gives.
fn parse_go_int(s: &str) -> Result<i64, &'static str> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    s.parse::<i64>().map_err(|_| "value out of range")
}

/// A string quoted like Go's `%q`, enough for parameter values echoed in
/// error messages: quotes, backslashes and control characters escaped.
pub fn go_quote(s: &str) -> String {
    strata_model::labels::quote(s)
}

/// Prometheus' `parseTime`: unix seconds with an optional fraction, or RFC 3339.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return None;
        }
        let ms = (f * 1000.0).round();
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return None;
        }
        return Some(ms as i64);
    }
    match s {
        MIN_TIME_FORMATTED => return Some(MIN_TIME_MS),
        MAX_TIME_FORMATTED => return Some(MAX_TIME_MS),
        _ => {}
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A millisecond timestamp as RFC 3339 UTC with milliseconds.
pub fn format_rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Parses a series selector (`metric{a="b"}`) into matcher sets.
pub fn parse_selector(s: &str) -> Result<Vec<Vec<Matcher>>, String> {
    strata_promql::selector_matchers(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1.5"), Some(1500));
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123+00:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_time("abc"), None);
        assert_eq!(parse_time("NaN"), None);
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Some(MIN_TIME_MS));
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Some(MAX_TIME_MS));
    }

    #[test]
    fn limits_fail_like_go() {
        let limit = |v: &str| Params::parse(Some(&format!("limit={v}")), None).limit();
        assert_eq!(limit("5").ok(), Some(5));
        assert_eq!(limit("").ok(), Some(0));
        // `%2B` is a `+` (a bare one is a space in a query string).
        assert_eq!(limit("%2B3").ok(), Some(3));
        let msg = |v: &str| limit(v).err().map(|e| e.message).unwrap_or_default();
        assert_eq!(
            msg("-1"),
            r#"invalid parameter "limit": limit must be non-negative"#
        );
        assert_eq!(
            msg("1.5"),
            r#"invalid parameter "limit": strconv.Atoi: parsing "1.5": invalid syntax"#
        );
        assert_eq!(
            msg("99999999999999999999"),
            r#"invalid parameter "limit": strconv.Atoi: parsing "99999999999999999999": value out of range"#
        );
    }

    #[test]
    fn body_values_win_over_the_query_string() {
        let p = Params::parse(Some("query=up&time=1"), Some(b"query=down"));
        assert_eq!(p.get("query"), Some("down"));
        assert_eq!(p.get("time"), Some("1"));
    }

    #[test]
    fn selectors() {
        let sets = parse_selector(r#"up{job=~"a|b", x!=""}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].len(), 3);
        assert!(parse_selector(r#"{x=""}"#).is_err());
        assert!(parse_selector("sum(up)").is_err());
        assert!(parse_selector("up{").is_err());
    }
}
