//! Acknowledged writes survive `kill -9`; a torn or corrupt WAL tail is
//! truncated on start, never a crash or a refusal to start.

mod support;

use std::collections::BTreeSet;
use support::*;

#[test]
fn acknowledged_samples_survive_kill_9_mid_stream() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let base = now_ms() - 60_000;
    let mut writers = Vec::new();
    // Several concurrent writers, so group commit batches requests together
    // when the kill lands.
    for w in 0..4 {
        let url = server.url("/api/v1/write");
        writers.push(std::thread::spawn(move || {
            let client = support::http_client();
            let mut acked: Vec<(String, i64)> = Vec::new();
            for i in 0..100_000i64 {
                let batch: Vec<_> = (0..20)
                    .map(|s| {
                        series(
                            "kill_test",
                            &[("writer", &w.to_string()), ("s", &s.to_string())],
                            &[(base + i, i as f64)],
                        )
                    })
                    .collect();
                let body = strata_ingest::encode_write_request(&batch);
                let ok = client
                    .post(&url)
                    .header("Content-Encoding", "snappy")
                    .body(body)
                    .send()
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if !ok {
                    break;
                }
                for s in 0..20 {
                    acked.push((format!("{w}/{s}"), base + i));
                }
            }
            acked
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    server.kill9();
    let mut acked = BTreeSet::new();
    for w in writers {
        acked.extend(w.join().map_err(|_| "writer panicked")?);
    }
    assert!(
        acked.len() > 1000,
        "too few acknowledged samples to mean anything: {}",
        acked.len()
    );

    // Restart: replay must bring back every acknowledged sample.
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.stop(), Some(0), "graceful stop must exit 0");
    let dumped: BTreeSet<(String, i64)> = dump(dir.path(), &["--match", "kill_test"])
        .into_iter()
        .map(|(labels, _v, t)| {
            let w = labels
                .split("writer=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string();
            let s = labels
                .split("s=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string();
            (format!("{w}/{s}"), t)
        })
        .collect();
    let missing: Vec<_> = acked.difference(&dumped).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged samples lost, e.g. {missing:?}",
        acked.difference(&dumped).count()
    );
    Ok(())
}

fn last_wal_segment(data_dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let wal = data_dir.join("anonymous").join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .map(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or(false)
        })
        .collect();
    segs.sort();
    segs.pop()
}

fn write_and_kill(dir: &std::path::Path, n: i64) -> Result<i64, Box<dyn std::error::Error>> {
    let server = Server::start(dir, &[]);
    let base = now_ms() - 3_600_000;
    for i in 0..n {
        let (code, body) = server.write(&[series(
            "wal_test",
            &[("i", "1")],
            &[(base + i * 1000, i as f64)],
        )]);
        assert_eq!(code, 204, "{body}");
    }
    server.kill9();
    Ok(base)
}

#[test]
fn torn_wal_tail_is_truncated_and_the_server_starts() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_and_kill(dir.path(), 50)?;
    let seg = last_wal_segment(dir.path()).ok_or("no WAL segment found")?;
    let len = std::fs::metadata(&seg)?.len();
    assert!(len > 10);
    // Tear the last record in half, as a crash during write(2) would.
    let f = std::fs::OpenOptions::new().write(true).open(&seg)?;
    f.set_len(len - 7)?;
    drop(f);
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.stop(), Some(0));
    let got = dump(dir.path(), &["--match", "wal_test"]);
    // Everything before the torn record is intact, in order.
    assert!(
        got.len() >= 48 && got.len() <= 49,
        "got {} samples",
        got.len()
    );
    for (i, (_, v, _)) in got.iter().enumerate() {
        assert_eq!(v, &i.to_string());
    }
    Ok(())
}

#[test]
fn corrupt_wal_bytes_and_garbage_tail_do_not_prevent_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_and_kill(dir.path(), 30)?;
    let seg = last_wal_segment(dir.path()).ok_or("no WAL segment found")?;
    let mut bytes = std::fs::read(&seg)?;
    // Flip a byte in the last third, then append garbage.
    let at = bytes.len() * 2 / 3;
    bytes[at] ^= 0xff;
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02]);
    std::fs::write(&seg, &bytes)?;
    let server = Server::start(dir.path(), &[]);
    // The server is usable after the truncation: new writes land.
    let (code, body) = server.write(&[series("after_corruption", &[], &[(now_ms(), 1.0)])]);
    assert_eq!(code, 204, "{body}");
    assert_eq!(server.stop(), Some(0));
    let got = dump(dir.path(), &["--match", "wal_test"]);
    assert!(
        !got.is_empty() && got.len() < 30,
        "expected a truncated prefix, got {}",
        got.len()
    );
    for (i, (_, v, _)) in got.iter().enumerate() {
        assert_eq!(
            v,
            &i.to_string(),
            "samples before the corruption must be intact"
        );
    }
    assert_eq!(dump(dir.path(), &["--match", "after_corruption"]).len(), 1);
    Ok(())
}
