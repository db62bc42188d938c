//! PromQL functions, with Prometheus 3's numerics (Kahan sums, the rate
//! extrapolation rules, bucket quantile monotonicity fixes).

use crate::eval::{Evaluator, Result, Windows, exec, merge_same_labels, unwrap_parens};
use crate::value::{Series, Steps, Val};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Call, Expr};
use std::collections::HashMap;
use strata_model::{Labels, METRIC_NAME, PromRegex, Sample};

/// Neumaier-compensated summation step, as Prometheus' `kahanSumInc`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus' `quantile`: linear interpolation between closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Go's `math.Max`/`math.Min`: NaN wins (Rust's `f64::max` ignores it).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn scalar_arg(ev: &mut Evaluator, e: &Expr, steps: Steps) -> Result<Vec<f64>> {
    match ev.eval(e, steps)? {
        Val::Scalar(v) => {
            ev.release(v.len());
            Ok(v)
        }
        _ => Err(exec("expected a scalar argument")),
    }
}

fn string_arg(ev: &mut Evaluator, e: &Expr, steps: Steps) -> Result<String> {
    match ev.eval(e, steps)? {
        Val::String(s) => Ok(s),
        _ => Err(exec("expected a string argument")),
    }
}

fn vector_arg(ev: &mut Evaluator, e: &Expr, steps: Steps) -> Result<Vec<Series>> {
    match ev.eval(e, steps)? {
        Val::Vector(v) => {
            ev.release(v.iter().map(|s| s.pts.len()).sum());
            Ok(v)
        }
        _ => Err(exec("expected an instant vector argument")),
    }
}

fn map_values(v: Vec<Series>, f: impl Fn(f64) -> f64) -> Result<Val> {
    let out = v
        .into_iter()
        .map(|mut s| {
            s.labels = s.labels.without_metric_name();
            s.pts.iter_mut().for_each(|p| p.v = f(p.v));
            s
        })
        .collect();
    Ok(Val::Vector(merge_same_labels(out, false)?))
}

/// Like `map_values`, with a per-step scalar parameter; `None` drops the point.
fn map_with(v: Vec<Series>, steps: Steps, f: impl Fn(f64, usize) -> Option<f64>) -> Result<Val> {
    let out = v
        .into_iter()
        .map(|mut s| {
            s.labels = s.labels.without_metric_name();
            s.pts = s
                .pts
                .iter()
                .filter_map(|p| f(p.v, steps.idx(p.t)).map(|v| Sample::new(p.t, v)))
                .collect();
            s
        })
        .collect();
    Ok(Val::Vector(merge_same_labels(out, false)?))
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v // 0, -0 and NaN stay as they are
            }
        },
        _ => return None,
    })
}

