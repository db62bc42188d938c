//! Aggregation operators. Group membership depends only on labels, so it is
//! computed once per series; the per-step work is then plain accumulation
//! into dense per-group arrays.

use crate::eval::{Evaluator, Result, exec};
use crate::functions::{kahan_inc, quantile};
use crate::value::{Series, Steps, Val};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::collections::HashMap;
use strata_model::format::format_api;
use strata_model::{Labels, METRIC_NAME, Sample};

/// Running state of one group at one step.
#[derive(Clone, Copy, Default)]
struct Acc {
    count: f64,
    value: f64,
    comp: f64,
    mean: f64,
    incremental: bool,
}

/// Finds the group of a series by the hash of its grouping labels; a
/// group's label set is built once, when the group is first seen.
struct Grouper {
    by: bool,
    names: Vec<String>,
    index: HashMap<u64, Vec<usize>>,
    groups: Vec<Labels>,
}

impl Grouper {
    fn new(modifier: &Option<LabelModifier>) -> Self {
        let (by, names) = match modifier {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (true, Vec::new()),
        };
        Grouper {
            by,
            names,
            index: HashMap::new(),
            groups: Vec::new(),
        }
    }

    fn in_group(&self, name: &str) -> bool {
        if self.by {
            self.names.iter().any(|n| n == name)
        } else {
            name != METRIC_NAME && !self.names.iter().any(|n| n == name)
        }
    }

    fn group_of(&mut self, labels: &Labels) -> usize {
        let h = strata_model::hash_pairs(
            labels
                .iter()
                .filter(|lb| self.in_group(&lb.name))
                .map(|lb| (lb.name.as_bytes(), lb.value.as_bytes())),
        );
        let found = self.index.get(&h).and_then(|slots| {
            slots.iter().copied().find(|&g| {
                let mut mine = labels.iter().filter(|lb| self.in_group(&lb.name));
                self.groups[g].iter().eq(&mut mine)
            })
        });
        if let Some(g) = found {
            return g;
        }
        let g = Labels::from_sorted(
            labels
                .iter()
                .filter(|lb| self.in_group(&lb.name))
                .cloned()
                .collect(),
        );
        self.index.entry(h).or_default().push(self.groups.len());
        self.groups.push(g);
        self.groups.len() - 1
    }
}

/// The aggregations that fold each series into its group's running state,
/// so their input need never be held whole.
fn folds(op: &str) -> bool {
    matches!(
        op,
        "sum" | "avg" | "min" | "max" | "count" | "group" | "stddev" | "stdvar"
    )
}

/// The running per-group, per-step state of a folding aggregation. Its
/// input arrives in batches — a bare selector's, a batch at a time as
/// storage yields it; any other expression's, whole — always in the
/// input's order, so the sums are the same however it is cut.
struct Fold<'o> {
    op: &'o str,
    steps: Steps,
    grouper: Grouper,
    /// Group-major: group `g`'s steps at `g * n .. (g + 1) * n`.
    acc: Vec<Acc>,
    /// Counted against `--query.max-samples`: the input's samples (as if
    /// held whole, as Prometheus counts them) and the dense group rows.
    held: usize,
}

impl<'o> Fold<'o> {
    fn new(op: &'o str, modifier: &Option<LabelModifier>, steps: Steps) -> Self {
        Fold {
            op,
            steps,
            grouper: Grouper::new(modifier),
            acc: Vec::new(),
            held: 0,
        }
    }

    fn add(&mut self, ev: &mut Evaluator, batch: &[Series]) -> Result<()> {
        let n = self.steps.len();
        let points: usize = batch.iter().map(|s| s.pts.len()).sum();
        self.held += points;
        ev.hold(points)?;
        for s in batch {
            let g = self.grouper.group_of(&s.labels);
            if self.acc.len() < (g + 1) * n {
                self.held += n;
                ev.hold(n)?;
                self.acc.resize((g + 1) * n, Acc::default());
            }
            let row = &mut self.acc[g * n..(g + 1) * n];
            for p in &s.pts {
                accumulate(self.op, &mut row[self.steps.idx(p.t)], p.v);
            }
        }
        Ok(())
    }

    fn finish(self, ev: &mut Evaluator) -> Vec<Series> {
        ev.release(self.held);
        let (n, steps, op, acc) = (self.steps.len(), self.steps, self.op, &self.acc);
        self.grouper
            .groups
            .into_iter()
            .enumerate()
            .map(|(g, labels)| Series {
                labels,
                pts: acc[g * n..(g + 1) * n]
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.count > 0.0)
                    .map(|(i, a)| Sample::new(steps.t(i), finish(op, a)))
                    .collect(),
            })
            .filter(|s| !s.pts.is_empty())
            .collect()
    }
}

