//! Binary operators: arithmetic, comparison (with `bool`), set operators,
//! and vector matching (`on`/`ignoring`, `group_left`/`group_right`).
//!
//! Matching is decided per series (signatures depend only on labels); the
//! per-step rules Prometheus enforces (at most one match per signature and
//! step, unique output label sets) are checked on the step indexes.

use crate::eval::{Evaluator, Result, exec, merge_same_labels};
use crate::value::{Series, Steps, Val};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::HashMap;
use strata_model::{Labels, METRIC_NAME, Sample, hash_pairs};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(s: &str) -> Result<Op> {
        Ok(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => return Err(exec(format!("unknown binary operator {other:?}"))),
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// Arithmetic results are no longer the metric they came from.
    fn drops_name(self) -> bool {
        matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Pow | Op::Atan2
        )
    }
}

/// Prometheus' `vectorElemBinop`: the value and whether a comparison keeps it.
fn apply(op: Op, l: f64, r: f64) -> (f64, bool) {
    match op {
        Op::Add => (l + r, true),
        Op::Sub => (l - r, true),
        Op::Mul => (l * r, true),
        Op::Div => (l / r, true),
        // Go's math.Mod and Rust's `%` are both C fmod.
        Op::Mod => (l % r, true),
        Op::Pow => (l.powf(r), true),
        Op::Atan2 => (l.atan2(r), true),
        Op::Eq => (l, l == r),
        Op::Ne => (l, l != r),
        Op::Gt => (l, l > r),
        Op::Lt => (l, l < r),
        Op::Ge => (l, l >= r),
        Op::Le => (l, l <= r),
        Op::And | Op::Or | Op::Unless => (l, true),
    }
}

