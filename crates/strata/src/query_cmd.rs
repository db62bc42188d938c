//! `strata query`: PromQL from the command line, against a running server
//! (`--server`) or a data directory offline (`--data-dir`).

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::Value as Json;
use std::io::Write;
use std::path::PathBuf;
use strata_model::TenantId;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
#[command(
    about = "Evaluate a PromQL expression and print the result",
    long_about = "Evaluate a PromQL \
expression and print the result as a table (or JSON).\n\nExamples:\n  strata query 'up'\n  strata query \
'sum by (job) (rate(http_requests_total[5m]))' --time 2026-11-28T12:00:00Z\n  strata query \
'rate(node_cpu_seconds_total[5m])' --start -1h --end now --step 1m\n  strata query 'up' --data-dir \
./strata-data"
)]
pub struct QueryArgs {
    /// The PromQL expression.
    pub expr: String,
    /// Evaluation time for an instant query: unix seconds, RFC 3339, `now` or a negative duration like -5m.
    #[arg(long, allow_hyphen_values = true)]
    pub time: Option<String>,
    /// Start of a range query (same forms as --time).
    #[arg(long, allow_hyphen_values = true, requires_all = ["end", "step"])]
    pub start: Option<String>,
    /// End of a range query.
    #[arg(long, allow_hyphen_values = true, requires = "start")]
    pub end: Option<String>,
    /// Resolution of a range query (e.g. 15s, 1m).
    #[arg(long, requires = "start")]
    pub step: Option<String>,
    /// A running Strata or Prometheus server.
    #[arg(
        long,
        conflicts_with = "data_dir",
        default_value = "http://127.0.0.1:9090"
    )]
    pub server: String,
    /// Query a data directory directly instead of a server.
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// Tenant (X-Scope-OrgID) to query.
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix seconds, RFC 3339, `now`, or `-<duration>` relative to now; in ms.
fn parse_when(flag: &str, s: &str) -> Result<i64> {
    if s == "now" {
        return Ok(now_ms());
    }
    if let Some(rel) = s.strip_prefix('-')
        && let Ok(d) = strata_model::units::parse_duration(rel)
    {
        return Ok(now_ms() - d.as_millis() as i64);
    }
    strata_http::params::parse_time(s).with_context(|| {
        format!("--{flag} {s:?}: not a unix time, RFC 3339 time, `now` or -<duration>")
    })
}

pub fn run(a: QueryArgs) -> Result<()> {
    let range = match (&a.start, &a.end, &a.step) {
        (Some(s), Some(e), Some(st)) => {
            let step = strata_model::units::parse_duration(st)
                .or_else(|_| {
                    st.parse::<f64>()
                        .map(|f| std::time::Duration::from_millis((f * 1000.0) as u64))
                })
                .map_err(|_| anyhow::anyhow!("--step {st:?}: not a duration"))?;
            Some((
                parse_when("start", s)?,
                parse_when("end", e)?,
                step.as_millis() as i64,
            ))
        }
        _ => None,
    };
    let time = match &a.time {
        Some(t) => parse_when("time", t)?,
        None => now_ms(),
    };
    let json = match &a.data_dir {
        Some(dir) => offline(dir, &a, time, range)?,
        None => remote(&a, time, range)?,
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?,
        Format::Table => print_table(&mut out, &json)?,
    }
    Ok(())
}

fn remote(a: &QueryArgs, time: i64, range: Option<(i64, i64, i64)>) -> Result<Json> {
    let client = reqwest::blocking::Client::new();
    let base = a.server.trim_end_matches('/');
    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let (url, params) = match range {
        Some((s, e, st)) => (
            format!("{base}/api/v1/query_range"),
            vec![
                ("query", a.expr.clone()),
                ("start", secs(s)),
                ("end", secs(e)),
                ("step", secs(st)),
            ],
        ),
        None => (
            format!("{base}/api/v1/query"),
            vec![("query", a.expr.clone()), ("time", secs(time))],
        ),
    };
    let mut req = client.post(&url).form(&params);
    if let Some(t) = &a.tenant {
        req = req.header(strata_http::TENANT_HEADER, t);
    }
    let resp = req.send().with_context(|| format!("querying {url}"))?;
    let v: Json = resp
        .json()
        .with_context(|| format!("reading the answer of {url}"))?;
    if v["status"] != "success" {
        bail!(
            "{}: {}",
            v["errorType"].as_str().unwrap_or("error"),
            v["error"].as_str().unwrap_or("unknown error")
        );
    }
    Ok(v)
}

