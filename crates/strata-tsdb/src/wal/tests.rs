use super::record::REC_SAMPLES_V1;
use super::segment::{CODEC_STORED, CODEC_ZSTD, FRAME_V2_HEADER, MAX_FRAME};
use super::*;
use proptest::prelude::*;
use roaring::RoaringBitmap;
use std::sync::Arc;
use strata_model::{Labels, MatchOp, Matcher, STALE_NAN_BITS, Sample};

/// A comparable, bit-exact view of a record (NaN payloads included).
#[derive(Debug, PartialEq, Clone)]
enum Norm {
    Series(Vec<(u32, Vec<(String, String)>)>),
    Samples(Vec<(u32, i64, u64)>),
    Tombstone(Vec<(String, MatchOp, String)>, i64, i64),
    Chunk(u32, Vec<u8>),
    MinValid(i64),
    OutOfOrderSamples(Vec<(u32, i64, u64)>),
}

fn norm(r: &Record) -> Norm {
    match r {
        Record::Series(l) => Norm::Series(
            l.iter()
                .map(|(id, ls)| {
                    (
                        *id,
                        ls.iter()
                            .map(|l| (l.name.to_string(), l.value.to_string()))
                            .collect(),
                    )
                })
                .collect(),
        ),
        Record::Samples(l) => {
            Norm::Samples(l.iter().map(|(id, s)| (*id, s.t, s.v.to_bits())).collect())
        }
        Record::OutOfOrderSamples(l) => {
            Norm::OutOfOrderSamples(l.iter().map(|(id, s)| (*id, s.t, s.v.to_bits())).collect())
        }
        Record::Tombstone {
            matchers,
            mint,
            maxt,
        } => Norm::Tombstone(
            matchers
                .iter()
                .map(|m| (m.name.clone(), m.op, m.value.clone()))
                .collect(),
            *mint,
            *maxt,
        ),
        Record::Chunk { id, data } => Norm::Chunk(*id, data.clone()),
        Record::MinValid(t) => Norm::MinValid(*t),
    }
}

fn replay_all(dir: &Path, repair: bool) -> Result<Vec<Norm>, TsdbError> {
    let mut out = Vec::new();
    replay(dir, repair, |r| out.push(norm(&r)))?;
    Ok(out)
}

fn series(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn samples_rec(list: &[(u32, i64, f64)]) -> Vec<u8> {
    let mut b = SamplesRecordBuilder::default();
    for (id, t, v) in list {
        b.push(*id, Sample::new(*t, *v));
    }
    b.finish().unwrap_or_default()
}

fn series_rec(list: &[(u32, &[(&str, &str)])]) -> Vec<u8> {
    let mut b = SeriesRecordBuilder::default();
    for (id, labels) in list {
        b.push(*id, labels.iter().copied());
    }
    b.finish().unwrap_or_default()
}

/// Timestamps of all samples replayed, in order.
fn replayed_ts(dir: &Path, repair: bool) -> Result<Vec<i64>, TsdbError> {
    let mut ts = Vec::new();
    replay(dir, repair, |r| {
        if let Record::Samples(s) = r {
            ts.extend(s.iter().map(|(_, s)| s.t));
        }
    })?;
    Ok(ts)
}

fn stats() -> ReplayStats {
    ReplayStats::default()
}

// ---- record codec ------------------------------------------------------------

fn value_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(STALE_NAN_BITS),
        Just(f64::NAN.to_bits()),
        Just(0x7ff8_0000_0000_0001),
        Just((-0.0f64).to_bits()),
        Just(f64::INFINITY.to_bits()),
        (0u32..1_000_000).prop_map(|x| f64::from(x).to_bits()),
    ]
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        -100_000i64..100_000,
        1_700_000_000_000i64..1_700_000_100_000,
    ]
}

