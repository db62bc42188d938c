//! The version-2 index against a brute-force scan over the same series, the
//! version-1 fixture (converted at open), and damaged index files.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;
use strata_model::{Labels, MatchOp, Matcher, Querier, Sample};

type R = Result<(), Box<dyn std::error::Error>>;

/// What an index must answer, by scanning every series' labels.
struct Scan<'a>(&'a [Labels]);

impl Scan<'_> {
    fn ids(&self, keep: impl Fn(&Labels) -> bool) -> roaring::RoaringBitmap {
        (0u32..)
            .zip(self.0)
            .filter(|(_, l)| keep(l))
            .map(|(i, _)| i)
            .collect()
    }

    fn for_matcher(&self, m: &Matcher) -> roaring::RoaringBitmap {
        self.ids(|l| m.matches(l.get(&m.name).unwrap_or("")))
    }

    fn select(&self, ms: &[Matcher]) -> roaring::RoaringBitmap {
        self.ids(|l| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
    }

    fn in_ids<'b>(
        &'b self,
        ids: Option<&'b roaring::RoaringBitmap>,
    ) -> impl Iterator<Item = &'b Labels> + 'b {
        (0u32..)
            .zip(self.0)
            .filter(move |(i, _)| ids.is_none_or(|ids| ids.contains(*i)))
            .map(|(_, l)| l)
    }

    fn label_names(&self, ids: Option<&roaring::RoaringBitmap>) -> Vec<String> {
        let names: BTreeSet<String> = self
            .in_ids(ids)
            .flat_map(|l| l.iter().map(|x| x.name.to_string()))
            .collect();
        names.into_iter().collect()
    }

    fn label_values(&self, name: &str, ids: Option<&roaring::RoaringBitmap>) -> Vec<String> {
        let values: BTreeSet<String> = self
            .in_ids(ids)
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        values.into_iter().collect()
    }

    fn cardinality(&self) -> Vec<(String, u64)> {
        self.label_names(None)
            .into_iter()
            .map(|n| {
                let v = self.label_values(&n, None).len() as u64;
                (n, v)
            })
            .collect()
    }

    fn count(&self, name: &str, value: &str) -> u64 {
        self.0.iter().filter(|l| l.get(name) == Some(value)).count() as u64
    }
}

fn arb_labels() -> impl Strategy<Value = Labels> {
    proptest::collection::btree_map(
        prop_oneof![
            Just("__name__".to_string()),
            Just("a".to_string()),
            Just("b".to_string()),
            Just("c".to_string()),
            Just("pod".to_string()),
        ],
        prop_oneof![
            Just(String::new()),
            Just("x".to_string()),
            Just("xy".to_string()),
            Just("z1".to_string()),
            "[a-z]{1,4}",
            "\\PC{0,3}",
        ],
        0..5,
    )
    .prop_map(|m| Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
}

fn arb_matcher() -> impl Strategy<Value = Matcher> {
    (
        prop_oneof![
            Just("__name__"),
            Just("a"),
            Just("b"),
            Just("pod"),
            Just("d")
        ],
        prop_oneof![
            Just(MatchOp::Equal),
            Just(MatchOp::NotEqual),
            Just(MatchOp::RegexMatch),
            Just(MatchOp::RegexNoMatch)
        ],
        prop_oneof![
            Just(""),
            Just("x"),
            Just("x.*"),
            Just("xy|z1"),
            Just(".*"),
            Just(".+"),
            Just("y|"),
            Just("[xz].*"),
            Just(".*a.*"),
            Just("b.+"),
        ],
    )
        .prop_filter_map("valid", |(n, op, v)| Matcher::new(op, n, v).ok())
}

fn write_labels(dir: &Path, sets: &[Labels], pass_bytes: u64) -> Result<Option<Block>, BlockError> {
    let mut w = BlockWriter::create(dir, 0, 1000, 1, vec![])?;
    w.postings_pass_bytes(pass_bytes);
    for (i, l) in sets.iter().enumerate() {
        w.add_series(l, &[ChunkInput::Samples(&[Sample::new(i as i64, 1.0)])])?;
    }
    match w.finish()? {
        Some(m) => Ok(Some(Block::open(&dir.join(&m.ulid))?)),
        None => Ok(None),
    }
}

fn sorted(mut v: Vec<(String, u64)>) -> Vec<(String, u64)> {
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Every answer of the mmap'd index equals a scan over the same
    /// series, whatever the number of postings passes the writer took.
    #[test]
    fn mmap_index_equals_a_scan(
        sets in proptest::collection::btree_set(arb_labels(), 1..60),
        ms in proptest::collection::vec(arb_matcher(), 0..3),
        pass_bytes in prop_oneof![Just(1u64), Just(64), Just(16 << 20)],
    ) {
        let sets: Vec<Labels> = sets.into_iter().collect();
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let block = write_labels(dir.path(), &sets, pass_bytes)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .ok_or_else(|| TestCaseError::fail("no block"))?;
        let mem = Scan(&sets);
        let ix = &block.inner.index;
        let sel = block.select_ids(&ms).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&sel, &mem.select(&ms));
        for m in &ms {
            let one = block.select_ids(std::slice::from_ref(m)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(one, mem.for_matcher(m), "matcher {}", m);
        }
        for ids in [None, Some(&sel)] {
            prop_assert_eq!(ix.label_names(ids).map_err(|e| TestCaseError::fail(e.to_string()))?, mem.label_names(ids));
            for name in ["__name__", "a", "b", "c", "pod", "d", ""] {
                prop_assert_eq!(
                    ix.label_values(name, ids).map_err(|e| TestCaseError::fail(e.to_string()))?,
                    mem.label_values(name, ids),
                    "values of {}", name
                );
            }
        }
        prop_assert_eq!(sorted(block.label_cardinality()), sorted(mem.cardinality()));
        let pairs: BTreeSet<(String, String)> = sets
            .iter()
            .flat_map(|l| l.iter().map(|x| (x.name.to_string(), x.value.to_string())))
            .collect();
        for (n, v) in &pairs {
            prop_assert_eq!(block.postings_count(n, v), mem.count(n, v));
        }
        prop_assert_eq!(block.postings_count("a", "never"), 0);
        let mut chunks = Vec::new();
        for (id, l) in sets.iter().enumerate() {
            let got = ix.series(id as u32, &mut chunks).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&got, l);
            prop_assert_eq!(chunks.len(), 1);
            prop_assert_eq!((chunks[0].min_t, chunks[0].max_t), (id as i64, id as i64));
        }
    }
}