/// A folding aggregation. Over a bare vector selector the selection is
/// decoded a batch at a time and each batch folded before the next is
/// read, so memory is the groups plus one batch instead of the whole
/// selection (a `count` over every series of a tenant).
fn fold(ev: &mut Evaluator, a: &AggregateExpr, op: &str, steps: Steps) -> Result<Val> {
    let mut fold = Fold::new(op, &a.modifier, steps);
    if let promql_parser::parser::Expr::VectorSelector(vs) = crate::eval::unwrap_parens(&a.expr) {
        ev.vector_selector_batches(vs, steps, false, |ev, batch| fold.add(ev, &batch))?;
    } else {
        let input = match ev.eval(&a.expr, steps)? {
            Val::Vector(v) => v,
            _ => return Err(exec(format!("{op}: expected an instant vector"))),
        };
        // `eval` counted the input when it built it; `add` counts it again.
        ev.release(input.iter().map(|s| s.pts.len()).sum());
        fold.add(ev, &input)?;
    }
    Ok(Val::Vector(fold.finish(ev)))
}

pub(crate) fn aggregate(ev: &mut Evaluator, a: &AggregateExpr, steps: Steps) -> Result<Val> {
    let op = a.op.to_string();
    if folds(&op) {
        return fold(ev, a, &op, steps);
    }
    let param = match &a.param {
        Some(p) => Some(ev.eval(p, steps)?),
        None => None,
    };
    let input = match ev.eval(&a.expr, steps)? {
        Val::Vector(v) => v,
        _ => return Err(exec(format!("{op}: expected an instant vector"))),
    };
    let held: usize = input.iter().map(|s| s.pts.len()).sum();
    let mut grouper = Grouper::new(&a.modifier);
    let group_of: Vec<usize> = input.iter().map(|s| grouper.group_of(&s.labels)).collect();
    let groups = grouper.groups;
    let n = steps.len();
    // The dense per-group step arrays below count against the sample limit.
    let dense = groups.len().saturating_mul(n);
    ev.hold(dense)?;
    let scalar_param = |p: &Option<Val>| -> Result<Vec<f64>> {
        match p {
            Some(Val::Scalar(v)) => Ok(v.clone()),
            _ => Err(exec(format!("{op}: expected a scalar parameter"))),
        }
    };
    let result = match op.as_str() {
        "topk" | "bottomk" => {
            let k = scalar_param(&param)?;
            select_k(input, &group_of, groups.len(), &k, op == "topk", steps)?
        }
        "quantile" => {
            let q = scalar_param(&param)?;
            if q.iter().any(|&q| !(0.0..=1.0).contains(&q) || q.is_nan()) {
                let bad = q
                    .iter()
                    .find(|&&q| !(0.0..=1.0).contains(&q) || q.is_nan())
                    .copied()
                    .unwrap_or(f64::NAN);
                ev.warnings.push(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}",
                    strata_model::format::format_go_g(bad)
                ));
            }
            let mut vals: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; groups.len()];
            for (s, &g) in input.iter().zip(&group_of) {
                for p in &s.pts {
                    vals[g][steps.idx(p.t)].push(p.v);
                }
            }
            let mut out = Vec::with_capacity(groups.len());
            for (g, labels) in groups.into_iter().enumerate() {
                let pts: Vec<Sample> = vals[g]
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(i, v)| Sample::new(steps.t(i), quantile(q[i], v)))
                    .collect();
                out.push(Series { labels, pts });
            }
            out
        }
        "count_values" => {
            let label = match &param {
                Some(Val::String(s)) => s.clone(),
                _ => return Err(exec("count_values: expected a string parameter")),
            };
            if label.is_empty() {
                return Err(exec(format!("invalid label name {label:?}")));
            }
            let mut index: HashMap<Labels, usize> = HashMap::new();
            let mut out: Vec<(Labels, Vec<f64>)> = Vec::new();
            for (s, &g) in input.iter().zip(&group_of) {
                for p in &s.pts {
                    let mut b = groups[g].builder();
                    b.set(&label, &format_api(p.v));
                    let l = b.labels();
                    let slot = match index.get(&l) {
                        Some(&x) => x,
                        None => {
                            index.insert(l.clone(), out.len());
                            out.push((l, vec![0.0; n]));
                            out.len() - 1
                        }
                    };
                    out[slot].1[steps.idx(p.t)] += 1.0;
                }
            }
            out.into_iter()
                .map(|(labels, counts)| Series {
                    labels,
                    pts: counts
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| **c > 0.0)
                        .map(|(i, c)| Sample::new(steps.t(i), *c))
                        .collect(),
                })
                .collect()
        }
        other => return Err(exec(format!("aggregation {other}() is not supported"))),
    };
    ev.release(held);
    ev.release(dense);
    Ok(Val::Vector(
        result.into_iter().filter(|s| !s.pts.is_empty()).collect(),
    ))
}

