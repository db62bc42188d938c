//! `strata tsdb stats` and `strata tsdb dump`: offline inspection of a data
//! directory, WAL included, without modifying it.

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use strata_model::format::format_go_g;
use strata_model::{Matcher, Queryable, SelectHints, TenantId};
use strata_tsdb::{Db, DbOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum TsdbCommand {
    /// Series, samples, chunks, blocks, bytes per sample and top cardinality.
    Stats {
        /// Data directory of a (preferably stopped) server.
        #[arg(long = "data-dir", default_value = "./strata-data")]
        data_dir: PathBuf,
        /// Only this tenant (default: every tenant found).
        #[arg(long)]
        tenant: Option<String>,
        /// How many entries in each top-cardinality list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Every sample, one per line, in promtool's dump format:
    /// `{__name__="x", a="b"} <value> <timestamp-ms>`.
    Dump {
        #[arg(long = "data-dir", default_value = "./strata-data")]
        data_dir: PathBuf,
        /// Series selector, e.g. 'up{job="node"}' (default: every series).
        #[arg(long = "match")]
        selector: Option<String>,
        /// Earliest timestamp to dump, in ms.
        #[arg(long = "min-time", default_value_t = i64::MIN / 4, allow_negative_numbers = true)]
        min_time: i64,
        /// Latest timestamp to dump, in ms.
        #[arg(long = "max-time", default_value_t = i64::MAX / 4, allow_negative_numbers = true)]
        max_time: i64,
        /// Only this tenant (default: every tenant found).
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn open(data_dir: &std::path::Path) -> Result<Db> {
    if !data_dir.is_dir() {
        bail!("data directory {} does not exist", data_dir.display());
    }
    Db::open_read_only(DbOptions {
        data_dir: data_dir.to_path_buf(),
        ..DbOptions::default()
    })
    .with_context(|| format!("opening {} read-only", data_dir.display()))
}

fn tenants(db: &Db, only: &Option<String>) -> Result<Vec<TenantId>> {
    match only {
        Some(t) => Ok(vec![
            TenantId::parse(t).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?,
        ]),
        None => Ok(db.tenants()),
    }
}

pub fn run(cmd: TsdbCommand) -> Result<()> {
    match cmd {
        TsdbCommand::Stats {
            data_dir,
            tenant,
            top,
            format,
        } => stats(&data_dir, &tenant, top, format),
        TsdbCommand::Dump {
            data_dir,
            selector,
            min_time,
            max_time,
            tenant,
        } => dump(&data_dir, selector.as_deref(), min_time, max_time, &tenant),
    }
}

fn stats(
    data_dir: &std::path::Path,
    tenant: &Option<String>,
    top: usize,
    format: OutputFormat,
) -> Result<()> {
    let db = open(data_dir)?;
    let mut all = Vec::new();
    for t in tenants(&db, tenant)? {
        let s = db.stats(&t, top)?;
        all.push((t, s));
    }
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            let v: Vec<serde_json::Value> = all.iter().map(|(t, s)| stats_json(t, s)).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        OutputFormat::Table => {
            for (t, s) in &all {
                print_stats_table(&mut out, t, s)?;
            }
        }
    }
    Ok(())
}

fn total_samples(s: &strata_tsdb::TsdbStats) -> u64 {
    s.head_samples + s.blocks.iter().map(|b| b.stats.num_samples).sum::<u64>()
}

fn bytes_per_sample(s: &strata_tsdb::TsdbStats) -> f64 {
    let block_samples: u64 = s.blocks.iter().map(|b| b.stats.num_samples).sum();
    if block_samples == 0 {
        0.0
    } else {
        s.block_bytes as f64 / block_samples as f64
    }
}

fn stats_json(t: &TenantId, s: &strata_tsdb::TsdbStats) -> serde_json::Value {
    let pairs = |v: &Vec<(String, u64)>| -> Vec<serde_json::Value> {
        v.iter()
            .map(|(n, c)| serde_json::json!({"name": n, "value": c}))
            .collect()
    };
    serde_json::json!({
        "tenant": t.as_str(),
        "series": s.num_series,
        "samples": total_samples(s),
        "headSeries": s.head_series,
        "headSamples": s.head_samples,
        "headChunks": s.head_chunks,
        "headMinTime": s.head_min_time,
        "headMaxTime": s.head_max_time,
        "blocks": s.blocks.iter().map(|b| serde_json::json!({
            "ulid": b.ulid, "minTime": b.min_time, "maxTime": b.max_time,
            "series": b.stats.num_series, "samples": b.stats.num_samples,
            "chunks": b.stats.num_chunks, "bytes": b.stats.num_bytes,
            "level": b.compaction.level,
        })).collect::<Vec<_>>(),
        "blockBytes": s.block_bytes,
        "walBytes": s.wal_bytes,
        "blockBytesPerSample": bytes_per_sample(s),
        "labelNamesByCardinality": pairs(&s.top_label_names_by_cardinality),
        "seriesCountByMetricName": pairs(&s.top_series_count_by_metric_name),
        "seriesCountByLabelValuePair": pairs(&s.top_series_count_by_label_pair),
    })
}

fn print_stats_table(out: &mut impl Write, t: &TenantId, s: &strata_tsdb::TsdbStats) -> Result<()> {
    writeln!(out, "Tenant: {t}")?;
    writeln!(out, "  Series:            {}", s.num_series)?;
    writeln!(out, "  Samples:           {}", total_samples(s))?;
    writeln!(
        out,
        "  Head:              {} series, {} samples, {} chunks, time {}..{}",
        s.head_series, s.head_samples, s.head_chunks, s.head_min_time, s.head_max_time
    )?;
    writeln!(
        out,
        "  Blocks:            {} ({} bytes, {:.3} bytes/sample)",
        s.blocks.len(),
        s.block_bytes,
        bytes_per_sample(s)
    )?;
    writeln!(out, "  WAL:               {} bytes", s.wal_bytes)?;
    for b in &s.blocks {
        writeln!(
            out,
            "    {}  {}..{}  level {}  {} series  {} samples  {} chunks  {} bytes",
            b.ulid,
            b.min_time,
            b.max_time,
            b.compaction.level,
            b.stats.num_series,
            b.stats.num_samples,
            b.stats.num_chunks,
            b.stats.num_bytes
        )?;
    }
    for (title, list) in [
        (
            "Label names by number of values",
            &s.top_label_names_by_cardinality,
        ),
        (
            "Series count by metric name",
            &s.top_series_count_by_metric_name,
        ),
        (
            "Series count by label pair",
            &s.top_series_count_by_label_pair,
        ),
    ] {
        writeln!(out, "  {title}:")?;
        for (n, c) in list {
            writeln!(out, "    {c:>10}  {n}")?;
        }
    }
    Ok(())
}

fn dump(
    data_dir: &std::path::Path,
    selector: Option<&str>,
    min_time: i64,
    max_time: i64,
    tenant: &Option<String>,
) -> Result<()> {
    let sets: Vec<Vec<Matcher>> = match selector {
        Some(s) => strata_http::params::parse_selector(s)
            .map_err(|e| anyhow::anyhow!("--match {s:?}: {e}"))?,
        None => vec![vec![Matcher::new(
            strata_model::MatchOp::RegexMatch,
            "__name__",
            ".+",
        )?]],
    };
    let db = open(data_dir)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let hints = SelectHints {
        start: min_time,
        end: max_time,
        series_only: false,
        limit: 0,
        newest_only: false,
        any_order: false,
    };
    for t in tenants(&db, tenant)? {
        let q = db.querier(&t, min_time, max_time)?;
        for set in &sets {
            for series in q.select(&hints, set)? {
                let mut series = series?;
                let labels = series.labels.to_string();
                while let Some(s) = series.samples.next() {
                    writeln!(out, "{labels} {} {}", format_go_g(s.v), s.t)?;
                }
                if let Some(e) = series.samples.err() {
                    bail!("reading {labels}: {e}");
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}
