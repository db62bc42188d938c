//! The evaluator: walks the syntax tree, evaluating each node over all steps.

use crate::value::{InstantSample, RangeSeries, Series, Steps, Val, Value};
use crate::{EngineOptions, QueryError, QueryOpts, QueryOutput};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_model::{
    Labels, METRIC_NAME, MatchOp, Matcher, Querier, Queryable, Sample, SelectHints, TenantId,
    is_stale_nan,
};

/// Step of subqueries written without one (`x[5m:]`): Prometheus uses the
/// global evaluation interval, 1m by default.
pub(crate) const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

pub(crate) type Result<T> = std::result::Result<T, QueryError>;

pub(crate) fn exec(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

/// A range-vector argument prepared for window functions: for each output
/// step, the window `(refs[i] - range, refs[i]]`.
pub(crate) struct Windows {
    pub range: i64,
    pub refs: Vec<i64>,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    db: &dyn Queryable,
    tenant: &TenantId,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    eopts: &EngineOptions,
    qopts: &QueryOpts,
) -> Result<QueryOutput> {
    let instant = step == 0;
    let ty = expr.value_type();
    if !instant && matches!(ty, ValueType::Matrix | ValueType::String) {
        let name = if ty == ValueType::Matrix {
            "range vector"
        } else {
            "string"
        };
        return Err(QueryError::Parse(format!(
            "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
        )));
    }
    let lookback = qopts
        .lookback_delta_ms
        .filter(|&l| l > 0)
        .unwrap_or(eopts.lookback_delta_ms);
    let timeout = qopts
        .timeout
        .map_or(eopts.timeout, |t| t.min(eopts.timeout));
    // The querier covers only what the selectors can read, so storage opens
    // only the blocks overlapping it.
    let (mint, maxt) = selected_time_range(expr, start, end, lookback).unwrap_or((0, 0));
    let querier = db.querier(tenant, mint, maxt)?;
    let mut ev = Evaluator {
        q: querier.as_ref(),
        query_start: start,
        query_end: end,
        lookback,
        max_samples: eopts.max_samples,
        cur_samples: 0,
        deadline: Instant::now() + timeout.max(Duration::from_millis(1)),
        warnings: Vec::new(),
        infos: Vec::new(),
        samples_loaded: 0,
    };
    let steps = Steps {
        start,
        end,
        step: if instant { 1 } else { step },
    };
    let value = if instant && ty == ValueType::Matrix {
        Value::Matrix(ev.eval_matrix_at(expr, start)?)
    } else {
        let v = ev.eval(expr, steps)?;
        to_value(v, steps, instant, keeps_order(expr))
    };
    Ok(QueryOutput {
        value,
        warnings: ev.warnings,
        infos: ev.infos,
        samples_loaded: ev.samples_loaded,
    })
}

/// `sort()`-family and `topk`/`bottomk` results keep their order in instant queries.
fn keeps_order(e: &Expr) -> bool {
    match e {
        Expr::Paren(p) => keeps_order(&p.expr),
        Expr::Call(c) => matches!(
            c.func.name,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
        ),
        _ => false,
    }
}

fn to_value(v: Val, steps: Steps, instant: bool, keep_order: bool) -> Value {
    match (v, instant) {
        (Val::String(s), _) => Value::String {
            t: steps.start,
            v: s,
        },
        (Val::Scalar(vs), true) => Value::Scalar {
            t: steps.start,
            v: vs.first().copied().unwrap_or(f64::NAN),
        },
        (Val::Scalar(vs), false) => Value::Matrix(vec![RangeSeries {
            labels: Labels::empty(),
            samples: vs
                .iter()
                .enumerate()
                .map(|(i, &v)| Sample::new(steps.t(i), v))
                .collect(),
        }]),
        (Val::Vector(mut ss), true) => {
            if !keep_order {
                ss.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            Value::Vector(
                ss.into_iter()
                    .filter_map(|s| {
                        s.pts.first().map(|p| InstantSample {
                            labels: s.labels.clone(),
                            t: p.t,
                            v: p.v,
                        })
                    })
                    .collect(),
            )
        }
        (Val::Vector(mut ss), false) => {
            ss.retain(|s| !s.pts.is_empty());
            ss.sort_by(|a, b| a.labels.cmp(&b.labels));
            Value::Matrix(
                ss.into_iter()
                    .map(|s| RangeSeries {
                        labels: s.labels,
                        samples: s.pts,
                    })
                    .collect(),
            )
        }
    }
}

pub(crate) struct Evaluator<'q> {
    q: &'q dyn Querier,
    pub query_start: i64,
    pub query_end: i64,
    pub lookback: i64,
    max_samples: usize,
    cur_samples: usize,
    deadline: Instant,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub samples_loaded: u64,
}

/// The time range a query's selectors read, as Prometheus'
/// `FindMinMaxTime` (promql/engine.go) computes it: a selector evaluated at
/// times `[lo, hi]` reads `[lo - offset - (range or lookback), hi - offset]`,
/// where a subquery turns its evaluation times `[lo, hi]` into inner ones
/// `[lo - offset - range, hi - offset]` and `@` pins both ends. `None` when
/// the expression selects nothing.
pub(crate) fn selected_time_range(
    expr: &Expr,
    start: i64,
    end: i64,
    lookback: i64,
) -> Option<(i64, i64)> {
    let mut span = None;
    let ctx = RangeCtx {
        query_start: start,
        query_end: end,
        lookback,
    };
    ctx.walk(expr, (start, end), &mut span);
    // The bounds the whole-range querier used before: nothing a store
    // computes with them can overflow.
    span.map(|(lo, hi): (i64, i64)| {
        (
            lo.clamp(i64::MIN / 4, i64::MAX / 4),
            hi.clamp(i64::MIN / 4, i64::MAX / 4),
        )
    })
}

struct RangeCtx {
    query_start: i64,
    query_end: i64,
    lookback: i64,
}

impl RangeCtx {
    /// Adds what `e`, evaluated at times `evals`, selects to `span`.
    fn walk(&self, e: &Expr, evals: (i64, i64), span: &mut Option<(i64, i64)>) {
        match e {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
            Expr::Paren(p) => self.walk(&p.expr, evals, span),
            Expr::Unary(u) => self.walk(&u.expr, evals, span),
            Expr::Binary(b) => {
                self.walk(&b.lhs, evals, span);
                self.walk(&b.rhs, evals, span);
            }
            Expr::Aggregate(a) => {
                self.walk(&a.expr, evals, span);
                if let Some(p) = &a.param {
                    self.walk(p, evals, span);
                }
            }
            Expr::Call(c) => {
                for arg in &c.args.args {
                    self.walk(arg, evals, span);
                }
            }
            Expr::VectorSelector(vs) => self.add_selector(vs, self.lookback, evals, span),
            Expr::MatrixSelector(ms) => {
                self.add_selector(&ms.vs, duration_ms(&ms.range), evals, span)
            }
            Expr::Subquery(sq) => {
                let (lo, hi) = self.shift(&sq.at, &sq.offset, evals);
                let inner = (lo.saturating_sub(duration_ms(&sq.range)), hi);
                self.walk(&sq.expr, inner, span);
            }
        }
    }

    /// Evaluation times `evals` as a node with these modifiers sees them.
    fn shift(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        evals: (i64, i64),
    ) -> (i64, i64) {
        let (lo, hi) = match at_time(at, self.query_start, self.query_end) {
            Some(a) => (a, a),
            None => evals,
        };
        let off = offset_ms(offset);
        (lo.saturating_sub(off), hi.saturating_sub(off))
    }

    fn add_selector(
        &self,
        vs: &VectorSelector,
        lookbehind: i64,
        evals: (i64, i64),
        span: &mut Option<(i64, i64)>,
    ) {
        let (lo, hi) = self.shift(&vs.at, &vs.offset, evals);
        let lo = lo.saturating_sub(lookbehind);
        *span = Some(match *span {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }
}

/// The time an `@` modifier pins, in ms.
fn at_time(at: &Option<AtModifier>, query_start: i64, query_end: i64) -> Option<i64> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(query_start),
        Some(AtModifier::End) => Some(query_end),
        Some(AtModifier::At(t)) => Some(system_time_ms(t)),
    }
}

/// Milliseconds of a parsed duration, saturating: absurd durations (years
/// beyond i64 ms) must not wrap into negative windows.
pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => duration_ms(&d),
        Err(e) => -duration_ms(&e.duration()),
    }
}

