//! One rule group's evaluation, as Prometheus' `rules/group.go`,
//! `recording.go` and `alerting.go`: rules in order at one timestamp (a
//! later rule sees an earlier rule's output, which is stored before it
//! runs), recorded series and `ALERTS`/`ALERTS_FOR_STATE` written through
//! the ingester, stale markers for what an evaluation no longer produces,
//! and the alert state machine (pending → firing after `for`, firing kept
//! `keep_firing_for` after the condition clears, resolved alerts kept for
//! notification).

use crate::file::{Rule, RuleGroup, RuleKind};
use crate::template::{self, QueryFn, QuerySample, TemplateData};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use strata_ingest::Ingester;
use strata_model::{
    LabelRef, Labels, METRIC_NAME, Queryable, STALE_NAN_BITS, Sample, TenantId, WriteBatch,
};
use strata_promql::{Engine, PreparedQuery, QueryOpts, Value};

/// How long a resolved alert stays (in the API and for notifications),
/// as Prometheus' `resolvedRetention`.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// What every group of a tenant evaluates with.
#[derive(Clone)]
pub struct EvalContext {
    pub engine: Arc<Engine>,
    pub queryable: Arc<dyn Queryable>,
    pub ingester: Arc<Ingester>,
    pub tenant: TenantId,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    /// Where firing and resolved alerts go (`None`: nowhere, agent-less
    /// tests).
    pub notifier: Option<Arc<crate::notifier::Notifier>>,
    /// How often a still-firing alert is sent again
    /// (`--rules.alert.resend-delay`).
    pub resend_delay: Duration,
    /// After a restart, pending alerts resume their `for` from
    /// `ALERTS_FOR_STATE` if Strata was down at most this long
    /// (`--rules.alert.for-outage-tolerance`)...
    pub for_outage_tolerance: Duration,
    /// ...and get at least this long before they fire
    /// (`--rules.alert.for-grace-period`).
    pub for_grace_period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule (a label set its expression returned).
#[derive(Debug, Clone)]
pub struct Alert {
    /// The alert's labels: the result's (without `__name__`), the group's,
    /// the rule's expanded labels and `alertname`.
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub value: f64,
    pub active_at: SystemTime,
    pub fired_at: Option<SystemTime>,
    pub resolved_at: Option<SystemTime>,
    /// Since when the condition is gone while `keep_firing_for` holds it.
    pub keep_firing_since: Option<SystemTime>,
    pub last_sent_at: Option<SystemTime>,
}

/// A rule with what its evaluations left behind.
pub struct RuleState {
    pub rule: Rule,
    pub query: Option<PreparedQuery>,
    pub health: Health,
    pub last_error: String,
    pub last_evaluation: Option<SystemTime>,
    pub evaluation_time: Duration,
    /// Series written by the last evaluation (for stale markers).
    written: HashMap<u64, Labels>,
    /// Alerting rules: by label-set hash.
    pub alerts: HashMap<u64, Alert>,
}

impl RuleState {
    pub fn new(rule: Rule, engine: &Engine) -> RuleState {
        let (query, health, last_error) = match engine.prepare(&rule.expr) {
            Ok(q) => (Some(q), Health::Unknown, String::new()),
            Err(e) => (None, Health::Err, e.to_string()),
        };
        RuleState {
            rule,
            query,
            health,
            last_error,
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
            written: HashMap::new(),
            alerts: HashMap::new(),
        }
    }

