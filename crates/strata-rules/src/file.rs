//! Rule files as Prometheus reads them (`model/rulefmt`): `groups` of
//! recording and alerting rules, or a Prometheus Operator `PrometheusRule`
//! manifest whose `spec.groups` holds them. Unknown fields and wrong types
//! stop the parse (the YAML reader's positioned error); everything else is
//! validated rule by rule and every problem is reported, as promtool does.

use std::collections::BTreeMap;
use std::time::Duration;
use strata_config::yaml::{self, Doc, Node, Value};
use strata_config::{ConfigError, Position};

/// One rule file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    pub path: String,
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleGroup {
    pub name: String,
    /// `None`: the global `evaluation_interval`.
    pub interval: Option<Duration>,
    /// `None`: the global `rule_query_offset`.
    pub query_offset: Option<Duration>,
    /// Most series (alerts) a rule may produce per evaluation; 0: no limit.
    pub limit: u64,
    /// Added to every rule's output (the rule's own labels win).
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Recording {
        record: String,
    },
    Alerting {
        alert: String,
        for_: Duration,
        keep_firing_for: Duration,
        annotations: BTreeMap<String, String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
    /// Where the rule starts in its file.
    pub position: Option<Position>,
}

impl Rule {
    /// The recorded metric or the alert name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

/// A problem with a rule file.
#[derive(Debug, thiserror::Error)]
pub enum RuleFileError {
    /// Unreadable, not YAML, an unknown field or a wrong type.
    #[error(transparent)]
    Syntax(#[from] ConfigError),
    /// A group or rule that does not validate, in Prometheus' wording:
    /// `file: line:col: group "g", rule 1, "name": message`.
    #[error("{}", render(.file, .position, .group, .rule, .message))]
    Invalid {
        file: String,
        position: Option<Position>,
        group: Option<String>,
        /// The rule's 1-based index in its group and its name.
        rule: Option<(usize, String)>,
        message: String,
    },
}

fn render(
    file: &str,
    pos: &Option<Position>,
    group: &Option<String>,
    rule: &Option<(usize, String)>,
    message: &str,
) -> String {
    let mut s = format!("{file}: ");
    if let Some(p) = pos {
        s.push_str(&format!("{}:{}: ", p.line, p.column));
    }
    if let (Some(g), Some((i, name))) = (group, rule) {
        s.push_str(&format!("group {g:?}, rule {i}, {name:?}: "));
    }
    s.push_str(message);
    s
}

/// Prometheus 3's UTF-8 name rule: any non-empty valid UTF-8 (a Rust string
/// is valid UTF-8 by construction).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
}

/// Reads `path` and parses it ([`parse`]).
pub fn load(path: &std::path::Path) -> Result<RuleFile, Vec<RuleFileError>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| {
        vec![RuleFileError::Syntax(ConfigError::Read {
            file: name.clone(),
            source,
        })]
    })?;
    parse(&text, &name)
}

/// Parses and validates one rule file's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<RuleFile, Vec<RuleFileError>> {
    let doc = Doc { file, text };
    let root = doc.parse().map_err(|e| vec![e.into()])?;
    let mut errors = Vec::new();
    let groups = read_groups(&doc, &root, &mut errors).map_err(|e| vec![e.into()])?;
    if errors.is_empty() {
        Ok(RuleFile {
            path: file.to_string(),
            groups,
        })
    } else {
        Err(errors)
    }
}