pub(crate) fn call(ev: &mut Evaluator, c: &Call, steps: Steps) -> Result<Val> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|b| b.as_ref()).collect();
    if let Some(f) = math_fn(name) {
        let v = vector_arg(ev, args[0], steps)?;
        return map_values(v, f);
    }
    // Functions over a range vector.
    if let Some(pos) = args
        .iter()
        .position(|a| a.value_type() == ValueType::Matrix)
    {
        return range_function(ev, name, &args, pos, steps);
    }
    match name {
        "time" => Ok(Val::Scalar(
            (0..steps.len())
                .map(|i| steps.t(i) as f64 / 1000.0)
                .collect(),
        )),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; steps.len()])),
        "vector" => {
            let s = scalar_arg(ev, args[0], steps)?;
            Ok(Val::Vector(vec![Series {
                labels: Labels::empty(),
                pts: s
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Sample::new(steps.t(i), v))
                    .collect(),
            }]))
        }
        "scalar" => {
            let v = vector_arg(ev, args[0], steps)?;
            let mut count = vec![0u32; steps.len()];
            let mut val = vec![f64::NAN; steps.len()];
            for s in &v {
                for p in &s.pts {
                    let i = steps.idx(p.t);
                    count[i] += 1;
                    val[i] = p.v;
                }
            }
            Ok(Val::Scalar(
                val.into_iter()
                    .zip(count)
                    .map(|(v, c)| if c == 1 { v } else { f64::NAN })
                    .collect(),
            ))
        }
        "timestamp" => {
            let inner = unwrap_parens(args[0]);
            let v = if let Expr::VectorSelector(vs) = inner {
                ev.eval_vector_selector(vs, steps, true)?
            } else {
                let mut v = vector_arg(ev, args[0], steps)?;
                for s in &mut v {
                    s.pts.iter_mut().for_each(|p| p.v = p.t as f64 / 1000.0);
                }
                v
            };
            map_values(v, |x| x)
        }
        "round" => {
            let v = vector_arg(ev, args[0], steps)?;
            let to = match args.get(1) {
                Some(e) => scalar_arg(ev, e, steps)?,
                None => vec![1.0; steps.len()],
            };
            map_with(v, steps, |x, i| {
                let inv = 1.0 / to[i];
                Some((x * inv + 0.5).floor() / inv)
            })
        }
        "clamp" => {
            let v = vector_arg(ev, args[0], steps)?;
            let lo = scalar_arg(ev, args[1], steps)?;
            let hi = scalar_arg(ev, args[2], steps)?;
            map_with(v, steps, |x, i| {
                (hi[i] >= lo[i]).then(|| go_max(lo[i], go_min(hi[i], x)))
            })
        }
        "clamp_min" => {
            let v = vector_arg(ev, args[0], steps)?;
            let lo = scalar_arg(ev, args[1], steps)?;
            map_with(v, steps, |x, i| Some(go_max(lo[i], x)))
        }
        "clamp_max" => {
            let v = vector_arg(ev, args[0], steps)?;
            let hi = scalar_arg(ev, args[1], steps)?;
            map_with(v, steps, |x, i| Some(go_min(hi[i], x)))
        }
        "absent" => {
            let v = vector_arg(ev, args[0], steps)?;
            let mut present = vec![false; steps.len()];
            for s in &v {
                for p in &s.pts {
                    present[steps.idx(p.t)] = true;
                }
            }
            absent_result(absent_labels(args[0]), &present, steps)
        }
        "sort" | "sort_desc" => {
            let mut v = vector_arg(ev, args[0], steps)?;
            let desc = name == "sort_desc";
            // Only instant queries have an order; NaN sorts last either way.
            v.sort_by(|a, b| {
                let (x, y) = (
                    a.pts.first().map_or(f64::NAN, |p| p.v),
                    b.pts.first().map_or(f64::NAN, |p| p.v),
                );
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                    _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                }
            });
            Ok(Val::Vector(v))
        }
        "label_replace" => {
            let v = vector_arg(ev, args[0], steps)?;
            let dst = string_arg(ev, args[1], steps)?;
            let repl = string_arg(ev, args[2], steps)?;
            let src = string_arg(ev, args[3], steps)?;
            let re_src = string_arg(ev, args[4], steps)?;
            let re = PromRegex::compile_anchored(&re_src).map_err(|e| {
                exec(format!(
                    "invalid regular expression in label_replace(): {e}"
                ))
            })?;
            if !valid_label_name(&dst) {
                return Err(exec(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let mut out = Vec::with_capacity(v.len());
            for mut s in v {
                let value = s.labels.get(&src).unwrap_or("");
                if let Some(caps) = re.captures(value) {
                    let mut res = String::new();
                    caps.expand(&repl, &mut res);
                    let mut b = s.labels.builder();
                    b.set(&dst, &res);
                    s.labels = b.labels();
                }
                out.push(s);
            }
            Ok(Val::Vector(merge_same_labels(out, false)?))
        }
        "label_join" => {
            let v = vector_arg(ev, args[0], steps)?;
            let dst = string_arg(ev, args[1], steps)?;
            let sep = string_arg(ev, args[2], steps)?;
            let mut srcs = Vec::new();
            for a in &args[3..] {
                let s = string_arg(ev, a, steps)?;
                if !valid_label_name(&s) {
                    return Err(exec(format!(
                        "invalid source label name in label_join(): {s}"
                    )));
                }
                srcs.push(s);
            }
            if !valid_label_name(&dst) {
                return Err(exec(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let mut out = Vec::with_capacity(v.len());
            for mut s in v {
                let joined: Vec<&str> =
                    srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
                let joined = joined.join(&sep);
                let mut b = s.labels.builder();
                b.set(&dst, &joined);
                s.labels = b.labels();
                out.push(s);
            }
            Ok(Val::Vector(merge_same_labels(out, false)?))
        }
        "histogram_quantile" => {
            let q = scalar_arg(ev, args[0], steps)?;
            let v = vector_arg(ev, args[1], steps)?;
            histogram_quantile(ev, &q, v, steps)
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let f = |secs: f64| -> f64 {
                if !secs.is_finite() {
                    return f64::NAN;
                }
                let d = Civil::from_unix(secs as i64);
                match name {
                    "day_of_month" => d.day as f64,
                    "day_of_week" => d.weekday as f64,
                    "day_of_year" => d.yday as f64,
                    "days_in_month" => d.days_in_month as f64,
                    "hour" => d.hour as f64,
                    "minute" => d.minute as f64,
                    "month" => d.month as f64,
                    _ => d.year as f64,
                }
            };
            match args.first() {
                Some(a) => {
                    let v = vector_arg(ev, a, steps)?;
                    map_values(v, f)
                }
                None => Ok(Val::Vector(vec![Series {
                    labels: Labels::empty(),
                    pts: (0..steps.len())
                        .map(|i| Sample::new(steps.t(i), f(steps.t(i) as f64 / 1000.0)))
                        .collect(),
                }])),
            }
        }
        // Native-histogram functions: Strata stores no native histograms, and
        // Prometheus ignores float samples in these functions.
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" | "histogram_fraction" => {
            for a in &args {
                let v = ev.eval(a, steps)?;
                ev.consume(&v);
            }
            Ok(Val::Vector(Vec::new()))
        }
        other => Err(exec(format!("function {other}() is not supported"))),
    }
}

/// Prometheus 3 accepts any non-empty UTF-8 label name.
fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
}

/// `absent()` labels: the selector's equality matchers, except a name
/// given twice (ambiguous) and `__name__`.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match unwrap_parens(e) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut dup: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if pairs.iter().any(|(n, _)| *n == m.name) || dup.contains(&m.name) {
            pairs.retain(|(n, _)| *n != m.name);
            dup.push(m.name.clone());
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) {
            pairs.push((m.name.clone(), m.value.clone()));
        }
    }
    Labels::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))
}