proptest! {
    #[test]
    fn samples_record_round_trips_bit_exact(
        list in proptest::collection::vec((any::<u32>(), timestamp(), value_bits()), 1..300)
    ) {
        let mut b = SamplesRecordBuilder::default();
        for (id, t, v) in &list {
            b.push(*id, Sample::new(*t, f64::from_bits(*v)));
        }
        let p = b.finish().unwrap_or_default();
        prop_assert!(b.finish().is_none(), "finish resets the builder");
        let got = decode_record(&p).map(|r| norm(&r));
        prop_assert_eq!(got, Some(Norm::Samples(list)));
    }

    #[test]
    fn series_and_tombstone_records_round_trip(
        list in proptest::collection::vec((any::<u32>(), proptest::collection::vec(("[a-z_]{1,8}", "\\PC{1,12}"), 1..6)), 1..20),
        mint in timestamp(), maxt in timestamp(),
    ) {
        let mut b = SeriesRecordBuilder::default();
        let mut want = Vec::new();
        for (id, pairs) in &list {
            let labels = Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            b.push(*id, labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
            want.push((*id, labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()));
        }
        let p = b.finish().unwrap_or_default();
        prop_assert_eq!(decode_record(&p).map(|r| norm(&r)), Some(Norm::Series(want)));
        let m = Matcher::new(MatchOp::RegexMatch, &list[0].1[0].0, "a.*").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let t = tombstone_record(std::slice::from_ref(&m), mint, maxt);
        prop_assert_eq!(
            decode_record(&t).map(|r| norm(&r)),
            Some(Norm::Tombstone(vec![(m.name.clone(), m.op, m.value.clone())], mint, maxt))
        );
    }

    #[test]
    fn truncated_or_damaged_records_never_panic(
        list in proptest::collection::vec((any::<u32>(), timestamp(), value_bits()), 1..50),
        cut in 0usize..1000, flip in 0usize..1000, bit in 0u8..8,
    ) {
        let mut b = SamplesRecordBuilder::default();
        for (id, t, v) in &list {
            b.push(*id, Sample::new(*t, f64::from_bits(*v)));
        }
        let p = b.finish().unwrap_or_default();
        let _ = decode_record(&p[..cut.min(p.len())]);
        let mut q = p.clone();
        let i = flip % q.len();
        q[i] ^= 1 << bit;
        if let Some(Record::Samples(s)) = decode_record(&q) {
            prop_assert!(s.len() <= q.len());
        }
    }
}

#[test]
fn v1_samples_records_still_decode() {
    let mut p = vec![REC_SAMPLES_V1];
    put_uvarint(&mut p, 2);
    for (id, t, v) in [(7u32, -5i64, STALE_NAN_BITS), (3, 1000, 2.5f64.to_bits())] {
        put_uvarint(&mut p, u64::from(id));
        put_varint(&mut p, t);
        p.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(
        decode_record(&p).map(|r| norm(&r)),
        Some(Norm::Samples(vec![
            (7, -5, STALE_NAN_BITS),
            (3, 1000, 2.5f64.to_bits())
        ]))
    );
}

#[test]
fn garbage_never_panics() {
    for len in 0..300usize {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
        let _ = decode_record(&bytes);
        let _ = fuzz_parse_segment(&bytes);
        let mut seg = segment::segment_header().to_vec();
        seg.extend_from_slice(&bytes);
        let _ = fuzz_parse_segment(&seg);
    }
}

// ---- frames and segments -------------------------------------------------------

#[test]
fn torn_tail_at_every_offset_keeps_the_prefix() -> Result<(), TsdbError> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, 0, WalSync::Always, 1 << 20)?;
    let seg = dir.join(segment_name(1));
    // Flush boundaries (end offsets) and the timestamps each flush added.
    let mut ends = Vec::new();
    let mut want: Vec<i64> = Vec::new();
    for i in 0..4i64 {
        // Big enough to be compressed, small flushes to stay stored.
        let n = if i % 2 == 0 { 200 } else { 2 };
        let list: Vec<(u32, i64, f64)> = (0..n)
            .map(|k| (k as u32, i * 1000 + k, k as f64 * 0.5))
            .collect();
        let rec = samples_rec(&list);
        wal.wait(wal.enqueue(&[&rec]))?;
        want.extend(list.iter().map(|x| x.1));
        ends.push((std::fs::metadata(&seg)?.len() as usize, want.len()));
    }
    drop(wal);
    let full = std::fs::read(&seg)?;
    let codecs: Vec<u8> = {
        let mut at = HEADER_LEN;
        let mut c = Vec::new();
        for (end, _) in &ends {
            c.push(full[at + 8]);
            at = *end;
        }
        c
    };
    assert_eq!(
        codecs,
        vec![CODEC_ZSTD, CODEC_STORED, CODEC_ZSTD, CODEC_STORED]
    );
    for cut in 0..full.len() {
        std::fs::write(&seg, &full[..cut])?;
        let keep = ends
            .iter()
            .filter(|(end, _)| *end <= cut)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        assert_eq!(replayed_ts(&dir, false)?, want[..keep], "cut at {cut}");
    }
    // A flipped byte inside the third flush's frame: the first two survive,
    // and repair truncates the file there so the next replay is clean.
    let mut bad = full.clone();
    bad[ends[1].0 + FRAME_V2_HEADER + 5] ^= 0x55;
    std::fs::write(&seg, &bad)?;
    assert_eq!(replayed_ts(&dir, true)?, want[..ends[1].1]);
    assert_eq!(std::fs::metadata(&seg)?.len() as usize, ends[1].0);
    assert_eq!(replayed_ts(&dir, true)?, want[..ends[1].1]);
    Ok(())
}

