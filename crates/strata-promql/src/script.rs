//! Strata's PromQL test scripts: load series, evaluate, expect.
//!
//! ```text
//! # comment
//! load 1m
//!     http_requests_total{job="api"} 0+10x20
//!     gauge 1 _ 3 stale 5
//!
//! eval instant at 10m sum(rate(http_requests_total[5m]))
//!     {} 0.16666666666666666
//!
//! eval range from 0 to 4m step 1m gauge
//!     gauge 1 1 3 _ 5
//!
//! eval instant at 1m foo +
//!     expect fail msg: parse error
//!
//! clear
//! ```
//!
//! Sample notation: `a+bxn` is the n+1 values a, a+b, ... a+n*b (`a-bxn`
//! counts down, `axn` repeats), `_` is a missing sample (`_xn` n of them),
//! `stale` a staleness marker, `NaN`/`Inf`/`-Inf` as written. The same
//! notation, one value per step, writes a range result.
//!
//! Expectations (lines under an `eval`): `expect fail`, `expect fail msg:
//! <substring>`, `expect warn`, `expect no_warn`, `expect info`,
//! `expect no_info`, `expect ordered` (instant results must come in this
//! order), then the result lines: `<series> <value>` for vectors, a bare
//! number for a scalar, a quoted string for a string.
//!
//! Every successful instant eval is also run as a one-step range query and,
//! when the expression does not depend on the evaluation time itself, with
//! `@ <t>` pinned on every selector while evaluated an hour later: all three
//! must agree. With bless mode the file is rewritten with the actual results.

use crate::{Engine, EngineOptions, QueryOpts, Value};
use promql_parser::parser::{AtModifier, Expr};
use std::time::{Duration, UNIX_EPOCH};
use strata_model::{Label, Labels, Queryable, Sample, TenantId, stale_nan};

/// Where a script's series are loaded and queried.
///
/// A storage may offer several layouts of the same data (all in the head,
/// all in blocks, split across a block/head boundary, ...): every eval runs
/// against each, and each must answer exactly as the first does.
pub trait ScriptStorage {
    fn load(&mut self, series: &[(Labels, Vec<Sample>)]) -> Result<(), String>;
    /// Drops everything loaded so far.
    fn clear(&mut self) -> Result<(), String>;
    /// Names of the layouts; the first is the reference (and bless mode's).
    fn layouts(&self) -> Vec<String> {
        vec!["storage".into()]
    }
    /// Everything loaded since the last `clear`, read through `layout`.
    fn queryable(&mut self, layout: usize) -> Result<&dyn Queryable, String>;
}

/// What running one script found.
#[derive(Debug, Default)]
pub struct ScriptReport {
    pub evals: usize,
    pub failures: Vec<String>,
    /// With bless mode: the script text with actual results filled in.
    pub blessed: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Point {
    Value(f64),
    Missing,
}

fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    if let Some(rest) = s.strip_prefix('-') {
        return parse_duration_ms(rest).map(|v| -v);
    }
    strata_model::units::parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|e| format!("bad duration {s:?}: {e}"))
}

fn parse_number(s: &str) -> Result<f64, String> {
    match s {
        "NaN" | "nan" => Ok(f64::NAN),
        "Inf" | "+Inf" | "inf" | "+inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "stale" => Ok(stale_nan()),
        _ => s.parse::<f64>().map_err(|_| format!("bad number {s:?}")),
    }
}

/// Expands one token of sample notation.
fn expand_token(tok: &str, out: &mut Vec<Point>) -> Result<(), String> {
    if tok == "_" {
        out.push(Point::Missing);
        return Ok(());
    }
    let Some(xpos) = tok.rfind('x') else {
        out.push(Point::Value(parse_number(tok)?));
        return Ok(());
    };
    let (head, times) = (&tok[..xpos], &tok[xpos + 1..]);
    let n: usize = times
        .parse()
        .map_err(|_| format!("bad repeat count in {tok:?}"))?;
    if head == "_" {
        out.extend(std::iter::repeat_n(Point::Missing, n));
        return Ok(());
    }
    // Split `a+b` / `a-b` at the operator that is not a sign or exponent sign.
    let bytes = head.as_bytes();
    let split = (1..bytes.len()).find(|&i| {
        (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E' | b'+' | b'-')
    });
    let (a, b) = match split {
        Some(i) => {
            let a = parse_number(&head[..i])?;
            let b = parse_number(&head[i + 1..])?;
            (a, if bytes[i] == b'-' { -b } else { b })
        }
        None => (parse_number(head)?, 0.0),
    };
    for k in 0..=n {
        out.push(Point::Value(a + b * k as f64));
    }
    Ok(())
}

fn expand(tokens: &[&str]) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for t in tokens {
        expand_token(t, &mut out)?;
    }
    Ok(out)
}