pub(crate) fn binary(ev: &mut Evaluator, b: &BinaryExpr, steps: Steps) -> Result<Val> {
    let op = Op::parse(&b.op.to_string())?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, steps)?;
    let rhs = ev.eval(&b.rhs, steps)?;
    ev.consume(&lhs);
    ev.consume(&rhs);
    match (lhs, rhs) {
        (Val::Scalar(a), Val::Scalar(c)) => Ok(Val::Scalar(
            a.iter()
                .zip(&c)
                .map(|(&x, &y)| {
                    let (v, keep) = apply(op, x, y);
                    if op.is_comparison() {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(s)) => vector_scalar(op, v, &s, false, return_bool, steps),
        (Val::Scalar(s), Val::Vector(v)) => vector_scalar(op, v, &s, true, return_bool, steps),
        (Val::Vector(l), Val::Vector(r)) => {
            let m = Matching::new(b);
            match op {
                Op::And | Op::Or | Op::Unless => set_op(op, l, r, &m, steps),
                _ => vector_vector(ev, op, l, r, &m, return_bool, steps),
            }
        }
        _ => Err(exec("binary operators are not defined on strings")),
    }
}

fn vector_scalar(
    op: Op,
    v: Vec<Series>,
    s: &[f64],
    swap: bool,
    return_bool: bool,
    steps: Steps,
) -> Result<Val> {
    let mut out = Vec::with_capacity(v.len());
    for mut series in v {
        let pts: Vec<Sample> = series
            .pts
            .iter()
            .filter_map(|p| {
                let sv = s[steps.idx(p.t)];
                let (l, r) = if swap { (sv, p.v) } else { (p.v, sv) };
                let (mut value, keep) = apply(op, l, r);
                // The vector's value is what a filter keeps, whichever side it is on.
                if op.is_comparison() && swap {
                    value = r;
                }
                if return_bool {
                    return Some(Sample::new(p.t, if keep { 1.0 } else { 0.0 }));
                }
                keep.then_some(Sample::new(p.t, value))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        if op.drops_name() || return_bool {
            series.labels = series.labels.without_metric_name();
        }
        series.pts = pts;
        out.push(series);
    }
    Ok(Val::Vector(merge_same_labels(out, false)?))
}

/// How two vectors are matched.
struct Matching {
    /// `on(...)` (true) or `ignoring(...)` (false; also the default).
    on: bool,
    names: Vec<String>,
    card: Card,
    /// Extra labels copied from the "one" side (`group_left(x)`).
    include: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
}

impl Matching {
    fn new(b: &BinaryExpr) -> Matching {
        let (on, names) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        let (card, include) = match b.modifier.as_ref().map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(l)) => (Card::ManyToOne, l.labels.clone()),
            Some(VectorMatchCardinality::OneToMany(l)) => (Card::OneToMany, l.labels.clone()),
            _ => (Card::OneToOne, Vec::new()),
        };
        Matching {
            on,
            names,
            card,
            include,
        }
    }

    fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    fn signature(&self, l: &Labels) -> u64 {
        if self.on {
            hash_pairs(
                l.iter()
                    .filter(|lb| self.has_name(&lb.name))
                    .map(|lb| (lb.name.as_bytes(), lb.value.as_bytes())),
            )
        } else {
            hash_pairs(
                l.iter()
                    .filter(|lb| lb.name != METRIC_NAME && !self.has_name(&lb.name))
                    .map(|lb| (lb.name.as_bytes(), lb.value.as_bytes())),
            )
        }
    }

    fn signature_labels(&self, l: &Labels) -> Labels {
        Labels::from_sorted(
            l.iter()
                .filter(|lb| {
                    if self.on {
                        self.has_name(&lb.name)
                    } else {
                        lb.name != METRIC_NAME && !self.has_name(&lb.name)
                    }
                })
                .cloned()
                .collect(),
        )
    }

    /// Prometheus' `resultMetric`.
    fn result_labels(&self, op: Op, many: &Labels, one: &Labels, return_bool: bool) -> Labels {
        let mut b = many.builder();
        if op.drops_name() || return_bool {
            b.del(METRIC_NAME);
        }
        match self.card {
            Card::OneToOne => {
                if self.on {
                    b.keep(&self.names);
                } else {
                    for n in &self.names {
                        b.del(n);
                    }
                }
            }
            Card::ManyToOne | Card::OneToMany => {
                for n in &self.include {
                    match one.get(n) {
                        Some(v) => {
                            b.set(n, v);
                        }
                        None => {
                            b.del(n);
                        }
                    }
                }
            }
        }
        b.labels()
    }
}

/// Per signature, whether it has a value at each step.
fn presence(ss: &[Series], m: &Matching, steps: Steps) -> HashMap<u64, Vec<bool>> {
    let mut out: HashMap<u64, Vec<bool>> = HashMap::new();
    for s in ss {
        let p = out
            .entry(m.signature(&s.labels))
            .or_insert_with(|| vec![false; steps.len()]);
        for pt in &s.pts {
            p[steps.idx(pt.t)] = true;
        }
    }
    out
}

fn set_op(op: Op, l: Vec<Series>, r: Vec<Series>, m: &Matching, steps: Steps) -> Result<Val> {
    match op {
        Op::And | Op::Unless => {
            let rp = presence(&r, m, steps);
            let want = op == Op::And;
            let mut out = Vec::with_capacity(l.len());
            for mut s in l {
                let p = rp.get(&m.signature(&s.labels));
                s.pts
                    .retain(|pt| p.is_some_and(|p| p[steps.idx(pt.t)]) == want);
                if !s.pts.is_empty() {
                    out.push(s);
                }
            }
            Ok(Val::Vector(out))
        }
        _ => {
            let lp = presence(&l, m, steps);
            let mut out = l;
            for mut s in r {
                let p = lp.get(&m.signature(&s.labels));
                s.pts.retain(|pt| !p.is_some_and(|p| p[steps.idx(pt.t)]));
                if !s.pts.is_empty() {
                    out.push(s);
                }
            }
            Ok(Val::Vector(merge_same_labels(out, false)?))
        }
    }
}

fn vector_vector(
    ev: &mut Evaluator,
    op: Op,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    m: &Matching,
    return_bool: bool,
    steps: Steps,
) -> Result<Val> {
    // Iterate the "many" side; look up the "one" side by signature.
    let swapped = m.card == Card::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<u64, Vec<usize>> = HashMap::with_capacity(one.len());
    for (i, s) in one.iter().enumerate() {
        one_by_sig
            .entry(m.signature(&s.labels))
            .or_default()
            .push(i);
    }
    // The "one" side must be unique per signature and step. Merge each
    // signature's series into one time-ordered list, checking that.
    let mut one_points: HashMap<u64, Vec<(Sample, u32)>> = HashMap::with_capacity(one_by_sig.len());
    for (sig, idxs) in &one_by_sig {
        let mut pts: Vec<(Sample, u32)> = idxs
            .iter()
            .flat_map(|&i| one[i].pts.iter().map(move |p| (*p, i as u32)))
            .collect();
        if idxs.len() > 1 {
            pts.sort_by_key(|(p, _)| p.t);
            if let Some(w) = pts.windows(2).find(|w| w[0].0.t == w[1].0.t) {
                let side = if swapped { "left" } else { "right" };
                let a = &one[w[0].1 as usize].labels;
                let c = &one[w[1].1 as usize].labels;
                return Err(exec(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{a}, {c}];many-to-many matching not allowed: matching labels must be unique on one side",
                    m.signature_labels(a)
                )));
            }
        }
        one_points.insert(*sig, pts);
    }
    // In one-to-one matching, two "many" series of one signature must not
    // both match at a step.
    let mut many_count: HashMap<u64, u32> = HashMap::new();
    let sigs: Vec<u64> = many.iter().map(|s| m.signature(&s.labels)).collect();
    if m.card == Card::OneToOne {
        for s in &sigs {
            *many_count.entry(*s).or_default() += 1;
        }
    }
    let mut matched: HashMap<u64, Vec<bool>> = HashMap::new();

    let mut out_index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<(Labels, Vec<(Sample, u64)>)> = Vec::new();
    for (s, &sig) in many.iter().zip(&sigs) {
        ev.check_deadline()?;
        let Some(others) = one_points.get(&sig) else {
            continue;
        };
        let mut label_cache: HashMap<u32, usize> = HashMap::new();
        let check_one_to_one =
            m.card == Card::OneToOne && many_count.get(&sig).is_some_and(|&c| c > 1);
        let mut j = 0;
        for p in &s.pts {
            while j < others.len() && others[j].0.t < p.t {
                j += 1;
            }
            let Some(&(o, oi)) = others.get(j) else { break };
            if o.t != p.t {
                continue;
            }
            let (vl, vr) = if swapped { (o.v, p.v) } else { (p.v, o.v) };
            let (mut value, keep) = apply(op, vl, vr);
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            if check_one_to_one {
                let seen = matched
                    .entry(sig)
                    .or_insert_with(|| vec![false; steps.len()]);
                let k = steps.idx(p.t);
                if seen[k] {
                    return Err(exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                seen[k] = true;
            }
            let slot = match label_cache.get(&oi) {
                Some(&x) => x,
                None => {
                    let labels =
                        m.result_labels(op, &s.labels, &one[oi as usize].labels, return_bool);
                    let x = match out_index.get(&labels) {
                        Some(&x) => x,
                        None => {
                            out_index.insert(labels.clone(), out.len());
                            out.push((labels, Vec::new()));
                            out.len() - 1
                        }
                    };
                    label_cache.insert(oi, x);
                    x
                }
            };
            out[slot].1.push((Sample::new(p.t, value), sig));
        }
    }
    let mut result = Vec::with_capacity(out.len());
    for (labels, mut pts) in out {
        pts.sort_by_key(|(p, _)| p.t);
        if let Some(w) = pts.windows(2).find(|w| w[0].0.t == w[1].0.t) {
            return Err(exec(if w[0].1 != w[1].1 {
                "vector cannot contain metrics with the same labelset"
            } else if m.card == Card::OneToOne {
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
            } else {
                "multiple matches for labels: grouping labels must ensure unique matches"
            }));
        }
        result.push(Series {
            labels,
            pts: pts.into_iter().map(|(p, _)| p).collect(),
        });
    }
    Ok(Val::Vector(result))
}