/// Builds a v2 segment holding one frame with the given header fields.
fn handmade_frame(codec: u8, raw_len: u32, body: &[u8]) -> Vec<u8> {
    let mut seg = segment::segment_header().to_vec();
    let mut meta = vec![codec];
    meta.extend_from_slice(&raw_len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&meta), body);
    seg.extend_from_slice(&(body.len() as u32).to_le_bytes());
    seg.extend_from_slice(&crc.to_le_bytes());
    seg.extend_from_slice(&meta);
    seg.extend_from_slice(body);
    seg
}

#[test]
fn decompression_is_bounded_by_the_declared_size() -> Result<(), TsdbError> {
    let rec = samples_rec(&(0..500).map(|i| (i, 0, 0.0)).collect::<Vec<_>>());
    let mut raw = Vec::new();
    put_uvarint(&mut raw, rec.len() as u64);
    raw.extend_from_slice(&rec);
    let z = zstd::bulk::compress(&raw, 1)?;
    let mut st = stats();
    // Honest header: one record.
    let ok = handmade_frame(CODEC_ZSTD, raw.len() as u32, &z);
    assert!(read_segment(&ok[..], ok.len() as u64, "t", |_| {}, &mut st)?.is_none());
    assert_eq!(st.records, 1);
    // Claims less than the stream holds: refused, not grown into.
    let short = handmade_frame(CODEC_ZSTD, 100, &z);
    let bad = read_segment(&short[..], short.len() as u64, "t", |_| {}, &mut st)?;
    assert!(bad.is_some_and(|b| b.offset == HEADER_LEN as u64));
    // Claims 512 MiB, within the cap: refused once the stream ends, having
    // allocated only about what it really produced.
    let liar = handmade_frame(CODEC_ZSTD, 512 << 20, &z);
    let segment::Opened::Reader(mut r) =
        segment::SegmentReader::open(&liar[..], liar.len() as u64, "t")?
    else {
        panic!("header is fine");
    };
    assert!(r.next_frame().is_err());
    assert!(r.buffered_bytes() < 1 << 20, "{}", r.buffered_bytes());
    // Claims more than the cap: corruption before any allocation.
    let huge = handmade_frame(CODEC_ZSTD, (MAX_FRAME + 1) as u32, &z);
    let bad = read_segment(&huge[..], huge.len() as u64, "t", |_| {}, &mut st)?;
    assert!(bad.is_some_and(|b| b.reason.contains("uncompressed")));
    // A length beyond the file is a torn frame, not an allocation.
    let mut torn = handmade_frame(CODEC_STORED, 4, b"abcd");
    torn[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&(u32::MAX >> 3).to_le_bytes());
    let bad = read_segment(&torn[..], torn.len() as u64, "t", |_| {}, &mut st)?;
    assert!(bad.is_some_and(|b| b.reason == "torn record"));
    // A newer version is an error, never silently dropped.
    let mut newer = ok.clone();
    newer[4] = SEGMENT_VERSION + 1;
    assert!(read_segment(&newer[..], newer.len() as u64, "t", |_| {}, &mut st).is_err());
    Ok(())
}

