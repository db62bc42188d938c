//! The streaming writer and compaction against brute force.

use super::*;
use proptest::prelude::*;
use strata_model::Labels;
use strata_model::{MatchOp, Matcher, Sample};

type R = Result<(), Box<dyn std::error::Error>>;

fn all_matcher() -> Matcher {
    Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap_or_else(|_| Matcher::equal("", ""))
}

fn read_all(b: &Block) -> Result<Vec<(Labels, Vec<Sample>)>, StorageError> {
    super::tests::read_all(b, &[all_matcher()], i64::MIN, i64::MAX)
}

/// Every chunk of every series as stored: (labels, [(min_t, max_t, bytes)]).
fn stored_chunks(b: &Block) -> Result<Vec<(Labels, Vec<(i64, i64, Vec<u8>)>)>, BlockError> {
    let mut out = Vec::new();
    let mut chunks = Vec::new();
    for id in 0..b.inner.index.num_series() {
        let labels = b.inner.index.series(id, &mut chunks)?;
        let mut cs = Vec::new();
        for c in &chunks {
            let page = b.inner.read_page(c.page)?;
            cs.push((c.min_t, c.max_t, b.inner.chunk_bytes(c, &page)?.to_vec()));
        }
        out.push((labels, cs));
    }
    Ok(out)
}

fn bits(s: &[(Labels, Vec<Sample>)]) -> Vec<(Labels, Vec<(i64, u64)>)> {
    s.iter()
        .map(|(l, v)| (l.clone(), v.iter().map(|x| (x.t, x.v.to_bits())).collect()))
        .collect()
}

/// Where two series lists differ, briefly (samples compared bit for bit).
fn first_difference(
    got: &[(Labels, Vec<Sample>)],
    want: &[(Labels, Vec<Sample>)],
) -> Option<String> {
    let (g, w) = (bits(got), bits(want));
    if g.len() != w.len() {
        return Some(format!("{} series, want {}", g.len(), w.len()));
    }
    g.iter()
        .zip(&w)
        .find(|(a, b)| a != b)
        .map(|((la, sa), (lb, sb))| {
            let at = sa.iter().zip(sb).position(|(x, y)| x != y);
            format!(
                "series {la} (want {lb}): {} samples, want {}; first differing sample {:?} vs {:?}",
                sa.len(),
                sb.len(),
                at.map(|i| sa[i]),
                at.map(|i| sb[i])
            )
        })
}

/// The merge compaction must equal: all samples of all inputs (tombstones
/// applied), sorted by labels, then by time, the first input winning a
/// duplicate timestamp.
fn brute_force(inputs: &[Vec<(Labels, Vec<Sample>)>]) -> Vec<(Labels, Vec<Sample>)> {
    let mut map: std::collections::BTreeMap<Labels, std::collections::BTreeMap<i64, Sample>> =
        Default::default();
    for input in inputs {
        for (l, samples) in input {
            let m = map.entry(l.clone()).or_default();
            for s in samples {
                m.entry(s.t).or_insert(*s);
            }
        }
    }
    map.into_iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(l, m)| (l, m.into_values().collect()))
        .collect()
}

fn encode_pieces(samples: &[Sample], size: usize) -> Vec<(i64, i64, u32, Vec<u8>)> {
    samples
        .chunks(size.max(1))
        .map(|c| {
            let mut buf = Vec::new();
            codec::encode_chunk(c, &mut buf);
            (c[0].t, c[c.len() - 1].t, c.len() as u32, buf)
        })
        .collect()
}

fn encoded_inputs(pieces: &[(i64, i64, u32, Vec<u8>)]) -> Vec<ChunkInput<'_>> {
    pieces
        .iter()
        .map(|(min_t, max_t, n, d)| ChunkInput::Encoded {
            min_t: *min_t,
            max_t: *max_t,
            num_samples: *n,
            data: d,
        })
        .collect()
}

/// One generated input block: per series (label index, samples), whether it
/// is written from encoded chunks of `chunk` samples, and tombstones
/// (label value of `k`, mint, maxt).
#[derive(Debug, Clone)]
struct GenBlock {
    series: Vec<(usize, Vec<Sample>)>,
    chunk: Option<usize>,
    tombstones: Vec<(usize, i64, i64)>,
}

