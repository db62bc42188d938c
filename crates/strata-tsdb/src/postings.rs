//! The head's postings: label name → value → roaring bitmap of series ids,
//! answering matchers with Prometheus' semantics. Blocks answer the same
//! questions from their mmap'd index (strata-block); both intersect
//! matchers through `strata_block::postings::intersect_matchers`.

use roaring::RoaringBitmap;
use std::collections::{BTreeMap, HashMap};
use strata_block::postings::intersect_matchers;
use strata_model::{LabelStr, Labels, MatchOp, Matcher};

#[derive(Default, Debug)]
pub struct MemPostings {
    // Keyed by LabelStr: names and most values are stored inline, so adding
    // a series allocates only for long values.
    by_label: HashMap<LabelStr, BTreeMap<LabelStr, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl MemPostings {
    pub fn add(&mut self, id: u32, labels: &Labels) {
        for l in labels.iter() {
            // Keys are cloned only when new: a clone of a long value (a
            // pod uid) is an allocation, and nearly every pair exists.
            if !self.by_label.contains_key(l.name.as_str()) {
                self.by_label.insert(l.name.clone(), BTreeMap::new());
            }
            let Some(values) = self.by_label.get_mut(l.name.as_str()) else {
                continue;
            };
            if let Some(p) = values.get_mut(l.value.as_str()) {
                p.insert(id);
            } else {
                let mut p = RoaringBitmap::new();
                p.insert(id);
                values.insert(l.value.clone(), p);
            }
        }
        self.all.insert(id);
    }

    pub fn remove(&mut self, id: u32, labels: &Labels) {
        for l in labels.iter() {
            if let Some(values) = self.by_label.get_mut(&l.name) {
                if let Some(p) = values.get_mut(&l.value) {
                    p.remove(id);
                    if p.is_empty() {
                        values.remove(&l.value);
                    }
                }
                if values.is_empty() {
                    self.by_label.remove(&l.name);
                }
            }
        }
        self.all.remove(id);
    }

    pub fn all(&self) -> &RoaringBitmap {
        &self.all
    }

    fn label_union(&self, name: &str) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        if let Some(values) = self.by_label.get(name) {
            for p in values.values() {
                out |= p;
            }
        }
        out
    }

    fn regex_values(&self, m: &Matcher) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let (Some(values), Some(re)) = (self.by_label.get(m.name.as_str()), m.regex()) else {
            return out;
        };
        if let Some(set) = re.literal_set() {
            for v in set {
                if let Some(p) = values.get(v) {
                    out |= p;
                }
            }
            return out;
        }
        let prefix = re.required_prefix();
        for (v, p) in values.range::<str, _>((
            std::ops::Bound::Included(prefix),
            std::ops::Bound::Unbounded,
        )) {
            if !v.starts_with(prefix) {
                break;
            }
            if re.is_match(v) {
                out |= p;
            }
        }
        out
    }

    /// Series matching one matcher; a missing label has the empty value.
    pub fn for_matcher(&self, m: &Matcher) -> RoaringBitmap {
        let name = m.name.as_str();
        let lacking = || &self.all - &self.label_union(name);
        let equal = || {
            self.by_label
                .get(name)
                .and_then(|v| v.get(m.value.as_str()))
                .cloned()
                .unwrap_or_default()
        };
        match m.op {
            MatchOp::Equal if m.value.is_empty() => lacking(),
            MatchOp::Equal => equal(),
            MatchOp::NotEqual if m.value.is_empty() => self.label_union(name),
            MatchOp::NotEqual => &self.all - &equal(),
            MatchOp::RegexMatch => {
                let mut out = self.regex_values(m);
                if m.matches_empty() {
                    out |= lacking();
                }
                out
            }
            MatchOp::RegexNoMatch => {
                let mut matched = self.regex_values(m);
                if m.regex().is_some_and(|r| r.matches_empty()) {
                    matched |= lacking();
                }
                &self.all - &matched
            }
        }
    }

    /// Series matching every matcher (all series when there are none).
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let found: Result<_, std::convert::Infallible> =
            intersect_matchers(matchers, |m| Ok(self.for_matcher(m)), || self.all.clone());
        match found {
            Ok(ids) => ids,
            Err(never) => match never {},
        }
    }

    pub fn label_names(&self, ids: Option<&RoaringBitmap>) -> Vec<String> {
        let mut out: Vec<String> = self
            .by_label
            .iter()
            .filter(|(_, values)| {
                ids.is_none_or(|ids| values.values().any(|p| !p.is_disjoint(ids)))
            })
            .map(|(n, _)| n.to_string())
            .collect();
        out.sort();
        out
    }

    pub fn label_values(&self, name: &str, ids: Option<&RoaringBitmap>) -> Vec<String> {
        let Some(values) = self.by_label.get(name) else {
            return Vec::new();
        };
        values
            .iter()
            .filter(|(_, p)| ids.is_none_or(|ids| !p.is_disjoint(ids)))
            .map(|(v, _)| v.to_string())
            .collect()
    }

    /// (label name, number of distinct values).
    pub fn cardinality(&self) -> Vec<(String, u64)> {
        self.by_label
            .iter()
            .map(|(n, v)| (n.to_string(), v.len() as u64))
            .collect()
    }

    /// ("name=value", number of series).
    pub fn pair_counts(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for (n, values) in &self.by_label {
            for (v, p) in values {
                out.push((format!("{n}={v}"), p.len()));
            }
        }
        out
    }

    pub fn value_counts(&self, name: &str) -> Vec<(String, u64)> {
        self.by_label
            .get(name)
            .map(|v| v.iter().map(|(n, p)| (n.to_string(), p.len())).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_labels() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map(
            prop_oneof![Just("a"), Just("b"), Just("c")],
            prop_oneof![Just("x"), Just("xy"), Just("y"), Just("z1"), Just("")],
            0..3,
        )
        .prop_map(|m| Labels::from_pairs(m.iter().map(|(k, v)| (*k, *v))))
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        (
            prop_oneof![Just("a"), Just("b"), Just("c"), Just("d")],
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
                Just("[xz].*")
            ],
        )
            .prop_filter_map("valid", |(n, op, v)| Matcher::new(op, n, v).ok())
    }

    proptest! {
        /// Index answers equal a brute-force scan over the label sets.
        #[test]
        fn matchers_equal_brute_force(sets in proptest::collection::vec(arb_labels(), 0..40), ms in proptest::collection::vec(arb_matcher(), 0..3)) {
            let mut p = MemPostings::default();
            for (i, l) in sets.iter().enumerate() {
                p.add(i as u32, l);
            }
            let got: Vec<u32> = p.select(&ms).iter().collect();
            let want: Vec<u32> = sets
                .iter()
                .enumerate()
                .filter(|(_, l)| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
                .map(|(i, _)| i as u32)
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