fn absent_result(labels: Labels, present: &[bool], steps: Steps) -> Result<Val> {
    let pts: Vec<Sample> = present
        .iter()
        .enumerate()
        .filter(|(_, p)| !**p)
        .map(|(i, _)| Sample::new(steps.t(i), 1.0))
        .collect();
    if pts.is_empty() {
        return Ok(Val::Vector(Vec::new()));
    }
    Ok(Val::Vector(vec![Series { labels, pts }]))
}

/// What a window function needs besides the samples.
struct WinCtx {
    /// Output step time.
    t: i64,
    /// Window is `(range_end - range, range_end]`.
    range_end: i64,
    range: i64,
    param: f64,
}

fn range_function(
    ev: &mut Evaluator,
    name: &str,
    args: &[&Expr],
    pos: usize,
    steps: Steps,
) -> Result<Val> {
    let param: Vec<f64> = match (name, args.len()) {
        ("quantile_over_time", _) => scalar_arg(ev, args[0], steps)?,
        ("predict_linear", _) => scalar_arg(ev, args[1], steps)?,
        _ => Vec::new(),
    };
    if name == "quantile_over_time" && param.iter().any(|q| !(0.0..=1.0).contains(q)) {
        let bad = param
            .iter()
            .find(|q| !(0.0..=1.0).contains(*q))
            .copied()
            .unwrap_or(f64::NAN);
        ev.warnings.push(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            strata_model::format::format_go_g(bad)
        ));
    }
    let arg = args[pos];
    if name == "absent_over_time" {
        // A marker point at every step where some series has samples.
        let seen = ev.map_range_series(arg, steps, |_, samples, w| {
            let mut pts = Vec::new();
            for_each_window(samples, w, |i, win| {
                if !win.is_empty() {
                    pts.push(Sample::new(steps.t(i), 1.0));
                }
            });
            pts
        })?;
        let mut present = vec![false; steps.len()];
        for p in seen.iter().flat_map(|(_, pts)| pts) {
            present[steps.idx(p.t)] = true;
        }
        return absent_result(absent_labels(arg), &present, steps);
    }
    let f: fn(&[Sample], &WinCtx) -> Option<f64> = match name {
        "rate" => |s, c| extrapolated_rate(s, c, true, true),
        "increase" => |s, c| extrapolated_rate(s, c, true, false),
        "delta" => |s, c| extrapolated_rate(s, c, false, false),
        "irate" => |s, _| instant_value(s, true),
        "idelta" => |s, _| instant_value(s, false),
        "changes" => |s, _| {
            let mut n = 0.0;
            for w in s.windows(2) {
                if w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()) {
                    n += 1.0;
                }
            }
            Some(n)
        },
        "resets" => |s, _| Some(s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64),
        "deriv" => |s, _| {
            if s.len() < 2 {
                return None;
            }
            Some(linear_regression(s, s[0].t).0)
        },
        "predict_linear" => |s, c| {
            if s.len() < 2 {
                return None;
            }
            let (slope, intercept) = linear_regression(s, c.t);
            Some(slope * c.param + intercept)
        },
        "avg_over_time" => |s, _| Some(avg_over(s)),
        "sum_over_time" => |s, _| {
            let (mut sum, mut c) = (0.0, 0.0);
            for p in s {
                (sum, c) = kahan_inc(p.v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        },
        "count_over_time" => |s, _| Some(s.len() as f64),
        "min_over_time" => |s, _| {
            let mut m = s[0].v;
            for p in &s[1..] {
                if p.v < m || m.is_nan() {
                    m = p.v;
                }
            }
            Some(m)
        },
        "max_over_time" => |s, _| {
            let mut m = s[0].v;
            for p in &s[1..] {
                if p.v > m || m.is_nan() {
                    m = p.v;
                }
            }
            Some(m)
        },
        "last_over_time" => |s, _| s.last().map(|p| p.v),
        "present_over_time" => |_, _| Some(1.0),
        "stddev_over_time" => |s, _| Some(variance_over(s).sqrt()),
        "stdvar_over_time" => |s, _| Some(variance_over(s)),
        "quantile_over_time" => |s, c| {
            let mut v: Vec<f64> = s.iter().map(|p| p.v).collect();
            Some(quantile(c.param, &mut v))
        },
        other => return Err(exec(format!("function {other}() is not supported"))),
    };
    let keep_name = name == "last_over_time";
    let counter_check = matches!(name, "rate" | "increase");
    let param = &param;
    let mapped = ev.map_range_series(arg, steps, |_, samples, w| {
        let mut pts = Vec::with_capacity(w.refs.len());
        for_each_window(samples, w, |i, win| {
            if win.is_empty() {
                return;
            }
            let ctx = WinCtx {
                t: steps.t(i),
                range_end: w.refs[i],
                range: w.range,
                param: param.get(i).copied().unwrap_or(0.0),
            };
            if let Some(v) = f(win, &ctx) {
                pts.push(Sample::new(ctx.t, v));
            }
        });
        pts
    })?;
    let mut out = Vec::with_capacity(mapped.len());
    let mut non_counters: Vec<String> = Vec::new();
    for (labels, pts) in mapped {
        if counter_check && let Some(n) = labels.metric_name() {
            let counter_like = ["_total", "_sum", "_count", "_bucket"]
                .iter()
                .any(|suf| n.ends_with(suf));
            if !counter_like && !non_counters.iter().any(|x| x == n) {
                non_counters.push(n.to_string());
            }
        }
        ev.hold(pts.len())?;
        let labels = if keep_name {
            labels
        } else {
            labels.without_metric_name()
        };
        out.push(Series { labels, pts });
    }
    for n in non_counters {
        ev.infos.push(format!(
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
            strata_model::labels::quote(&n)
        ));
    }
    let n: usize = out.iter().map(|s| s.pts.len()).sum();
    ev.release(n);
    Ok(Val::Vector(merge_same_labels(out, true)?))
}