/// The matcher sets of a selector: one, or one per `or` alternative.
pub(crate) fn to_matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>> {
    let convert = |ms: &[promql_parser::label::Matcher]| -> Result<Vec<Matcher>> {
        let mut out = Vec::with_capacity(ms.len() + 1);
        if let Some(name) = &vs.name {
            out.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        for m in ms {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::RegexMatch,
                PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
            };
            out.push(
                Matcher::new(op, m.name.clone(), m.value.clone())
                    .map_err(|e| QueryError::Parse(format!("parse error: {e}")))?,
            );
        }
        if out.iter().all(|m| m.matches_empty()) {
            return Err(QueryError::Parse(
                "parse error: vector selector must contain at least one non-empty matcher".into(),
            ));
        }
        Ok(out)
    };
    if vs.matchers.or_matchers.is_empty() {
        Ok(vec![convert(&vs.matchers.matchers)?])
    } else {
        vs.matchers
            .or_matchers
            .iter()
            .map(|alt| convert(alt))
            .collect()
    }
}

/// Selects the series of every matcher set; with several sets (an `or`
/// selector) the union, each series once, sorted by labels.
fn select_sets<'a>(
    q: &'a dyn Querier,
    hints: &SelectHints,
    sets: &[Vec<Matcher>],
) -> Result<strata_model::SeriesIter<'a>> {
    if let [one] = sets {
        return Ok(q.select(hints, one)?);
    }
    let mut all = Vec::new();
    for set in sets {
        for s in q.select(hints, set)? {
            all.push(s?);
        }
    }
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    all.dedup_by(|a, b| a.labels == b.labels);
    Ok(Box::new(all.into_iter().map(Ok)))
}

