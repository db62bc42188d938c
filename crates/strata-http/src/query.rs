//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query`,
//! `/api/v1/parse_query`, `/api/v1/query_exemplars`, `/api/v1/metadata`.
//!
//! Results are serialised by hand: a range query over thousands of series
//! is mostly numbers, and building a `serde_json::Value` tree for it would
//! cost more than the evaluation.

use crate::params::{Params, go_quote};
use crate::read::params;
use crate::status::success;
use crate::{ApiError, ErrorType, SharedState, blocking};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::fmt::Write as _;
use std::time::Duration;
use strata_model::format::format_api;
use strata_model::{Labels, Sample};
use strata_promql::{QueryError, QueryOpts, QueryOutput, Value};

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS: i128 = 11_000;

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let kind = match &e {
            QueryError::Parse(m) => {
                return ApiError::new(
                    ErrorType::BadData,
                    format!("invalid parameter \"query\": {m}"),
                );
            }
            QueryError::Execution(_) | QueryError::TooManySamples => ErrorType::Execution,
            QueryError::Timeout(_) => ErrorType::Timeout,
            QueryError::Storage(s) => return ApiError::from_storage_ref(s),
        };
        ApiError::new(kind, e.to_string())
    }
}

impl ApiError {
    fn from_storage_ref(e: &strata_model::StorageError) -> Self {
        use strata_model::StorageError as S;
        let kind = match e {
            S::BadData(_) => ErrorType::BadData,
            S::LimitExceeded(_) => ErrorType::Execution,
            S::Unavailable(_) => ErrorType::Unavailable,
            _ => ErrorType::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}

/// Prometheus' `parseDuration`: float seconds or a duration string, in
/// nanoseconds (Go's `time.Duration`; negative values parse, callers decide).
pub fn parse_duration_ns(s: &str) -> Result<i128, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ns = f * 1e9;
        if ns.is_nan() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                go_quote(s)
            ));
        }
        return Ok(ns as i128);
    }
    strata_model::units::parse_duration(s)
        .map(|d| d.as_nanos() as i128)
        .map_err(|_| format!("cannot parse {} to a valid duration", go_quote(s)))
}

/// A duration parameter, as a non-negative `Duration` (negative ones clamp
/// to zero: a timeout already past).
pub fn parse_duration_param(name: &str, s: &str) -> Result<Duration, ApiError> {
    let ns = parse_duration_ns(s)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}")))?;
    Ok(Duration::from_nanos(
        u64::try_from(ns.max(0)).unwrap_or(u64::MAX),
    ))
}

fn query_opts(p: &Params) -> Result<QueryOpts, ApiError> {
    let timeout = match p.get("timeout") {
        None | Some("") => None,
        Some(s) => Some(parse_duration_param("timeout", s)?),
    };
    let lookback = match p.get("lookback_delta") {
        None | Some("") => None,
        Some(s) => {
            let ns = parse_duration_ns(s).map_err(|e| {
                ApiError::bad_data(format!("error parsing lookback delta duration: {e}"))
            })?;
            Some(i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX))
        }
    };
    Ok(QueryOpts {
        timeout,
        lookback_delta_ms: lookback,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn expr_param(p: &Params) -> Result<String, ApiError> {
    match p.get("query") {
        Some(q) if !q.is_empty() => Ok(q.to_string()),
        _ => Err(ApiError::bad_data(
            "invalid parameter \"query\": unknown position: parse error: no expression found in input",
        )),
    }
}

pub async fn instant(
    State(st): State<SharedState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.metrics.read_request();
    let p = params(&method, query, &body);
    let tenant = st.tenant(&headers)?;
    // Prometheus' order of checks, so a request with several faults gets
    // the same error.
    let limit = p.limit()?;
    let ts = p.time("time", now_ms())?;
    let opts = query_opts(&p)?;
    let expr = expr_param(&p)?;
    let db = st.queryable()?;
    let _permit = st.acquire_query_slot().await?;
    let engine = st.engine.clone();
    let out = blocking(move || Ok(engine.instant(db.as_ref(), &tenant, &expr, ts, &opts)?)).await?;
    Ok(render(out, limit))
}

pub async fn range(
    State(st): State<SharedState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.metrics.read_request();
    let p = params(&method, query, &body);
    let tenant = st.tenant(&headers)?;
    let limit = p.limit()?;
    let start = p.required_time("start")?;
    let end = p.required_time("end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step_ns = parse_duration_ns(p.get("step").unwrap_or(""))
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?;
    if step_ns <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Go divides the range by the step as durations, in nanoseconds.
    if (end as i128 - start as i128) * 1_000_000 / step_ns > MAX_POINTS {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    // The engine steps in milliseconds, as Prometheus' does.
    let step_ms = i64::try_from(step_ns / 1_000_000)
        .unwrap_or(i64::MAX)
        .max(1);
    let opts = query_opts(&p)?;
    let expr = expr_param(&p)?;
    let db = st.queryable()?;
    let _permit = st.acquire_query_slot().await?;
    let engine = st.engine.clone();
    let out = blocking(move || {
        Ok(engine.range(db.as_ref(), &tenant, &expr, start, end, step_ms, &opts)?)
    })
    .await?;
    Ok(render(out, limit))
}

/// Timestamps as Prometheus writes them: seconds with up to 3 decimals.
fn push_ts(out: &mut String, t: i64) {
    let secs = t.div_euclid(1000);
    let ms = t.rem_euclid(1000);
    if ms == 0 {
        let _ = write!(out, "{secs}");
    } else {
        let frac = format!("{ms:03}");
        let _ = write!(out, "{secs}.{}", frac.trim_end_matches('0'));
    }
}

fn push_labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, lb) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, &lb.name);
        out.push(':');
        push_json_str(out, &lb.value);
    }
    out.push('}');
}