#[test]
fn group_commit_under_concurrent_appenders() -> Result<(), TsdbError> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("wal");
    let wal = Arc::new(Wal::open(&dir, 0, WalSync::Always, 4096)?);
    let mut handles = Vec::new();
    for th in 0..4 {
        let wal = wal.clone();
        handles.push(std::thread::spawn(move || -> Result<(), TsdbError> {
            for i in 0..200 {
                let rec = samples_rec(&[(1, th * 1000 + i, i as f64)]);
                let seq = wal.enqueue(&[&rec]);
                wal.wait(seq)?;
            }
            Ok(())
        }));
    }
    for h in handles {
        h.join()
            .map_err(|_| TsdbError::Wal("thread panicked".into()))??;
    }
    drop(wal);
    let mut got = replayed_ts(&dir, false)?;
    got.sort();
    let mut want: Vec<i64> = (0..4)
        .flat_map(|th| (0..200).map(move |i| th * 1000 + i))
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(list_segments(&dir)?.len() > 1, "small segments must rotate");
    Ok(())
}

/// The timestamps in one segment file.
fn segment_ts(path: &Path) -> Result<Vec<i64>, TsdbError> {
    let mut ts = Vec::new();
    let bytes = std::fs::read(path)?;
    let bad = read_segment(
        &bytes[..],
        bytes.len() as u64,
        "t",
        |r| {
            if let Record::Samples(s) = r {
                ts.extend(s.iter().map(|(_, s)| s.t));
            }
        },
        &mut stats(),
    )?;
    assert!(bad.is_none(), "{path:?}: {bad:?}");
    Ok(ts)
}

#[test]
fn rotate_under_concurrent_enqueues_loses_and_splits_nothing() -> Result<(), TsdbError> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("wal");
    let wal = Arc::new(Wal::open(
        &dir,
        0,
        WalSync::Interval(std::time::Duration::from_secs(60)),
        1 << 20,
    )?);
    // Timestamps acknowledged so far, shared with the rotating thread.
    let acked = Arc::new(parking_lot::Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for th in 0..3i64 {
        let (wal, acked, stop) = (wal.clone(), acked.clone(), stop.clone());
        writers.push(std::thread::spawn(move || -> Result<i64, TsdbError> {
            let mut i = 0i64;
            // Keep writing until the rotator is done, at least 300 times.
            while i < 300 || !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Two records per enqueue: both must land in one segment.
                let t = th * 1_000_000 + i * 2;
                let a = samples_rec(&[(1, t, 1.0)]);
                let b = samples_rec(&[(2, t + 1, 2.0)]);
                wal.wait(wal.enqueue(&[&a, &b]))?;
                acked.lock().extend([t, t + 1]);
                i += 1;
            }
            Ok(i)
        }));
    }
    let mut rotations = Vec::new();
    for _ in 0..30 {
        let before = acked.lock().clone();
        let done = wal.rotate()?;
        rotations.push((before, done));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut counts = Vec::new();
    for w in writers {
        counts.push(
            w.join()
                .map_err(|_| TsdbError::Wal("thread panicked".into()))??,
        );
    }
    wal.sync()?;
    let mut where_is = std::collections::HashMap::new();
    for (n, path) in list_segments(&dir)? {
        for t in segment_ts(&path)? {
            assert!(where_is.insert(t, n).is_none(), "sample {t} written twice");
        }
    }
    for (th, n) in counts.into_iter().enumerate() {
        for i in 0..n {
            let t = th as i64 * 1_000_000 + i * 2;
            let (a, b) = (where_is.get(&t), where_is.get(&(t + 1)));
            assert!(
                a.is_some() && a == b,
                "enqueue {t} lost or split: {a:?} {b:?}"
            );
        }
    }
    for (before, done) in rotations {
        for t in before {
            assert!(where_is[&t] <= done, "{t} acked before rotate() = {done}");
        }
    }
    Ok(())
}

// ---- version 1 -------------------------------------------------------------------

