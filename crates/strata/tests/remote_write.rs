//! Remote-write error handling against the real binary: every malformed
//! body gets the right status and a message; the server stays up and
//! nothing already stored is lost.

mod support;

use support::*;

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .unwrap_or_default()
}

/// A protobuf TimeSeries with the given label pairs and one sample, by hand,
/// so invalid UTF-8 and duplicate names can be expressed.
fn raw_series(labels: &[(&[u8], &[u8])], t: i64, v: f64) -> Vec<u8> {
    fn varint(mut n: u64, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    fn bytes_field(tag: u8, b: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
    let mut ts = Vec::new();
    for (n, val) in labels {
        let mut l = Vec::new();
        bytes_field(0x0a, n, &mut l);
        bytes_field(0x12, val, &mut l);
        bytes_field(0x0a, &l, &mut ts);
    }
    let mut s = vec![0x09];
    s.extend_from_slice(&v.to_le_bytes());
    s.push(0x10);
    varint(t as u64, &mut s);
    bytes_field(0x12, &s, &mut ts);
    let mut req = Vec::new();
    bytes_field(0x0a, &ts, &mut req);
    req
}

#[test]
fn malformed_requests_get_clear_errors_and_nothing_is_lost() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[
            "--limits.max-request-body-size",
            "64KB",
            "--limits.max-labels-per-series",
            "5",
        ],
    );
    let t0 = now_ms() - 60_000;
    let (code, body) = server.write(&[series(
        "keep_me",
        &[("a", "1")],
        &[(t0, 1.0), (t0 + 1000, 2.0)],
    )]);
    assert_eq!(code, 204, "{body}");

    // Whole-request failures: 400 with a message.
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "bad snappy",
            b"definitely not snappy".to_vec(),
            400,
            "snappy",
        ),
        (
            "garbage protobuf",
            snappy(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            400,
            "",
        ),
        (
            "truncated protobuf",
            snappy(&raw_series(&[(b"__name__", b"x")], t0, 1.0)[..10]),
            400,
            "",
        ),
        ("over the body cap", vec![0u8; 100 * 1024], 413, "too large"),
    ];
    for (what, body, want, needle) in cases {
        let (code, msg) = server.write_raw(body, None);
        assert_eq!(code, want, "{what}: {msg}");
        assert!(
            msg.to_lowercase().contains(needle),
            "{what}: message {msg:?} should mention {needle:?}"
        );
    }

    // Per-series failures: the good series in the same request are stored.
    let good = raw_series(&[(b"__name__", b"good_one")], t0, 7.0);
    let bad_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "invalid utf-8 value",
            raw_series(&[(b"__name__", b"m"), (b"a", b"\xff\xfe")], t0, 1.0),
            "utf",
        ),
        (
            "empty label name",
            raw_series(&[(b"__name__", b"m"), (b"", b"v")], t0, 1.0),
            "label name",
        ),
        (
            "duplicate label name",
            raw_series(&[(b"__name__", b"m"), (b"a", b"1"), (b"a", b"2")], t0, 1.0),
            "duplicate",
        ),
        ("empty label set", raw_series(&[], t0, 1.0), "empty"),
        (
            "too many labels",
            raw_series(
                &[
                    (b"__name__", b"m"),
                    (b"a", b"1"),
                    (b"b", b"1"),
                    (b"c", b"1"),
                    (b"d", b"1"),
                    (b"e", b"1"),
                ],
                t0,
                1.0,
            ),
            "labels",
        ),
    ];
    for (what, bad, needle) in bad_cases {
        let mut body = good.clone();
        body.extend_from_slice(&bad);
        let (code, msg) = server.write_raw(snappy(&body), None);
        assert_eq!(code, 400, "{what}: {msg}");
        assert!(
            msg.to_lowercase().contains(needle),
            "{what}: message {msg:?} should mention {needle:?}"
        );
        assert!(msg.contains("rejected"), "{what}: {msg}");
    }

    // Out-of-order and duplicate samples are rejected by default.
    let (code, msg) = server.write(&[series("keep_me", &[("a", "1")], &[(t0 - 1000, 5.0)])]);
    assert_eq!(code, 400, "out of order: {msg}");
    assert!(msg.to_lowercase().contains("out of order"), "{msg}");
    let (code, msg) = server.write(&[series("keep_me", &[("a", "1")], &[(t0 + 1000, 99.0)])]);
    assert_eq!(code, 400, "duplicate timestamp: {msg}");
    // An identical resend (as a retrying sender does) is accepted silently.
    let (code, msg) = server.write(&[series("keep_me", &[("a", "1")], &[(t0 + 1000, 2.0)])]);
    assert_eq!(code, 204, "identical resend: {msg}");

    let (code, _) = server.get_json("/-/healthy", None);
    assert_eq!(code, 200, "server must stay up");
    assert_eq!(server.stop(), Some(0));
    let kept = dump(dir.path(), &["--match", "keep_me"]);
    assert_eq!(
        kept.iter()
            .map(|(_, v, t)| (v.as_str(), *t))
            .collect::<Vec<_>>(),
        vec![("1", t0), ("2", t0 + 1000)]
    );
    let good = dump(dir.path(), &["--match", "good_one"]);
    assert_eq!(
        good.len(),
        1,
        "the good series of each partially bad request is stored once (duplicates ignored)"
    );
    Ok(())
}

