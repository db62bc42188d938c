//! `/federate`: the newest sample of every series a `match[]` selects, in
//! the text exposition format, for another Prometheus (or Strata) to
//! scrape with `honor_labels: true`.
//!
//! As Prometheus' `web/federate.go`: the window is `[now − lookback, now]`,
//! a series whose newest sample in it is a stale marker is left out,
//! families come sorted by metric name, each `# TYPE … untyped`; the
//! external labels are added to series lacking them, with `instance=""`
//! when the external labels have no `instance` (so a federating server's
//! `instance` does not land on federated series).

use crate::params::Params;
use crate::{ApiError, SharedState, blocking};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strata_model::{Labels, METRIC_NAME, SelectHints, is_stale_nan, merge_series_sets};
use strata_scrape::expo::{EscapeName, EscapingScheme as Escaping, is_legacy_name};

/// The escaping a scraper asked for on its `text/plain` accept entry;
/// underscores (Prometheus 3's default) when it names none.
pub fn negotiate_escaping(accept: Option<&str>) -> Escaping {
    let Some(accept) = accept else {
        return Escaping::Underscores;
    };
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !media.eq_ignore_ascii_case("text/plain") {
            continue;
        }
        let mut version_ok = true;
        let mut escaping = None;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            match k.trim() {
                "version" => version_ok = v.trim() == "0.0.4",
                "escaping" => escaping = Escaping::parse(v.trim()),
                _ => {}
            }
        }
        if version_ok {
            return escaping.unwrap_or(Escaping::Underscores);
        }
    }
    Escaping::Underscores
}

/// A name where the text format puts it: bare when legacy-valid (or
/// escaped), otherwise in quotes.
fn push_name(out: &mut String, name: &str, scheme: Escaping) {
    let name = scheme.escape(name);
    if is_legacy_name(&name) {
        out.push_str(&name);
    } else {
        out.push('"');
        push_escaped(out, &name);
        out.push('"');
    }
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float as Go's text encoder writes it.
pub fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        out.push_str(&strata_model::format::format_go_g(v));
    }
}

