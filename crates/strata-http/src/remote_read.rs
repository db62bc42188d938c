//! `POST /api/v1/read`: Prometheus remote-read 1.0, both response types —
//! raw samples (one snappy-compressed `ReadResponse`) and streamed XOR
//! chunks (`ChunkedReadResponse` frames: uvarint length, big-endian
//! CRC32-Castagnoli, message), which Prometheus asks for first.
//!
//! As Prometheus' `read_handler.go`: an equality matcher on an external
//! label with its value matches series lacking the label, external labels
//! are added to every returned series (its own labels win), the samples
//! response is capped by `--storage.remote.read-sample-limit` and a
//! chunked frame by `--storage.remote.read-max-bytes-in-frame`.

use crate::prom_xor::{SAMPLES_PER_CHUNK, XorChunk};
use crate::{ApiError, SharedState, blocking};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use strata_model::{Labels, MatchOp, Matcher, Queryable, SelectHints, TenantId};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    #[prost(int32, repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelMatcher {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<PbSample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PbSample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedReadResponse {
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkedSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<PbChunk>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PbChunk {
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    /// 1 = XOR.
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

const STREAMED_XOR_CHUNKS: i32 = 1;
const SAMPLES: i32 = 0;

fn plain(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut m = msg.into();
    m.push('\n');
    (status, m).into_response()
}

fn matchers(q: &Query, external: &Labels) -> Result<Vec<Matcher>, String> {
    q.matchers
        .iter()
        .map(|m| {
            let op = match m.r#type {
                0 => MatchOp::Equal,
                1 => MatchOp::NotEqual,
                2 => MatchOp::RegexMatch,
                3 => MatchOp::RegexNoMatch,
                t => return Err(format!("invalid matcher type {t}")),
            };
            // Stored series lack the external labels.
            if op == MatchOp::Equal && external.get(&m.name) == Some(m.value.as_str()) {
                return Matcher::new(op, &m.name, "").map_err(|e| e.to_string());
            }
            Matcher::new(op, &m.name, &m.value).map_err(|e| e.to_string())
        })
        .collect()
}

/// A series' labels with the external labels it lacks, sorted.
fn with_external(labels: &Labels, external: &Labels) -> Vec<Label> {
    let mut out: Vec<Label> = labels
        .iter()
        .map(|l| Label {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect();
    for e in external.iter() {
        if labels.get(&e.name).is_none() {
            out.push(Label {
                name: e.name.to_string(),
                value: e.value.to_string(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub async fn remote_read(
    State(st): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.metrics.read_request();
    let tenant = st.tenant(&headers)?;
    let db = st.queryable()?;
    let limits = st.cfg.remote_read.clone();
    let decoded = snap::raw::decompress_len(&body)
        .map_err(|e| e.to_string())
        .and_then(|n| {
            if n > limits.max_request_bytes {
                Err(format!(
                    "decompressed request of {n} bytes exceeds the limit of {}",
                    limits.max_request_bytes
                ))
            } else {
                snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .map_err(|e| e.to_string())
            }
        })
        .and_then(|raw| ReadRequest::decode(raw.as_slice()).map_err(|e| e.to_string()));
    let req = match decoded {
        Ok(r) => r,
        Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, e)),
    };
    let external = st.external_labels();
    let mut sets = Vec::with_capacity(req.queries.len());
    for q in &req.queries {
        match matchers(q, &external) {
            Ok(m) => sets.push((q.start_timestamp_ms, q.end_timestamp_ms, m)),
            Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, e)),
        }
    }
    let _slot = st.acquire_query_slot().await?;
    // Prometheus answers the first type it knows of those accepted; none
    // (or only unknown ones) means samples.
    let streamed = req
        .accepted_response_types
        .iter()
        .find(|t| **t == SAMPLES || **t == STREAMED_XOR_CHUNKS)
        == Some(&STREAMED_XOR_CHUNKS);
    if streamed {
        return Ok(stream_chunks(
            db,
            tenant,
            sets,
            external,
            limits.max_bytes_in_frame,
        ));
    }
    let limit = limits.sample_limit;
    let result = blocking(move || {
        let mut resp = ReadResponse::default();
        let mut total = 0u64;
        for (start, end, ms) in &sets {
            let q = db.querier(&tenant, *start, *end)?;
            let hints = SelectHints {
                start: *start,
                end: *end,
                series_only: false,
                limit: 0,
                newest_only: false,
                any_order: false,
            };
            let mut out = QueryResult::default();
            for s in q.select(&hints, ms)? {
                let mut s = s?;
                let mut samples = Vec::new();
                while let Some(x) = s.samples.next() {
                    if x.t < *start || x.t > *end {
                        continue;
                    }
                    total += 1;
                    if limit > 0 && total > limit {
                        return Ok(Err(format!("exceeded sample limit ({limit})")));
                    }
                    samples.push(PbSample {
                        value: x.v,
                        timestamp: x.t,
                    });
                }
                if let Some(e) = s.samples.err() {
                    return Err(ApiError::internal(e.to_string()));
                }
                if !samples.is_empty() {
                    out.timeseries.push(TimeSeries {
                        labels: with_external(&s.labels, &external),
                        samples,
                    });
                }
            }
            resp.results.push(out);
        }
        Ok(Ok(resp.encode_to_vec()))
    })
    .await?;
    let raw = match result {
        Ok(raw) => raw,
        Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, e)),
    };
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-protobuf"),
            (header::CONTENT_ENCODING, "snappy"),
        ],
        compressed,
    )
        .into_response())
}

