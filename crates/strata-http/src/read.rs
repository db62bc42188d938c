//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`.

use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params, go_quote};
use crate::{ApiError, SharedState, blocking};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::collections::BTreeSet;
use strata_model::{Labels, Matcher, SelectHints};

/// Prometheus' warning when `limit` cut a result short.
const TRUNCATED: &str = "results truncated due to limit";

/// Labels as a JSON object, in label order.
struct LabelsJson<'a>(&'a Labels);

impl Serialize for LabelsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for l in self.0.iter() {
            m.serialize_entry(l.name.as_str(), l.value.as_str())?;
        }
        m.end()
    }
}

pub(crate) fn params(method: &Method, query: Option<String>, body: &Bytes) -> Params {
    let form = (*method == Method::POST).then_some(body.as_ref());
    Params::parse(query.as_deref(), form)
}

/// A success answer, serialised straight to bytes: going through
/// `serde_json::Value` first would build a second, much larger copy of the
/// data (a map per series for `/api/v1/series`).
fn respond<T: Serialize>(data: T, truncated: bool) -> Response {
    let mut out = open_answer();
    match serde_json::to_writer(&mut out, &data) {
        Ok(()) => json_response(close_answer(out, truncated)),
        Err(e) => ApiError::internal(format!("encoding the answer: {e}")).into_response(),
    }
}

/// The start of a success answer, up to where its `data` goes.
fn open_answer() -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 12);
    out.extend_from_slice(br#"{"status":"success","data":"#);
    out
}

