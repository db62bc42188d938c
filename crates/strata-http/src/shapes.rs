//! JSON pieces several endpoints share, in Prometheus' shapes.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use strata_model::Labels;

pub(crate) fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|l| (l.name.to_string(), Value::String(l.value.to_string())))
            .collect::<Map<String, Value>>(),
    )
}

pub(crate) fn map_json(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>(),
    )
}

pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Go's zero `time.Time`, which Prometheus shows for what has not happened
/// yet (a target not scraped, a rule not evaluated).
pub(crate) const NEVER: &str = "0001-01-01T00:00:00Z";