fn frame(msg: &ChunkedReadResponse) -> Bytes {
    let data = msg.encode_to_vec();
    let mut out = Vec::with_capacity(data.len() + 14);
    let mut n = data.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&crc32c::crc32c(&data).to_be_bytes());
    out.extend_from_slice(&data);
    Bytes::from(out)
}

/// Streams one frame per series (more when its chunks exceed a frame),
/// encoded on the blocking pool: memory is one series' chunks, never the
/// whole selection.
fn stream_chunks(
    db: std::sync::Arc<dyn Queryable>,
    tenant: TenantId,
    sets: Vec<(i64, i64, Vec<Matcher>)>,
    external: Labels,
    max_frame: usize,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let send = |b: Result<Bytes, std::io::Error>| tx.blocking_send(b).is_ok();
        for (index, (start, end, ms)) in sets.iter().enumerate() {
            let run = || -> Result<bool, String> {
                let q = db
                    .querier(&tenant, *start, *end)
                    .map_err(|e| e.to_string())?;
                let hints = SelectHints {
                    start: *start,
                    end: *end,
                    series_only: false,
                    limit: 0,
                    newest_only: false,
                    any_order: false,
                };
                for s in q.select(&hints, ms).map_err(|e| e.to_string())? {
                    let mut s = s.map_err(|e| e.to_string())?;
                    let labels = with_external(&s.labels, &external);
                    let label_bytes: usize = labels
                        .iter()
                        .map(|l| l.name.len() + l.value.len() + 4)
                        .sum();
                    let mut chunks: Vec<PbChunk> = Vec::new();
                    let mut bytes = label_bytes;
                    let mut cur = XorChunk::new();
                    let (mut min_t, mut max_t) = (0i64, 0i64);
                    let flush = |chunks: &mut Vec<PbChunk>| -> bool {
                        let msg = ChunkedReadResponse {
                            chunked_series: vec![ChunkedSeries {
                                labels: labels.clone(),
                                chunks: std::mem::take(chunks),
                            }],
                            query_index: index as i64,
                        };
                        send(Ok(frame(&msg)))
                    };
                    loop {
                        let next = s.samples.next();
                        let done = next.is_none();
                        if let Some(x) = next {
                            if x.t < *start || x.t > *end {
                                continue;
                            }
                            if cur.is_empty() {
                                min_t = x.t;
                            }
                            cur.append(x.t, x.v);
                            max_t = x.t;
                        }
                        if !cur.is_empty() && (done || cur.len() >= SAMPLES_PER_CHUNK) {
                            let data = cur.bytes();
                            bytes += data.len() + 24;
                            chunks.push(PbChunk {
                                min_time_ms: min_t,
                                max_time_ms: max_t,
                                r#type: 1,
                                data,
                            });
                            cur = XorChunk::new();
                            if bytes >= max_frame && !flush(&mut chunks) {
                                return Ok(false);
                            }
                            if bytes >= max_frame {
                                bytes = label_bytes;
                            }
                        }
                        if done {
                            break;
                        }
                    }
                    if let Some(e) = s.samples.err() {
                        return Err(e.to_string());
                    }
                    if !chunks.is_empty() && !flush(&mut chunks) {
                        return Ok(false);
                    }
                }
                Ok(true)
            };
            match run() {
                Ok(true) => {}
                // The client went away.
                Ok(false) => return,
                Err(e) => {
                    // Headers are sent: end the stream with an error, which
                    // the client sees as a broken response.
                    let _ = send(Err(std::io::Error::other(e)));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [(
            header::CONTENT_TYPE,
            "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse",
        )],
        Body::from_stream(stream),
    )
        .into_response()
}