/// Calls `f(step, window)` for every step; windows slide forward because
/// reference times never decrease.
fn for_each_window(samples: &[Sample], w: &Windows, mut f: impl FnMut(usize, &[Sample])) {
    let (mut lo, mut hi) = (0usize, 0usize);
    for (i, &r) in w.refs.iter().enumerate() {
        while hi < samples.len() && samples[hi].t <= r {
            hi += 1;
        }
        while lo < hi && samples[lo].t <= r.saturating_sub(w.range) {
            lo += 1;
        }
        f(i, &samples[lo..hi]);
    }
}

/// rate/increase/delta with Prometheus 3's extrapolation.
fn extrapolated_rate(s: &[Sample], c: &WinCtx, is_counter: bool, is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let range_start = c.range_end.saturating_sub(c.range);
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for p in &s[1..] {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
    }
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (c.range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_between = sampled / (s.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past where it
        // would have been zero.
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= c.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// irate/idelta: the last two samples.
fn instant_value(s: &[Sample], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (prev, last) = (s[s.len() - 2], s[s.len() - 1]);
    let result = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    Some(if is_rate {
        result / (interval as f64 / 1000.0)
    } else {
        result
    })
}

/// Least-squares fit with compensated sums; x is seconds from `intercept_t`.
fn linear_regression(s: &[Sample], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = s[0].v;
    let mut const_y = true;
    for (i, p) in s.iter().enumerate() {
        if const_y && i > 0 && p.v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_t) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

fn avg_over(s: &[Sample]) -> f64 {
    if s.len() == 1 {
        return s[0].v;
    }
    let (mut sum, mut c, mut mean, mut count) = (s[0].v, 0.0, 0.0, 1.0);
    let mut incremental = false;
    for p in &s[1..] {
        count += 1.0;
        if !incremental {
            let (ns, nc) = kahan_inc(p.v, sum, c);
            if !ns.is_infinite() {
                (sum, c) = (ns, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        if mean.is_infinite() {
            if p.v.is_infinite() && (mean > 0.0) == (p.v > 0.0) {
                continue;
            }
            if !p.v.is_infinite() && !p.v.is_nan() {
                continue;
            }
        }
        let current = mean + c;
        (mean, c) = kahan_inc(p.v / count - current / count, mean, c);
    }
    if incremental {
        if mean.is_infinite() {
            return mean;
        }
        mean + c
    } else {
        (sum + c) / count
    }
}

fn variance_over(s: &[Sample]) -> f64 {
    let (mut count, mut mean, mut cmean, mut aux, mut caux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in s {
        count += 1.0;
        let delta = p.v - (mean + cmean);
        (mean, cmean) = kahan_inc(delta / count, mean, cmean);
        (aux, caux) = kahan_inc(delta * (p.v - (mean + cmean)), aux, caux);
    }
    (aux + caux) / count
}

/// Prometheus' `BucketQuantile` over classic `le` buckets.
fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    // Coalesce buckets with the same bound (e.g. "1" and "1.0").
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    let mut forced = false;
    let mut prev = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            b.1 = prev;
            continue;
        }
        if curr < prev {
            b.1 = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    if merged.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|x| x.1 < rank);
    if b == merged.len() - 1 {
        return (merged[merged.len() - 2].0, forced);
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return (merged[0].0, forced);
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Prometheus' `almost.Equal`.
fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    let min_normal = f64::from_bits(0x0010000000000000);
    if a == 0.0 || b == 0.0 || diff < min_normal {
        return diff < eps * min_normal;
    }
    diff / (a.abs() + b.abs()) < eps
}

fn histogram_quantile(ev: &mut Evaluator, q: &[f64], v: Vec<Series>, steps: Steps) -> Result<Val> {
    if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        ev.warnings.push(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            strata_model::format::format_go_g(*bad)
        ));
    }
    let n = steps.len();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<Vec<(f64, f64)>>, String)> = Vec::new();
    for s in v {
        let le = s
            .labels
            .get("le")
            .and_then(|x| x.trim().parse::<f64>().ok());
        let Some(ub) = le else {
            ev.warnings.push(format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {} for metric name {}",
                strata_model::labels::quote(s.labels.get("le").unwrap_or("")),
                strata_model::labels::quote(s.labels.metric_name().unwrap_or(""))
            ));
            continue;
        };
        let mut b = s.labels.builder();
        b.del("le");
        b.del(METRIC_NAME);
        let key = b.labels();
        let slot = match index.get(&key) {
            Some(&x) => x,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((
                    key,
                    vec![Vec::new(); n],
                    s.labels.metric_name().unwrap_or("").to_string(),
                ));
                groups.len() - 1
            }
        };
        for p in &s.pts {
            groups[slot].1[steps.idx(p.t)].push((ub, p.v));
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    let mut fixed_names: Vec<String> = Vec::new();
    for (labels, mut per_step, name) in groups {
        let mut pts = Vec::new();
        for (i, b) in per_step.iter_mut().enumerate() {
            if b.is_empty() {
                continue;
            }
            let (v, forced) = bucket_quantile(q[i], b);
            if forced && !fixed_names.contains(&name) {
                fixed_names.push(name.clone());
            }
            pts.push(Sample::new(steps.t(i), v));
        }
        out.push(Series { labels, pts });
    }
    for name in fixed_names {
        ev.infos.push(format!(
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {}",
            strata_model::labels::quote(&name)
        ));
    }
    ev.warnings.dedup();
    Ok(Val::Vector(out))
}

/// A UTC calendar date and time of day.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    weekday: u32,
    yday: u32,
    days_in_month: u32,
}

impl Civil {
    /// Howard Hinnant's days-to-civil algorithm.
    fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let cum = [0u32, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = cum[(month - 1) as usize] + day + u32::from(leap && month > 2);
        let dim = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        Civil {
            year,
            month,
            day,
            hour: (sod / 3600) as u32,
            minute: ((sod % 3600) / 60) as u32,
            weekday: (days + 4).rem_euclid(7) as u32,
            yday,
            days_in_month: dim,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let d = Civil::from_unix(0);
        assert_eq!(
            (d.year, d.month, d.day, d.weekday, d.yday),
            (1970, 1, 1, 4, 1)
        );
        // 2024-02-29T13:45:00Z, a Thursday in a leap year.
        let d = Civil::from_unix(1_709_214_300);
        assert_eq!(
            (
                d.year,
                d.month,
                d.day,
                d.hour,
                d.minute,
                d.weekday,
                d.yday,
                d.days_in_month
            ),
            (2024, 2, 29, 13, 45, 4, 60, 29)
        );
        let d = Civil::from_unix(-1);
        assert_eq!((d.year, d.month, d.day, d.hour), (1969, 12, 31, 23));
    }

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(-0.1, &mut v), f64::NEG_INFINITY);
    }

    #[test]
    fn kahan_beats_naive_sum() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1e100, 1.0, -1e100] {
            (s, c) = kahan_inc(v, s, c);
        }
        assert_eq!(s + c, 1.0);
    }
}