/// Ends an answer `open_answer` began, with Prometheus' warning when
/// `limit` cut it short.
fn close_answer(mut out: Vec<u8>, truncated: bool) -> Vec<u8> {
    if truncated {
        out.extend_from_slice(br#","warnings":[""#);
        out.extend_from_slice(TRUNCATED.as_bytes());
        out.extend_from_slice(br#""]"#);
    }
    out.push(b'}');
    out
}

fn json_response(body: Vec<u8>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

pub async fn series(
    State(st): State<SharedState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.metrics.read_request();
    let p = params(&method, query, &body);
    let tenant = st.tenant(&headers)?;
    if p.get_all("match[]").is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let limit = p.limit()?;
    let start = p.time("start", MIN_TIME_MS)?;
    let end = p.time("end", MAX_TIME_MS)?;
    let sets = p.match_sets()?;
    let db = st.queryable()?;
    let body = blocking(move || {
        let q = strata_model::Queryable::querier(db.as_ref(), &tenant, start, end)?;
        // Ask storage for one more than the limit to know whether we cut.
        let hints = SelectHints {
            start,
            end,
            series_only: true,
            limit: if limit > 0 { limit + 1 } else { 0 },
            newest_only: false,
            any_order: false,
        };
        // The answer is written as the series come out of storage: never a
        // list of every label set beside its JSON.
        let mut out = open_answer();
        out.push(b'[');
        let mut written = 0usize;
        let mut truncated = false;
        let mut write = |labels: &Labels, out: &mut Vec<u8>| -> Result<bool, ApiError> {
            if limit > 0 && written == limit {
                truncated = true;
                return Ok(false);
            }
            if written > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, &LabelsJson(labels))
                .map_err(|e| ApiError::internal(format!("encoding the answer: {e}")))?;
            written += 1;
            Ok(true)
        };
        // Storage returns each selection sorted and unique; only a union of
        // several `match[]` needs merging.
        if let [set] = sets.as_slice() {
            for s in q.select(&hints, set)? {
                if !write(&s?.labels, &mut out)? {
                    break;
                }
            }
        } else {
            let mut all: BTreeSet<Labels> = BTreeSet::new();
            for set in &sets {
                for s in q.select(&hints, set)? {
                    all.insert(s?.labels);
                }
            }
            for labels in &all {
                if !write(labels, &mut out)? {
                    break;
                }
            }
        }
        out.push(b']');
        Ok(close_answer(out, truncated))
    })
    .await?;
    Ok(json_response(body))
}

fn limit_strings(mut v: Vec<String>, limit: usize) -> (Vec<String>, bool) {
    if limit > 0 && v.len() > limit {
        v.truncate(limit);
        (v, true)
    } else {
        (v, false)
    }
}

/// Union of per-matcher-set answers, sorted and deduplicated.
fn union_over(
    sets: &[Vec<Matcher>],
    mut f: impl FnMut(&[Matcher]) -> Result<Vec<String>, strata_model::StorageError>,
) -> Result<Vec<String>, ApiError> {
    if sets.is_empty() {
        return Ok(f(&[])?);
    }
    let mut all = BTreeSet::new();
    for set in sets {
        all.extend(f(set)?);
    }
    Ok(all.into_iter().collect())
}

pub async fn labels(
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
    let start = p.time("start", MIN_TIME_MS)?;
    let end = p.time("end", MAX_TIME_MS)?;
    let sets = p.label_match_sets()?;
    let db = st.queryable()?;
    let names = blocking(move || {
        let q = strata_model::Queryable::querier(db.as_ref(), &tenant, start, end)?;
        union_over(&sets, |m| q.label_names(m))
    })
    .await?;
    let (names, truncated) = limit_strings(names, limit);
    Ok(respond(names, truncated))
}

pub async fn label_values(
    State(st): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    st.metrics.read_request();
    let p = Params::parse(query.as_deref(), None);
    let tenant = st.tenant(&headers)?;
    // Prometheus 3 takes any UTF-8 name (legacy or `U__`-escaped); what
    // it refuses is the empty name and bytes that are not UTF-8, which
    // axum reports as a path it cannot decode.
    let name = match path {
        Ok(Path(name)) => unescape_label_name(&name),
        Err(_) => {
            return Err(ApiError::bad_data(format!(
                "invalid label name: {}",
                quote_path_name(uri.path())
            )));
        }
    };
    if name.is_empty() {
        return Err(ApiError::bad_data(format!(
            "invalid label name: {}",
            go_quote(&name)
        )));
    }
    let limit = p.limit()?;
    let start = p.time("start", MIN_TIME_MS)?;
    let end = p.time("end", MAX_TIME_MS)?;
    let sets = p.label_match_sets()?;
    let db = st.queryable()?;
    let values = blocking(move || {
        let q = strata_model::Queryable::querier(db.as_ref(), &tenant, start, end)?;
        union_over(&sets, |m| q.label_values(&name, m))
    })
    .await?;
    let (values, truncated) = limit_strings(values, limit);
    Ok(respond(values, truncated))
}

/// The label name of a `/api/v1/label/<name>/values` path whose bytes are
/// not UTF-8, quoted as Go's `%q` shows them (`"\xff"`).
fn quote_path_name(path: &str) -> String {
    let raw = path
        .strip_prefix("/api/v1/label/")
        .and_then(|r| r.strip_suffix("/values"))
        .unwrap_or("");
    let bytes = percent_decode(raw.as_bytes());
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        let valid = go_quote(chunk.valid());
        out.push_str(&valid[1..valid.len() - 1]);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// `%XX` escapes decoded to bytes; a malformed escape stays as written.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Prometheus 3 lets clients put UTF-8 label names in the URL path with the
/// `U__` value-encoding escape (`U__http_2e_method` → `http.method`).
fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        for h in chars.by_ref() {
            if h == '_' {
                break;
            }
            hex.push(h);
        }
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            // Not a valid escape: Prometheus keeps the name as given.
            None => return name.to_string(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unescape_label_name;

    #[test]
    fn undecodable_names_are_quoted_like_go() {
        assert_eq!(
            super::quote_path_name("/api/v1/label/a%ff%22/values"),
            r#""a\xff\"""#
        );
    }

    #[test]
    fn utf8_label_names_in_paths() {
        assert_eq!(unescape_label_name("job"), "job");
        assert_eq!(unescape_label_name("U__http_2e_method"), "http.method");
        assert_eq!(unescape_label_name("U__a__b"), "a_b");
    }
}
