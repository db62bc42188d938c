//! `strata test rules`: promtool's rule unit-test format
//! (`cmd/promtool/unittest.go`). Each test loads its `input_series`
//! (expanding notation: `1+2x3`, `_`, `stale`) into fresh storage, evaluates
//! the rule files' groups step by step from time 0, compares the *firing*
//! alerts of `alert_rule_test` at their `eval_time`, and evaluates each
//! `promql_expr_test` against the result.

use crate::file::{RuleGroup, RuleKind};
use crate::group::{AlertState, EvalContext, GroupState};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use strata_config::ConfigError;
use strata_config::yaml::{Doc, Fields, Node};
use strata_ingest::Ingester;
use strata_model::{
    LabelRef, Labels, MatchOp, Queryable, STALE_NAN_BITS, Sample, TenantId, WriteBatch,
};

/// Fresh storage for one test group, made by the caller (the binary opens
/// a temporary database).
pub struct TestStorage {
    pub queryable: Arc<dyn Queryable>,
    pub ingester: Arc<Ingester>,
    /// Kept alive for the test's duration (e.g. a temporary directory).
    pub guard: Box<dyn std::any::Any>,
}

struct InputSeries {
    labels: Labels,
    values: Vec<Option<f64>>,
}

struct ExpAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

struct AlertTest {
    eval_time: Duration,
    alertname: String,
    exp: Vec<ExpAlert>,
}

struct ExprTest {
    expr: String,
    eval_time: Duration,
    exp: Vec<(Labels, f64)>,
}

struct TestGroup {
    name: String,
    interval: Duration,
    input: Vec<InputSeries>,
    alerts: Vec<AlertTest>,
    exprs: Vec<ExprTest>,
    external_labels: BTreeMap<String, String>,
    external_url: String,
}

/// Parses one value of the expanding notation into `out`.
fn expand_values(text: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    let num = |s: &str| -> Result<f64, String> {
        match s {
            "Inf" | "+Inf" | "inf" | "+inf" => Ok(f64::INFINITY),
            "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
            "NaN" | "nan" => Ok(f64::NAN),
            _ => s.parse::<f64>().map_err(|_| format!("invalid value {s:?}")),
        }
    };
    for tok in text.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if tok == "stale" {
            out.push(Some(f64::from_bits(STALE_NAN_BITS)));
            continue;
        }
        let Some((head, times)) = tok.split_once('x') else {
            out.push(Some(num(tok)?));
            continue;
        };
        let n: usize = times
            .parse()
            .map_err(|_| format!("invalid repetition in {tok:?}"))?;
        if head == "_" {
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        // `a+bxN` / `a-bxN` (the sign after the first character), or `axN`.
        let split = head
            .char_indices()
            .skip(1)
            .find(|(i, c)| (*c == '+' || *c == '-') && !head[..*i].ends_with(['e', 'E']))
            .map(|(i, _)| i);
        let (start, step) = match split {
            Some(i) => (num(&head[..i])?, num(&head[i..])?),
            None => (num(head)?, 0.0),
        };
        for k in 0..=n {
            out.push(Some(start + step * k as f64));
        }
    }
    Ok(())
}

/// A series selector with only equality matchers, as labels.
fn selector_labels(s: &str) -> Result<Labels, String> {
    let sets = strata_promql::selector_matchers(s).map_err(|e| format!("{s:?}: {e}"))?;
    let Some(set) = sets.into_iter().next() else {
        return Err(format!("{s:?}: not a series"));
    };
    let mut pairs = Vec::new();
    for m in set {
        if m.op != MatchOp::Equal {
            return Err(format!("{s:?}: only = matchers describe a series"));
        }
        pairs.push(strata_model::Label::new(m.name, m.value));
    }
    Ok(Labels::new(pairs))
}

struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: Duration,
    group_eval_order: Vec<String>,
    tests: Vec<TestGroup>,
}

/// A field read by `read` when present.
fn opt<'d, T>(
    doc: &Doc<'d>,
    f: &mut Fields<'_>,
    key: &str,
    read: impl Fn(&Doc<'d>, &Node, &str) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    let path = f.child(key);
    f.take(key).map(|n| read(doc, n, &path)).transpose()
}

/// The items of a sequence field (none when absent), with their paths.
fn items<'n>(
    doc: &Doc<'_>,
    f: &mut Fields<'n>,
    key: &str,
) -> Result<Vec<(String, &'n Node)>, ConfigError> {
    let path = f.child(key);
    match f.take(key) {
        Some(n) => Ok(doc
            .seq(n, &path)?
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("{path}[{i}]"), item))
            .collect()),
        None => Ok(Vec::new()),
    }
}