/// Appends `s` as a JSON string, escaping in place: a large result has one
/// string per label, so no temporary allocation per string.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_point(out: &mut String, s: &Sample) {
    out.push('[');
    push_ts(out, s.t);
    out.push_str(",\"");
    out.push_str(&format_api(s.v));
    out.push_str("\"]");
}

fn push_string_list(out: &mut String, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = write!(out, ",\"{key}\":[");
    for (i, w) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, w);
    }
    out.push(']');
}

pub fn render(mut out: QueryOutput, limit: usize) -> Response {
    if limit > 0 {
        let truncated = match &mut out.value {
            Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            out.warnings.push("results truncated due to limit".into());
        }
    }
    let mut s = String::with_capacity(1024);
    s.push_str("{\"status\":\"success\",\"data\":{");
    match &out.value {
        Value::Scalar { t, v } => {
            s.push_str("\"resultType\":\"scalar\",\"result\":");
            push_point(&mut s, &Sample::new(*t, *v));
        }
        Value::String { t, v } => {
            s.push_str("\"resultType\":\"string\",\"result\":[");
            push_ts(&mut s, *t);
            s.push(',');
            push_json_str(&mut s, v);
            s.push(']');
        }
        Value::Vector(vec) => {
            s.push_str("\"resultType\":\"vector\",\"result\":[");
            for (i, e) in vec.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str("{\"metric\":");
                push_labels(&mut s, &e.labels);
                s.push_str(",\"value\":");
                push_point(&mut s, &Sample::new(e.t, e.v));
                s.push('}');
            }
            s.push(']');
        }
        Value::Matrix(m) => {
            s.push_str("\"resultType\":\"matrix\",\"result\":[");
            for (i, e) in m.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str("{\"metric\":");
                push_labels(&mut s, &e.labels);
                s.push_str(",\"values\":[");
                for (j, p) in e.samples.iter().enumerate() {
                    if j > 0 {
                        s.push(',');
                    }
                    push_point(&mut s, p);
                }
                s.push_str("]}");
            }
            s.push(']');
        }
    }
    s.push('}');
    push_string_list(&mut s, "warnings", &out.warnings);
    push_string_list(&mut s, "infos", &out.infos);
    s.push('}');
    ([(header::CONTENT_TYPE, "application/json")], s).into_response()
}

pub async fn format_query(
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(&method, query, &body);
    let expr = expr_param(&p)?;
    let formatted = strata_promql::format_query(&expr)?;
    Ok(success(json!(formatted)))
}

pub async fn parse_query(
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(&method, query, &body);
    let expr = expr_param(&p)?;
    Ok(success(strata_promql::parse_to_json(&expr)?))
}

/// Exemplars are not stored yet: a valid request gets an empty result.
pub async fn query_exemplars(
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(&method, query, &body);
    let expr = expr_param(&p)?;
    strata_promql::format_query(&expr)?;
    Ok(success(json!([])))
}

/// Metadata is not stored yet (remote-write metadata is dropped): an empty map.
#[cfg(test)]
mod tests {
    use super::push_json_str;

    #[test]
    fn json_strings_round_trip() {
        for s in [
            "plain",
            "quote\" back\\slash",
            "nl\ncr\rtab\t",
            "ctl\u{1}\u{1f}",
            "ünï☃",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            let back: String = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
            assert_eq!(back, s);
        }
    }
}