fn series_labels(i: usize) -> Labels {
    Labels::from_pairs([
        (
            "__name__",
            if i.is_multiple_of(3) { "a_total" } else { "b" },
        ),
        ("k", &(i % 4).to_string()),
        ("i", &i.to_string()),
    ])
}

fn gen_samples(seed: u64) -> impl Strategy<Value = Vec<Sample>> {
    // A window on a 10 ms grid with holes; blocks drawn from the same grid
    // share timestamps, with values telling the inputs apart.
    (0i64..3000, 1i64..1500, 1u32..10, any::<bool>()).prop_map(
        move |(start, len, hole, decimal)| {
            (start..start + len)
                .filter(|k| (k * 7 + seed as i64) % i64::from(hole + 1) != 0 || hole == 1)
                .map(|k| {
                    let v = if decimal {
                        (k as f64 + seed as f64 * 1000.0) / 4.0
                    } else {
                        f64::from_bits(0x3ff0_0000_0000_0000 ^ (k as u64 * 0x9e37_79b9 + seed))
                    };
                    Sample::new(k * 10, v)
                })
                .collect()
        },
    )
}

fn gen_block(seed: u64) -> impl Strategy<Value = GenBlock> {
    (
        proptest::collection::btree_set(0usize..10, 0..6),
        proptest::collection::vec(gen_samples(seed), 6),
        prop_oneof![Just(None), (1usize..200).prop_map(Some), Just(Some(480))],
        proptest::collection::vec((0usize..4, 0i64..30_000, 0i64..5_000), 0..3),
    )
        .prop_map(|(ids, samples, chunk, dels)| GenBlock {
            series: ids.into_iter().zip(samples).collect(),
            chunk,
            tombstones: dels.into_iter().map(|(k, a, l)| (k, a, a + l)).collect(),
        })
}

