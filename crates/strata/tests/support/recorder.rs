//! A remote-write receiver that records what it acknowledged, so tests
//! can tell a resent sample from a new one (a real Prometheus silently
//! accepts an identical resent sample).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (series labels, timestamp) → how many times a 2xx acknowledged it.
pub type Acked = Arc<Mutex<HashMap<(String, i64), u32>>>;

pub struct Recorder {
    pub port: u16,
    pub acked: Acked,
    /// While set, every request gets a 503 (and nothing is recorded).
    pub down: Arc<AtomicBool>,
}

fn read_request(conn: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    let mut req = Vec::new();
    let mut buf = [0u8; 64 << 10];
    let head_end = loop {
        if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&req[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    while req.len() < head_end + len {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    Some(req[head_end..head_end + len].to_vec())
}

impl Recorder {
    pub fn start() -> std::io::Result<Recorder> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let acked: Acked = Default::default();
        let down = Arc::new(AtomicBool::new(false));
        let (a, d) = (acked.clone(), down.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (acked, down) = (a.clone(), d.clone());
                std::thread::spawn(move || {
                    let Some(body) = read_request(&mut conn) else {
                        return;
                    };
                    let status = if down.load(Ordering::SeqCst) {
                        "503 Service Unavailable"
                    } else {
                        let mut dec = strata_ingest::Decoder::new(Default::default());
                        match dec.decode(&body) {
                            Ok(d) => {
                                let mut acked = acked.lock().unwrap_or_else(|e| e.into_inner());
                                for i in 0..d.batch.len() {
                                    let l: Vec<String> = d
                                        .batch
                                        .series_labels(i)
                                        .iter()
                                        .map(|l| format!("{}={}", l.name, l.value))
                                        .collect();
                                    let key = l.join(",");
                                    for s in d.batch.series_samples(i) {
                                        *acked.entry((key.clone(), s.t)).or_default() += 1;
                                    }
                                }
                                "204 No Content"
                            }
                            Err(_) => "400 Bad Request",
                        }
                    };
                    let _ = conn.write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                });
            }
        });
        Ok(Recorder { port, acked, down })
    }

    /// (distinct samples of metric `name`, most acknowledgements of one).
    pub fn count(&self, name: &str) -> (usize, u32) {
        let acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        let mine: Vec<u32> = acked
            .iter()
            .filter(|((k, _), _)| k.contains(&format!("__name__={name}")))
            .map(|(_, n)| *n)
            .collect();
        (mine.len(), mine.into_iter().max().unwrap_or(0))
    }

    pub fn wait_for(&self, name: &str, distinct: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (n, _) = self.count(name);
            if n >= distinct {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {n} of {distinct} samples arrived"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