/// Parses `name{a="b"}` / `{a="b"}` / `{}` into labels.
fn parse_series(s: &str) -> Result<Labels, String> {
    if s == "{}" {
        return Ok(Labels::empty());
    }
    let e = promql_parser::parser::parse(s).map_err(|e| format!("bad series {s:?}: {e}"))?;
    let Expr::VectorSelector(vs) = e else {
        return Err(format!("bad series {s:?}"));
    };
    let mut labels: Vec<Label> = Vec::new();
    if let Some(n) = &vs.name {
        labels.push(Label::new(strata_model::METRIC_NAME, n.as_str()));
    }
    for m in &vs.matchers.matchers {
        labels.push(Label::new(m.name.as_str(), m.value.as_str()));
    }
    Ok(Labels::new(labels))
}

/// Splits a line into the series part and the value tokens: the series
/// ends at the closing brace, or at the first space when it has none.
fn split_series_line(line: &str) -> Result<(&str, Vec<&str>), String> {
    let line = line.trim();
    let end = if let Some(open) = line.find('{') {
        // Find the matching close brace outside quotes.
        let mut in_quote = false;
        let mut escaped = false;
        let mut close = None;
        for (i, c) in line[open..].char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' if in_quote => escaped = true,
                '"' => in_quote = !in_quote,
                '}' if !in_quote => {
                    close = Some(open + i + 1);
                    break;
                }
                _ => {}
            }
        }
        close.ok_or_else(|| format!("unclosed braces in {line:?}"))?
    } else {
        line.find(char::is_whitespace).unwrap_or(line.len())
    };
    Ok((&line[..end], line[end..].split_whitespace().collect()))
}

fn format_series(l: &Labels) -> String {
    let name = l.metric_name().unwrap_or("");
    let rest: Vec<String> = l
        .iter()
        .filter(|x| x.name != strata_model::METRIC_NAME)
        .map(|x| format!("{}={}", x.name, strata_model::labels::quote(&x.value)))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Writes a sequence of points, folding arithmetic runs into `a+bxn`.
fn format_points(pts: &[Point]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        match pts[i] {
            Point::Missing => {
                let mut j = i;
                while j < pts.len() && pts[j] == Point::Missing {
                    j += 1;
                }
                out.push(if j - i >= 3 {
                    format!("_x{}", j - i)
                } else {
                    vec!["_"; j - i].join(" ")
                });
                i = j;
            }
            Point::Value(a) => {
                let mut j = i + 1;
                if let Some(Point::Value(b)) = pts.get(i + 1) {
                    let d = b - a;
                    if d.is_finite() && a.is_finite() {
                        while let Some(Point::Value(c)) = pts.get(j) {
                            if *c != a + d * (j - i) as f64 {
                                break;
                            }
                            j += 1;
                        }
                    }
                }
                let n = j - i - 1;
                if n >= 2 {
                    let Point::Value(b) = pts[i + 1] else {
                        unreachable!()
                    };
                    let d = b - a;
                    let sign = if d < 0.0 || (d == 0.0 && d.is_sign_negative()) {
                        "-"
                    } else {
                        "+"
                    };
                    out.push(if d == 0.0 {
                        format!("{}x{n}", format_value(a))
                    } else {
                        format!("{}{sign}{}x{n}", format_value(a), format_value(d.abs()))
                    });
                    i = j;
                } else {
                    out.push(format_value(a));
                    i += 1;
                }
            }
        }
    }
    out.join(" ")
}

/// Whether two query values agree: within 1e-9 relative (or 1e-12
/// absolute near zero), NaN equal to NaN. Shared with the differential suite.
pub fn values_equal(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-9 * a.abs().max(b.abs()) || diff < 1e-12
}

#[derive(Debug, Default)]
struct Expect {
    fail: bool,
    fail_msg: Option<String>,
    warn: Option<bool>,
    info: Option<bool>,
    ordered: bool,
    /// (series, points) for vectors; `None` series for a scalar; strings separately.
    results: Vec<(Option<Labels>, Vec<Point>)>,
    string: Option<String>,
}

