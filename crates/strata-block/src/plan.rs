//! Compaction planning as a pure function of a block list, so the embedded
//! database and (later) an object-storage compactor choose the same merges.

use crate::BlockMeta;

/// Chooses the next set of blocks to merge, or `None` when nothing needs
/// merging. Overlapping blocks come first (they come from crashes and
/// out-of-order cuts); then, as Prometheus does, neighbours that fall in
/// one aligned window of 3×, 9×, … `block_range`, up to `max_range`, and only
/// windows the newest block has moved past (they are complete).
///
/// `blocks` may be in any order; the answer lists ULIDs by min time.
pub fn plan_compaction(
    blocks: &[BlockMeta],
    block_range: i64,
    max_range: i64,
) -> Option<Vec<String>> {
    let mut sorted: Vec<&BlockMeta> = blocks.iter().collect();
    sorted.sort_by_key(|m| (m.min_time, m.max_time));
    let newest = sorted.iter().map(|m| m.max_time).max()?;
    // A block overlaps every later one whose min time is before the running
    // max: group the first such run.
    let mut run_max = i64::MIN;
    let mut run: Vec<&BlockMeta> = Vec::new();
    for m in &sorted {
        if !run.is_empty() && m.min_time < run_max {
            run.push(m);
            run_max = run_max.max(m.max_time);
            continue;
        }
        if run.len() >= 2 {
            break;
        }
        run = vec![m];
        run_max = m.max_time;
    }
    if run.len() >= 2 {
        return Some(run.iter().map(|m| m.ulid.clone()).collect());
    }
    let block_range = block_range.max(1);
    let mut window = block_range.saturating_mul(3);
    while window <= max_range {
        let mut by_window: std::collections::BTreeMap<i64, Vec<&BlockMeta>> = Default::default();
        for m in &sorted {
            let w0 = m.min_time.div_euclid(window);
            if (m.max_time - 1).div_euclid(window) == w0 && m.max_time - m.min_time < window {
                by_window.entry(w0).or_default().push(m);
            }
        }
        if let Some((_, g)) = by_window
            .into_iter()
            .find(|(w0, g)| g.len() >= 2 && (w0 + 1).saturating_mul(window) <= newest)
        {
            return Some(g.iter().map(|m| m.ulid.clone()).collect());
        }
        if window > i64::MAX / 3 {
            break;
        }
        window *= 3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockStats, CompactionInfo};

    fn meta(ulid: &str, min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            ulid: ulid.into(),
            min_time: min,
            max_time: max,
            version: 1,
            stats: BlockStats {
                num_series: 1,
                num_samples: 1,
                num_chunks: 1,
                num_bytes: 1,
            },
            compaction: CompactionInfo {
                level: 1,
                sources: vec![ulid.into()],
            },
        }
    }

    #[test]
    fn cases() {
        let r = 10;
        // (blocks, expected plan)
        let cases: Vec<(Vec<BlockMeta>, Option<Vec<&str>>)> = vec![
            (vec![], None),
            (vec![meta("a", 0, 10)], None),
            // Three neighbours of one 3x window, head moved past it.
            (
                vec![
                    meta("a", 0, 10),
                    meta("b", 10, 20),
                    meta("c", 20, 30),
                    meta("d", 30, 40),
                ],
                Some(vec!["a", "b", "c"]),
            ),
            // The window is not complete yet: the newest block ends inside it.
            (vec![meta("a", 0, 10), meta("b", 10, 20)], None),
            // Overlaps first, in any input order, including a chain.
            (
                vec![meta("c", 40, 50), meta("a", 0, 10), meta("b", 5, 15)],
                Some(vec!["a", "b"]),
            ),
            (
                vec![meta("a", 0, 10), meta("b", 5, 25), meta("c", 20, 30)],
                Some(vec!["a", "b", "c"]),
            ),
            // A block spanning a whole window is not merged again at that level.
            (vec![meta("a", 0, 30), meta("b", 30, 40)], None),
            // Next level: 9x window groups 3x blocks.
            (
                vec![
                    meta("a", 0, 30),
                    meta("b", 30, 60),
                    meta("c", 60, 90),
                    meta("d", 90, 100),
                ],
                Some(vec!["a", "b", "c"]),
            ),
        ];
        for (i, (blocks, want)) in cases.into_iter().enumerate() {
            let got = plan_compaction(&blocks, r, 1000);
            let want = want.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(got, want, "case {i}");
        }
        // max_range caps the window.
        let b = vec![
            meta("a", 0, 10),
            meta("b", 10, 20),
            meta("c", 20, 30),
            meta("d", 30, 40),
        ];
        assert_eq!(plan_compaction(&b, r, 20), None);
    }
}
