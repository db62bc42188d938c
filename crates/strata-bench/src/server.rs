//! The servers under test: starting them on a fresh data directory (or
//! again on the same one after a `kill -9`), the remote-write sender, and
//! what is read from `/proc` and `/metrics`.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pre-built requests: rounds (one per 15 s step) of per-shard bodies.
pub type Rounds = Vec<Vec<Vec<Vec<u8>>>>;

/// Storage settings of one run. `None` keeps the server's default.
#[derive(Clone, Debug, Default)]
pub struct StorageOpts {
    /// Block range (Strata `--storage.block-range`; Prometheus min and max
    /// block duration), a Prometheus duration such as `10m`.
    pub block_range: Option<String>,
    /// Strata's `--storage.maintenance-interval` (Prometheus compacts when an
    /// append finds the head compactable, VictoriaMetrics has no blocks).
    pub maintenance_interval: Option<String>,
    /// A prometheus.yml for all three (VictoriaMetrics: `-promscrape.config`);
    /// none: no scraping at all.
    pub scrape_config: Option<String>,
}

pub struct Server {
    pub name: String,
    pub child: Child,
    pub url: String,
    pub write_path: String,
    pub data_dir: PathBuf,
    strata: PathBuf,
    opts: StorageOpts,
    tmp: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `name` on a fresh temporary data directory and waits until it is ready.
pub fn start(name: &str, strata: &Path, opts: &StorageOpts) -> Result<Server> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    let (child, url) = spawn(name, strata, tmp.path(), &data, opts)?;
    let mut srv = Server {
        name: name.to_string(),
        child,
        url,
        write_path: "/api/v1/write".to_string(),
        data_dir: data,
        strata: strata.to_path_buf(),
        opts: opts.clone(),
        tmp,
    };
    srv.wait_ready(Duration::from_secs(120))?;
    Ok(srv)
}

fn spawn(
    name: &str,
    strata: &Path,
    tmp: &Path,
    data: &Path,
    opts: &StorageOpts,
) -> Result<(Child, String)> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = match name {
        "strata" => {
            // The same empty scrape config as Prometheus gets: no
            // self-scrape competing with the measured ingest.
            let cfg = tmp.join("strata.yml");
            std::fs::write(
                &cfg,
                opts.scrape_config
                    .as_deref()
                    .unwrap_or("global:\n  scrape_interval: 15s\n"),
            )?;
            let mut c = Command::new(strata);
            c.arg("run")
                .arg("--config")
                .arg(&cfg)
                .arg("--data-dir")
                .arg(data)
                .arg("--listen")
                .arg(&addr)
                .args([
                    "--web.enable-admin-api",
                    "--retention.time",
                    "30d",
                    "--log.level",
                    "warn",
                ]);
            if let Some(r) = &opts.block_range {
                c.arg(format!("--storage.block-range={r}"));
            }
            if let Some(i) = &opts.maintenance_interval {
                c.arg(format!("--storage.maintenance-interval={i}"));
            }
            c
        }
        "prometheus" => {
            let cfg = tmp.join("prometheus.yml");
            std::fs::write(
                &cfg,
                opts.scrape_config
                    .as_deref()
                    .unwrap_or("global:\n  scrape_interval: 15s\n"),
            )?;
            let mut c = Command::new("prometheus");
            c.arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={addr}"))
                .args([
                    "--web.enable-remote-write-receiver",
                    "--web.enable-admin-api",
                    "--storage.tsdb.retention.time=30d",
                    "--log.level=warn",
                ]);
            if let Some(r) = &opts.block_range {
                c.arg(format!("--storage.tsdb.min-block-duration={r}"))
                    .arg(format!("--storage.tsdb.max-block-duration={r}"));
            }
            c
        }
        "victoriametrics" => {
            let mut c = Command::new("victoria-metrics");
            c.arg(format!("-storageDataPath={}", data.display()))
                .arg(format!("-httpListenAddr={addr}"))
                .args(["-retentionPeriod=1y", "-loggerLevel=ERROR"]);
            if let Some(y) = &opts.scrape_config {
                let cfg = tmp.join("promscrape.yml");
                std::fs::write(&cfg, y)?;
                c.arg(format!("-promscrape.config={}", cfg.display()))
                    // Scraped samples must be queryable at once, as in
                    // the other two, not 30 s later.
                    .arg("-search.latencyOffset=0s");
            }
            c
        }
        other => bail!("unknown target {other}"),
    };
    // The server's log goes next to (not into) the data directory, for
    // the error message when it does not come up.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(tmp.join("server.log"))?;
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    Ok((child, format!("http://{addr}")))
}