fn write_gen(dir: &Path, g: &GenBlock) -> Result<Option<Block>, BlockError> {
    let mut w = BlockWriter::create(dir, 0, 100_000, 1, vec![])?;
    let mut series: Vec<(Labels, &Vec<Sample>)> = g
        .series
        .iter()
        .map(|(i, s)| (series_labels(*i), s))
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    for (l, s) in series {
        match g.chunk {
            None => w.add_series(&l, &[ChunkInput::Samples(s)])?,
            Some(size) => {
                let pieces = encode_pieces(s, size);
                w.add_series(&l, &encoded_inputs(&pieces))?;
            }
        }
    }
    let Some(meta) = w.finish()? else {
        return Ok(None);
    };
    let b = Block::open(&dir.join(&meta.ulid))?;
    for (k, mint, maxt) in &g.tombstones {
        b.delete(&[Matcher::equal("k", k.to_string())], *mint, *maxt)?;
    }
    Ok(Some(b))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn compaction_equals_brute_force_merge(
        gens in proptest::collection::vec((0u64..1000).prop_flat_map(gen_block), 1..5),
        duplicate in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let run = || -> Result<(), Box<dyn std::error::Error>> {
            let mut blocks = Vec::new();
            for g in &gens {
                blocks.extend(write_gen(dir.path(), g)?);
            }
            if duplicate && let Some(first) = blocks.first().cloned() {
                // A block next to an identical copy of itself (a crash
                // between the rename of a compaction and the deletion of
                // its inputs): one copy comes out.
                let copy = dir.path().join("copy");
                std::fs::create_dir_all(&copy)?;
                for e in std::fs::read_dir(first.dir())? {
                    let e = e?;
                    std::fs::copy(e.path(), copy.join(e.file_name()))?;
                }
                blocks.push(Block::open(&copy)?);
            }
            let inputs: Vec<Vec<(Labels, Vec<Sample>)>> =
                blocks.iter().map(read_all).collect::<Result<_, _>>()?;
            let want = brute_force(&inputs);
            let refs: Vec<&Block> = blocks.iter().collect();
            let got = match compact(dir.path(), &refs)? {
                Some(m) => read_all(&Block::open(&dir.path().join(&m.ulid))?)?,
                None => Vec::new(),
            };
            if let Some(d) = first_difference(&got, &want) {
                return Err(format!("compaction differs from brute force: {d}").into());
            }
            // Each input alone, rewritten without its tombstones, reads the same.
            for (b, want) in blocks.iter().zip(&inputs) {
                let want: Vec<_> = want.iter().filter(|(_, s)| !s.is_empty()).cloned().collect();
                let got = match rewrite_without_tombstones(dir.path(), b)? {
                    Some(m) => {
                        let nb = Block::open(&dir.path().join(&m.ulid))?;
                        if nb.has_tombstones() {
                            return Err("rewrite kept tombstones".into());
                        }
                        read_all(&nb)?
                    }
                    None => Vec::new(),
                };
                if bits(&got) != bits(&want) {
                    return Err("rewrite without tombstones changed samples".into());
                }
            }
            Ok(())
        };
        run().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn merge_small_chunks_keeps_samples(
        samples in gen_samples(7),
        sizes in proptest::collection::vec(1usize..=CHUNK_SAMPLES, 1..8),
    ) {
        // Chunks of varying sizes, some full: the writer re-cuts small ones
        // and passes full ones through, samples unchanged.
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let run = || -> Result<(), Box<dyn std::error::Error>> {
            let mut pieces = Vec::new();
            let mut rest = &samples[..];
            let mut k = 0;
            while !rest.is_empty() {
                let n = sizes[k % sizes.len()].min(rest.len());
                pieces.extend(encode_pieces(&rest[..n], n));
                rest = &rest[n..];
                k += 1;
            }
            let mut w = BlockWriter::create(dir.path(), 0, 100_000, 1, vec![])?;
            w.merge_small_chunks(true);
            let l = series_labels(1);
            w.add_series(&l, &encoded_inputs(&pieces))?;
            let Some(m) = w.finish()? else {
                return if samples.is_empty() { Ok(()) } else { Err("no block".into()) };
            };
            let b = Block::open(&dir.path().join(&m.ulid))?;
            if bits(&read_all(&b)?) != bits(&[(l, samples.clone())]) {
                return Err("samples changed".into());
            }
            let stored = stored_chunks(&b)?;
            for (_, chunks) in &stored {
                for (_, _, bytes) in chunks {
                    let n = Reader::new(bytes).uvarint().ok_or("header")? as usize;
                    if n > CHUNK_SAMPLES {
                        return Err("chunk over 480 samples".into());
                    }
                }
            }
            // Every full input chunk is stored as it was.
            for (_, _, n, d) in &pieces {
                if *n as usize == CHUNK_SAMPLES && !stored[0].1.iter().any(|(_, _, b)| b == d) {
                    return Err("a full chunk was re-encoded".into());
                }
            }
            Ok(())
        };
        run().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

fn regular(n: i64, t0: i64, f: impl Fn(i64) -> f64) -> Vec<Sample> {
    (0..n).map(|i| Sample::new(t0 + i * 15_000, f(i))).collect()
}

#[test]
fn writer_refuses_bad_input_and_stays_usable() -> R {
    let dir = tempfile::tempdir()?;
    let mut w = BlockWriter::create(dir.path(), 0, i64::MAX, 1, vec![])?;
    let (a, b) = (series_labels(1), series_labels(2));
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let s = regular(10, 0, |i| i as f64);
    w.add_series(&hi, &[ChunkInput::Samples(&s)])?;
    let bad = |r: Result<(), BlockError>| matches!(r, Err(BlockError::BadInput(_)));
    assert!(
        bad(w.add_series(&lo, &[ChunkInput::Samples(&s)])),
        "unsorted series"
    );
    assert!(
        bad(w.add_series(&hi, &[ChunkInput::Samples(&s)])),
        "repeated series"
    );
    let next = Labels::from_pairs([("__name__", "z")]);
    let mut unsorted = s.clone();
    unsorted.swap(2, 3);
    assert!(bad(w.add_series(&next, &[ChunkInput::Samples(&unsorted)])));
    assert!(
        bad(w.add_series(
            &next,
            &[ChunkInput::Samples(&s), ChunkInput::Samples(&s[5..])]
        )),
        "overlapping chunks"
    );
    let mut enc = Vec::new();
    codec::encode_chunk(&s, &mut enc);
    let chunk = |min_t, max_t, num_samples, data| ChunkInput::Encoded {
        min_t,
        max_t,
        num_samples,
        data,
    };
    assert!(
        bad(w.add_series(&next, &[chunk(0, 135_000, 11, &enc)])),
        "count"
    );
    assert!(
        bad(w.add_series(&next, &[chunk(5, 135_000, 10, &enc)])),
        "min_t"
    );
    assert!(bad(w.add_series(&next, &[chunk(0, -1, 10, &enc)])), "max_t");
    assert!(
        bad(w.add_series(&next, &[chunk(0, 135_000, 10, &[0x80])])),
        "garbage"
    );
    let long = regular(CHUNK_SAMPLES as i64 + 1, 0, |i| i as f64);
    let mut long_enc = Vec::new();
    codec::encode_chunk(&long, &mut long_enc);
    let n = long.len() as u32;
    let last = long[long.len() - 1].t;
    assert!(
        bad(w.add_series(&next, &[chunk(0, last, n, &long_enc)])),
        "over 480"
    );
    // None of the refusals wrote anything: the block holds the good series.
    w.add_series(&next, &[chunk(0, 135_000, 10, &enc)])?;
    let m = w.finish()?.ok_or("no block")?;
    let got = read_all(&Block::open(&dir.path().join(&m.ulid))?)?;
    assert_eq!(got, vec![(hi, s.clone()), (next, s)]);
    Ok(())
}

#[test]
fn unfinished_or_empty_writer_leaves_nothing() -> R {
    let dir = tempfile::tempdir()?;
    {
        let mut w = BlockWriter::create(dir.path(), 0, i64::MAX, 1, vec![])?;
        // Enough to have written pages already.
        for i in 0..200 {
            let s = regular(480, 0, |k| ((k * 7919 + i) % 1013) as f64 * 0.37);
            w.add_series(
                &Labels::from_pairs([("__name__", "x"), ("i", &format!("{i:04}"))]),
                &[ChunkInput::Samples(&s)],
            )?;
        }
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1, "the temp dir");
    }
    assert_eq!(
        std::fs::read_dir(dir.path())?.count(),
        0,
        "dropped writer cleaned up"
    );
    let mut w = BlockWriter::create(dir.path(), 0, i64::MAX, 1, vec![])?;
    w.add_series(&series_labels(1), &[ChunkInput::Samples(&[])])?;
    assert!(w.finish()?.is_none());
    assert_eq!(
        std::fs::read_dir(dir.path())?.count(),
        0,
        "empty block left nothing"
    );
    Ok(())
}

#[test]
fn encoded_chunks_are_written_through_bit_identical() -> R {
    let dir = tempfile::tempdir()?;
    // Two blocks of consecutive 2 h ranges; many series, so pages fill and
    // a long series spans pages.
    let mut inputs = Vec::new();
    for part in 0..2i64 {
        let t0 = part * 7_200_000;
        let mut w = BlockWriter::create(dir.path(), t0, t0 + 7_200_000, 1, vec![])?;
        let mut want = Vec::new();
        for i in 0..300 {
            let l = Labels::from_pairs([("__name__", "m"), ("i", &format!("{i:04}"))]);
            let n = if i == 7 { 480 * 40 } else { 480 };
            let s: Vec<Sample> = (0..n)
                .map(|k| {
                    Sample::new(
                        t0 + k * 15,
                        f64::from_bits(
                            0x4000_0000_0000_0000
                                ^ ((k * 31 + i) as u64).wrapping_mul(0x9e37_79b9_7f4a),
                        ),
                    )
                })
                .collect();
            let size = if i % 2 == 0 { 480 } else { 120 };
            let pieces = encode_pieces(&s, size);
            w.add_series(&l, &encoded_inputs(&pieces))?;
            want.push((
                l,
                pieces
                    .into_iter()
                    .map(|(a, b, _, d)| (a, b, d))
                    .collect::<Vec<_>>(),
            ));
        }
        let m = w.finish()?.ok_or("no block")?;
        let b = Block::open(&dir.path().join(&m.ulid))?;
        assert_eq!(
            stored_chunks(&b)?,
            want,
            "writer stores encoded chunks as given"
        );
        assert!(m.stats.num_bytes > 3 * PAGE_BYTES as u64, "several pages");
        inputs.push((b, want));
    }
    // Compacting non-overlapping blocks copies full chunks as they are.
    let refs: Vec<&Block> = inputs.iter().map(|(b, _)| b).collect();
    let m = compact(dir.path(), &refs)?.ok_or("no block")?;
    let out = Block::open(&dir.path().join(&m.ulid))?;
    let stored = stored_chunks(&out)?;
    for (b, want) in &inputs {
        for ((l, chunks), (ol, ochunks)) in want.iter().zip(&stored) {
            assert_eq!(l, ol);
            for c in chunks
                .iter()
                .filter(|c| Reader::new(&c.2).uvarint() == Some(CHUNK_SAMPLES as u64))
            {
                assert!(ochunks.contains(c), "full chunk of {l} copied through");
            }
        }
        let _ = b;
    }
    let want = brute_force(&[read_all(&inputs[0].0)?, read_all(&inputs[1].0)?]);
    assert_eq!(bits(&read_all(&out)?), bits(&want));
    Ok(())
}

#[test]
fn compacting_a_block_with_its_copy_yields_one_copy() -> R {
    let dir = tempfile::tempdir()?;
    let data: Vec<(Labels, Vec<Sample>)> = (0..50)
        .map(|i| {
            (
                Labels::from_pairs([("__name__", "c"), ("i", &format!("{i:03}"))]),
                regular(960, 0, |k| (k * (i + 1)) as f64),
            )
        })
        .collect();
    let m = write_block(
        dir.path(),
        0,
        14_400_000,
        1,
        vec![],
        data.clone().into_iter(),
    )?
    .ok_or("no block")?;
    let a = Block::open(&dir.path().join(&m.ulid))?;
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy)?;
    for e in std::fs::read_dir(a.dir())? {
        let e = e?;
        std::fs::copy(e.path(), copy.join(e.file_name()))?;
    }
    let b = Block::open(&copy)?;
    let mc = compact(dir.path(), &[&a, &b])?.ok_or("no block")?;
    let c = Block::open(&dir.path().join(&mc.ulid))?;
    assert_eq!(read_all(&c)?, data);
    assert_eq!(mc.stats.num_chunks, m.stats.num_chunks);
    assert_eq!(
        stored_chunks(&c)?,
        stored_chunks(&a)?,
        "chunks copied, not re-encoded"
    );
    Ok(())
}

#[test]
fn failed_compaction_leaves_only_the_inputs() -> R {
    let dir = tempfile::tempdir()?;
    let data: Vec<(Labels, Vec<Sample>)> = (0..400)
        .map(|i| {
            (
                Labels::from_pairs([("__name__", "g"), ("i", &format!("{i:03}"))]),
                regular(480, 0, |k| ((k * 7919 + i) % 1013) as f64 * 0.37),
            )
        })
        .collect();
    let m = write_block(dir.path(), 0, 7_200_000, 1, vec![], data.into_iter())?.ok_or("none")?;
    let bdir = dir.path().join(&m.ulid);
    // A flipped byte inside a page body: open does not read pages, compaction does.
    let path = bdir.join("chunks");
    let mut bytes = std::fs::read(&path)?;
    let at = bytes.len() * 2 / 3;
    bytes[at] ^= 0x5a;
    std::fs::write(&path, &bytes)?;
    let b = Block::open(&bdir)?;
    let r = compact(dir.path(), &[&b]);
    assert!(
        matches!(r, Err(BlockError::Corruption { .. })),
        "{:?}",
        r.map(|m| m.map(|m| m.ulid))
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    assert_eq!(left, vec![std::ffi::OsString::from(&m.ulid)]);
    Ok(())
}
