//! Differential test: every document in `tests/expo_cases/` is served over
//! loopback HTTP (`*.prom` as `text/plain; version=0.0.4`, `*.om` as
//! `application/openmetrics-text; version=1.0.0`) and scraped by a real
//! Prometheus (Debian's 2.42), one job per case. A case Prometheus scrapes
//! successfully (`up` = 1) must parse here and give the same label sets and
//! values; a case whose scrape fails must be a parse error here.
//!
//! The same run scrapes 300 mutants of the case files (one or two byte
//! edits, fixed seed): each must be accepted or refused as Prometheus does,
//! with the same series where they are comparable (see `Compare`).
//!
//! Strata follows Prometheus 3; the local Prometheus is 2.42. Cases where
//! the two versions differ on purpose are listed in `KNOWN_DIFFERENCES`, and
//! are checked to be exactly the ones that differ.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use strata_scrape::expo::{Entry, Format, Parser};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "text_histogram_le",
        "Prometheus 3 normalises classic histogram `le` values to OpenMetrics floats \
         (`1` → `1.0`; model/textparse normalizeFloatsInLabelValues, prometheus#14417); 2.42 \
         stores them as written.",
    ),
    (
        "text_summary_quantile",
        "Same normalisation for summary `quantile` labels (`0` → `0.0`).",
    ),
    (
        "text_utf8_names",
        "Quoted UTF-8 metric and label names are Prometheus 3 syntax; 2.42 fails the scrape.",
    ),
    (
        "om_histogram_le",
        "The `le` normalisation applies to OpenMetrics too in Prometheus 3.",
    ),
    (
        "text_whitespace",
        "Prometheus 3 keeps the blanks before a metric name in the name (promparse.go takes the \
         name from the line start) and its UTF-8 name validation accepts them; 2.42's legacy \
         validation fails the scrape.",
    ),
    (
        "om_utf8_names",
        "Quoted UTF-8 names in OpenMetrics are Prometheus 3 syntax; 2.42 fails the scrape.",
    ),
];

struct Case {
    name: String,
    format: Format,
    body: Vec<u8>,
}