impl Server {
    /// Polls the readiness endpoint until it answers 200; returns how long that took.
    fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let path = if self.name == "victoriametrics" {
            "/health"
        } else {
            "/-/ready"
        };
        let t0 = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "{} exited with {status}; log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if t0.elapsed() > timeout {
                bail!(
                    "{} did not become ready in {timeout:?}; log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if client
                .get(format!("{}{path}", self.url))
                .send()
                .map(|r| r.status().is_success())
                .unwrap_or(false)
            {
                return Ok(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.tmp.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`, then the same server on the same data directory: returns
    /// the time from the new process' start to ready.
    pub fn kill_and_restart(&mut self, timeout: Duration) -> Result<Duration> {
        self.child.kill().context("kill -9")?;
        self.child.wait()?;
        let (child, url) = spawn(
            &self.name,
            &self.strata,
            self.tmp.path(),
            &self.data_dir,
            &self.opts,
        )?;
        self.child = child;
        self.url = url;
        self.wait_ready(timeout)
    }

    /// Sum of the samples of each metric in `names` on `/metrics` (label
    /// sets summed; a missing metric is absent from the answer).
    pub fn metrics(&self, names: &[&str]) -> Result<Vec<Option<f64>>> {
        let text = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?
            .get(format!("{}/metrics", self.url))
            .send()?
            .text()?;
        Ok(names.iter().map(|n| metric_sum(&text, n)).collect())
    }
}

/// Sum over the samples of metric `name` in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = if let Some(labels) = rest.strip_prefix('{') {
            labels.rsplit_once('}').map(|(_, v)| v)
        } else if rest.starts_with(' ') {
            Some(rest)
        } else {
            None
        };
        if let Some(v) = value
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
        {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

pub fn proc_cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (num(11) + num(12)) / 100.0
}

pub fn proc_status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

pub fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Bytes of every directory named `name` under `root` (snapshots excluded):
/// the WAL of each tenant, wherever the layout puts it.
pub fn named_dirs_size(root: &Path, name: &str) -> u64 {
    let Ok(rd) = std::fs::read_dir(root) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.metadata().map(|m| m.is_dir()).unwrap_or(false))
        .map(|e| {
            if e.file_name() == name {
                dir_size(&e.path())
            } else if e.file_name() == "snapshots" {
                0
            } else {
                named_dirs_size(&e.path(), name)
            }
        })
        .sum()
}

/// What a send phase saw.
pub struct SendStats {
    pub ok: u64,
    pub rejected: u64,
    /// Attempts answered 5xx/429 or failed in transport, then retried.
    pub retries: u64,
    /// Per request: from its first attempt to its accepted answer
    /// (retries and backoff included, as a remote-write queue sees it), ms.
    pub latencies_ms: Vec<f64>,
}

/// Sends every round, shard by shard over `shards` connections, all shards
/// advancing together.
pub fn send_all(srv: &Server, rounds: &Arc<Rounds>, shards: usize) -> Result<SendStats> {
    let url = format!("{}{}", srv.url, srv.write_path);
    let barrier = Arc::new(std::sync::Barrier::new(shards));
    let mut handles = Vec::new();
    for shard in 0..shards {
        let (url, rounds, barrier) = (url.clone(), rounds.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || -> Result<SendStats> {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?;
            let mut st = SendStats {
                ok: 0,
                rejected: 0,
                retries: 0,
                latencies_ms: Vec::new(),
            };
            for round in rounds.iter() {
                for body in &round[shard] {
                    let mut backoff = Duration::from_millis(50);
                    let t0 = Instant::now();
                    loop {
                        let r = client
                            .post(&url)
                            .header("Content-Encoding", "snappy")
                            .header("Content-Type", "application/x-protobuf")
                            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                            .body(body.clone())
                            .send();
                        match r {
                            Ok(r) if r.status().is_success() => {
                                st.ok += 1;
                                break;
                            }
                            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                            }
                            Ok(_) => {
                                st.rejected += 1;
                                break;
                            }
                            Err(_) => {}
                        }
                        st.retries += 1;
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                    st.latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                // All shards advance together, like a live queue in real time.
                barrier.wait();
            }
            Ok(st)
        }));
    }
    let mut all = SendStats {
        ok: 0,
        rejected: 0,
        retries: 0,
        latencies_ms: Vec::new(),
    };
    for h in handles {
        let st = h.join().map_err(|_| anyhow::anyhow!("sender panicked"))??;
        all.ok += st.ok;
        all.rejected += st.rejected;
        all.retries += st.retries;
        all.latencies_ms.extend(st.latencies_ms);
    }
    all.latencies_ms.sort_by(f64::total_cmp);
    Ok(all)
}

/// Bytes on disk once the head is written out as blocks (Strata and
/// Prometheus: an admin snapshot including the head; VictoriaMetrics:
/// force_flush, then data + index).
pub fn flush_and_measure(srv: &Server) -> Result<u64> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    match srv.name.as_str() {
        "strata" | "prometheus" => {
            let path = if srv.name == "strata" {
                "/api/v1/admin/tsdb/snapshot"
            } else {
                "/api/v1/admin/tsdb/snapshot?skip_head=false"
            };
            let r = client.post(format!("{}{path}", srv.url)).send()?;
            let v: serde_json::Value = serde_json::from_str(&r.text()?)?;
            let name = v["data"]["name"].as_str().context("snapshot name")?;
            Ok(dir_size(&srv.data_dir.join("snapshots").join(name)))
        }
        _ => {
            client
                .get(format!("{}/internal/force_flush", srv.url))
                .send()?;
            // Let background merges settle, then measure data + index.
            std::thread::sleep(Duration::from_secs(10));
            Ok(dir_size(&srv.data_dir.join("data")) + dir_size(&srv.data_dir.join("indexdb")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_metric_samples() {
        let text = "# HELP x_total x\n# TYPE x_total counter\nx_total 3\nx_total_other 100\n\
                    y{tenant=\"a\"} 2\ny{tenant=\"b\",le=\"}\"} 5 1700000000000\n";
        assert_eq!(metric_sum(text, "x_total"), Some(3.0));
        assert_eq!(metric_sum(text, "y"), Some(7.0));
        assert_eq!(metric_sum(text, "z"), None);
    }
}