fn accumulate(op: &str, a: &mut Acc, v: f64) {
    let first = a.count == 0.0;
    a.count += 1.0;
    match op {
        "sum" => {
            (a.value, a.comp) = kahan_inc(v, a.value, a.comp);
        }
        "avg" => {
            if first {
                a.value = v;
                a.comp = 0.0;
                return;
            }
            if !a.incremental {
                let (nv, nc) = kahan_inc(v, a.value, a.comp);
                if !nv.is_infinite() {
                    (a.value, a.comp) = (nv, nc);
                    return;
                }
                // The sum would overflow: switch to an incremental mean.
                a.incremental = true;
                a.mean = a.value / (a.count - 1.0);
                a.comp /= a.count - 1.0;
            }
            if a.mean.is_infinite() {
                if v.is_infinite() && (a.mean > 0.0) == (v > 0.0) {
                    return;
                }
                if !v.is_infinite() && !v.is_nan() {
                    return;
                }
            }
            // Each side of the difference is divided by the count to avoid overflow.
            let current = a.mean + a.comp;
            (a.mean, a.comp) = kahan_inc(v / a.count - current / a.count, a.mean, a.comp);
        }
        "min" if (first || a.value > v || a.value.is_nan()) => {
            a.value = v;
        }
        "max" if (first || a.value < v || a.value.is_nan()) => {
            a.value = v;
        }
        "stddev" | "stdvar" => {
            // Prometheus 3: a NaN or ±Inf first sample makes the result NaN;
            // later ones turn it NaN through the arithmetic itself.
            if first && (v.is_nan() || v.is_infinite()) {
                a.incremental = true; // marks "result is NaN"
                return;
            }
            let delta = v - a.mean;
            a.mean += delta / a.count;
            a.value += delta * (v - a.mean);
        }
        _ => {}
    }
}

fn finish(op: &str, a: &Acc) -> f64 {
    match op {
        "sum" => a.value + a.comp,
        "avg" => {
            if a.incremental {
                a.mean + a.comp
            } else {
                (a.value + a.comp) / a.count
            }
        }
        "min" | "max" => a.value,
        "count" => a.count,
        "group" => 1.0,
        "stdvar" | "stddev" => {
            if a.incremental {
                return f64::NAN;
            }
            let var = a.value / a.count;
            if op == "stddev" { var.sqrt() } else { var }
        }
        _ => f64::NAN,
    }
}

/// `topk`/`bottomk`: the selected series keep all their labels.
fn select_k(
    input: Vec<Series>,
    group_of: &[usize],
    ngroups: usize,
    k: &[f64],
    top: bool,
    steps: Steps,
) -> Result<Vec<Series>> {
    let n = steps.len();
    for &kv in k {
        if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&kv) {
            return Err(exec(format!(
                "scalar value {} overflows int64",
                strata_model::format::format_go_g(kv)
            )));
        }
    }
    // Per (group, step): candidate (series, value) pairs in input order.
    let mut cands: Vec<Vec<(u32, f64)>> = vec![Vec::new(); ngroups * n];
    for (si, (s, &g)) in input.iter().zip(group_of).enumerate() {
        for p in &s.pts {
            cands[g * n + steps.idx(p.t)].push((si as u32, p.v));
        }
    }
    let mut keep: Vec<Vec<bool>> = input.iter().map(|s| vec![false; s.pts.len()]).collect();
    let mut chosen: Vec<Vec<usize>> = vec![Vec::new(); input.len()];
    // Instant queries answer in rank order (group by group), as Prometheus does.
    let mut rank_order: Vec<u32> = Vec::new();
    for (slot, c) in cands.iter_mut().enumerate() {
        let step = slot % n;
        let kk = k[step];
        if kk.is_nan() || kk < 1.0 || c.is_empty() {
            continue;
        }
        let kk = (kk as i64).min(c.len() as i64) as usize;
        // NaN ranks last either way; ties keep input order (stable sort).
        c.sort_by(|a, b| {
            use std::cmp::Ordering;
            match (a.1.is_nan(), b.1.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => {
                    if top {
                        b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal)
                    } else {
                        a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal)
                    }
                }
            }
        });
        for &(si, _) in &c[..kk] {
            chosen[si as usize].push(step);
            if n == 1 {
                rank_order.push(si);
            }
        }
    }
    for (si, s) in input.iter().enumerate() {
        for &step in &chosen[si] {
            let t = steps.t(step);
            if let Ok(pos) = s.pts.binary_search_by_key(&t, |p| p.t) {
                keep[si][pos] = true;
            }
        }
    }
    let mut out: Vec<Option<Series>> = input
        .into_iter()
        .zip(keep)
        .map(|(mut s, k)| {
            let mut it = k.into_iter();
            s.pts.retain(|_| it.next().unwrap_or(false));
            Some(s)
        })
        .collect();
    if n == 1 {
        return Ok(rank_order
            .iter()
            .filter_map(|&si| out.get_mut(si as usize).and_then(Option::take))
            .collect());
    }
    Ok(out.into_iter().flatten().collect())
}