/// The groups of a rule file or of a `PrometheusRule` manifest.
fn read_groups(
    doc: &Doc<'_>,
    root: &Node,
    errors: &mut Vec<RuleFileError>,
) -> Result<Vec<RuleGroup>, ConfigError> {
    if matches!(root.value, Value::Null) {
        return Ok(Vec::new());
    }
    let mut top = doc.fields(root, "")?;
    let is_manifest = top
        .take("kind")
        .map(|k| doc.string(k, "kind"))
        .transpose()?
        .is_some_and(|k| k == "PrometheusRule");
    let groups_node = if is_manifest {
        // The manifest's other fields (apiVersion, metadata) are Kubernetes'.
        let Some(spec) = top.take("spec") else {
            return Ok(Vec::new());
        };
        let mut spec_fields = doc.fields(spec, "spec")?;
        let groups = spec_fields.take("groups");
        spec_fields.finish(doc)?;
        groups
    } else {
        let groups = top.take("groups");
        top.finish(doc)?;
        groups
    };
    let Some(groups_node) = groups_node else {
        return Ok(Vec::new());
    };
    let base = if is_manifest { "spec.groups" } else { "groups" };
    let mut out: Vec<RuleGroup> = Vec::new();
    for (gi, gnode) in doc.seq(groups_node, base)?.iter().enumerate() {
        let gpath = format!("{base}[{gi}]");
        let group = read_group(doc, gnode, &gpath, errors)?;
        let at = yaml::position(gnode);
        let invalid = |message: String| RuleFileError::Invalid {
            file: doc.file.to_string(),
            position: at,
            group: None,
            rule: None,
            message,
        };
        if group.name.is_empty() {
            errors.push(invalid("Groupname must not be empty".into()));
        }
        if out.iter().any(|g| g.name == group.name) {
            errors.push(invalid(format!(
                "groupname: {:?} is repeated in the same file",
                group.name
            )));
        }
        for k in group.labels.keys() {
            if !valid_name(k) || k == strata_model::METRIC_NAME {
                errors.push(invalid(format!("invalid label name: {k}")));
            }
        }
        out.push(group);
    }
    Ok(out)
}

fn read_group(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    errors: &mut Vec<RuleFileError>,
) -> Result<RuleGroup, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let name = match f.take("name") {
        Some(n) => doc.string(n, &f.child("name"))?,
        None => String::new(),
    };
    let interval = f
        .take("interval")
        .map(|n| doc.duration(n, &f.child("interval")))
        .transpose()?
        .filter(|d| !d.is_zero());
    let query_offset = f
        .take("query_offset")
        .map(|n| doc.duration(n, &f.child("query_offset")))
        .transpose()?;
    let limit = match f.take("limit") {
        Some(n) => {
            let v = doc.int(n, &f.child("limit"))?;
            u64::try_from(v.max(0)).unwrap_or(u64::MAX)
        }
        None => 0,
    };
    let labels = match f.take("labels") {
        Some(n) => doc.string_map(n, &f.child("labels"))?,
        None => BTreeMap::new(),
    };
    let rule_nodes: Vec<Node> = match f.take("rules") {
        Some(n) => doc.seq(n, &f.child("rules"))?.to_vec(),
        None => Vec::new(),
    };
    let rules_path = f.child("rules");
    f.finish(doc)?;
    let mut rules = Vec::with_capacity(rule_nodes.len());
    for (ri, rnode) in rule_nodes.iter().enumerate() {
        if let Some(rule) = read_rule(
            doc,
            rnode,
            &format!("{rules_path}[{ri}]"),
            &name,
            ri + 1,
            errors,
        )? {
            rules.push(rule);
        }
    }
    Ok(RuleGroup {
        name,
        interval,
        query_offset,
        limit,
        labels,
        rules,
    })
}