fn cases() -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let dir = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/expo_cases");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("prom") => Format::PrometheusText0_0_4,
            Some("om") => Format::OpenMetrics1_0_0,
            _ => continue,
        };
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("bad case file name")?
            .to_string();
        out.push(Case {
            name,
            format,
            body: std::fs::read(&path)?,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// What Strata makes of a case: `None` for a parse error, else each
/// series' label set (rendered) and value (rendered, NaN as `NaN`).
fn strata(case: &Case) -> Option<BTreeMap<String, String>> {
    let mut p = Parser::new(case.format, &case.body);
    let mut out = BTreeMap::new();
    loop {
        match p.next() {
            Ok(None) => return Some(out),
            Ok(Some(Entry::Series(s))) => {
                out.insert(s.to_labels().to_string(), render_value(s.value));
            }
            Ok(Some(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Values compared as numbers (the API prints large ones in exponent form).
fn render_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v:?}")
    }
}

/// Serves `/case/<name>` until the process ends.
fn serve(cases: &[Case]) -> Result<String, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let bodies: BTreeMap<String, (Format, Vec<u8>)> = cases
        .iter()
        .map(|c| (c.name.clone(), (c.format, c.body.clone())))
        .collect();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split(' ').nth(1).unwrap_or("");
            let name = path.strip_prefix("/case/").unwrap_or("");
            let response = match bodies.get(name) {
                Some((format, body)) => {
                    let ct = if format.is_openmetrics() {
                        "application/openmetrics-text; version=1.0.0; charset=utf-8"
                    } else {
                        "text/plain; version=0.0.4; charset=utf-8"
                    };
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    Ok(addr)
}

struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Option<u16> {
    TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()
        .map(|a| a.port())
}

fn start_prometheus(dir: &Path, target: &str, cases: &[Case]) -> Option<Prometheus> {
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n");
    for c in cases {
        config.push_str(&format!(
            "  - job_name: {}\n    metrics_path: /case/{}\n    static_configs:\n      - targets: ['{target}']\n",
            c.name, c.name
        ));
    }
    let config_path: PathBuf = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).ok()?;
    let port = free_port()?;
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

/// A GET over a plain TCP socket (the API answers small JSON documents).
fn get_json(url: &str, path_and_query: &str) -> Result<Json, Box<dyn std::error::Error>> {
    let hostport = url.strip_prefix("http://").ok_or("url")?;
    let mut s = std::net::TcpStream::connect(hostport)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map(|x| x.1).ok_or("no body")?;
    Ok(serde_json::from_str(body)?)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn labels_string(metric: &serde_json::Map<String, Json>) -> String {
    let pairs: Vec<(&str, &str)> = metric
        .iter()
        .filter(|(k, _)| *k != "job" && *k != "instance")
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    strata_model::Labels::from_pairs(pairs).to_string()
}

/// What Prometheus made of each case: `None` when the scrape failed.
fn prometheus_results(
    prom: &Prometheus,
    cases: &[Case],
) -> Result<BTreeMap<String, Option<BTreeMap<String, String>>>, Box<dyn std::error::Error>> {
    // Wait until every target has been scraped twice (health known and a
    // second scrape after it, so the stored samples are in place).
    let deadline = Instant::now() + Duration::from_secs(60);
    let health: BTreeMap<String, String> = loop {
        if Instant::now() > deadline {
            return Err("prometheus did not scrape every target in time".into());
        }
        std::thread::sleep(Duration::from_millis(500));
        let Ok(t) = get_json(&prom.url, "/api/v1/targets") else {
            continue;
        };
        let active = t["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let h: BTreeMap<String, String> = active
            .iter()
            .map(|t| {
                (
                    t["labels"]["job"].as_str().unwrap_or("").to_string(),
                    t["health"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if h.len() == cases.len() && h.values().all(|v| v != "unknown") {
            std::thread::sleep(Duration::from_millis(2500));
            break h;
        }
    };
    let mut out = BTreeMap::new();
    for c in cases {
        if health.get(&c.name).map(String::as_str) != Some("up") {
            out.insert(c.name.clone(), None);
            continue;
        }
        let q = format!(
            "/api/v1/query?query={}",
            encode(&format!(
                "{{job=\"{}\",__name__!~\"up|scrape_.*\"}}",
                c.name
            ))
        );
        // A loaded Prometheus can report a target up a moment before its
        // samples can be queried: ask again before taking "none" for it.
        let mut r = get_json(&prom.url, &q)?;
        let expect_series =
            matches!(comparison(c), Compare::Full) && strata(c).is_some_and(|m| !m.is_empty());
        for _ in 0..5 {
            if !expect_series
                || r["data"]["result"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
            r = get_json(&prom.url, &q)?;
        }
        let mut series = BTreeMap::new();
        for s in r["data"]["result"].as_array().cloned().unwrap_or_default() {
            let metric = s["metric"].as_object().cloned().unwrap_or_default();
            let text = s["value"][1].as_str().unwrap_or("");
            let value = text
                .parse::<f64>()
                .map(render_value)
                .unwrap_or_else(|_| text.to_string());
            series.insert(labels_string(&metric), value);
        }
        out.insert(c.name.clone(), Some(series));
    }
    Ok(out)
}

/// Case files whose features 2.42 treats differently from Prometheus 3 on
/// purpose (see `KNOWN_DIFFERENCES`) are not mutated.
fn mutation_base(c: &Case) -> bool {
    !KNOWN_DIFFERENCES.iter().any(|(n, _)| *n == c.name)
}

/// Documents one or two byte edits away from the case files, chosen by a
/// fixed-seed generator among the bytes the grammars care about.
fn mutants(cases: &[Case], n: usize, seed: u64, max_edits: usize) -> Vec<Case> {
    const INTERESTING: &[u8] = b" \t\n\"\\{},=#0a._-+e\r\0:1";
    let base: Vec<&Case> = cases.iter().filter(|c| mutation_base(c)).collect();
    let mut state = seed | 1;
    let mut rnd = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    let mut out = Vec::new();
    while out.len() < n {
        let src = base[rnd(base.len())];
        let mut body = src.body.clone();
        for _ in 0..1 + rnd(max_edits) {
            let at = rnd(body.len() + 1);
            match rnd(4) {
                0 if at < body.len() => {
                    body.remove(at);
                }
                1 if at < body.len() => body.insert(at, body[at]),
                2 if at + 1 < body.len() => body.swap(at, at + 1),
                _ => body.insert(at, INTERESTING[rnd(INTERESTING.len())]),
            }
        }
        if body.is_empty() || body == src.body {
            continue;
        }
        out.push(Case {
            name: format!("mut_{:03}_{}", out.len(), src.name),
            format: src.format,
            body,
        });
    }
    out
}

enum Compare {
    /// Acceptance and series.
    Full,
    /// Only whether both accept: Prometheus drops samples with (old)
    /// explicit timestamps and keeps the first of duplicate series.
    Acceptance,
    /// Not at all: where 2.42 refuses what Prometheus 3 accepts — names
    /// outside the legacy charset (quoted, or with the blanks before a name
    /// Prometheus 3 keeps), and exemplars on series not named `_total` or
    /// `_bucket` (allowed on every series since prometheus#13581).
    Skip,
}

fn comparison(c: &Case) -> Compare {
    let mut p = Parser::new(c.format, &c.body);
    let mut seen = BTreeSet::new();
    let legacy = |s: &str, metric: bool| {
        let mut b = s.bytes();
        matches!(b.next(), Some(x) if x.is_ascii_alphabetic() || x == b'_' || (metric && x == b':'))
            && b.all(|x| x.is_ascii_alphanumeric() || x == b'_' || (metric && x == b':'))
    };
    let has_exemplar = c.format.is_openmetrics() && c.body.windows(4).any(|w| w == b" # {");
    let mut result = Compare::Full;
    loop {
        match p.next() {
            Ok(Some(Entry::Series(s))) => {
                let name = s.name();
                if !legacy(&name, true) || s.labels().any(|(n, _)| !legacy(&n, false)) {
                    return Compare::Skip;
                }
                // Series the scrape itself writes (a mutant can rename one
                // into these).
                if name == "up" || name.starts_with("scrape_") {
                    return Compare::Skip;
                }
                if has_exemplar && !(name.ends_with("_total") || name.ends_with("_bucket")) {
                    return Compare::Skip;
                }
                if s.timestamp_ms.is_some() || !seen.insert(s.to_labels().to_string()) {
                    result = Compare::Acceptance;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return result,
            Err(_) => return Compare::Full,
        }
    }
}

#[test]
fn parser_agrees_with_prometheus_scrapes() -> TestResult {
    let files = cases()?;
    assert!(files.len() >= 40, "case files missing");
    // STRATA_EXPO_MUTANTS / _SEED / _EDITS explore beyond the fixed set.
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mutants = mutants(
        &files,
        env("STRATA_EXPO_MUTANTS").unwrap_or(300) as usize,
        env("STRATA_EXPO_SEED").unwrap_or(0x2545_f491_4f6c_dd1d),
        env("STRATA_EXPO_EDITS").unwrap_or(2) as usize,
    );
    let mut cases = files;
    let n_files = cases.len();
    cases.extend(mutants);
    let dir = tempfile::tempdir()?;
    let addr = serve(&cases)?;
    let Some(prom) = start_prometheus(dir.path(), &addr, &cases) else {
        if std::env::var("STRATA_REQUIRE_PEERS").is_ok() {
            return Err("prometheus is not installed or did not start".into());
        }
        eprintln!("SKIPPED: prometheus not installed; run ./scripts/test.sh to install it");
        return Ok(());
    };
    let theirs = prometheus_results(&prom, &cases)?;
    let mut differing = BTreeSet::new();
    let mut report = String::new();
    for c in &cases[n_files..] {
        let ours = strata(c);
        let prom = theirs.get(&c.name).cloned().flatten();
        let differ = match comparison(c) {
            Compare::Full => ours != prom,
            Compare::Acceptance => ours.is_some() != prom.is_some(),
            Compare::Skip => false,
        };
        if differ {
            report.push_str(&format!(
                "{} {:?}:\n  strata:     {ours:?}\n  prometheus: {prom:?}\n",
                c.name,
                String::from_utf8_lossy(&c.body)
            ));
        }
    }
    assert!(report.is_empty(), "mutants that differ:\n{report}");
    for c in &cases[..n_files] {
        let ours = strata(c);
        let prom = theirs.get(&c.name).cloned().flatten();
        if ours != prom {
            differing.insert(c.name.clone());
            report.push_str(&format!(
                "{}:\n  strata:     {ours:?}\n  prometheus: {prom:?}\n",
                c.name
            ));
        }
    }
    let known: BTreeSet<String> = KNOWN_DIFFERENCES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(differing, known, "differences:\n{report}");
    // The accepted/refused split is not degenerate.
    let refused = theirs.values().filter(|v| v.is_none()).count();
    assert!(
        refused > 10 && refused < cases.len() - 10,
        "{refused} refused"
    );
    Ok(())
}
