//! `/api/v1/rules` and `/api/v1/alerts`, in Prometheus' shapes.

use crate::status::success;
use crate::{ApiError, SharedState};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use strata_rules::{Alert, AlertState, GroupState, RuleKind, RuleState};

use crate::shapes::{NEVER, labels_json, map_json, rfc3339};
use strata_model::format::format_go_e;

fn alert_json(a: &Alert) -> Value {
    let mut o = json!({
        "labels": labels_json(&a.labels),
        "annotations": map_json(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": format_go_e(a.value),
    });
    if let (Some(since), Some(obj)) = (a.keep_firing_since, o.as_object_mut()) {
        obj.insert("keepFiringSince".into(), Value::String(rfc3339(since)));
    }
    o
}

fn active(a: &&Alert) -> bool {
    a.state != AlertState::Inactive
}

fn rule_json(r: &RuleState, exclude_alerts: bool) -> Value {
    let mut o = Map::new();
    let last = r
        .last_evaluation
        .map(rfc3339)
        .unwrap_or_else(|| NEVER.into());
    match &r.rule.kind {
        RuleKind::Alerting {
            alert,
            for_,
            keep_firing_for,
            annotations,
        } => {
            o.insert("state".into(), r.state().as_str().into());
            o.insert("name".into(), alert.clone().into());
            o.insert("query".into(), r.rule.expr.clone().into());
            o.insert("duration".into(), for_.as_secs_f64().into());
            o.insert("keepFiringFor".into(), keep_firing_for.as_secs_f64().into());
            o.insert("labels".into(), map_json(&r.rule.labels));
            o.insert("annotations".into(), map_json(annotations));
            if !exclude_alerts {
                let alerts: Vec<Value> = r.alerts.values().filter(active).map(alert_json).collect();
                o.insert("alerts".into(), alerts.into());
            }
            o.insert("type".into(), "alerting".into());
        }
        RuleKind::Recording { record } => {
            o.insert("name".into(), record.clone().into());
            o.insert("query".into(), r.rule.expr.clone().into());
            o.insert("labels".into(), map_json(&r.rule.labels));
            o.insert("type".into(), "recording".into());
        }
    }
    o.insert("health".into(), r.health.as_str().into());
    if !r.last_error.is_empty() {
        o.insert("lastError".into(), r.last_error.clone().into());
    }
    o.insert(
        "evaluationTime".into(),
        r.evaluation_time.as_secs_f64().into(),
    );
    o.insert("lastEvaluation".into(), last.into());
    Value::Object(o)
}

/// `GET /api/v1/rules` with Prometheus' filters: `type=alert|record`,
/// `rule_name[]`, `group_name[]`, `file[]`, `exclude_alerts`, `match[]`
/// (selectors over the rules' configured labels).
pub async fn rules(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p = crate::params::Params::parse(query.as_deref(), None);
    let kind = p.get("type").unwrap_or("").to_ascii_lowercase();
    if !kind.is_empty() && kind != "alert" && kind != "record" {
        return Err(ApiError::bad_data(format!("not supported value {kind:?}")));
    }
    let names = p.get_all("rule_name[]");
    let groups_wanted = p.get_all("group_name[]");
    let files = p.get_all("file[]");
    let exclude_alerts = match p.get("exclude_alerts") {
        None | Some("") => false,
        Some(v) => v.parse::<bool>().map_err(|_| {
            ApiError::bad_data(format!("parsing exclude_alerts: invalid value {v:?}"))
        })?,
    };
    let mut selectors = Vec::new();
    for m in p.get_all("match[]") {
        selectors.extend(
            strata_promql::selector_matchers(m).map_err(|e| ApiError::bad_data(e.to_string()))?,
        );
    }
    let mut out: Vec<Value> = Vec::new();
    if let Some(manager) = st.rule_manager() {
        for g in manager.groups() {
            let g = g.lock();
            if !groups_wanted.is_empty() && !groups_wanted.contains(&g.group.name.as_str()) {
                continue;
            }
            if !files.is_empty() && !files.contains(&g.file.as_str()) {
                continue;
            }
            let rules: Vec<Value> = g
                .rules
                .iter()
                .filter(|r| {
                    !matches!(
                        (&r.rule.kind, kind.as_str()),
                        (RuleKind::Alerting { .. }, "record")
                            | (RuleKind::Recording { .. }, "alert")
                    )
                })
                .filter(|r| names.is_empty() || names.contains(&r.rule.name()))
                .filter(|r| {
                    selectors.is_empty()
                        || selectors.iter().any(|set| {
                            set.iter().all(|m| {
                                m.matches(r.rule.labels.get(&m.name).map_or("", String::as_str))
                            })
                        })
                })
                .map(|r| rule_json(r, exclude_alerts))
                .collect();
            // Filters that leave a group without rules leave the group out.
            let filtered = !names.is_empty() || !kind.is_empty() || !selectors.is_empty();
            if filtered && rules.is_empty() {
                continue;
            }
            out.push(group_json(&g, rules));
        }
    }
    Ok(success(json!({ "groups": out })))
}

fn group_json(g: &GroupState, rules: Vec<Value>) -> Value {
    json!({
        "name": g.group.name,
        "file": g.file,
        "rules": rules,
        "interval": g.interval.as_secs_f64(),
        "limit": g.group.limit,
        "evaluationTime": g.evaluation_time.as_secs_f64(),
        "lastEvaluation": g.last_evaluation.map(rfc3339).unwrap_or_else(|| NEVER.into()),
    })
}

/// `GET /api/v1/alerts`: every pending and firing alert.
pub async fn alerts(State(st): State<SharedState>) -> Result<Response, ApiError> {
    let mut out: Vec<Value> = Vec::new();
    if let Some(manager) = st.rule_manager() {
        for g in manager.groups() {
            let g = g.lock();
            for r in &g.rules {
                out.extend(r.alerts.values().filter(active).map(alert_json));
            }
        }
    }
    Ok(success(json!({ "alerts": out })))
}
