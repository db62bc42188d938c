//! The intersection of matchers' postings, shared by the head's in-memory
//! postings (strata-tsdb) and the block's mmap'd index, so both select
//! series identically.

use roaring::RoaringBitmap;
use strata_model::{MatchOp, Matcher};

/// Series matching every matcher, for the in-memory and the mmap'd
/// postings alike: `for_matcher` answers one matcher, `all` the case of
/// none. Equality first (it usually narrows the most and costs one
/// lookup), then regex matches, then the rest; stops once empty.
pub fn intersect_matchers<E>(
    matchers: &[Matcher],
    mut for_matcher: impl FnMut(&Matcher) -> Result<RoaringBitmap, E>,
    all: impl FnOnce() -> RoaringBitmap,
) -> Result<RoaringBitmap, E> {
    let mut order: Vec<&Matcher> = matchers.iter().collect();
    order.sort_by_key(|m| match m.op {
        MatchOp::Equal if !m.value.is_empty() => 0,
        MatchOp::RegexMatch => 1,
        _ => 2,
    });
    let mut acc: Option<RoaringBitmap> = None;
    for m in order {
        let p = for_matcher(m)?;
        let next = match acc {
            None => p,
            Some(a) => a & p,
        };
        let empty = next.is_empty();
        acc = Some(next);
        if empty {
            break;
        }
    }
    Ok(acc.unwrap_or_else(all))
}