pub(crate) fn points(v: &Val) -> usize {
    match v {
        Val::Scalar(s) => s.len(),
        Val::Vector(ss) => ss.iter().map(|s| s.pts.len()).sum(),
        Val::String(_) => 0,
    }
}

/// Batches kept whole: each counted against `--query.max-samples` as it
/// lands, the count released when they are handed on (callers account for
/// what they build from them).
struct Kept<R> {
    out: Vec<R>,
    held: usize,
}

impl<R> Default for Kept<R> {
    fn default() -> Self {
        Kept {
            out: Vec::new(),
            held: 0,
        }
    }
}

impl<R> Kept<R> {
    fn keep(
        &mut self,
        ev: &mut Evaluator<'_>,
        batch: Vec<R>,
        size: impl Fn(&R) -> usize,
    ) -> Result<()> {
        for r in batch {
            let n = size(&r);
            self.held += n;
            ev.hold(n)?;
            self.out.push(r);
        }
        Ok(())
    }

    fn finish(self, ev: &mut Evaluator<'_>) -> Vec<R> {
        ev.release(self.held);
        self.out
    }
}

impl<'q> Evaluator<'q> {
    /// Accounts samples held in memory against `--query.max-samples`.
    pub fn hold(&mut self, n: usize) -> Result<()> {
        self.cur_samples += n;
        if self.cur_samples > self.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    pub fn release(&mut self, n: usize) {
        self.cur_samples = self.cur_samples.saturating_sub(n);
    }

    pub fn consume(&mut self, v: &Val) {
        self.release(points(v));
    }

    pub fn check_deadline(&self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout("expression evaluation"));
        }
        Ok(())
    }

    pub fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        at_time(at, self.query_start, self.query_end)
    }

    /// Reference (evaluation) time of every step for a node with these
    /// modifiers.
    pub fn refs(&self, steps: Steps, at: &Option<AtModifier>, offset: &Option<Offset>) -> Vec<i64> {
        let off = offset_ms(offset);
        match self.at_ms(at) {
            Some(a) => vec![a.saturating_sub(off); steps.len()],
            None => (0..steps.len())
                .map(|i| steps.t(i).saturating_sub(off))
                .collect(),
        }
    }

    pub fn eval(&mut self, e: &Expr, steps: Steps) -> Result<Val> {
        self.check_deadline()?;
        let v = match e {
            Expr::NumberLiteral(n) => Val::Scalar(vec![n.val; steps.len()]),
            Expr::StringLiteral(s) => Val::String(s.val.clone()),
            Expr::Paren(p) => return self.eval(&p.expr, steps),
            Expr::Unary(u) => {
                let inner = self.eval(&u.expr, steps)?;
                match inner {
                    Val::Scalar(mut vs) => {
                        vs.iter_mut().for_each(|v| *v = -*v);
                        return Ok(Val::Scalar(vs));
                    }
                    Val::Vector(mut ss) => {
                        for s in &mut ss {
                            s.labels = s.labels.without_metric_name();
                            s.pts.iter_mut().for_each(|p| p.v = -p.v);
                        }
                        return Ok(Val::Vector(merge_same_labels(ss, false)?));
                    }
                    Val::String(_) => return Err(exec("unary minus on a string")),
                }
            }
            Expr::VectorSelector(vs) => Val::Vector(self.eval_vector_selector(vs, steps, false)?),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                return Err(exec(
                    "range vector is only allowed as a function argument or at the top level of an instant query",
                ));
            }
            Expr::Call(c) => crate::functions::call(self, c, steps)?,
            Expr::Aggregate(a) => crate::aggregate::aggregate(self, a, steps)?,
            Expr::Binary(b) => crate::binary::binary(self, b, steps)?,
            Expr::Extension(_) => return Err(exec("unsupported expression")),
        };
        self.hold(points(&v))?;
        Ok(v)
    }

    /// Evaluates an instant-vector selector: at every step the latest sample
    /// in `(ref - lookback, ref]`, unless it is a stale marker. With
    /// `sample_time`, the value is the sample's own timestamp in seconds
    /// (what `timestamp()` reports for a bare selector).
    pub fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        steps: Steps,
        sample_time: bool,
    ) -> Result<Vec<Series>> {
        let mut kept = Kept::default();
        self.vector_selector_batches(vs, steps, sample_time, |ev, batch| {
            kept.keep(ev, batch, |s| s.pts.len())
        })?;
        Ok(kept.finish(self))
    }

    /// `eval_vector_selector`, handing the series to `sink` a batch at a
    /// time, in storage order, as they are decoded: a caller that folds
    /// them (an aggregation) never holds the whole selection. Nothing is
    /// counted against `--query.max-samples`; the sink accounts for what
    /// it keeps.
    pub fn vector_selector_batches(
        &mut self,
        vs: &VectorSelector,
        steps: Steps,
        sample_time: bool,
        sink: impl FnMut(&mut Self, Vec<Series>) -> Result<()>,
    ) -> Result<()> {
        let refs = self.refs(steps, &vs.at, &vs.offset);
        let (selected, hints) = self.select(vs, &refs, self.lookback, true)?;
        let (lookback, deadline) = (self.lookback, self.deadline);
        let refs = &refs;
        let map = |mut series: strata_model::Series<'q>| -> Result<(Option<Series>, u64)> {
            if Instant::now() > deadline {
                return Err(QueryError::Timeout("expression evaluation"));
            }
            let (pts, loaded) = step_points(
                series.samples.as_mut(),
                refs,
                steps,
                lookback,
                hints.start,
                sample_time,
            );
            if let Some(e) = series.samples.err() {
                return Err(QueryError::Storage(strata_model::StorageError::Internal(
                    e.to_string(),
                )));
            }
            Ok((
                (!pts.is_empty()).then_some(Series {
                    labels: series.labels,
                    pts,
                }),
                loaded,
            ))
        };
        self.map_series_batches(selected, map, sink)
    }

    /// Maps selected series on worker threads, in batches: each batch's
    /// output is counted against `--query.max-samples` before the next one
    /// is decoded, so an oversized selection stops after at most one batch
    /// beyond the limit instead of materialising everything first. Results
    /// keep storage order; samples read go to the query's stats. The held
    /// count is released at the end: callers account for what they build.
    fn map_series<T: Send, R: Send>(
        &mut self,
        series: impl Iterator<Item = std::result::Result<T, strata_model::StorageError>>,
        f: impl Fn(T) -> Result<(Option<R>, u64)> + Sync,
        size: impl Fn(&R) -> usize,
    ) -> Result<Vec<R>> {
        let mut kept = Kept::default();
        self.map_series_batches(series, f, |ev, batch| kept.keep(ev, batch, &size))?;
        Ok(kept.finish(self))
    }

    /// Pulls selected series from storage a batch at a time, maps each
    /// batch on worker threads and hands the results, in storage order, to
    /// `sink` before the next batch is read: memory is one batch of the
    /// selection plus what the sink keeps, never the whole selection.
    fn map_series_batches<T: Send, R: Send>(
        &mut self,
        mut series: impl Iterator<Item = std::result::Result<T, strata_model::StorageError>>,
        f: impl Fn(T) -> Result<(Option<R>, u64)> + Sync,
        mut sink: impl FnMut(&mut Self, Vec<R>) -> Result<()>,
    ) -> Result<()> {
        const BATCH: usize = 8192;
        loop {
            let mut batch = Vec::with_capacity(BATCH);
            for s in series.by_ref().take(BATCH) {
                batch.push(s?);
            }
            if batch.is_empty() {
                return Ok(());
            }
            let mut mapped = Vec::with_capacity(batch.len());
            for r in par_map(batch, &f) {
                let (s, loaded) = r?;
                self.samples_loaded += loaded;
                if let Some(s) = s {
                    mapped.push(s);
                }
            }
            sink(self, mapped)?;
        }
    }

    /// Selects a selector's series with the samples that windows ending at
    /// `refs` and reaching `lookbehind` back can see; `newest_only` when
    /// each window is read only for its newest sample (instant selectors).
    fn select(
        &self,
        vs: &VectorSelector,
        refs: &[i64],
        lookbehind: i64,
        newest_only: bool,
    ) -> Result<(strata_model::SeriesIter<'q>, SelectHints)> {
        let sets = to_matcher_sets(vs)?;
        let (Some(&min_ref), Some(&max_ref)) = (refs.iter().min(), refs.iter().max()) else {
            return Ok((Box::new(std::iter::empty()), SelectHints::default()));
        };
        let hints = SelectHints {
            start: min_ref.saturating_sub(lookbehind).saturating_add(1),
            end: max_ref,
            series_only: false,
            limit: 0,
            // One reference time: `step_points` asks each series only for
            // its newest sample at or before it.
            newest_only: newest_only && min_ref == max_ref,
            // Every result is ordered when it is returned (`to_value`).
            any_order: true,
        };
        let selected = select_sets(self.q, &hints, &sets)?;
        Ok((selected, hints))
    }

    /// Maps every series of a range-vector expression (matrix selector or
    /// subquery) to output points: `f` gets the series' samples within the
    /// union of all windows (stale markers dropped) and the windows' bounds.
    /// A matrix selector's series are decoded and mapped on several threads.
    pub fn map_range_series(
        &mut self,
        e: &Expr,
        steps: Steps,
        f: impl Fn(&Labels, &[Sample], &Windows) -> Vec<Sample> + Sync,
    ) -> Result<Vec<(Labels, Vec<Sample>)>> {
        match unwrap_parens(e) {
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vs;
                let w = Windows {
                    range: duration_ms(&ms.range),
                    refs: self.refs(steps, &vs.at, &vs.offset),
                };
                let (selected, hints) = self.select(vs, &w.refs, w.range, false)?;
                let (deadline, max_samples) = (self.deadline, self.max_samples);
                let (w, f) = (&w, &f);
                self.map_series(
                    selected,
                    |mut series: strata_model::Series<'q>| -> Result<(Option<(Labels, Vec<Sample>)>, u64)> {
                        if Instant::now() > deadline {
                            return Err(QueryError::Timeout("expression evaluation"));
                        }
                        let mut buf = Vec::new();
                        let mut s = series.samples.seek(hints.start);
                        while let Some(p) = s {
                            if p.t > hints.end {
                                break;
                            }
                            if !is_stale_nan(p.v) {
                                buf.push(p);
                                if buf.len() > max_samples {
                                    return Err(QueryError::TooManySamples);
                                }
                            }
                            s = series.samples.next();
                        }
                        if let Some(e) = series.samples.err() {
                            return Err(QueryError::Storage(strata_model::StorageError::Internal(
                                e.to_string(),
                            )));
                        }
                        if buf.is_empty() {
                            return Ok((None, 0));
                        }
                        let pts = f(&series.labels, &buf, w);
                        Ok((
                            (!pts.is_empty()).then_some((series.labels, pts)),
                            buf.len() as u64,
                        ))
                    },
                    |(_, pts)| pts.len(),
                )
            }
            Expr::Subquery(sq) => {
                let w = Windows {
                    range: duration_ms(&sq.range),
                    refs: self.refs(steps, &sq.at, &sq.offset),
                };
                let inner = self.eval_subquery_inner(sq, &w)?;
                let n = points(&inner);
                let mut out = Vec::new();
                if let Val::Vector(ss) = inner {
                    for s in ss {
                        self.check_deadline()?;
                        let pts = f(&s.labels, &s.pts, &w);
                        if !pts.is_empty() {
                            out.push((s.labels, pts));
                        }
                    }
                }
                self.release(n);
                Ok(out)
            }
            _ => Err(exec("expected a range vector")),
        }
    }

    /// Evaluates a subquery's inner expression at its own steps: aligned to
    /// multiples of the subquery step, covering every window.
    fn eval_subquery_inner(
        &mut self,
        sq: &promql_parser::parser::SubqueryExpr,
        w: &Windows,
    ) -> Result<Val> {
        let step = sq
            .step
            .map(|d| duration_ms(&d))
            .filter(|&s| s > 0)
            .unwrap_or(DEFAULT_SUBQUERY_STEP_MS);
        let (Some(&min_ref), Some(&max_ref)) = (w.refs.iter().min(), w.refs.iter().max()) else {
            return Ok(Val::Vector(Vec::new()));
        };
        let lower = min_ref.saturating_sub(w.range);
        // Go's integer division truncates toward zero; so does Rust's.
        let mut start = step * (lower / step);
        if start <= lower {
            start = start.saturating_add(step);
        }
        if start > max_ref {
            return Ok(Val::Vector(Vec::new()));
        }
        // Every inner step costs memory before any sample is read: a huge
        // range over a tiny step is refused like any other oversized query.
        if (max_ref - start) / step >= self.max_samples as i64 {
            return Err(QueryError::TooManySamples);
        }
        let inner_steps = Steps {
            start,
            end: max_ref,
            step,
        };
        match self.eval(&sq.expr, inner_steps)? {
            Val::Scalar(vs) => Ok(Val::Vector(vec![Series {
                labels: Labels::empty(),
                pts: vs
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Sample::new(inner_steps.t(i), v))
                    .collect(),
            }])),
            Val::Vector(ss) => Ok(Val::Vector(ss)),
            Val::String(_) => Err(exec("subquery over a string")),
        }
    }

    /// An instant query whose result is a range vector: the raw samples of
    /// each window.
    pub fn eval_matrix_at(&mut self, e: &Expr, t: i64) -> Result<Vec<RangeSeries>> {
        let steps = Steps {
            start: t,
            end: t,
            step: 1,
        };
        let mapped = self.map_range_series(e, steps, |_, samples, w| {
            let r = w.refs[0];
            window(samples, r.saturating_sub(w.range), r).to_vec()
        })?;
        self.hold(mapped.iter().map(|(_, s)| s.len()).sum())?;
        let mut out: Vec<RangeSeries> = mapped
            .into_iter()
            .map(|(labels, samples)| RangeSeries { labels, samples })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}