/// A test file's structure; value problems (the expanding notation, a
/// selector) are reported with the field path.
fn parse_file(doc: &Doc<'_>) -> Result<TestFile, String> {
    let e = |e: ConfigError| e.to_string();
    let root = doc.parse().map_err(e)?;
    let mut f = doc.fields(&root, "").map_err(e)?;
    let rule_files = opt(doc, &mut f, "rule_files", Doc::strings)
        .map_err(e)?
        .unwrap_or_default();
    let evaluation_interval = opt(doc, &mut f, "evaluation_interval", Doc::duration)
        .map_err(e)?
        .unwrap_or(Duration::from_secs(60));
    let group_eval_order = opt(doc, &mut f, "group_eval_order", Doc::strings)
        .map_err(e)?
        .unwrap_or_default();
    let test_nodes = items(doc, &mut f, "tests").map_err(e)?;
    let _ = f.take("fuzzy_compare");
    f.finish(doc).map_err(e)?;
    let mut tests = Vec::new();
    for (path, t) in test_nodes {
        let mut tf = doc.fields(t, &path).map_err(e)?;
        let name = opt(doc, &mut tf, "name", Doc::string)
            .map_err(e)?
            .unwrap_or_default();
        let interval = opt(doc, &mut tf, "interval", Doc::duration)
            .map_err(e)?
            .unwrap_or(evaluation_interval);
        let external_labels = opt(doc, &mut tf, "external_labels", Doc::string_map)
            .map_err(e)?
            .unwrap_or_default();
        let external_url = opt(doc, &mut tf, "external_url", Doc::string)
            .map_err(e)?
            .unwrap_or_default();
        let mut input = Vec::new();
        for (sp, s) in items(doc, &mut tf, "input_series").map_err(e)? {
            let mut sf = doc.fields(s, &sp).map_err(e)?;
            let series = opt(doc, &mut sf, "series", Doc::string)
                .map_err(e)?
                .unwrap_or_default();
            let values = opt(doc, &mut sf, "values", Doc::string)
                .map_err(e)?
                .unwrap_or_default();
            sf.finish(doc).map_err(e)?;
            let mut v = Vec::new();
            expand_values(&values, &mut v).map_err(|m| format!("{sp}.values: {m}"))?;
            input.push(InputSeries {
                labels: selector_labels(&series).map_err(|m| format!("{sp}.series: {m}"))?,
                values: v,
            });
        }
        let mut alerts = Vec::new();
        for (ap, a) in items(doc, &mut tf, "alert_rule_test").map_err(e)? {
            let mut af = doc.fields(a, &ap).map_err(e)?;
            let eval_time = opt(doc, &mut af, "eval_time", Doc::duration)
                .map_err(e)?
                .unwrap_or_default();
            let alertname = opt(doc, &mut af, "alertname", Doc::string)
                .map_err(e)?
                .unwrap_or_default();
            if alertname.is_empty() {
                return Err(format!(
                    "{ap}: an item under alert_rule_test misses required attribute alertname"
                ));
            }
            let mut exp = Vec::new();
            for (xp, x) in items(doc, &mut af, "exp_alerts").map_err(e)? {
                let mut xf = doc.fields(x, &xp).map_err(e)?;
                let labels = opt(doc, &mut xf, "exp_labels", Doc::string_map)
                    .map_err(e)?
                    .unwrap_or_default();
                let annotations = opt(doc, &mut xf, "exp_annotations", Doc::string_map)
                    .map_err(e)?
                    .unwrap_or_default();
                xf.finish(doc).map_err(e)?;
                exp.push(ExpAlert {
                    labels,
                    annotations,
                });
            }
            af.finish(doc).map_err(e)?;
            alerts.push(AlertTest {
                eval_time,
                alertname,
                exp,
            });
        }
        let mut exprs = Vec::new();
        for (xp, x) in items(doc, &mut tf, "promql_expr_test").map_err(e)? {
            let mut xf = doc.fields(x, &xp).map_err(e)?;
            let expr = opt(doc, &mut xf, "expr", Doc::string)
                .map_err(e)?
                .unwrap_or_default();
            let eval_time = opt(doc, &mut xf, "eval_time", Doc::duration)
                .map_err(e)?
                .unwrap_or_default();
            let mut exp = Vec::new();
            for (sp, smp) in items(doc, &mut xf, "exp_samples").map_err(e)? {
                let mut sf = doc.fields(smp, &sp).map_err(e)?;
                let labels = opt(doc, &mut sf, "labels", Doc::string)
                    .map_err(e)?
                    .unwrap_or_default();
                let value = opt(doc, &mut sf, "value", Doc::float)
                    .map_err(e)?
                    .unwrap_or_default();
                let _ = sf.take("histogram");
                sf.finish(doc).map_err(e)?;
                let labels = if labels.trim().is_empty() || labels.trim() == "{}" {
                    Labels::empty()
                } else {
                    selector_labels(&labels).map_err(|m| format!("{sp}.labels: {m}"))?
                };
                exp.push((labels, value));
            }
            xf.finish(doc).map_err(e)?;
            exprs.push(ExprTest {
                expr,
                eval_time,
                exp,
            });
        }
        tf.finish(doc).map_err(e)?;
        tests.push(TestGroup {
            name,
            interval,
            input,
            alerts,
            exprs,
            external_labels,
            external_url,
        });
    }
    Ok(TestFile {
        rule_files,
        evaluation_interval,
        group_eval_order,
        tests,
    })
}