    /// The rule's state for the API: the most severe of its alerts'.
    pub fn state(&self) -> AlertState {
        self.alerts
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }
}

/// A group with its rules' state.
#[derive(Default)]
pub struct GroupState {
    pub file: String,
    pub group: RuleGroup,
    /// The group's interval (its own, or the global evaluation interval).
    pub interval: Duration,
    pub query_offset: Duration,
    pub rules: Vec<RuleState>,
    pub last_evaluation: Option<SystemTime>,
    pub evaluation_time: Duration,
}

/// The expression's graph page, as Prometheus links it from an alert.
fn generator_url(external_url: &str, expr: &str) -> String {
    let mut u = match reqwest::Url::parse(external_url) {
        Ok(u) => u,
        Err(_) => return String::new(),
    };
    let path = format!("{}/graph", u.path().trim_end_matches('/'));
    u.set_path(&path);
    u.query_pairs_mut()
        .append_pair("g0.expr", expr)
        .append_pair("g0.tab", "1");
    u.to_string()
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// A rule's error with its message as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// What one evaluation of a group did.
#[derive(Debug, Default, Clone, Copy)]
pub struct IterationReport {
    pub rules: u64,
    pub failed: u64,
}

impl GroupState {
    pub fn new(
        file: String,
        group: RuleGroup,
        default_interval: Duration,
        default_offset: Duration,
        engine: &Engine,
    ) -> GroupState {
        let interval = group.interval.unwrap_or(default_interval);
        let query_offset = group.query_offset.unwrap_or(default_offset);
        let rules = group
            .rules
            .iter()
            .map(|r| RuleState::new(r.clone(), engine))
            .collect();
        GroupState {
            file,
            group,
            interval,
            query_offset,
            rules,
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
        }
    }

    /// Takes over the state of `old`'s rules that are unchanged here (same
    /// kind, name, expression and labels), as a reload does.
    pub fn adopt(&mut self, old: GroupState) {
        let mut old_rules: Vec<Option<RuleState>> = old.rules.into_iter().map(Some).collect();
        for r in &mut self.rules {
            if let Some(slot) = old_rules
                .iter_mut()
                .find(|o| o.as_ref().is_some_and(|o| o.rule == r.rule))
                && let Some(o) = slot.take()
            {
                r.health = o.health;
                r.last_error = o.last_error;
                r.last_evaluation = o.last_evaluation;
                r.evaluation_time = o.evaluation_time;
                r.written = o.written;
                r.alerts = o.alerts;
            }
        }
        self.last_evaluation = old.last_evaluation;
        self.evaluation_time = old.evaluation_time;
    }

    /// Evaluates every rule at `ts`, in order, storing their output.
    pub fn evaluate(&mut self, ctx: &EvalContext, ts: SystemTime) -> IterationReport {
        let started = std::time::Instant::now();
        let query_t = ms(ts) - self.query_offset.as_millis() as i64;
        let mut report = IterationReport::default();
        let group_labels = self.group.labels.clone();
        for r in &mut self.rules {
            let rule_started = std::time::Instant::now();
            report.rules += 1;
            let result = evaluate_rule(ctx, r, &group_labels, self.group.limit, ts, query_t);
            r.last_evaluation = Some(ts);
            r.evaluation_time = rule_started.elapsed();
            match result {
                Ok(()) => {
                    r.health = Health::Ok;
                    r.last_error.clear();
                }
                Err(e) => {
                    report.failed += 1;
                    r.health = Health::Err;
                    tracing::warn!(group = %self.group.name, rule = %r.rule.name(), error = %e, "rule evaluation failed");
                    r.last_error = e.0;
                }
            }
        }
        self.last_evaluation = Some(ts);
        self.evaluation_time = started.elapsed();
        if let Some(n) = &ctx.notifier {
            n.send(self.alerts_to_send(ctx, ts));
        }
        report
    }

    /// Prometheus' `sendAlerts`: firing alerts not sent for a resend delay,
    /// and alerts resolved since they were last sent. Each is valid for
    /// four intervals (or resend delays), so Alertmanager resolves it by
    /// itself if Strata stops sending.
    fn alerts_to_send(
        &mut self,
        ctx: &EvalContext,
        ts: SystemTime,
    ) -> Vec<crate::notifier::PostableAlert> {
        let valid_for = 4 * ctx.resend_delay.max(self.interval);
        let mut out = Vec::new();
        for r in &mut self.rules {
            let generator_url = generator_url(&ctx.external_url, &r.rule.expr);
            for a in r.alerts.values_mut() {
                let needs = match a.state {
                    AlertState::Pending => false,
                    _ if a
                        .resolved_at
                        .is_some_and(|at| a.last_sent_at.is_none_or(|s| at > s)) =>
                    {
                        true
                    }
                    _ => a.last_sent_at.is_none_or(|s| s + ctx.resend_delay < ts),
                };
                if !needs {
                    continue;
                }
                a.last_sent_at = Some(ts);
                out.push(crate::notifier::PostableAlert {
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: a.fired_at.unwrap_or(a.active_at),
                    ends_at: a.resolved_at.unwrap_or(ts + valid_for),
                    generator_url: generator_url.clone(),
                });
            }
        }
        out
    }

    /// Prometheus' `RestoreForState`, after the first evaluation since
    /// start-up at `ts`: each pending alert of a rule with a `for` takes its
    /// `activeAt` from the last `ALERTS_FOR_STATE` sample written before
    /// (within the outage tolerance), shifted by the time Strata was down —
    /// or, when less than the grace period of `for` would remain, set so
    /// that exactly the grace period remains.
    pub fn restore_for_state(&mut self, ctx: &EvalContext, ts: SystemTime) {
        let now_ms = ms(ts);
        let query_t = now_ms - self.query_offset.as_millis() as i64;
        let mint = now_ms - ctx.for_outage_tolerance.as_millis() as i64;
        let querier = match ctx.queryable.querier(&ctx.tenant, mint, query_t) {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(group = %self.group.name, error = %e, "restoring alert state");
                return;
            }
        };
        let hints = strata_model::SelectHints {
            start: mint,
            end: query_t,
            ..Default::default()
        };
        for r in &mut self.rules {
            let RuleKind::Alerting { for_, .. } = &r.rule.kind else {
                continue;
            };
            // A `for` shorter than the grace period is simply waited again.
            if for_.is_zero() || *for_ < ctx.for_grace_period {
                continue;
            }
            for a in r.alerts.values_mut() {
                let mut matchers = vec![strata_model::Matcher::equal(
                    METRIC_NAME,
                    "ALERTS_FOR_STATE",
                )];
                matchers.extend(
                    a.labels
                        .iter()
                        .map(|l| strata_model::Matcher::equal(l.name.as_str(), l.value.as_str())),
                );
                let mut last: Option<Sample> = None;
                let Ok(series) = querier.select(&hints, &matchers) else {
                    continue;
                };
                for s in series.flatten() {
                    // Exactly the alert's labels plus the name.
                    if s.labels.len() != a.labels.len() + 1 {
                        continue;
                    }
                    let mut it = s.samples;
                    while let Some(x) = it.next() {
                        // This start's own first sample is not the past.
                        if x.t < query_t && !strata_model::is_stale_nan(x.v) {
                            last = Some(x);
                        }
                    }
                }
                let Some(last) = last else { continue };
                let down_at = SystemTime::UNIX_EPOCH + Duration::from_millis(last.t.max(0) as u64);
                let mut active_at =
                    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(last.v.max(0.0));
                let spent = down_at.duration_since(active_at).unwrap_or_default();
                let remaining = for_.saturating_sub(spent);
                if remaining.is_zero() {
                    // It was firing when Strata went down: it fires again at
                    // once if the condition still holds.
                } else if remaining < ctx.for_grace_period {
                    active_at = ts + ctx.for_grace_period - *for_;
                } else {
                    active_at += ts.duration_since(down_at).unwrap_or_default();
                }
                a.active_at = active_at;
            }
        }
    }

    /// Marks everything the group's rules last wrote stale (the group was
    /// removed by a reload).
    pub fn mark_stale(&mut self, ctx: &EvalContext, ts: SystemTime) {
        let t = ms(ts) - self.query_offset.as_millis() as i64;
        let mut out: Vec<(Labels, Sample)> = Vec::new();
        for r in &mut self.rules {
            for (_, l) in r.written.drain() {
                out.push((l, Sample::new(t, stale())));
            }
        }
        if let Err(e) = write(ctx, &out) {
            tracing::warn!(group = %self.group.name, error = %e, "writing stale markers of a removed group");
        }
    }
}

fn write(ctx: &EvalContext, series: &[(Labels, Sample)]) -> Result<(), EvalError> {
    if series.is_empty() {
        return Ok(());
    }
    let mut batch = WriteBatch::new();
    let mut refs: Vec<LabelRef<'_>> = Vec::new();
    for (l, s) in series {
        refs.clear();
        refs.extend(l.iter().map(|l| LabelRef {
            name: &l.name,
            value: &l.value,
        }));
        batch.push(&refs, std::slice::from_ref(s));
    }
    let report = ctx
        .ingester
        .ingest(&ctx.tenant, &batch)
        .map_err(|e| EvalError(format!("storing the rule's output: {e}")))?;
    if report.rejected_samples > 0
        && let Some(n) = report.named.first()
    {
        return Err(EvalError(format!(
            "storing the rule's output: {} samples refused, e.g. {} ({})",
            report.rejected_samples, n.labels, n.cause
        )));
    }
    Ok(())
}

/// Stale markers at `t` for what the last evaluation wrote and this one
/// (`current`) did not; `current` becomes what was written.
fn end_vanished(
    written: &mut HashMap<u64, Labels>,
    current: HashMap<u64, Labels>,
    t: i64,
    out: &mut Vec<(Labels, Sample)>,
) {
    for (h, l) in written.iter() {
        if !current.contains_key(h) {
            out.push((l.clone(), Sample::new(t, stale())));
        }
    }
    *written = current;
}

/// The instant vector a rule's expression gives at `t` (a scalar is a
/// one-element vector without labels, as Prometheus converts it).
fn query(ctx: &EvalContext, q: &PreparedQuery, t: i64) -> Result<Vec<(Labels, f64)>, EvalError> {
    let out = ctx
        .engine
        .instant_prepared(
            ctx.queryable.as_ref(),
            &ctx.tenant,
            q,
            t,
            &QueryOpts::default(),
        )
        .map_err(|e| EvalError(e.to_string()))?;
    as_vector(out.value)
}

fn as_vector(v: Value) -> Result<Vec<(Labels, f64)>, EvalError> {
    match v {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Scalar { v, .. } => Ok(vec![(Labels::empty(), v)]),
        Value::String { .. } | Value::Matrix(_) => {
            Err(EvalError("rule result is not a vector or scalar".into()))
        }
    }
}

fn label_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

/// What a template's `query` runs: an instant query at the evaluation time
/// `t` (Prometheus gives templates the evaluation time, before any group
/// query offset), with the rule's engine and tenant.
fn template_query(ctx: &EvalContext, t: i64) -> QueryFn {
    let (engine, db, tenant) = (
        ctx.engine.clone(),
        ctx.queryable.clone(),
        ctx.tenant.clone(),
    );
    Arc::new(move |q: &str| {
        let out = engine
            .instant(db.as_ref(), &tenant, q, t, &QueryOpts::default())
            .map_err(|e| e.to_string())?;
        let v = as_vector(out.value).map_err(|e| e.0)?;
        Ok(v.iter()
            .map(|(l, v)| QuerySample {
                labels: label_map(l),
                value: *v,
            })
            .collect())
    })
}

/// Labels with `extra` set over them (the rule's win over the group's,
/// which win over the result's).
fn with_labels(
    base: &Labels,
    group: &BTreeMap<String, String>,
    rule: &BTreeMap<String, String>,
) -> Labels {
    let mut b = base.builder();
    for (k, v) in group.iter().chain(rule.iter()) {
        b.set(k, v);
    }
    b.retain(|l| !l.value.is_empty());
    b.labels()
}

fn evaluate_rule(
    ctx: &EvalContext,
    r: &mut RuleState,
    group_labels: &BTreeMap<String, String>,
    limit: u64,
    ts: SystemTime,
    query_t: i64,
) -> Result<(), EvalError> {
    let Some(q) = &r.query else {
        return Err(EvalError(r.last_error.clone()));
    };
    let vector = query(ctx, q, query_t)?;
    match &r.rule.kind {
        RuleKind::Recording { record } => {
            let mut out: Vec<(Labels, Sample)> = Vec::with_capacity(vector.len());
            let mut current: HashMap<u64, Labels> = HashMap::with_capacity(vector.len());
            for (labels, v) in vector {
                let mut b = with_labels(&labels, group_labels, &r.rule.labels).builder();
                b.set(METRIC_NAME, record);
                let l = b.labels();
                let h = l.hash64();
                if current.insert(h, l.clone()).is_some() {
                    return Err(EvalError(
                        "vector contains metrics with the same labelset after applying rule labels"
                            .into(),
                    ));
                }
                out.push((l, Sample::new(query_t, v)));
            }
            if limit > 0 && out.len() as u64 > limit {
                return Err(EvalError(format!(
                    "exceeded limit of {limit} with {} series",
                    out.len()
                )));
            }
            end_vanished(&mut r.written, current, query_t, &mut out);
            write(ctx, &out)
        }
        RuleKind::Alerting {
            alert,
            for_,
            keep_firing_for,
            annotations,
        } => {
            let mut seen: HashSet<u64> = HashSet::with_capacity(vector.len());
            let tname = format!("__alert_{alert}");
            let hook = template_query(ctx, ms(ts));
            for (labels, v) in vector {
                let mut own = labels.builder();
                own.del(METRIC_NAME);
                let own = own.labels();
                let own_map = label_map(&own);
                let data = TemplateData {
                    labels: &own_map,
                    external_labels: &ctx.external_labels,
                    external_url: &ctx.external_url,
                    value: v,
                    time_ms: ms(ts),
                    query: Some(hook.clone()),
                };
                // As Prometheus: a template that fails leaves its error as
                // the value and a warning; the rule itself stays healthy.
                let expand = |text: &str| match template::expand(&tname, text, &data) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(rule = %alert, error = %e, labels = ?own_map, "expanding alert template failed");
                        format!("<error expanding template: {e}>")
                    }
                };
                let rule_labels: BTreeMap<String, String> = r
                    .rule
                    .labels
                    .iter()
                    .map(|(k, t)| (k.clone(), expand(t)))
                    .collect();
                let expanded: BTreeMap<String, String> = annotations
                    .iter()
                    .map(|(k, t)| (k.clone(), expand(t)))
                    .collect();
                let mut b = with_labels(&own, group_labels, &rule_labels).builder();
                b.set("alertname", alert);
                let l = b.labels();
                let h = l.hash64();
                if !seen.insert(h) {
                    return Err(EvalError(
                        "vector contains metrics with the same labelset after applying alert labels"
                            .into(),
                    ));
                }
                match r.alerts.get_mut(&h) {
                    Some(a) if a.state != AlertState::Inactive => {
                        a.value = v;
                        a.annotations = expanded;
                        a.keep_firing_since = None;
                    }
                    _ => {
                        r.alerts.insert(
                            h,
                            Alert {
                                labels: l,
                                annotations: expanded,
                                state: AlertState::Pending,
                                value: v,
                                active_at: ts,
                                fired_at: None,
                                resolved_at: None,
                                keep_firing_since: None,
                                last_sent_at: None,
                            },
                        );
                    }
                }
            }
            // What the expression no longer returns: pending alerts go,
            // firing ones resolve (after keep_firing_for), resolved ones are
            // kept for notifications, then forgotten.
            r.alerts.retain(|h, a| {
                if seen.contains(h) {
                    return true;
                }
                match a.state {
                    AlertState::Pending => false,
                    AlertState::Firing => {
                        if !keep_firing_for.is_zero() {
                            let since = *a.keep_firing_since.get_or_insert(ts);
                            if ts.duration_since(since).unwrap_or_default() < *keep_firing_for {
                                return true;
                            }
                        }
                        a.state = AlertState::Inactive;
                        a.resolved_at = Some(ts);
                        true
                    }
                    AlertState::Inactive => a.resolved_at.is_some_and(|at| {
                        ts.duration_since(at).unwrap_or_default() < RESOLVED_RETENTION
                    }),
                }
            });
            let active = r
                .alerts
                .values()
                .filter(|a| a.state != AlertState::Inactive)
                .count();
            if limit > 0 && active as u64 > limit {
                r.alerts.clear();
                return Err(EvalError(format!(
                    "exceeded limit of {limit} with {active} alerts"
                )));
            }
            for a in r.alerts.values_mut() {
                if a.state == AlertState::Pending
                    && ts.duration_since(a.active_at).unwrap_or_default() >= *for_
                {
                    a.state = AlertState::Firing;
                    a.fired_at = Some(ts);
                }
            }
            // ALERTS and ALERTS_FOR_STATE for every pending or firing alert.
            let mut out: Vec<(Labels, Sample)> = Vec::new();
            let mut current: HashMap<u64, Labels> = HashMap::new();
            for a in r.alerts.values() {
                if a.state == AlertState::Inactive {
                    continue;
                }
                let mut b = a.labels.builder();
                b.set(METRIC_NAME, "ALERTS");
                b.set("alertstate", a.state.as_str());
                let alerts = b.labels();
                let mut b = a.labels.builder();
                b.set(METRIC_NAME, "ALERTS_FOR_STATE");
                let for_state = b.labels();
                let active_secs = ms(a.active_at) as f64 / 1000.0;
                for (l, v) in [(alerts, 1.0), (for_state, active_secs)] {
                    current.insert(l.hash64(), l.clone());
                    out.push((l, Sample::new(query_t, v)));
                }
            }
            end_vanished(&mut r.written, current, query_t, &mut out);
            write(ctx, &out)
        }
    }
}