fn v1_fixture() -> Result<tempfile::TempDir, TsdbError> {
    let src = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/fixtures/wal-v1");
    let tmp = tempfile::tempdir()?;
    let dst = tmp.path().join("wal");
    std::fs::create_dir_all(dst.join("checkpoint.00000002"))?;
    for name in [
        "00000003",
        "00000004",
        "00000005",
        "checkpoint.00000002/00000000",
    ] {
        std::fs::copy(src.join(name), dst.join(name))?;
    }
    Ok(tmp)
}

fn xor_chunk(samples: &[(i64, u64)]) -> Vec<u8> {
    let mut a = crate::chunk::XorAppender::new();
    for (t, v) in samples {
        a.append(*t, f64::from_bits(*v));
    }
    a.encoded()
}

fn v1_fixture_records() -> Vec<Norm> {
    let one = 1f64.to_bits();
    vec![
        Norm::MinValid(1000),
        Norm::Series(vec![(1, series(&[("__name__", "up"), ("job", "a")]))]),
        Norm::Chunk(
            1,
            xor_chunk(&[(1000, one), (16000, 0), (31000, STALE_NAN_BITS)]),
        ),
        Norm::Series(vec![(2, series(&[("__name__", "temp"), ("job", "b")]))]),
        Norm::Chunk(
            2,
            xor_chunk(&[(2000, (-3.5f64).to_bits()), (17000, 12.25f64.to_bits())]),
        ),
        Norm::Series(vec![(5, series(&[("__name__", "gone"), ("job", "c")]))]),
        Norm::Chunk(5, xor_chunk(&[(1500, 7f64.to_bits())])),
        Norm::Series(vec![(
            3,
            series(&[("__name__", "http_requests_total"), ("code", "200")]),
        )]),
        Norm::Samples(vec![
            (1, 46000, one),
            (2, 32000, 11f64.to_bits()),
            (3, 46000, 100f64.to_bits()),
            (3, 61000, 250.5f64.to_bits()),
        ]),
        Norm::Tombstone(vec![("job".into(), MatchOp::Equal, "b".into())], 0, 20000),
        Norm::Samples(vec![
            (1, 61000, STALE_NAN_BITS),
            (2, 47000, f64::NAN.to_bits()),
            (3, 76000, (-0.0f64).to_bits()),
            (4, -5000, f64::INFINITY.to_bits()),
        ]),
    ]
}

#[test]
fn v1_fixture_replays_exactly() -> Result<(), TsdbError> {
    let tmp = v1_fixture()?;
    let dir = tmp.path().join("wal");
    let mut got = Vec::new();
    let s = replay(&dir, true, |r| got.push(norm(&r)))?;
    assert_eq!(got, v1_fixture_records());
    assert_eq!((s.samples, s.last_segment, s.truncated), (8, 5, false));
    // Appending after a v1 log starts a v2 segment; both replay together.
    let wal = Wal::open(&dir, s.last_segment, WalSync::Always, 1 << 20)?;
    let rec = samples_rec(&[(3, 91000, 300.0)]);
    wal.wait(wal.enqueue(&[&rec]))?;
    drop(wal);
    assert_eq!(std::fs::read(dir.join("00000006"))?[4], SEGMENT_VERSION);
    let mut want = v1_fixture_records();
    want.push(Norm::Samples(vec![(3, 91000, 300f64.to_bits())]));
    assert_eq!(replay_all(&dir, true)?, want);
    Ok(())
}

// ---- checkpoints ---------------------------------------------------------------

fn live(ids: &[u32]) -> RoaringBitmap {
    ids.iter().copied().collect()
}