fn labels_text(l: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn alerts_text(list: &[(BTreeMap<String, String>, BTreeMap<String, String>)]) -> String {
    let items: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, (l, a))| {
            format!(
                "{i}:\n              Labels:{}\n              Annotations:{}",
                labels_text(l),
                labels_text(a)
            )
        })
        .collect();
    format!("[\n            {}\n        ]", items.join("\n            "))
}

fn store(
    storage: &TestStorage,
    tenant: &TenantId,
    input: &[InputSeries],
    interval: Duration,
) -> Result<(), String> {
    let mut batch = WriteBatch::new();
    let mut samples: Vec<Vec<Sample>> = Vec::new();
    for s in input {
        samples.push(
            s.values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    v.map(|v| Sample::new(i as i64 * interval.as_millis() as i64, v))
                })
                .collect(),
        );
    }
    let refs: Vec<Vec<LabelRef<'_>>> = input
        .iter()
        .map(|s| {
            s.labels
                .iter()
                .map(|l| LabelRef {
                    name: &l.name,
                    value: &l.value,
                })
                .collect()
        })
        .collect();
    for (r, s) in refs.iter().zip(&samples) {
        if !s.is_empty() {
            batch.push(r, s);
        }
    }
    let report = storage
        .ingester
        .ingest(tenant, &batch)
        .map_err(|e| format!("loading input_series: {e}"))?;
    if report.rejected_samples > 0 {
        return Err(format!(
            "loading input_series: {} samples refused ({:?})",
            report.rejected_samples,
            report.named.first().map(|n| n.labels.clone())
        ));
    }
    Ok(())
}