fn fixture_dir() -> std::path::PathBuf {
    Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/fixtures/v1-block")
}

/// A block written by the version-1 writer (committed) still opens: read
/// only, its index is converted in a temporary directory and the block is
/// left as it was; writable, the index is replaced by a version-2 one in
/// place (a crash's leftover scratch directory removed). Both answer like a
/// scan over its series, and it compacts into a block with the same data.
#[test]
fn version_1_block_is_converted_at_open() -> R {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("v1-block");
    std::fs::create_dir(&dir)?;
    for f in ["meta.json", "index", "chunks"] {
        std::fs::copy(fixture_dir().join(f), dir.join(f))?;
    }
    let v1_index = std::fs::read(dir.join("index"))?;
    assert_eq!(v1_index[..8], [b'S', b'I', b'D', b'X', 1, 0, 0, 0]);
    let want = super::tests::v1_fixture_series();
    let labels: Vec<Labels> = want.iter().map(|(l, _)| l.clone()).collect();
    let mem = Scan(&labels);
    let ms = [
        Matcher::equal("job", "api"),
        Matcher::new(MatchOp::RegexMatch, "pod", "pod-0[01].*")?,
    ];
    let check = |b: &Block| -> R {
        assert_eq!(super::tests::read_all(b, &[], i64::MIN, i64::MAX)?, want);
        assert_eq!(b.select_ids(&ms)?, mem.select(&ms));
        assert_eq!(b.postings_count("job", "node"), mem.count("job", "node"));
        assert_eq!(sorted(b.label_cardinality()), sorted(mem.cardinality()));
        let q = b.querier(i64::MIN, i64::MAX);
        assert_eq!(
            q.label_values("instance", &[])?,
            mem.label_values("instance", None)
        );
        Ok(())
    };

    let ro = Block::open_read_only(&dir)?;
    check(&ro)?;
    assert_eq!(
        std::fs::read(dir.join("index"))?,
        v1_index,
        "read-only open wrote"
    );
    drop(ro);

    std::fs::create_dir(dir.join("index.upgrade.tmp"))?;
    std::fs::write(dir.join("index.upgrade.tmp/index"), b"torn")?;
    let b = Block::open(&dir)?;
    check(&b)?;
    assert_eq!(b.meta().version, 1);
    let converted = std::fs::read(dir.join("index"))?;
    assert_eq!(converted[..8], [b'S', b'I', b'D', b'X', 2, 0, 0, 0]);
    assert!(!dir.join("index.upgrade.tmp").exists());
    let again = Block::open(&dir)?;
    check(&again)?;
    assert_eq!(
        std::fs::read(dir.join("index"))?,
        converted,
        "converted twice"
    );

    let m = compact(tmp.path(), &[&b])?.ok_or("no output")?;
    assert_eq!(m.version, FORMAT_VERSION);
    let c = Block::open(&tmp.path().join(&m.ulid))?;
    check(&c)?;
    Ok(())
}

/// Every truncation and every flipped byte of a version-2 index makes open
/// fail with a corruption error (the sections' checksums are checked at
/// open); none panics.
#[test]
fn damaged_version_2_index_is_a_corruption_error() -> R {
    let tmp = tempfile::tempdir()?;
    let sets: Vec<Labels> = (0..30)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", if i % 2 == 0 { "up" } else { "down" }),
                ("pod", &format!("pod-{i}")),
                ("zone", if i % 3 == 0 { "a" } else { "" }),
            ])
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let b = write_labels(tmp.path(), &sets, 1 << 20)?.ok_or("no block")?;
    let dir = b.dir().to_path_buf();
    drop(b);
    let path = dir.join("index");
    let orig = std::fs::read(&path)?;
    for cut in 0..orig.len() {
        std::fs::write(&path, &orig[..cut])?;
        match Block::open(&dir) {
            Err(BlockError::Corruption { .. }) => {}
            other => panic!("index cut at {cut} of {}: {:?}", orig.len(), other.err()),
        }
    }
    for at in 0..orig.len() {
        let bit = 1u8 << (at % 8);
        let mut bad = orig.clone();
        bad[at] ^= bit;
        std::fs::write(&path, &bad)?;
        match Block::open(&dir) {
            Err(BlockError::Corruption { .. }) => {}
            other => panic!("index byte {at} ^ {bit:#x}: {:?}", other.err()),
        }
    }
    std::fs::write(&path, &orig)?;
    let b = Block::open(&dir)?;
    assert_eq!(b.num_series() as usize, sets.len());
    Ok(())
}