/// Writes one series line: `name{labels} value timestamp`. `extra` are
/// labels appended after the series' own (the external labels it lacks).
pub fn push_series(
    out: &mut String,
    labels: &Labels,
    extra: &[(&str, &str)],
    value: f64,
    t: i64,
    scheme: Escaping,
) {
    let name = labels.metric_name().unwrap_or_default();
    let quoted_name = !is_legacy_name(&scheme.escape(name));
    let mut first = true;
    if !quoted_name {
        push_name(out, name, scheme);
    }
    let mut open = |out: &mut String| {
        if first {
            out.push('{');
            first = false;
        } else {
            out.push(',');
        }
    };
    if quoted_name {
        open(out);
        push_name(out, name, scheme);
    }
    let own = labels
        .iter()
        .filter(|l| l.name != METRIC_NAME && !l.value.is_empty())
        .map(|l| (l.name.as_str(), l.value.as_str()));
    for (n, v) in own.chain(extra.iter().copied()) {
        open(out);
        push_name(out, n, scheme);
        out.push_str("=\"");
        push_escaped(out, v);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    push_value(out, value);
    out.push(' ');
    out.push_str(&t.to_string());
    out.push('\n');
}

pub async fn federate(
    State(st): State<SharedState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.metrics.read_request();
    let p = crate::read::params(&method, query, &body);
    let tenant = st.tenant(&headers)?;
    let sets = match federate_sets(&p) {
        Ok(s) => s,
        // Prometheus answers a bad selector in plain text, not API JSON.
        Err(e) => return Ok((StatusCode::BAD_REQUEST, format!("{}\n", e.message)).into_response()),
    };
    let scheme = negotiate_escaping(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let db = st.queryable()?;
    let lookback = st.cfg.engine.lookback_delta_ms;
    let external = st.external_labels();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let text = blocking(move || {
        let (mint, maxt) = (now - lookback, now);
        let q = strata_model::Queryable::querier(db.as_ref(), &tenant, mint, maxt)?;
        let hints = SelectHints {
            start: mint,
            end: maxt,
            series_only: false,
            limit: 0,
            newest_only: false,
            any_order: false,
        };
        let mut selected = Vec::with_capacity(sets.len());
        for set in &sets {
            selected.push(q.select(&hints, set)?);
        }
        let mut newest: Vec<(Labels, i64, f64)> = Vec::new();
        for s in merge_series_sets(selected) {
            let mut s = s?;
            let Some(sample) = s.samples.newest_at_or_before(maxt) else {
                continue;
            };
            if sample.t < mint || is_stale_nan(sample.v) || s.labels.metric_name().is_none() {
                continue;
            }
            newest.push((s.labels, sample.t, sample.v));
        }
        // Stable: series of one name stay in label order.
        newest.sort_by(|a, b| a.0.metric_name().cmp(&b.0.metric_name()));
        let mut ext: Vec<(String, String)> = external
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        if !ext.iter().any(|(n, _)| n == "instance") {
            ext.push(("instance".into(), String::new()));
            ext.sort();
        }
        let mut out = String::new();
        let mut last_name: Option<String> = None;
        let mut extra: Vec<(&str, &str)> = Vec::with_capacity(ext.len());
        for (labels, t, v) in &newest {
            let name = labels.metric_name().unwrap_or_default();
            if last_name.as_deref() != Some(name) {
                out.push_str("# TYPE ");
                push_name(&mut out, name, scheme);
                out.push_str(" untyped\n");
                last_name = Some(name.to_string());
            }
            extra.clear();
            extra.extend(
                ext.iter()
                    .filter(|(n, _)| labels.get(n).is_none_or(str::is_empty))
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            );
            push_series(&mut out, labels, &extra, *v, *t, scheme);
        }
        Ok(out)
    })
    .await?;
    let content_type = format!(
        "text/plain; version=0.0.4; charset=utf-8; escaping={}",
        scheme.as_str()
    );
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

fn federate_sets(p: &Params) -> Result<Vec<Vec<strata_model::Matcher>>, ApiError> {
    if p.get_all("match[]").is_empty() {
        return Ok(Vec::new());
    }
    p.match_sets()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_schemes() {
        let n = "http.requests_total";
        assert_eq!(Escaping::Underscores.escape(n), "http_requests_total");
        assert_eq!(Escaping::Dots.escape(n), "http_dot_requests__total");
        assert_eq!(Escaping::Values.escape(n), "U__http_2e_requests__total");
        assert_eq!(Escaping::AllowUtf8.escape(n), n);
        assert_eq!(Escaping::Values.escape("up"), "up");
        assert_eq!(Escaping::Underscores.escape("1a"), "_a");
    }

    #[test]
    fn accept_headers() {
        assert_eq!(negotiate_escaping(None), Escaping::Underscores);
        let p3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2";
        assert_eq!(negotiate_escaping(Some(p3)), Escaping::AllowUtf8);
        let p2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate_escaping(Some(p2)), Escaping::Underscores);
    }

    #[test]
    fn series_lines() {
        let mut out = String::new();
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b\\c\nd")]);
        push_series(
            &mut out,
            &l,
            &[("instance", "")],
            1.0,
            5,
            Escaping::Underscores,
        );
        assert_eq!(out, "up{job=\"a\\\"b\\\\c\\nd\",instance=\"\"} 1 5\n");
        out.clear();
        let l = Labels::from_pairs([("__name__", "a.b"), ("c.d", "x")]);
        push_series(&mut out, &l, &[], f64::NEG_INFINITY, 7, Escaping::AllowUtf8);
        assert_eq!(out, "{\"a.b\",\"c.d\"=\"x\"} -Inf 7\n");
        out.clear();
        push_series(&mut out, &l, &[], 0.25, 7, Escaping::Underscores);
        assert_eq!(out, "a_b{c_d=\"x\"} 0.25 7\n");
    }
}