#[test]
fn out_of_order_window_accepts_late_samples() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &["--storage.out-of-order-window", "10m"]);
    let t0 = now_ms() - 60_000;
    assert_eq!(server.write(&[series("ooo", &[], &[(t0, 1.0)])]).0, 204);
    assert_eq!(
        server
            .write(&[series("ooo", &[], &[(t0 - 120_000, 0.5)])])
            .0,
        204
    );
    let (code, msg) = server.write(&[series("ooo", &[], &[(t0 - 3_600_000, 0.1)])]);
    assert_eq!(code, 400, "outside the window: {msg}");
    assert_eq!(server.stop(), Some(0));
    let got = dump(dir.path(), &["--match", "ooo"]);
    assert_eq!(
        got.iter()
            .map(|(_, v, t)| (v.as_str(), *t))
            .collect::<Vec<_>>(),
        vec![("0.5", t0 - 120_000), ("1", t0)]
    );
    Ok(())
}

#[test]
fn stale_markers_are_stored_bit_exactly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let t0 = now_ms() - 60_000;
    let stale = strata_model::stale_nan();
    let (code, msg) = server.write(&[(
        strata_model::Labels::from_pairs([("__name__", "stale_test")]),
        vec![
            strata_model::Sample::new(t0, 1.0),
            strata_model::Sample::new(t0 + 15_000, stale),
            strata_model::Sample::new(t0 + 30_000, f64::NAN),
        ],
    )]);
    assert_eq!(code, 204, "{msg}");
    let server2_dir = dir.path().to_path_buf();
    server.kill9();
    // Through WAL replay and a snapshot block, the stale marker keeps its bits.
    let server = Server::start(&server2_dir, &["--web.enable-admin-api"]);
    let r = server
        .client
        .post(server.url("/api/v1/admin/tsdb/snapshot"))
        .send()?;
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json()?;
    let name = v["data"]["name"]
        .as_str()
        .ok_or("no snapshot name")?
        .to_string();
    assert_eq!(server.stop(), Some(0));
    let snap_dir = server2_dir.join("snapshots").join(&name);
    assert!(snap_dir.is_dir(), "snapshot dir {snap_dir:?} missing");
    use strata_model::Queryable as _;
    // The snapshot is a data directory of its own: read the stale marker
    // back from the block it holds.
    let db = strata_tsdb::Db::open_read_only(strata_tsdb::DbOptions {
        data_dir: snap_dir.clone(),
        ..Default::default()
    })?;
    let q = db.querier(
        &strata_model::TenantId::single(),
        i64::MIN / 4,
        i64::MAX / 4,
    )?;
    let m = [strata_model::Matcher::equal("__name__", "stale_test")];
    let mut it = q.select(
        &strata_model::SelectHints {
            start: i64::MIN / 4,
            end: i64::MAX / 4,
            ..Default::default()
        },
        &m,
    )?;
    let mut s = it.next().ok_or("series missing")??;
    let mut bits = Vec::new();
    while let Some(x) = s.samples.next() {
        bits.push(x.v.to_bits());
    }
    assert_eq!(
        bits,
        vec![
            1.0f64.to_bits(),
            strata_model::STALE_NAN_BITS,
            f64::NAN.to_bits()
        ]
    );
    Ok(())
}

#[test]
fn ingestion_rate_limit_answers_429_and_recovers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[
            "--limits.ingestion-rate",
            "100",
            "--limits.ingestion-burst-size",
            "100",
        ],
    );
    let t0 = now_ms() - 60_000;
    let many: Vec<(i64, f64)> = (0..150).map(|i| (t0 + i, i as f64)).collect();
    let (code, msg) = server.write(&[series("rate_limited", &[], &many)]);
    assert_eq!(code, 429, "{msg}");
    assert!(msg.contains("ingestion rate limit"), "{msg}");
    let (code, msg) = server.write(&[series("rate_limited", &[], &many[..50])]);
    assert_eq!(code, 204, "within the burst: {msg}");
    assert_eq!(server.stop(), Some(0));
    assert_eq!(
        dump(dir.path(), &["--match", "rate_limited"]).len(),
        50,
        "a refused request stores nothing"
    );
    Ok(())
}
