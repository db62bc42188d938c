use super::*;
use strata_model::Labels;
use strata_model::{MatchOp, Matcher, Querier, Sample, SelectHints};

type R = Result<(), Box<dyn std::error::Error>>;

/// Writes `data` as one level-1 block covering all its samples.
fn write_one_block(
    dir: &std::path::Path,
    data: Vec<(Labels, Vec<Sample>)>,
) -> Result<BlockMeta, Box<dyn std::error::Error>> {
    Ok(write_block(dir, 0, 100_000_000, 1, vec![], data.into_iter())?.ok_or("no block")?)
}

fn dataset(n: usize) -> Vec<(Labels, Vec<Sample>)> {
    let mut out: Vec<(Labels, Vec<Sample>)> = (0..n)
        .map(|i| {
            let labels = Labels::from_pairs([
                (
                    "__name__",
                    if i % 2 == 0 {
                        "node_cpu_seconds_total"
                    } else {
                        "node_memory_bytes"
                    },
                ),
                ("instance", &format!("host-{}", i % 7)),
                ("cpu", &(i % 4).to_string()),
            ]);
            let samples = (0..1000)
                .map(|k| {
                    Sample::new(
                        1_000_000 + k * 15_000 + (k % 3),
                        if i % 2 == 0 {
                            k as f64 * 1.25
                        } else {
                            ((i as i64 * k) % 97) as f64 + 0.5
                        },
                    )
                })
                .collect();
            (labels, samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

pub(super) fn read_all(
    b: &Block,
    matchers: &[Matcher],
    lo: i64,
    hi: i64,
) -> Result<Vec<(Labels, Vec<Sample>)>, StorageError> {
    let q = b.querier(lo, hi);
    let mut out = Vec::new();
    for s in q.select(
        &SelectHints {
            start: lo,
            end: hi,
            ..Default::default()
        },
        matchers,
    )? {
        let mut s = s?;
        let mut v = Vec::new();
        while let Some(x) = s.samples.next() {
            v.push(x);
        }
        if let Some(e) = s.samples.err() {
            return Err(StorageError::Internal(e.to_string()));
        }
        out.push((s.labels, v));
    }
    Ok(out)
}

#[test]
fn write_open_select_round_trip() -> R {
    let dir = tempfile::tempdir()?;
    let data = dataset(40);
    let meta = write_one_block(dir.path(), data.clone())?;
    assert_eq!(meta.stats.num_series, data.len() as u64);
    let b = Block::open(&dir.path().join(&meta.ulid))?;
    let all = read_all(
        &b,
        &[Matcher::new(MatchOp::RegexMatch, "__name__", ".+")?],
        i64::MIN,
        i64::MAX,
    )?;
    assert_eq!(all.len(), data.len());
    for ((la, sa), (lb, sb)) in all.iter().zip(&data) {
        assert_eq!(la, lb);
        assert_eq!(sa, sb);
    }
    // A window: only samples inside it.
    let (lo, hi) = (1_000_000 + 100 * 15_000, 1_000_000 + 200 * 15_000);
    let win = read_all(&b, &[Matcher::equal("cpu", "1")], lo, hi)?;
    for (l, s) in &win {
        let want: Vec<Sample> = data
            .iter()
            .find(|(x, _)| x == l)
            .map(|(_, s)| {
                s.iter()
                    .filter(|x| x.t >= lo && x.t <= hi)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(s, &want);
    }
    // seek skips forward and never goes back.
    let q = b.querier(i64::MIN, i64::MAX);
    let mut it = q.select(
        &SelectHints {
            start: i64::MIN,
            end: i64::MAX,
            ..Default::default()
        },
        &[Matcher::equal("cpu", "0")],
    )?;
    let mut s = it.next().ok_or("no series")??;
    let target = 1_000_000 + 700 * 15_000;
    assert_eq!(
        s.samples.seek(target).map(|x| x.t),
        Some(target + (700 % 3))
    );
    assert_eq!(s.samples.seek(0).map(|x| x.t), Some(target + (700 % 3)));
    // Bytes per sample on this shape of data.
    let bps = meta.stats.num_bytes as f64 / meta.stats.num_samples as f64;
    assert!(bps < 1.0, "{bps} bytes/sample");
    Ok(())
}

#[test]
fn corruption_is_an_error_not_a_panic() -> R {
    let dir = tempfile::tempdir()?;
    let meta = write_one_block(dir.path(), dataset(10))?;
    let bdir = dir.path().join(&meta.ulid);
    for file in ["index", "chunks", "meta.json"] {
        let path = bdir.join(file);
        let orig = std::fs::read(&path)?;
        for cut in [0, 4, 9, orig.len() / 2, orig.len() - 1] {
            std::fs::write(&path, &orig[..cut])?;
            let r = Block::open(&bdir).and_then(|b| {
                read_all(
                    &b,
                    &[Matcher::new(MatchOp::RegexMatch, "__name__", ".+")
                        .map_err(|e| BlockError::BadInput(e.to_string()))?],
                    i64::MIN,
                    i64::MAX,
                )
                .map_err(|e| BlockError::BadInput(e.to_string()))
            });
            assert!(
                r.is_err(),
                "{file} cut at {cut} of {} went unnoticed: {:?}",
                orig.len(),
                r.map(|v| v.len())
            );
        }
        for at in [orig.len() / 3, orig.len() - 2] {
            let mut bad = orig.clone();
            bad[at] ^= 0x41;
            std::fs::write(&path, &bad)?;
            let _ = Block::open(&bdir)
                .map(|b| read_all(&b, &[Matcher::equal("cpu", "1")], i64::MIN, i64::MAX));
        }
        std::fs::write(&path, &orig)?;
    }
    Ok(())
}

#[test]
fn tombstones_compaction_and_merge() -> R {
    let dir = tempfile::tempdir()?;
    let data = dataset(8);
    let (a, b): (Vec<_>, Vec<_>) = data
        .iter()
        .map(|(l, s)| {
            (
                (l.clone(), s[..600].to_vec()),
                (l.clone(), s[400..].to_vec()),
            )
        })
        .unzip();
    let ma = write_block(dir.path(), 0, 100_000_000, 1, vec![], a.into_iter())?.ok_or("a")?;
    let mb = write_block(dir.path(), 0, 100_000_000, 1, vec![], b.into_iter())?.ok_or("b")?;
    let ba = Block::open(&dir.path().join(&ma.ulid))?;
    let bb = Block::open(&dir.path().join(&mb.ulid))?;
    let mc = compact(dir.path(), &[&ba, &bb])?.ok_or("c")?;
    assert_eq!(mc.compaction.level, 2);
    assert_eq!(mc.compaction.sources.len(), 2);
    let bc = Block::open(&dir.path().join(&mc.ulid))?;
    let all = read_all(
        &bc,
        &[Matcher::new(MatchOp::RegexMatch, "__name__", ".+")?],
        i64::MIN,
        i64::MAX,
    )?;
    assert_eq!(
        all, data,
        "overlapping blocks merge to the original with duplicates dropped"
    );

    let del = [Matcher::equal("cpu", "0")];
    let (lo, hi) = (1_000_000, 1_000_000 + 10 * 15_000 + 5);
    assert!(bc.delete(&del, lo, hi)? > 0);
    let reopened = Block::open(&dir.path().join(&mc.ulid))?;
    assert!(reopened.has_tombstones());
    let after = read_all(&reopened, &del, i64::MIN, i64::MAX)?;
    assert!(after.iter().all(|(_, s)| s.iter().all(|x| x.t > hi)));
    let md = rewrite_without_tombstones(dir.path(), &reopened)?.ok_or("d")?;
    let bd = Block::open(&dir.path().join(&md.ulid))?;
    assert!(!bd.has_tombstones());
    assert_eq!(read_all(&bd, &del, i64::MIN, i64::MAX)?, after);
    Ok(())
}

/// Pins the format: the encoding of a small fixed block must not change by
/// accident (bump FORMAT_VERSION and add a new pin when it changes on purpose).
#[test]
fn format_snapshot() -> R {
    let samples: Vec<Sample> = (0..10)
        .map(|i| Sample::new(1000 + i * 15_000, i as f64 * 0.5))
        .collect();
    let mut chunk = Vec::new();
    codec::encode_chunk(&samples, &mut chunk);
    assert_eq!(
        chunk,
        vec![
            10, 208, 15, 176, 234, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0
        ],
        "chunk encoding changed"
    );
    // Version 2; the version-1 index is pinned by the committed fixture
    // (`index_tests::version_1_block_still_reads_and_compacts`).
    assert_eq!(header(INDEX_MAGIC), [b'S', b'I', b'D', b'X', 2, 0, 0, 0]);
    assert_eq!(header(CHUNKS_MAGIC), [b'S', b'C', b'H', b'K', 2, 0, 0, 0]);
    Ok(())
}

/// Pins the bytes of a whole version-2 index of two series (see
/// docs/format-block.md for the layout they follow).
#[test]
fn index_v2_snapshot() -> R {
    let dir = tempfile::tempdir()?;
    let series = ["a", "b"].map(|job| {
        (
            Labels::from_pairs([("__name__", "up"), ("job", job)]),
            vec![Sample::new(1000, 1.0), Sample::new(16_000, 0.0)],
        )
    });
    let meta =
        write_block(dir.path(), 0, 100_000, 1, vec![], series.into_iter())?.ok_or("no block")?;
    let bytes = std::fs::read(dir.path().join(&meta.ulid).join("index"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, INDEX_V2_PIN, "index format changed");
    Ok(())
}

const INDEX_V2_PIN: &str = concat!(
    "534944580200000002000101d00fb0ea0110000a02000201d00fb0ea01100a0a0000000000000000",
    "0c000000000000003a300000010000000000010010000000000001003a3000000100000000000100",
    "10000000000001003a30000001000000000001001000000000000100027570085f5f6e616d655f5f",
    "01610162036a6f620000000000000000000000000000000014000000020000000c00000000000000",
    "000000000000000000000000010000000e0000000000000001000000000000000000000001000000",
    "03000000000000000000000000000000010000000000000014000000000000001400000002000000",
    "10000000000000000100000000000000020000000000000028000000000000001400000002000000",
    "08000000000000001800000000000000b0523caf200000000000000010000000000000005d1c5621",
    "30000000000000003c00000000000000e01df27b6c000000000000001400000000000000219e6abf",
    "80000000000000004800000000000000a55905a1c8000000000000005000000000000000241d9095",
    "3ea45956",
);

/// The series of the committed version-1 fixture block
/// (`tests/fixtures/v1-block`): deterministic, so the test reading it can
/// compare against them.
pub(super) fn v1_fixture_series() -> Vec<(Labels, Vec<Sample>)> {
    let mut out: Vec<(Labels, Vec<Sample>)> = (0..24)
        .map(|i: i64| {
            let labels = Labels::from_pairs([
                (
                    "__name__",
                    ["up", "node_load1", "http_requests_total"][i as usize % 3],
                ),
                ("instance", &format!("host-{}:9100", i % 5)),
                ("job", if i % 4 == 0 { "node" } else { "api" }),
                ("pod", &format!("pod-{i:03}-ß")),
            ]);
            let samples = (0..(100 + i * 40))
                .map(|k| Sample::new(3_600_000 + k * 15_000, (i * k) as f64 * 0.25))
                .collect();
            (labels, samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A selection's series decoded on two threads at once, each over its own
/// half as the engine does, read the same samples as one thread reading
/// them all: the selection's shared page cache hands each chunk its own page.
#[test]
fn series_decoded_on_two_threads_read_their_own_pages() -> R {
    let dir = tempfile::tempdir()?;
    let mut data: Vec<(Labels, Vec<Sample>)> = (0..3000)
        .map(|i| {
            let labels =
                Labels::from_pairs([("__name__", "up"), ("instance", &format!("host-{i:05}"))]);
            let samples = (0..90)
                .map(|k| Sample::new(k * 15_000, ((i * 31 + k) % 1013) as f64 * 0.5))
                .collect();
            (labels, samples)
        })
        .collect();
    data.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = write_one_block(dir.path(), data.clone())?;
    let b = Block::open(&dir.path().join(&meta.ulid))?;
    let q = b.querier(i64::MIN, i64::MAX);
    let hints = SelectHints {
        start: i64::MIN,
        end: i64::MAX,
        ..Default::default()
    };
    let mut series = q
        .select(&hints, &[Matcher::equal("__name__", "up")])?
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(series.len(), data.len());
    let second = series.split_off(series.len() / 2);
    let decode = |part: Vec<strata_model::Series>| {
        part.into_iter()
            .map(|mut s| {
                let mut v = Vec::new();
                while let Some(x) = s.samples.next() {
                    v.push(x);
                    // Let the other thread load its next page in between.
                    std::thread::yield_now();
                }
                (s.labels, v, s.samples.err().map(|e| e.to_string()))
            })
            .collect::<Vec<_>>()
    };
    let (a, b2) = std::thread::scope(|scope| {
        let h1 = scope.spawn(|| decode(series));
        let h2 = scope.spawn(|| decode(second));
        (h1.join(), h2.join())
    });
    let got: Vec<_> = a
        .map_err(|_| "decoder panicked")?
        .into_iter()
        .chain(b2.map_err(|_| "decoder panicked")?)
        .collect();
    for ((l, s, err), (wl, ws)) in got.iter().zip(&data) {
        assert_eq!(err, &None);
        assert_eq!(l, wl);
        assert_eq!(s, ws);
    }
    assert!(
        b.size_bytes() > 3 * (64 << 10),
        "the block spans several pages"
    );
    Ok(())
}