pub(crate) fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        _ => e,
    }
}

/// One series' points at every step: the newest sample in
/// `(ref - lookback, ref]` unless it is a stale marker. Returns the points
/// and how many samples were read.
fn step_points(
    it: &mut dyn strata_model::SampleIter,
    refs: &[i64],
    steps: Steps,
    lookback: i64,
    start: i64,
    sample_time: bool,
) -> (Vec<Sample>, u64) {
    let value = |l: Sample| {
        if sample_time {
            l.t as f64 / 1000.0
        } else {
            l.v
        }
    };
    if let Some(&r) = refs.first()
        && refs.iter().all(|&x| x == r)
    {
        // One reference time (an instant query, or `@`): only the newest
        // sample at or before it matters, which the head knows without
        // decoding.
        return match it.newest_at_or_before(r) {
            Some(l) if l.t > r.saturating_sub(lookback) && !is_stale_nan(l.v) => (
                (0..refs.len())
                    .map(|i| Sample::new(steps.t(i), value(l)))
                    .collect(),
                1,
            ),
            _ => (Vec::new(), 0),
        };
    }
    let mut pts = Vec::with_capacity(refs.len());
    let mut loaded = 0u64;
    let mut last: Option<Sample> = None;
    let mut pending = it.seek(start);
    for (i, &r) in refs.iter().enumerate() {
        let lo = r.saturating_sub(lookback);
        if let Some(p) = pending
            && p.t <= lo
        {
            // Skip a gap without decoding it sample by sample.
            pending = it.seek(lo.saturating_add(1));
            last = None;
        }
        while let Some(p) = pending {
            if p.t > r {
                break;
            }
            loaded += 1;
            last = Some(p);
            pending = it.next();
        }
        if let Some(l) = last
            && l.t > lo
            && !is_stale_nan(l.v)
        {
            pts.push(Sample::new(steps.t(i), value(l)));
        }
    }
    (pts, loaded)
}