enum EvalKind {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

/// Runs a script; `bless` rewrites expected results from actual ones.
pub fn run_script(text: &str, storage: &mut dyn ScriptStorage, bless: bool) -> ScriptReport {
    let mut report = ScriptReport::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut blessed: Vec<String> = Vec::new();
    let engine = Engine::new(EngineOptions::default());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let lineno = i + 1;
        if line.is_empty() || line.starts_with('#') {
            blessed.push(lines[i].to_string());
            i += 1;
            continue;
        }
        if line == "clear" {
            if let Err(e) = storage.clear() {
                report.failures.push(format!("line {lineno}: clear: {e}"));
            }
            blessed.push(lines[i].to_string());
            i += 1;
            continue;
        }
        if let Some(rest) = line.strip_prefix("load ") {
            blessed.push(lines[i].to_string());
            i += 1;
            let interval = match parse_duration_ms(rest.trim()) {
                Ok(v) => v,
                Err(e) => {
                    report.failures.push(format!("line {lineno}: {e}"));
                    0
                }
            };
            let mut series = Vec::new();
            while i < lines.len()
                && lines[i].starts_with(char::is_whitespace)
                && !lines[i].trim().is_empty()
            {
                blessed.push(lines[i].to_string());
                match split_series_line(lines[i])
                    .and_then(|(s, toks)| Ok((parse_series(s)?, expand(&toks)?)))
                {
                    Ok((labels, pts)) => {
                        let samples = pts
                            .iter()
                            .enumerate()
                            .filter_map(|(k, p)| match p {
                                Point::Value(v) => Some(Sample::new(k as i64 * interval, *v)),
                                Point::Missing => None,
                            })
                            .collect();
                        series.push((labels, samples));
                    }
                    Err(e) => report.failures.push(format!("line {}: {e}", i + 1)),
                }
                i += 1;
            }
            if let Err(e) = storage.load(&series) {
                report.failures.push(format!("line {lineno}: load: {e}"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("eval ") {
            blessed.push(lines[i].to_string());
            i += 1;
            let (kind, expr) = match parse_eval_header(rest) {
                Ok(v) => v,
                Err(e) => {
                    report.failures.push(format!("line {lineno}: {e}"));
                    while i < lines.len()
                        && lines[i].starts_with(char::is_whitespace)
                        && !lines[i].trim().is_empty()
                    {
                        i += 1;
                    }
                    continue;
                }
            };
            let mut exp = Expect::default();
            let mut expect_lines = Vec::new();
            let block_start = i;
            while i < lines.len()
                && lines[i].starts_with(char::is_whitespace)
                && !lines[i].trim().is_empty()
            {
                let l = lines[i].trim();
                if let Some(e) = l.strip_prefix("expect ") {
                    expect_lines.push(lines[i].to_string());
                    let e = e.trim();
                    match e {
                        "fail" => exp.fail = true,
                        "warn" => exp.warn = Some(true),
                        "no_warn" => exp.warn = Some(false),
                        "info" => exp.info = Some(true),
                        "no_info" => exp.info = Some(false),
                        "ordered" => exp.ordered = true,
                        _ => {
                            if let Some(m) = e.strip_prefix("fail msg:") {
                                exp.fail = true;
                                exp.fail_msg = Some(m.trim().to_string());
                            } else {
                                report
                                    .failures
                                    .push(format!("line {}: unknown expectation {e:?}", i + 1));
                            }
                        }
                    }
                } else if l.starts_with('"') {
                    exp.string = Some(l.trim_matches('"').to_string());
                } else if let Ok(v) = parse_number(l) {
                    exp.results.push((None, vec![Point::Value(v)]));
                } else {
                    match split_series_line(l)
                        .and_then(|(s, toks)| Ok((parse_series(s)?, expand(&toks)?)))
                    {
                        Ok((labels, pts)) => exp.results.push((Some(labels), pts)),
                        Err(e) => report.failures.push(format!("line {}: {e}", i + 1)),
                    }
                }
                i += 1;
            }
            report.evals += 1;
            let layouts = storage.layouts();
            let mut reference: Option<(&str, Outcome)> = None;
            for (k, layout) in layouts.iter().enumerate() {
                let outcome = match storage.queryable(k) {
                    Ok(db) => run_eval(&engine, db, &kind, &expr, &exp),
                    Err(e) => Err(format!("preparing the {layout} layout: {e}")),
                };
                let summary = Outcome::of(&outcome);
                match &reference {
                    None => {
                        match outcome {
                            Ok(actual) => {
                                blessed.extend(expect_lines.iter().cloned());
                                blessed.extend(actual.lines);
                                for f in actual.failures {
                                    report.failures.push(format!("line {lineno}: {expr}: {f}"));
                                }
                            }
                            Err(f) => {
                                // Keep the block as written: there is nothing to bless from.
                                blessed.extend(lines[block_start..i].iter().map(|l| l.to_string()));
                                report.failures.push(format!("line {lineno}: {expr}: {f}"));
                            }
                        }
                        reference = Some((layout, summary));
                    }
                    // The data is the same whatever its layout: any
                    // difference is a storage bug.
                    Some((ref_layout, want)) if *want != summary => {
                        report.failures.push(format!(
                            "line {lineno}: {expr}: read through the {layout} layout: {summary:?}, \
                             through the {ref_layout} layout: {want:?}"
                        ));
                    }
                    Some(_) => {}
                }
            }
            continue;
        }
        report
            .failures
            .push(format!("line {lineno}: unknown command {line:?}"));
        blessed.push(lines[i].to_string());
        i += 1;
    }
    if bless {
        let mut s = blessed.join("\n");
        s.push('\n');
        report.blessed = Some(s);
    }
    report
}

fn parse_eval_header(rest: &str) -> Result<(EvalKind, String), String> {
    let words: Vec<&str> = rest.splitn(8, ' ').collect();
    match words.as_slice() {
        ["instant", "at", t, tail @ ..] => {
            let expr = tail.join(" ");
            Ok((EvalKind::Instant(parse_duration_ms(t)?), expr))
        }
        ["range", "from", s, "to", e, "step", st, tail @ ..] => Ok((
            EvalKind::Range {
                start: parse_duration_ms(s)?,
                end: parse_duration_ms(e)?,
                step: parse_duration_ms(st)?,
            },
            tail.join(" "),
        )),
        _ => Err(format!(
            "bad eval line {rest:?}: want `instant at T EXPR` or `range from S to E step D EXPR`"
        )),
    }
}

struct Actual {
    /// Result lines for bless mode.
    lines: Vec<String>,
    failures: Vec<String>,
    /// The error an `expect fail` eval got.
    error: Option<String>,
}

/// What one eval gave, for comparing layouts: the exact result lines and
/// expectation failures, or the error.
#[derive(Debug, PartialEq)]
enum Outcome {
    Answered {
        lines: Vec<String>,
        failures: Vec<String>,
        error: Option<String>,
    },
    Failed(String),
}

impl Outcome {
    fn of(r: &Result<Actual, String>) -> Self {
        match r {
            Ok(a) => Outcome::Answered {
                lines: a.lines.clone(),
                failures: a.failures.clone(),
                error: a.error.clone(),
            },
            Err(e) => Outcome::Failed(e.clone()),
        }
    }
}

fn run_eval(
    engine: &Engine,
    db: &dyn Queryable,
    kind: &EvalKind,
    expr: &str,
    exp: &Expect,
) -> Result<Actual, String> {
    let tenant = TenantId::single();
    let opts = QueryOpts::default();
    let res = match kind {
        EvalKind::Instant(t) => engine.instant(db, &tenant, expr, *t, &opts),
        EvalKind::Range { start, end, step } => {
            engine.range(db, &tenant, expr, *start, *end, *step, &opts)
        }
    };
    let mut failures = Vec::new();
    let out = match res {
        Err(e) => {
            if !exp.fail {
                return Err(format!("unexpected error: {e}"));
            }
            if let Some(m) = &exp.fail_msg
                && !e.to_string().contains(m.as_str())
            {
                return Err(format!("error {:?} does not contain {m:?}", e.to_string()));
            }
            return Ok(Actual {
                lines: Vec::new(),
                failures,
                error: Some(e.to_string()),
            });
        }
        Ok(o) => o,
    };
    if exp.fail {
        return Err("expected an error, got a result".into());
    }
    match exp.warn {
        Some(true) if out.warnings.is_empty() => {
            failures.push("expected a warning, got none".into())
        }
        Some(false) if !out.warnings.is_empty() => {
            failures.push(format!("unexpected warnings {:?}", out.warnings))
        }
        _ => {}
    }
    match exp.info {
        Some(true) if out.infos.is_empty() => {
            failures.push("expected an info annotation, got none".into())
        }
        Some(false) if !out.infos.is_empty() => {
            failures.push(format!("unexpected infos {:?}", out.infos))
        }
        _ => {}
    }
    let (lines, got) = render(&out.value, kind);
    compare(&got, exp, &mut failures);
    if let EvalKind::Instant(t) = kind {
        cross_check(engine, db, expr, *t, &out.value, &mut failures);
    }
    Ok(Actual {
        lines,
        failures,
        error: None,
    })
}

type Rendered = (
    Vec<String>,
    Vec<(Option<Labels>, Vec<Point>)>,
    Option<String>,
);

fn render(
    v: &Value,
    kind: &EvalKind,
) -> (
    Vec<String>,
    (Vec<(Option<Labels>, Vec<Point>)>, Option<String>),
) {
    let r: Rendered = match v {
        Value::Scalar { v, .. } => (
            vec![format!("    {}", format_value(*v))],
            vec![(None, vec![Point::Value(*v)])],
            None,
        ),
        Value::String { v, .. } => (
            vec![format!("    {}", strata_model::labels::quote(v))],
            Vec::new(),
            Some(v.clone()),
        ),
        Value::Vector(vs) => {
            let mut lines = Vec::new();
            let mut got = Vec::new();
            for s in vs {
                lines.push(format!(
                    "    {} {}",
                    format_series(&s.labels),
                    format_value(s.v)
                ));
                got.push((Some(s.labels.clone()), vec![Point::Value(s.v)]));
            }
            (lines, got, None)
        }
        Value::Matrix(m) => {
            let mut lines = Vec::new();
            let mut got = Vec::new();
            for s in m {
                let pts: Vec<Point> = match kind {
                    EvalKind::Range { start, end, step } => {
                        let n = ((end - start) / step + 1) as usize;
                        let mut pts = vec![Point::Missing; n];
                        for p in &s.samples {
                            pts[((p.t - start) / step) as usize] = Point::Value(p.v);
                        }
                        pts
                    }
                    // A range vector from an instant query: its raw samples.
                    EvalKind::Instant(_) => s.samples.iter().map(|p| Point::Value(p.v)).collect(),
                };
                lines.push(format!(
                    "    {} {}",
                    format_series(&s.labels),
                    format_points(&pts)
                ));
                got.push((Some(s.labels.clone()), pts));
            }
            (lines, got, None)
        }
    };
    (r.0, (r.1, r.2))
}

fn compare(
    got: &(Vec<(Option<Labels>, Vec<Point>)>, Option<String>),
    exp: &Expect,
    failures: &mut Vec<String>,
) {
    let (got, got_string) = got;
    if let Some(s) = &exp.string {
        if got_string.as_deref() != Some(s.as_str()) {
            failures.push(format!("expected string {s:?}, got {got_string:?}"));
        }
        return;
    }
    if got.len() != exp.results.len() {
        failures.push(format!(
            "expected {} result series, got {}: {:?}",
            exp.results.len(),
            got.len(),
            got.iter()
                .map(|(l, _)| l.as_ref().map(format_series))
                .collect::<Vec<_>>()
        ));
        return;
    }
    for (k, (labels, pts)) in exp.results.iter().enumerate() {
        let found = if exp.ordered {
            got.get(k).filter(|g| g.0 == *labels)
        } else {
            got.iter().find(|g| g.0 == *labels)
        };
        let Some((_, gpts)) = found else {
            failures.push(format!(
                "expected series {} not in the result{}",
                labels.as_ref().map_or("(scalar)".into(), format_series),
                if exp.ordered { " at this position" } else { "" }
            ));
            continue;
        };
        let same = gpts.len() == pts.len()
            && gpts.iter().zip(pts).all(|(a, b)| match (a, b) {
                (Point::Value(x), Point::Value(y)) => values_equal(*x, *y),
                (Point::Missing, Point::Missing) => true,
                _ => false,
            });
        if !same {
            failures.push(format!(
                "series {}: expected {}, got {}",
                labels.as_ref().map_or("(scalar)".into(), format_series),
                format_points(pts),
                format_points(gpts)
            ));
        }
    }
}

/// Pins `@ t` on every selector and subquery that has no `@` yet.
fn pin_at(e: &mut Expr, t: i64) {
    let at = || AtModifier::At(UNIX_EPOCH + Duration::from_millis(t.max(0) as u64));
    match e {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert_with(at);
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert_with(at);
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert_with(at);
        }
        Expr::Aggregate(a) => {
            pin_at(&mut a.expr, t);
            if let Some(p) = &mut a.param {
                pin_at(p, t);
            }
        }
        Expr::Unary(u) => pin_at(&mut u.expr, t),
        Expr::Binary(b) => {
            pin_at(&mut b.lhs, t);
            pin_at(&mut b.rhs, t);
        }
        Expr::Paren(p) => pin_at(&mut p.expr, t),
        Expr::Call(c) => {
            for a in &mut c.args.args {
                pin_at(a, t);
            }
        }
        _ => {}
    }
}

/// Functions whose answer depends on the evaluation time itself, not only
/// on the data selected.
fn time_dependent(expr: &str) -> bool {
    [
        "time()",
        "@",
        "predict_linear",
        "timestamp(",
        "hour()",
        "minute()",
        "month()",
        "year()",
        "day_of_month()",
        "day_of_week()",
        "day_of_year()",
        "days_in_month()",
    ]
    .iter()
    .any(|f| expr.contains(f))
}

fn vector_points(v: &Value) -> Vec<(Labels, f64)> {
    let mut out: Vec<(Labels, f64)> = match v {
        Value::Vector(vs) => vs.iter().map(|s| (s.labels.clone(), s.v)).collect(),
        Value::Scalar { v, .. } => vec![(Labels::empty(), *v)],
        Value::Matrix(m) => m
            .iter()
            .filter_map(|s| s.samples.first().map(|p| (s.labels.clone(), p.v)))
            .collect(),
        Value::String { .. } => Vec::new(),
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn same_points(a: &[(Labels, f64)], b: &[(Labels, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.0 == y.0 && values_equal(x.1, y.1))
}

/// The instant result must equal the one-step range result and the `@`-pinned result.
fn cross_check(
    engine: &Engine,
    db: &dyn Queryable,
    expr: &str,
    t: i64,
    instant: &Value,
    failures: &mut Vec<String>,
) {
    if matches!(instant, Value::String { .. } | Value::Matrix(_)) {
        return;
    }
    let tenant = TenantId::single();
    let opts = QueryOpts::default();
    let want = vector_points(instant);
    match engine.range(db, &tenant, expr, t, t, 60_000, &opts) {
        Ok(out) => {
            let got = vector_points(&out.value);
            if !same_points(&want, &got) {
                failures.push(format!("as a range query: {got:?} != instant {want:?}"));
            }
        }
        Err(e) => failures.push(format!("as a range query: {e}")),
    }
    if time_dependent(expr) || t < 0 {
        return;
    }
    let Ok(mut parsed) = promql_parser::parser::parse(expr) else {
        return;
    };
    pin_at(&mut parsed, t);
    let pinned = parsed.to_string();
    match engine.instant(db, &tenant, &pinned, t + 3_600_000, &opts) {
        Ok(out) => {
            let got = vector_points(&out.value);
            if !same_points(&want, &got) {
                failures.push(format!(
                    "with @ as {pinned:?} an hour later: {got:?} != {want:?}"
                ));
            }
        }
        Err(e) => failures.push(format!("with @ as {pinned:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation_expands() {
        let got = expand(&["0+10x3", "_", "1x2", "_x2", "5-1x2", "stale"]).unwrap_or_default();
        let vals: Vec<String> = got
            .iter()
            .map(|p| match p {
                Point::Value(v) if strata_model::is_stale_nan(*v) => "stale".into(),
                Point::Value(v) => format_value(*v),
                Point::Missing => "_".into(),
            })
            .collect();
        assert_eq!(vals.join(" "), "0 10 20 30 _ 1 1 1 _ _ 5 4 3 stale");
        assert_eq!(
            format_points(&expand(&["0+10x3", "_", "7"]).unwrap_or_default()),
            "0+10x3 _ 7"
        );
    }

    #[test]
    fn series_lines_split_at_braces() {
        let (s, toks) = split_series_line(r#"  foo{a="x y}"} 1 2"#).unwrap_or(("", vec![]));
        assert_eq!(s, r#"foo{a="x y}"}"#);
        assert_eq!(toks, vec!["1", "2"]);
        assert_eq!(parse_series("{}").map(|l| l.len()), Ok(0));
    }
}
