//! Remote-read served to a client: the samples response decoded here, and
//! a real Prometheus reading Strata's data through `remote_read` (it asks
//! for streamed XOR chunks).

mod support;

use prost::Message;
use std::time::{Duration, Instant};
use strata_http::remote_read::{LabelMatcher, Query, ReadRequest, ReadResponse};
use support::{Prometheus, Server, TestResult, now_ms, series};

fn samples(now: i64) -> Vec<(i64, f64)> {
    // 300 samples: more than two 120-sample chunks.
    (0..300)
        .map(|i| (now - 3_000_000 + i * 10_000, (i as f64) * 1.5 + 0.25))
        .collect()
}

#[test]
fn samples_response_holds_the_selected_series() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(dir.path(), &[]);
    let now = now_ms();
    let (code, body) = s.write(&[
        series("rr_metric", &[("job", "a")], &samples(now)),
        series("rr_metric", &[("job", "b")], &[(now - 1000, 7.0)]),
        series("rr_other", &[("job", "a")], &[(now - 1000, 1.0)]),
    ]);
    assert_eq!(code, 204, "{body}");
    let req = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: now - 3_600_000,
            end_timestamp_ms: now,
            matchers: vec![
                LabelMatcher {
                    r#type: 0,
                    name: "__name__".into(),
                    value: "rr_metric".into(),
                },
                LabelMatcher {
                    r#type: 2,
                    name: "job".into(),
                    value: "a|b".into(),
                },
            ],
        }],
        accepted_response_types: vec![0],
    };
    let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec())?;
    let r = s
        .client
        .post(s.url("/api/v1/read"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(body)
        .send()?;
    assert_eq!(r.status().as_u16(), 200);
    let raw = snap::raw::Decoder::new().decompress_vec(&r.bytes()?)?;
    let resp = ReadResponse::decode(raw.as_slice())?;
    assert_eq!(resp.results.len(), 1);
    let ts = &resp.results[0].timeseries;
    assert_eq!(ts.len(), 2);
    let got: Vec<(i64, f64)> = ts[0]
        .samples
        .iter()
        .map(|x| (x.timestamp, x.value))
        .collect();
    assert_eq!(got, samples(now));
    assert_eq!(ts[1].labels[1].value, "b");

    // Streamed XOR chunks: frames of uvarint length, big-endian CRC32C and
    // a ChunkedReadResponse, chunks of at most 120 samples.
    let mut req = req;
    req.accepted_response_types = vec![1, 0];
    let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec())?;
    let r = s.client.post(s.url("/api/v1/read")).body(body).send()?;
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
    );
    let bytes = r.bytes()?;
    let mut rest: &[u8] = &bytes;
    let mut by_series: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
    while !rest.is_empty() {
        let (mut len, mut shift, mut used) = (0usize, 0, 0);
        for b in rest {
            used += 1;
            len |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let crc = u32::from_be_bytes(rest[used..used + 4].try_into()?);
        let msg = &rest[used + 4..used + 4 + len];
        assert_eq!(crc32c::crc32c(msg), crc, "frame checksum");
        let frame = strata_http::remote_read::ChunkedReadResponse::decode(msg)?;
        assert_eq!(frame.query_index, 0);
        for cs in frame.chunked_series {
            let job = cs
                .labels
                .iter()
                .find(|l| l.name == "job")
                .map(|l| l.value.clone())
                .unwrap_or_default();
            let mut got = Vec::new();
            for c in &cs.chunks {
                assert_eq!(c.r#type, 1);
                let decoded = strata_http::prom_xor::decode(&c.data).ok_or("bad chunk")?;
                assert!(decoded.len() <= 120);
                assert_eq!(decoded.first().map(|x| x.0), Some(c.min_time_ms));
                assert_eq!(decoded.last().map(|x| x.0), Some(c.max_time_ms));
                got.extend(decoded.into_iter().map(|(t, v)| (t, f64::from_bits(v))));
            }
            by_series.push((job, got));
        }
        rest = &rest[used + 4 + len..];
    }
    assert_eq!(by_series.len(), 2);
    assert_eq!(by_series[0], ("a".to_string(), samples(now)));
    assert_eq!(by_series[1], ("b".to_string(), vec![(now - 1000, 7.0)]));

    // A malformed request is a plain 400.
    let r = s
        .client
        .post(s.url("/api/v1/read"))
        .body(vec![1u8, 2, 3])
        .send()?;
    assert_eq!(r.status().as_u16(), 400);
    Ok(())
}

#[test]
fn prometheus_reads_strata_through_remote_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(&dir.path().join("strata"), &[]);
    let now = now_ms();
    let data = samples(now);
    let (code, body) = s.write(&[series("rr_metric", &[("job", "a")], &data)]);
    assert_eq!(code, 204, "{body}");
    let config = format!(
        "remote_read:\n  - url: http://127.0.0.1:{}/api/v1/read\n    read_recent: true\n",
        s.port
    );
    let Some(prom) = Prometheus::start(dir.path(), &config, &[])? else {
        return Ok(());
    };
    let want_count = data.len() as f64;
    let want_sum: f64 = data.iter().map(|(_, v)| v).sum();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let count = prom.query("count_over_time(rr_metric[1h])")?;
        let sum = prom.query("sum_over_time(rr_metric[1h])")?;
        let got = |r: &[serde_json::Value]| {
            r.first()
                .and_then(|x| x["value"][1].as_str())
                .and_then(|v| v.parse::<f64>().ok())
        };
        if got(&count) == Some(want_count) {
            assert_eq!(got(&sum), Some(want_sum), "{sum:?}");
            assert_eq!(count[0]["metric"]["job"], "a");
            break;
        }
        assert!(Instant::now() < deadline, "prometheus read {count:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(())
}