#[test]
fn checkpoint_folds_a_v1_checkpoint_and_segments() -> Result<(), TsdbError> {
    let tmp = v1_fixture()?;
    let dir = tmp.path().join("wal");
    // Series 2 and 5 are gone from the head; samples before 16000 are in a block.
    let st = checkpoint(&dir, 4, &live(&[1, 3, 4]), 16000, &[])?;
    truncate_before(&dir, 4)?;
    assert_eq!(
        list_segments(&dir)?
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>(),
        vec![5]
    );
    assert!(!dir.join("checkpoint.00000002").exists());
    let one = 1f64.to_bits();
    assert_eq!(
        replay_all(&dir, true)?,
        vec![
            Norm::MinValid(16000),
            // The v1 checkpoint's min valid (1000), raised to min_t.
            Norm::MinValid(16000),
            Norm::Series(vec![(1, series(&[("__name__", "up"), ("job", "a")]))]),
            // Series 1's chunk, as samples ≥ 16000.
            Norm::Samples(vec![(1, 16000, 0), (1, 31000, STALE_NAN_BITS)]),
            Norm::Series(vec![(
                3,
                series(&[("__name__", "http_requests_total"), ("code", "200")]),
            )]),
            Norm::Samples(vec![
                (1, 46000, one),
                (3, 46000, 100f64.to_bits()),
                (3, 61000, 250.5f64.to_bits()),
            ]),
            Norm::Tombstone(vec![("job".into(), MatchOp::Equal, "b".into())], 0, 20000),
            // Sample at t = -5000 for series 4 is before min_t.
            Norm::Samples(vec![
                (1, 61000, STALE_NAN_BITS),
                (3, 76000, (-0.0f64).to_bits())
            ]),
        ]
    );
    assert_eq!(
        (st.segments, st.series, st.samples, st.tombstones),
        (2, 2, 7, 1)
    );
    assert_eq!((st.dropped_series, st.dropped_samples), (2, 7));
    Ok(())
}

#[test]
fn checkpoint_filters_and_folds_the_previous_one() -> Result<(), TsdbError> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, 0, WalSync::Always, 1 << 20)?;
    let a: &[(&str, &str)] = &[("__name__", "a")];
    let b: &[(&str, &str)] = &[("__name__", "b")];
    let c: &[(&str, &str)] = &[("__name__", "c")];
    let s1 = series_rec(&[(1, a), (2, b)]);
    let x1 = samples_rec(&[(1, 100, 1.0), (2, 100, 2.0), (1, 200, 3.0)]);
    wal.wait(wal.enqueue(&[&s1, &x1]))?;
    let m = Matcher::new(MatchOp::Equal, "__name__", "a")
        .map_err(|e| TsdbError::BadInput(e.to_string()))?;
    let tomb = tombstone_record(std::slice::from_ref(&m), 150, 160);
    wal.wait(wal.enqueue(&[&tomb]))?;
    let s2 = series_rec(&[(3, c)]);
    let x2 = samples_rec(&[(3, 300, 4.0), (2, 300, 5.0), (1, 300, 6.0)]);
    wal.wait(wal.enqueue(&[&s2, &x2]))?;
    let upto = wal.rotate()?;
    // Concurrent appends land after the rotation, outside the checkpoint.
    let x3 = samples_rec(&[(1, 400, 7.0)]);
    wal.wait(wal.enqueue(&[&x3]))?;
    let st = checkpoint(&dir, upto, &live(&[1, 3]), 200, &[])?;
    truncate_before(&dir, upto)?;
    let tomb_n = Norm::Tombstone(
        vec![("__name__".into(), MatchOp::Equal, "a".into())],
        150,
        160,
    );
    let first = vec![
        Norm::MinValid(200),
        Norm::Series(vec![(1, series(a))]),
        Norm::Samples(vec![(1, 200, 3f64.to_bits())]),
        tomb_n.clone(),
        Norm::Series(vec![(3, series(c))]),
        Norm::Samples(vec![(3, 300, 4f64.to_bits()), (1, 300, 6f64.to_bits())]),
    ];
    let mut want = first.clone();
    want.push(Norm::Samples(vec![(1, 400, 7f64.to_bits())]));
    assert_eq!(replay_all(&dir, false)?, want);
    assert_eq!((st.series, st.samples, st.tombstones), (2, 3, 1));
    assert!(st.bytes > 0);

    // Second round: the previous checkpoint is folded in, filtered again.
    let s4 = series_rec(&[(4, b)]);
    let x4 = samples_rec(&[(4, 500, 8.0), (3, 500, 9.0)]);
    wal.wait(wal.enqueue(&[&s4, &x4]))?;
    let upto2 = wal.rotate()?;
    assert!(upto2 > upto);
    checkpoint(&dir, upto2, &live(&[1, 4]), 300, &[])?;
    truncate_before(&dir, upto2)?;
    assert_eq!(
        replay_all(&dir, false)?,
        vec![
            Norm::MinValid(300),
            Norm::MinValid(300),
            Norm::Series(vec![(1, series(a))]),
            tomb_n,
            Norm::Samples(vec![(1, 300, 6f64.to_bits()), (1, 400, 7f64.to_bits())]),
            Norm::Series(vec![(4, series(b))]),
            Norm::Samples(vec![(4, 500, 8f64.to_bits())]),
        ]
    );
    // A checkpoint that is already there is not redone.
    assert_eq!(
        checkpoint(&dir, upto2, &live(&[]), 0, &[])?,
        CheckpointStats::default()
    );
    Ok(())
}

