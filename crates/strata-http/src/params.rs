//! Request parameters as Prometheus reads them: query string and
//! form-encoded POST body merged, repeated keys kept (`match[]`).

use crate::error::ApiError;
use strata_model::Matcher;

/// Earliest/latest times the API accepts when `start`/`end` are absent.
pub const MIN_TIME_MS: i64 = i64::MIN / 4;
pub const MAX_TIME_MS: i64 = i64::MAX / 4;

#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            v.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        if let Some(b) = form_body {
            v.extend(form_urlencoded::parse(b).into_owned());
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

    /// A time parameter in ms; `default` when absent or empty.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s).ok_or_else(|| {
                ApiError::bad_data(format!(
                    "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp"
                ))
            }),
        }
    }

    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None | Some("") => Ok(0),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(n as usize),
                _ => Err(ApiError::bad_data(format!(
                    "invalid parameter \"limit\": cannot parse \"{s}\" to a valid limit"
                ))),
            },
        }
    }

    /// Every `match[]` selector, each expanded into its matcher sets
    /// (Prometheus 3's `{a="1" or b="2"}` yields two sets).
    pub fn match_sets(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let mut sets = Vec::new();
        for s in self.get_all("match[]") {
            let parsed = parse_selector(s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?;
            sets.extend(parsed);
        }
        Ok(sets)
    }
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