/// Maps `items` in order, on up to `available_parallelism` threads when
/// there are enough of them to pay for the threads.
pub(crate) fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 256;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let threads = threads.min(items.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > per {
        let tail = rest.split_off(per);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        // A panicking worker re-raises here; the HTTP layer turns a panic
        // into an internal error, as for any other handler panic.
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The samples in `(lo, hi]` of a time-sorted slice.
pub(crate) fn window(samples: &[Sample], lo: i64, hi: i64) -> &[Sample] {
    let a = samples.partition_point(|s| s.t <= lo);
    let b = samples.partition_point(|s| s.t <= hi);
    &samples[a..b.max(a)]
}

/// Merges series whose labels became equal (e.g. after `__name__` was
/// dropped). Prometheus errors when two of them have a value at the same
/// step; with `strict` (functions over range vectors) it errors whenever
/// two are equal at all.
pub(crate) fn merge_same_labels(ss: Vec<Series>, strict: bool) -> Result<Vec<Series>> {
    if ss.len() < 2 {
        return Ok(ss);
    }
    // Indexed by label hash; equal hashes are compared, so no label set is
    // cloned just to be a map key.
    let mut index: HashMap<u64, Vec<usize>> = HashMap::with_capacity(ss.len());
    let mut out: Vec<Series> = Vec::with_capacity(ss.len());
    for s in ss {
        if s.pts.is_empty() {
            continue;
        }
        let slots = index.entry(s.labels.hash64()).or_default();
        let Some(&i) = slots.iter().find(|&&i| out[i].labels == s.labels) else {
            slots.push(out.len());
            out.push(s);
            continue;
        };
        if strict {
            return Err(exec("vector cannot contain metrics with the same labelset"));
        }
        let dst = &mut out[i];
        let mut merged = Vec::with_capacity(dst.pts.len() + s.pts.len());
        let (mut a, mut b) = (dst.pts.iter().peekable(), s.pts.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => {
                    if x.t == y.t {
                        return Err(exec("vector cannot contain metrics with the same labelset"));
                    }
                    if x.t < y.t {
                        merged.push(**x);
                        a.next();
                    } else {
                        merged.push(**y);
                        b.next();
                    }
                }
                (Some(x), None) => {
                    merged.push(**x);
                    a.next();
                }
                (None, Some(y)) => {
                    merged.push(**y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        dst.pts = merged;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{par_map, selected_time_range};

    const M: i64 = 60_000;
    const H: i64 = 60 * M;

    fn range_of(q: &str, start: i64, end: i64) -> Option<(i64, i64)> {
        let e = crate::parse::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        selected_time_range(&e, start, end, 5 * M)
    }

    #[test]
    fn selected_range_follows_ranges_offsets_at_and_subqueries() {
        let (s, e) = (100 * H, 101 * H);
        for (q, want) in [
            ("up", Some((s - 5 * M, e))),
            ("rate(up[10m])", Some((s - 10 * M, e))),
            ("up offset 1h", Some((s - H - 5 * M, e - H))),
            ("up offset -30m", Some((s + 30 * M - 5 * M, e + 30 * M))),
            ("up @ 3600", Some((H - 5 * M, H))),
            ("rate(up[1h] @ 7200 offset 1h)", Some((0, H))),
            ("up @ start()", Some((s - 5 * M, s))),
            ("rate(up[5m] @ end())", Some((e - 5 * M, e))),
            // A subquery reaches back its range, its inner selector further.
            (
                "max_over_time(rate(up[5m])[30m:1m] offset 10m)",
                Some((s - 10 * M - 30 * M - 5 * M, e - 10 * M)),
            ),
            // Nested subqueries add up; an inner @ resets what is outside.
            (
                "max_over_time(max_over_time(up[10m:])[1h:] offset 1h)",
                Some((s - H - H - 10 * M - 5 * M, e - H)),
            ),
            (
                "max_over_time(max_over_time(up[10m:] @ 7200)[1h:] offset 1h)",
                Some((2 * H - 10 * M - 5 * M, 2 * H)),
            ),
            // Both sides of an operator, function and aggregation arguments.
            (
                "up + on() group_left() (down offset 2h)",
                Some((s - 2 * H - 5 * M, e)),
            ),
            (
                "topk(scalar(k offset 1d), label_replace(up, \"a\", \"b\", \"c\", \"d\"))",
                Some((s - 24 * H - 5 * M, e)),
            ),
            ("1 + 2", None),
            ("time()", None),
        ] {
            assert_eq!(range_of(q, s, e), want, "{q}");
        }
        // The lookback is the query's own.
        let e2 = crate::parse::parse("up").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(selected_time_range(&e2, s, s, M), Some((s - M, s)));
    }

    #[test]
    fn par_map_keeps_order_across_threads() {
        let items: Vec<u64> = (0..10_000).collect();
        let out = par_map(items, |x| x * 2);
        assert_eq!(out, (0..10_000).map(|x| x * 2).collect::<Vec<u64>>());
        assert_eq!(par_map(vec![1u8], |x| x), vec![1]);
        assert!(par_map(Vec::<u8>::new(), |x| x).is_empty());
    }
}