#[test]
fn checkpoint_leftover_tmp_is_ignored_and_removed() -> Result<(), TsdbError> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, 0, WalSync::Always, 1 << 20)?;
    let s = series_rec(&[(1, &[("__name__", "a")])]);
    let x = samples_rec(&[(1, 100, 1.0)]);
    wal.wait(wal.enqueue(&[&s, &x]))?;
    let upto = wal.rotate()?;
    // A crash while writing checkpoint.1: a half-written tmp dir.
    let junk = dir.join(format!("checkpoint.{}.tmp", segment_name(upto)));
    std::fs::create_dir_all(&junk)?;
    std::fs::write(junk.join(segment_name(0)), b"SWAL\x02\0\0\0garbage")?;
    let want = vec![
        Norm::Series(vec![(1, series(&[("__name__", "a")]))]),
        Norm::Samples(vec![(1, 100, 1f64.to_bits())]),
    ];
    assert_eq!(replay_all(&dir, false)?, want, "the tmp dir is never read");
    // A crash after the checkpoint but before truncation: also fine.
    checkpoint(&dir, upto, &live(&[1]), 0, &[])?;
    assert!(!junk.exists(), "the next checkpoint replaces the leftover");
    let mut with_mv = vec![Norm::MinValid(0)];
    with_mv.extend(want.clone());
    assert_eq!(replay_all(&dir, false)?, with_mv);
    // A leftover of a later checkpoint goes with truncation.
    let junk2 = dir.join(format!("checkpoint.{}.tmp", segment_name(upto + 7)));
    std::fs::create_dir_all(&junk2)?;
    truncate_before(&dir, upto)?;
    assert!(!junk2.exists());
    assert_eq!(replay_all(&dir, false)?, with_mv);
    Ok(())
}

#[test]
fn checkpoint_refuses_a_damaged_segment() -> Result<(), TsdbError> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, 0, WalSync::Always, 1 << 20)?;
    let x = samples_rec(&[(1, 100, 1.0)]);
    wal.wait(wal.enqueue(&[&x]))?;
    let upto = wal.rotate()?;
    let seg = dir.join(segment_name(upto));
    let mut bytes = std::fs::read(&seg)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&seg, &bytes)?;
    assert!(checkpoint(&dir, upto, &live(&[1]), 0, &[]).is_err());
    assert!(latest_checkpoint(&dir)?.is_none());
    assert!(seg.exists());
    Ok(())
}

// ---- size ------------------------------------------------------------------------

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Counter { rate: f64, decimals: i32 },
    Gauge { step: f64, round: bool },
    Constant,
}

/// The benchmark's dataset in miniature (crates/strata-bench): node_exporter
/// CPU counters with 2 decimals, byte gauges, a load gauge, network and disk
/// counters, kube/cAdvisor counters with up to 6 decimals, constants, kafka
/// lag and offsets, histogram buckets. Values are mostly entropy.
fn kind_of(i: usize) -> Kind {
    let c = |rate, decimals| Kind::Counter { rate, decimals };
    let g = |step, round| Kind::Gauge { step, round };
    match i % 20 {
        0..=4 => c(if i.is_multiple_of(8) { 14.8 } else { 0.4 }, 2),
        5 => g(204_800.0, true),
        6 => g(0.05, false),
        7 => c(125_000.0, 0),
        8 => c(0.3, 3),
        9 => Kind::Constant,
        10 => c(0.35, 6),
        11 => c(20_000.0, 0),
        12 => g(1e6, true),
        13 | 14 => Kind::Constant,
        15 => g(40.0, true),
        16 => c(150.0, 0),
        17 | 18 => c(20.0, 0),
        _ => c(3.1, 4),
    }
}