/// One rule; `None` (with its problems in `errors`) when it does not
/// validate.
fn read_rule(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    group: &str,
    index: usize,
    errors: &mut Vec<RuleFileError>,
) -> Result<Option<Rule>, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let mut text = |key: &str| -> Result<Option<(String, Node)>, ConfigError> {
        match f.take(key) {
            Some(n) => Ok(Some((doc.string(n, &f.child(key))?, n.clone()))),
            None => Ok(None),
        }
    };
    let record = text("record")?.filter(|(s, _)| !s.is_empty());
    let alert = text("alert")?.filter(|(s, _)| !s.is_empty());
    let expr = text("expr")?;
    let for_ = f
        .take("for")
        .map(|n| doc.duration(n, &f.child("for")))
        .transpose()?
        .unwrap_or_default();
    let keep_firing_for = f
        .take("keep_firing_for")
        .map(|n| doc.duration(n, &f.child("keep_firing_for")))
        .transpose()?
        .unwrap_or_default();
    let labels = match f.take("labels") {
        Some(n) => doc.string_map(n, &f.child("labels"))?,
        None => BTreeMap::new(),
    };
    let annotations = match f.take("annotations") {
        Some(n) => doc.string_map(n, &f.child("annotations"))?,
        None => BTreeMap::new(),
    };
    f.finish(doc)?;

    let name = record
        .as_ref()
        .or(alert.as_ref())
        .map(|(s, _)| s.clone())
        .unwrap_or_default();
    let before = errors.len();
    let mut fail = |at: Option<&Node>, message: String| {
        errors.push(RuleFileError::Invalid {
            file: doc.file.to_string(),
            position: at.and_then(yaml::position).or_else(|| yaml::position(node)),
            group: Some(group.to_string()),
            rule: Some((index, name.clone())),
            message,
        })
    };
    match (&record, &alert) {
        (Some((_, r)), Some(_)) => fail(
            Some(r),
            "only one of 'record' and 'alert' must be set".into(),
        ),
        (None, None) => fail(None, "one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    match &expr {
        Some((e, n)) if !e.is_empty() => {
            if let Err(err) = strata_promql::check_expr(e) {
                fail(Some(n), format!("could not parse expression: {err}"));
            }
        }
        Some((_, n)) => fail(Some(n), "field 'expr' must be set in rule".into()),
        None => fail(None, "field 'expr' must be set in rule".into()),
    }
    if let Some((r, rn)) = &record {
        if !annotations.is_empty() {
            fail(
                Some(rn),
                "invalid field 'annotations' in recording rule".into(),
            );
        }
        if !for_.is_zero() {
            fail(Some(rn), "invalid field 'for' in recording rule".into());
        }
        if !keep_firing_for.is_zero() {
            fail(
                Some(rn),
                "invalid field 'keep_firing_for' in recording rule".into(),
            );
        }
        if !valid_name(r) {
            fail(Some(rn), format!("invalid recording rule name: {r}"));
        }
        // A PromQL selector pasted as the name is the common mistake.
        if r.contains('{') || r.contains('}') {
            fail(
                Some(rn),
                format!("braces present in the recording rule name; should it be in expr?: {r}"),
            );
        }
    }
    for k in labels.keys() {
        if !valid_name(k) || k == strata_model::METRIC_NAME {
            fail(None, format!("invalid label name: {k}"));
        }
    }
    for k in annotations.keys() {
        if !valid_name(k) {
            fail(None, format!("invalid annotation name: {k}"));
        }
    }
    // Alert templates must parse (Prometheus' testTemplateParsing).
    if let Some((a, _)) = &alert {
        let tname = format!("__alert_{a}");
        for (k, v) in &labels {
            if let Err(e) = crate::template::check(&tname, v) {
                fail(None, format!("label {k:?}: {e}"));
            }
        }
        for (k, v) in &annotations {
            if let Err(e) = crate::template::check(&tname, v) {
                fail(None, format!("annotation {k:?}: {e}"));
            }
        }
    }
    if errors.len() > before {
        return Ok(None);
    }
    let kind = match (record, alert) {
        (Some((record, _)), None) => RuleKind::Recording { record },
        (None, Some((alert, _))) => RuleKind::Alerting {
            alert,
            for_,
            keep_firing_for,
            annotations,
        },
        _ => return Ok(None),
    };
    Ok(Some(Rule {
        kind,
        expr: expr.map(|(e, _)| e).unwrap_or_default(),
        labels,
        position: yaml::position(node),
    }))
}