/// Runs every test of one unit-test file; the errors as promtool words
/// them, one per failed check.
pub fn run_file(
    path: &Path,
    engine: &Arc<strata_promql::Engine>,
    make_storage: &dyn Fn() -> Result<TestStorage, String>,
) -> Result<(), Vec<String>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: {e}")])?;
    let doc = Doc {
        file: &name,
        text: &text,
    };
    let file = parse_file(&doc).map_err(|e| vec![e])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut groups: Vec<(String, RuleGroup)> = Vec::new();
    for pattern in &file.rule_files {
        let full = base.join(pattern);
        let paths =
            strata_config::expand_globs(&[full.display().to_string()]).map_err(|e| vec![e])?;
        for p in paths {
            let rf = crate::file::load(&p)
                .map_err(|errs| errs.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
            groups.extend(rf.groups.into_iter().map(|g| (rf.path.clone(), g)));
        }
    }
    // group_eval_order first, in its order; the rest as they come.
    let rank = |n: &str| {
        file.group_eval_order
            .iter()
            .position(|o| o == n)
            .unwrap_or(usize::MAX)
    };
    groups.sort_by_key(|(_, g)| rank(&g.name));
    let tenant = TenantId::single();
    let mut errors = Vec::new();
    for tg in &file.tests {
        let storage = match make_storage() {
            Ok(s) => s,
            Err(e) => return Err(vec![e]),
        };
        if let Err(e) = store(&storage, &tenant, &tg.input, tg.interval) {
            errors.push(e);
            continue;
        }
        let ctx = EvalContext {
            engine: engine.clone(),
            queryable: storage.queryable.clone(),
            ingester: storage.ingester.clone(),
            tenant: tenant.clone(),
            external_labels: tg.external_labels.clone(),
            external_url: tg.external_url.clone(),
            notifier: None,
            resend_delay: Duration::from_secs(60),
            for_outage_tolerance: Duration::ZERO,
            for_grace_period: Duration::ZERO,
        };
        let mut states: Vec<GroupState> = groups
            .iter()
            .map(|(f, g)| {
                GroupState::new(
                    f.clone(),
                    g.clone(),
                    file.evaluation_interval,
                    Duration::ZERO,
                    engine,
                )
            })
            .collect();
        let prefix = if tg.name.is_empty() {
            String::new()
        } else {
            format!("    name: {},\n", tg.name)
        };
        let max_t = tg
            .alerts
            .iter()
            .map(|a| a.eval_time)
            .chain(tg.exprs.iter().map(|x| x.eval_time))
            .max()
            .unwrap_or_default();
        let step = file.evaluation_interval.max(Duration::from_millis(1));
        let mut alert_tests: Vec<&AlertTest> = tg.alerts.iter().collect();
        alert_tests.sort_by_key(|a| a.eval_time);
        let mut next_alert = 0;
        let mut t = Duration::ZERO;
        while t <= max_t {
            let ts = SystemTime::UNIX_EPOCH + t;
            for g in &mut states {
                let iv = g.interval.as_nanos().max(1);
                if t.as_nanos().is_multiple_of(iv) {
                    g.evaluate(&ctx, ts);
                }
            }
            // Alert checks whose eval_time falls in [t, t + step).
            while next_alert < alert_tests.len() && alert_tests[next_alert].eval_time < t + step {
                let at = alert_tests[next_alert];
                next_alert += 1;
                let mut got: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> = Vec::new();
                for g in &states {
                    for r in &g.rules {
                        if let RuleKind::Alerting { alert, .. } = &r.rule.kind
                            && *alert == at.alertname
                        {
                            for a in r.alerts.values().filter(|a| a.state == AlertState::Firing) {
                                got.push((
                                    a.labels
                                        .iter()
                                        .map(|l| (l.name.to_string(), l.value.to_string()))
                                        .collect(),
                                    a.annotations.clone(),
                                ));
                            }
                        }
                    }
                }
                let mut exp: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> = at
                    .exp
                    .iter()
                    .map(|x| {
                        let mut l = x.labels.clone();
                        l.insert("alertname".into(), at.alertname.clone());
                        (l, x.annotations.clone())
                    })
                    .collect();
                got.sort();
                exp.sort();
                if got != exp {
                    errors.push(format!(
                        "{prefix}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        at.alertname,
                        strata_model::units::format_duration(at.eval_time),
                        alerts_text(&exp),
                        alerts_text(&got)
                    ));
                }
            }
            t += step;
        }
        for x in &tg.exprs {
            let out = engine.instant(
                storage.queryable.as_ref(),
                &tenant,
                &x.expr,
                x.eval_time.as_millis() as i64,
                &Default::default(),
            );
            let mut got: Vec<(Labels, f64)> = match out {
                Ok(o) => match o.value {
                    strata_promql::Value::Vector(v) => {
                        v.into_iter().map(|s| (s.labels, s.v)).collect()
                    }
                    strata_promql::Value::Scalar { v, .. } => vec![(Labels::empty(), v)],
                    _ => Vec::new(),
                },
                Err(e) => {
                    errors.push(format!(
                        "{prefix}    expr: {:?}, time: {}, err: {e}",
                        x.expr,
                        strata_model::units::format_duration(x.eval_time)
                    ));
                    continue;
                }
            };
            let mut exp = x.exp.clone();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            exp.sort_by(|a, b| a.0.cmp(&b.0));
            let same = got.len() == exp.len()
                && got.iter().zip(&exp).all(|((gl, gv), (el, ev))| {
                    gl == el
                        && (gv.to_bits() == ev.to_bits()
                            || gv == ev
                            || (gv.is_nan() && ev.is_nan()))
                });
            if !same {
                let show = |v: &[(Labels, f64)]| -> String {
                    let items: Vec<String> = v.iter().map(|(l, x)| format!("{l} {x}")).collect();
                    format!("[{}]", items.join(" "))
                };
                errors.push(format!(
                    "{prefix}    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                    x.expr,
                    strata_model::units::format_duration(x.eval_time),
                    show(&exp),
                    show(&got)
                ));
            }
        }
        drop(storage);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanding_notation_as_promtool() {
        let mut v = Vec::new();
        expand_values("1+2x3 _ stale 5x2 -1-1x1 _x2 1e3", &mut v).unwrap_or_default();
        let shown: Vec<String> = v
            .iter()
            .map(|x| match x {
                None => "_".into(),
                Some(f) if f.to_bits() == STALE_NAN_BITS => "stale".into(),
                Some(f) => f.to_string(),
            })
            .collect();
        assert_eq!(shown.join(" "), "1 3 5 7 _ stale 5 5 5 -1 -2 _ _ 1000");
        assert!(expand_values("1+x3", &mut Vec::new()).is_err());
        assert!(expand_values("abc", &mut Vec::new()).is_err());
    }

    #[test]
    fn selectors_describe_series() {
        let l = selector_labels(r#"up{job="a", instance="b"}"#).unwrap_or_default();
        assert_eq!(
            l,
            Labels::from_pairs([("__name__", "up"), ("instance", "b"), ("job", "a")])
        );
        assert!(selector_labels(r#"up{job=~"a"}"#).is_err());
    }
}