/// WAL bytes per sample for remote-write-like traffic: `series` series
/// scraped every 15 s for `steps` rounds, sent by 4 shards in requests of
/// 2000 samples, through the real `Wal`. Returns (steady-state bytes per
/// sample, bytes per sample including series records).
fn wal_bytes_per_sample(series: usize, steps: usize) -> Result<(f64, f64), TsdbError> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("wal");
    let wal = Wal::open(
        &dir,
        0,
        WalSync::Interval(std::time::Duration::from_secs(60)),
        128 << 20,
    )?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let kinds: Vec<Kind> = (0..series).map(kind_of).collect();
    let mut values: Vec<f64> = (0..series).map(|_| (rng.unit() * 1e6).round()).collect();
    let shards = 4;
    // Series ids as the head assigns them: in order of first appearance.
    let mut ids = vec![u32::MAX; series];
    let mut next_id = 0u32;
    let (mut first_round_bytes, mut samples_after_first) = (0u64, 0u64);
    for step in 0..steps {
        for shard in 0..shards {
            let members: Vec<usize> = (shard..series).step_by(shards).collect();
            for req in members.chunks(2000) {
                let mut sr = SeriesRecordBuilder::default();
                let mut sm = SamplesRecordBuilder::default();
                for &i in req {
                    if ids[i] == u32::MAX {
                        ids[i] = next_id;
                        next_id += 1;
                        let inst = format!("node-{:04}.prod.example.com:9100", i / 400);
                        let dev = format!("dev{}", i % 34);
                        let name = format!("metric_{}_total", i % 57);
                        sr.push(
                            ids[i],
                            [
                                ("__name__", name.as_str()),
                                ("device", dev.as_str()),
                                ("instance", inst.as_str()),
                                ("job", "node"),
                            ]
                            .into_iter(),
                        );
                    }
                    let v = &mut values[i];
                    match kinds[i] {
                        Kind::Counter { rate, decimals } => {
                            let scale = 10f64.powi(decimals);
                            *v = ((*v + rng.unit() * rate * 15.0) * scale).round() / scale;
                        }
                        Kind::Gauge { step, round } => {
                            let x = (*v + (rng.unit() - 0.5) * step).max(0.0);
                            *v = if round {
                                x.round()
                            } else {
                                (x * 100.0).round() / 100.0
                            };
                        }
                        Kind::Constant => {}
                    }
                    let t = 1_700_000_000_000
                        + step as i64 * 15_000
                        + (i as i64 % 997)
                        + (rng.next() % 5) as i64;
                    sm.push(ids[i], Sample::new(t, *v));
                }
                let recs: Vec<Vec<u8>> = sr.finish().into_iter().chain(sm.finish()).collect();
                let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
                wal.wait(wal.enqueue(&refs))?;
                if step > 0 {
                    samples_after_first += req.len() as u64;
                }
            }
        }
        if step == 0 {
            wal.sync()?;
            first_round_bytes = dir_size(&dir);
        }
    }
    wal.sync()?;
    let total = dir_size(&dir);
    let steady = (total - first_round_bytes) as f64 / samples_after_first as f64;
    let all = total as f64 / (series * steps) as f64;
    Ok((steady, all))
}

#[test]
fn wal_bytes_per_sample_on_remote_write_traffic() -> Result<(), TsdbError> {
    let (steady, all) = wal_bytes_per_sample(20_000, 12)?;
    eprintln!(
        "WAL bytes/sample: {steady:.2} steady state, {all:.2} incl. series records over 12 scrapes"
    );
    // Prometheus 2.42 writes ~7.5 B/sample for such traffic (snappy records).
    assert!(steady <= 7.5, "{steady:.2} B/sample");
    Ok(())
}
