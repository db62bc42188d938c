//! Starts the real `strata` binary for integration tests.
#![allow(dead_code)]

pub mod recorder;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strata_model::{Labels, Sample};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strata")
}

/// A client builder for talking to the servers under test. reqwest is
/// built with rustls and no default crypto provider (the binary installs
/// ring in `main`), so tests install it too.
pub fn http_builder() -> reqwest::blocking::ClientBuilder {
    strata_scrape::tls::install_provider();
    reqwest::blocking::Client::builder()
}

pub fn http_client() -> reqwest::blocking::Client {
    http_builder()
        .build()
        .unwrap_or_else(|e| panic!("http client: {e}"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
    pub client: reqwest::blocking::Client,
}

impl Server {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_on(data_dir, free_port(), extra, "")
    }

    /// Starts on `port`, waiting for readiness at `route_prefix`/-/ready
    /// (for `--web.route-prefix` or `--web.external-url` with a path).
    pub fn start_on(data_dir: &Path, port: u16, extra: &[&str], route_prefix: &str) -> Server {
        let mut cmd = Command::new(bin());
        cmd.arg("run")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--log.level")
            .arg("warn")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning strata: {e}"));
        let client = http_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        let mut s = Server {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
            client,
        };
        s.wait_ready(route_prefix);
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    fn wait_ready(&mut self, route_prefix: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(e) = self.child.stderr.as_mut() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("strata exited early with {status}: {err}");
            }
            if let Ok(r) = self
                .client
                .get(self.url(&format!("{route_prefix}/-/ready")))
                .send()
                && r.status().as_u16() == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("strata did not become ready in 60s");
    }

    /// Sends a remote-write request; returns (status, body).
    pub fn write(&self, series: &[(Labels, Vec<Sample>)]) -> (u16, String) {
        self.write_raw(strata_ingest::encode_write_request(series), None)
    }

    pub fn write_raw(&self, body: Vec<u8>, tenant: Option<&str>) -> (u16, String) {
        let mut req = self
            .client
            .post(self.url("/api/v1/write"))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body);
        if let Some(t) = tenant {
            req = req.header("X-Scope-OrgID", t);
        }
        match req.send() {
            Ok(r) => {
                let code = r.status().as_u16();
                (code, r.text().unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }

    pub fn get_json(&self, path: &str, tenant: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = tenant {
            req = req.header("X-Scope-OrgID", t);
        }
        let r = req.send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let code = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        (
            code,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        let code = loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                break st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::mem::forget(self);
        code
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `strata tsdb dump` and parses its lines into (labels, value, ts).
pub fn dump(data_dir: &Path, extra: &[&str]) -> Vec<(String, String, i64)> {
    let out = Command::new(bin())
        .args(["tsdb", "dump", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("running dump: {e}"));
    assert!(
        out.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (rest, ts) = l.rsplit_once(' ')?;
            let (labels, v) = rest.rsplit_once(' ')?;
            Some((labels.to_string(), v.to_string(), ts.parse().ok()?))
        })
        .collect()
}

pub fn series(name: &str, extra: &[(&str, &str)], samples: &[(i64, f64)]) -> (Labels, Vec<Sample>) {
    let mut pairs = vec![("__name__", name)];
    pairs.extend_from_slice(extra);
    (
        Labels::from_pairs(pairs),
        samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether a peer program is on the PATH. `Ok(false)`: it is not and peers
/// are not required (a plain `cargo test`; the test skips, saying so); the
/// README's test command sets `STRATA_REQUIRE_PEERS`, which turns a missing
/// peer into an error.
pub fn peer_installed(cmd: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let installed = Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if installed {
        return Ok(true);
    }
    if std::env::var("STRATA_REQUIRE_PEERS").is_ok() {
        return Err(format!("{cmd} is not installed (scripts/test.sh installs it)").into());
    }
    eprintln!("SKIPPED: {cmd} not installed; run ./scripts/test.sh to install it");
    Ok(false)
}

/// A real Prometheus (Debian's `prometheus`) on loopback, killed on drop.
pub struct Prometheus {
    pub child: Child,
    pub port: u16,
    pub client: reqwest::blocking::Client,
}

impl Prometheus {
    /// Starts Prometheus with `config` (prometheus.yml text) in `dir`.
    /// `Ok(None)`: not installed and peers are not required (a plain
    /// `cargo test`); the README's test command sets `STRATA_REQUIRE_PEERS`,
    /// which turns a missing peer into a failure.
    pub fn start(
        dir: &Path,
        config: &str,
        extra: &[&str],
    ) -> Result<Option<Prometheus>, Box<dyn std::error::Error>> {
        if !peer_installed("prometheus")? {
            return Ok(None);
        }
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config)?;
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let client = http_builder().timeout(Duration::from_secs(30)).build()?;
        let p = Prometheus {
            child,
            port,
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = p.client.get(p.url("/-/ready")).send()
                && r.status().is_success()
            {
                return Ok(Some(p));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("prometheus did not become ready in 60s".into())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// An instant query's result vector.
    pub fn query(&self, q: &str) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
        let v: serde_json::Value = self
            .client
            .get(self.url("/api/v1/query"))
            .query(&[("query", q)])
            .send()?
            .json()?;
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback HTTP server whose responses `respond(path, n)` builds (the
/// n-th request): (content type, body, delay before answering).
pub fn serve(
    respond: impl Fn(&str, u64) -> (String, Vec<u8>, Duration) + Send + Sync + 'static,
) -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let respond = std::sync::Arc::new(respond);
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let respond = respond.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let path = String::from_utf8_lossy(&req)
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_string();
                let (ct, body, delay) = respond(
                    &path,
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                );
                std::thread::sleep(delay);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            });
        }
    });
    Ok(port)
}