fn offline(
    dir: &std::path::Path,
    a: &QueryArgs,
    time: i64,
    range: Option<(i64, i64, i64)>,
) -> Result<Json> {
    let db = strata_tsdb::Db::open_read_only(strata_tsdb::DbOptions {
        data_dir: dir.to_path_buf(),
        ..Default::default()
    })
    .with_context(|| format!("opening {} read-only", dir.display()))?;
    let tenant = match &a.tenant {
        Some(t) => TenantId::parse(t).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?,
        None => TenantId::single(),
    };
    let engine = strata_promql::Engine::new(strata_promql::EngineOptions::default());
    let opts = strata_promql::QueryOpts::default();
    let out = match range {
        Some((s, e, st)) => engine.range(&db, &tenant, &a.expr, s, e, st, &opts),
        None => engine.instant(&db, &tenant, &a.expr, time, &opts),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let resp = strata_http::query::render(out, 0);
    let body = tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(axum::body::to_bytes(resp.into_body(), usize::MAX))?;
    Ok(serde_json::from_slice(&body)?)
}

fn fmt_ts(t: &Json) -> String {
    strata_http::params::format_rfc3339((t.as_f64().unwrap_or(0.0) * 1000.0).round() as i64)
}

fn labels_str(m: &Json) -> String {
    let Some(obj) = m.as_object() else {
        return "{}".into();
    };
    let name = obj.get("__name__").and_then(|v| v.as_str()).unwrap_or("");
    let rest: Vec<String> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| {
            format!(
                "{k}={}",
                strata_model::labels::quote(v.as_str().unwrap_or(""))
            )
        })
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

fn print_table(out: &mut impl Write, v: &Json) -> Result<()> {
    let data = &v["data"];
    let val = |p: &Json| p[1].as_str().unwrap_or("").to_string();
    match data["resultType"].as_str() {
        Some("vector") => {
            let rows: Vec<(String, String, String)> = data["result"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| {
                            (
                                labels_str(&s["metric"]),
                                val(&s["value"]),
                                fmt_ts(&s["value"][0]),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(6).max(6);
            writeln!(out, "{:<w$}  {:>20}  TIME", "SERIES", "VALUE")?;
            for (l, v, t) in &rows {
                writeln!(out, "{l:<w$}  {v:>20}  {t}")?;
            }
            if rows.is_empty() {
                writeln!(out, "(empty result)")?;
            }
        }
        Some("matrix") => {
            let series = data["result"].as_array().cloned().unwrap_or_default();
            for s in &series {
                writeln!(out, "{}", labels_str(&s["metric"]))?;
                for p in s["values"].as_array().into_iter().flatten() {
                    writeln!(out, "  {}  {:>20}", fmt_ts(&p[0]), val(p))?;
                }
            }
            if series.is_empty() {
                writeln!(out, "(empty result)")?;
            }
        }
        Some("scalar") | Some("string") => {
            writeln!(
                out,
                "{}  {}",
                val(&data["result"]),
                fmt_ts(&data["result"][0])
            )?;
        }
        _ => writeln!(out, "{v}")?,
    }
    for key in ["warnings", "infos"] {
        for w in v[key].as_array().into_iter().flatten() {
            writeln!(
                out,
                "{}: {}",
                &key[..key.len() - 1],
                w.as_str().unwrap_or("")
            )?;
        }
    }
    Ok(())
}
