//! Relabeling as Prometheus 3 does it (`relabel_configs`,
//! `metric_relabel_configs`, `write_relabel_configs`, `alert_relabel_configs`).
//!
//! Rules run in order over a label set; `keep`/`drop` style rules may drop
//! it. [`process_cow`] does not copy the label set until a rule changes it,
//! so the common metric-relabeling shapes (keep or drop by name) cost a
//! regex fast path and no allocation.

use md5::{Digest, Md5};
use std::borrow::Cow;
use std::fmt;
use strata_model::{Label, Labels, LabelsBuilder, PromRegex};

use crate::error::ConfigError;
use crate::yaml::{Doc, Node, Value};

/// How label names are validated (`metric_name_validation_scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    /// Prometheus 3's default: any non-empty UTF-8 string.
    #[default]
    Utf8,
    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    Legacy,
}

impl NameValidation {
    pub fn as_str(&self) -> &'static str {
        match self {
            NameValidation::Utf8 => "utf8",
            NameValidation::Legacy => "legacy",
        }
    }

    pub fn is_valid_label_name(&self, name: &str) -> bool {
        match self {
            NameValidation::Utf8 => !name.is_empty(),
            NameValidation::Legacy => is_legacy_label_name(name),
        }
    }
}

pub fn is_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A legacy-charset target label that may hold `$1`/`${name}` references
/// (Prometheus' `relabelTargetLegacy`).
fn is_legacy_label_template(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    // The pattern is one or more of: a letter/underscore or a `$` reference,
    // then any word characters. Equivalently: the first element is a
    // letter/underscore or a reference, and the rest are word characters or
    // references.
    let mut first = true;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            let rest = &b[i + 1..];
            if rest.first() == Some(&b'{') {
                let n = rest[1..].iter().take_while(|c| word(**c)).count();
                if n == 0 || rest.get(1 + n) != Some(&b'}') {
                    return false;
                }
                i += 1 + 1 + n + 1;
            } else {
                let n = rest.iter().take_while(|c| word(**c)).count();
                if n == 0 {
                    return false;
                }
                i += 1 + n;
            }
        } else if (first && (c.is_ascii_alphabetic() || c == b'_')) || (!first && word(c)) {
            i += 1;
        } else {
            return false;
        }
        first = false;
    }
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// Action names are case-insensitive, as in Prometheus.
    pub fn parse(s: &str) -> Option<Action> {
        let lower = s.to_ascii_lowercase();
        Action::ALL.into_iter().find(|a| a.as_str() == lower)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const DEFAULT_REGEX: &str = "(.*)";
pub const DEFAULT_SEPARATOR: &str = ";";
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// A relabeling regex, anchored as Prometheus anchors it (`^(?s:re)$`).
#[derive(Clone)]
pub struct RelabelRegex {
    source: String,
    matcher: PromRegex,
    /// With capture groups, for the actions that expand a template.
    captures: regex::Regex,
    /// Capture group names by index, for `$name` references.
    names: Vec<Option<String>>,
}

impl RelabelRegex {
    pub fn new(pattern: &str) -> Result<RelabelRegex, strata_model::MatcherError> {
        let matcher = PromRegex::new(pattern)?;
        let captures = PromRegex::compile_anchored(pattern)?;
        let names = captures
            .capture_names()
            .map(|n| n.map(str::to_string))
            .collect();
        Ok(RelabelRegex {
            source: pattern.to_string(),
            matcher,
            captures,
            names,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.matcher.is_match(s)
    }

    /// Go's `Regexp.Expand` of `template` for the match of `src`, or None
    /// when the regex does not match.
    pub fn expand(&self, template: &str, src: &str) -> Option<String> {
        let mut locs = self.captures.capture_locations();
        self.captures.captures_read(&mut locs, src)?;
        let mut out = String::with_capacity(template.len() + src.len());
        expand_into(&mut out, template, src, &locs, &self.names);
        Some(out)
    }
}

impl fmt::Debug for RelabelRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelabelRegex({:?})", self.source)
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Go's `regexp.Expand`: `$$` is `$`; `$name`/`${name}` takes the longest run
/// of letters, digits and `_` as the name (so `$1x` names group "1x", which
/// does not exist, and expands to nothing); an all-digit name without a
/// leading zero is a group number; a malformed reference is kept literally.
fn expand_into(
    out: &mut String,
    mut template: &str,
    src: &str,
    locs: &regex::CaptureLocations,
    names: &[Option<String>],
) {
    while let Some(dollar) = template.find('$') {
        out.push_str(&template[..dollar]);
        template = &template[dollar + 1..];
        if let Some(rest) = template.strip_prefix('$') {
            out.push('$');
            template = rest;
            continue;
        }
        let Some((name, rest)) = extract_reference(template) else {
            out.push('$');
            continue;
        };
        template = rest;
        let group = match group_number(name) {
            Some(n) => Some(n),
            None => names.iter().position(|n| n.as_deref() == Some(name)),
        };
        if let Some((start, end)) = group.and_then(|g| locs.get(g)) {
            out.push_str(&src[start..end]);
        }
    }
    out.push_str(template);
}

fn extract_reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphabetic() || c.is_numeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let rest = &body[len..];
    if braced {
        let rest = rest.strip_prefix('}')?;
        return Some((name, rest));
    }
    Some((name, rest))
}

fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    if name.len() > 8 {
        return None;
    }
    name.parse().ok()
}

/// One relabeling rule, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub regex: RelabelRegex,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
    pub name_validation: NameValidation,
    /// Whether `regex` was left at its default `(.*)` (enables the
    /// replace fast path Prometheus takes).
    regex_is_default: bool,
}

/// What a rule looked like before validation, for building rules in code.
#[derive(Debug, Clone)]
pub struct RelabelSpec {
    pub source_labels: Vec<String>,
    pub separator: String,
    /// None means the default `(.*)`.
    pub regex: Option<String>,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

impl Default for RelabelSpec {
    fn default() -> Self {
        RelabelSpec {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: None,
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
        }
    }
}

/// Why a relabeling rule is invalid; the messages follow Prometheus'.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    #[error("{0}")]
    Regex(String),
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    TargetRequired(Action),
    #[error("{0:?} is invalid 'target_label' for {1} action")]
    InvalidTarget(String, Action),
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    #[error("{0:?} is invalid 'replacement' for {1} action")]
    InvalidReplacement(String, Action),
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    OnlySourceAndTarget(Action),
    #[error("{0} action requires only 'regex', and no other fields")]
    OnlyRegex(Action),
    #[error("{0:?} is not a valid label name")]
    InvalidSourceLabel(String),
}

impl RelabelConfig {
    /// Validates `spec` as Prometheus' `relabel.Config.Validate` does.
    pub fn new(spec: RelabelSpec, scheme: NameValidation) -> Result<RelabelConfig, RelabelError> {
        for l in &spec.source_labels {
            // Prometheus 3 checks source label names with the UTF-8 scheme
            // whatever the configured one.
            if l.is_empty() {
                return Err(RelabelError::InvalidSourceLabel(l.clone()));
            }
        }
        let regex_is_default = spec.regex.is_none();
        let pattern = spec.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let regex = RelabelRegex::new(pattern).map_err(|e| RelabelError::Regex(e.to_string()))?;
        let action = spec.action;
        let target = spec.target_label.as_str();
        if action == Action::HashMod && spec.modulus == 0 {
            return Err(RelabelError::ZeroModulus);
        }
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(RelabelError::TargetRequired(action));
        }
        let valid_with_vars = |s: &str| match scheme {
            NameValidation::Utf8 => scheme.is_valid_label_name(s),
            NameValidation::Legacy => is_legacy_label_template(s),
        };
        if action == Action::Replace {
            let ok = if target.contains('$') {
                valid_with_vars(target)
            } else {
                scheme.is_valid_label_name(target)
            };
            if !ok {
                return Err(RelabelError::InvalidTarget(target.to_string(), action));
            }
        }
        let equal_or_case = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if equal_or_case && !scheme.is_valid_label_name(target) {
            return Err(RelabelError::InvalidTarget(target.to_string(), action));
        }
        if equal_or_case && spec.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelError::ReplacementNotAllowed(action));
        }
        if action == Action::LabelMap && !valid_with_vars(&spec.replacement) {
            return Err(RelabelError::InvalidReplacement(spec.replacement, action));
        }
        if action == Action::HashMod && !scheme.is_valid_label_name(target) {
            return Err(RelabelError::InvalidTarget(target.to_string(), action));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (!regex_is_default
                || spec.modulus != 0
                || spec.separator != DEFAULT_SEPARATOR
                || spec.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlySourceAndTarget(action));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (!spec.source_labels.is_empty()
                || !target.is_empty()
                || spec.modulus != 0
                || spec.separator != DEFAULT_SEPARATOR
                || spec.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlyRegex(action));
        }
        Ok(RelabelConfig {
            source_labels: spec.source_labels,
            separator: spec.separator,
            regex,
            modulus: spec.modulus,
            target_label: spec.target_label,
            replacement: spec.replacement,
            action,
            name_validation: scheme,
            regex_is_default,
        })
    }

    pub fn regex_is_default(&self) -> bool {
        self.regex_is_default
    }

    /// Reads one rule from YAML.
    pub(crate) fn decode(
        doc: &Doc<'_>,
        node: &Node,
        path: &str,
        scheme: NameValidation,
    ) -> Result<RelabelConfig, ConfigError> {
        let mut f = doc.fields(node, path)?;
        let mut spec = RelabelSpec::default();
        if let Some(n) = f.take("source_labels") {
            spec.source_labels = doc.strings(n, &f.child("source_labels"))?;
            if let Some(i) = spec.source_labels.iter().position(String::is_empty) {
                let p = format!("{}[{i}]", f.child("source_labels"));
                return Err(doc.err(n, &p, "\"\" is not a valid label name"));
            }
        }
        if let Some(n) = f.take("separator") {
            spec.separator = doc.string(n, &f.child("separator"))?;
        }
        let mut regex_node = None;
        if let Some(n) = f.take("regex") {
            // A null regex is the empty regex (Prometheus compiles "").
            spec.regex = Some(doc.string(n, &f.child("regex"))?);
            regex_node = Some(n);
        }
        if let Some(n) = f.take("modulus") {
            spec.modulus = doc.uint(n, &f.child("modulus"))?;
        }
        if let Some(n) = f.take("target_label") {
            spec.target_label = doc.string(n, &f.child("target_label"))?;
        }
        if let Some(n) = f.take("replacement") {
            spec.replacement = doc.string(n, &f.child("replacement"))?;
        }
        let mut action_node = None;
        if let Some(n) = f.take("action") {
            let p = f.child("action");
            let s = doc.string(n, &p)?;
            if s.is_empty() {
                return Err(doc.err(n, &p, "relabel action cannot be empty"));
            }
            spec.action = Action::parse(&s)
                .ok_or_else(|| doc.err(n, &p, format!("unknown relabel action {s:?}")))?;
            action_node = Some(n);
        }
        let fields_path = f.path.clone();
        f.finish(doc)?;
        RelabelConfig::new(spec, scheme).map_err(|e| match (&e, regex_node) {
            (RelabelError::Regex(_), Some(n)) => {
                doc.err(n, &format!("{fields_path}.regex"), e.to_string())
            }
            _ => doc.err(action_node.unwrap_or(node), &fields_path, e.to_string()),
        })
    }
}

/// Decodes a list of rules; a null entry is an error (`what` names the list
/// as Prometheus' message does).
pub(crate) fn decode_list(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    scheme: NameValidation,
    what: &str,
) -> Result<Vec<RelabelConfig>, ConfigError> {
    doc.seq(node, path)?
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = format!("{path}[{i}]");
            if matches!(n.value, Value::Null) {
                return Err(doc.err(n, &p, format!("empty or null {what}")));
            }
            RelabelConfig::decode(doc, n, &p, scheme)
        })
        .collect()
}

/// The label set being relabeled: borrowed until a rule changes it.
enum Work<'a> {
    Borrowed(&'a Labels),
    Owned(LabelsBuilder),
    External(&'a mut LabelsBuilder),
}

impl Work<'_> {
    fn get(&self, name: &str) -> &str {
        match self {
            Work::Borrowed(l) => l.get(name),
            Work::Owned(b) => b.get(name),
            Work::External(b) => b.get(name),
        }
        .unwrap_or("")
    }

    fn builder(&mut self) -> &mut LabelsBuilder {
        if let Work::Borrowed(l) = self {
            *self = Work::Owned(l.builder());
        }
        match self {
            Work::Owned(b) => b,
            Work::External(b) => b,
            Work::Borrowed(_) => unreachable_builder(),
        }
    }

    /// Sets a label, skipping the copy of a borrowed set when the label
    /// already has that value (or is absent and `value` is empty).
    fn builder_set(&mut self, name: &str, value: &str) {
        if self.get(name) != value {
            self.builder().set(name, value);
        }
    }

    fn any_name(&self, f: impl Fn(&str) -> bool) -> bool {
        match self {
            Work::Borrowed(l) => l.iter().any(|l| f(&l.name)),
            Work::Owned(b) => b.iter().any(|l| f(&l.name)),
            Work::External(b) => b.iter().any(|l| f(&l.name)),
        }
    }

    fn snapshot(&self) -> Vec<Label> {
        match self {
            Work::Borrowed(l) => l.as_slice().to_vec(),
            Work::Owned(b) => b.iter().cloned().collect(),
            Work::External(b) => b.iter().cloned().collect(),
        }
    }
}

// `builder` replaces Borrowed before matching, so this arm is dead; it is a
// function (not a panic macro in place) to keep the match total.
#[cold]
fn unreachable_builder() -> ! {
    unreachable!("Work::builder converts Borrowed to Owned first")
}

/// Applies `cfgs` in order. None when a rule drops the label set.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    process_cow(labels, cfgs).map(Cow::into_owned)
}

/// Like [`process`], but returns the input itself when no rule changed it.
pub fn process_cow<'a>(labels: &'a Labels, cfgs: &[RelabelConfig]) -> Option<Cow<'a, Labels>> {
    let mut work = Work::Borrowed(labels);
    for cfg in cfgs {
        if !relabel_one(cfg, &mut work) {
            return None;
        }
    }
    match work {
        Work::Borrowed(l) => Some(Cow::Borrowed(l)),
        Work::Owned(b) => Some(Cow::Owned(b.into_labels())),
        Work::External(_) => unreachable_builder(),
    }
}

/// Applies `cfgs` to a builder in place; false when a rule drops it.
pub fn process_builder(lb: &mut LabelsBuilder, cfgs: &[RelabelConfig]) -> bool {
    let mut work = Work::External(lb);
    cfgs.iter().all(|cfg| relabel_one(cfg, &mut work))
}

fn source_value<'w>(cfg: &RelabelConfig, work: &'w Work<'_>) -> Cow<'w, str> {
    match cfg.source_labels.as_slice() {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(work.get(one)),
        many => {
            let mut s = String::new();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    s.push_str(&cfg.separator);
                }
                s.push_str(work.get(name));
            }
            Cow::Owned(s)
        }
    }
}

fn relabel_one(cfg: &RelabelConfig, work: &mut Work<'_>) -> bool {
    match cfg.action {
        Action::Drop => !cfg.regex.is_match(&source_value(cfg, work)),
        Action::Keep => cfg.regex.is_match(&source_value(cfg, work)),
        Action::DropEqual => work.get(&cfg.target_label) != source_value(cfg, work),
        Action::KeepEqual => work.get(&cfg.target_label) == source_value(cfg, work),
        Action::Replace => {
            // Expand while the source value is still borrowed from the label
            // set; only a change needs the set copied.
            let (target, res) = {
                let val = source_value(cfg, work);
                if val.is_empty()
                    && cfg.regex_is_default
                    && !cfg.target_label.contains('$')
                    && !cfg.replacement.contains('$')
                {
                    work.builder_set(&cfg.target_label, &cfg.replacement);
                    return true;
                }
                // The fast matcher first: most rules match few values.
                if !cfg.regex.is_match(&val) {
                    return true;
                }
                let mut locs = cfg.regex.captures.capture_locations();
                if cfg.regex.captures.captures_read(&mut locs, &val).is_none() {
                    return true;
                }
                let mut target = String::new();
                expand_into(
                    &mut target,
                    &cfg.target_label,
                    &val,
                    &locs,
                    &cfg.regex.names,
                );
                if !cfg.name_validation.is_valid_label_name(&target) {
                    return true;
                }
                let mut res = String::new();
                expand_into(&mut res, &cfg.replacement, &val, &locs, &cfg.regex.names);
                (target, res)
            };
            // An empty result deletes the target, which `set` does too.
            work.builder_set(&target, &res);
            true
        }
        Action::Lowercase => {
            let v = go_lowercase(&source_value(cfg, work));
            work.builder_set(&cfg.target_label, &v);
            true
        }
        Action::Uppercase => {
            let v = go_uppercase(&source_value(cfg, work));
            work.builder_set(&cfg.target_label, &v);
            true
        }
        Action::HashMod => {
            let digest = Md5::digest(source_value(cfg, work).as_bytes());
            let mut last8 = [0u8; 8];
            last8.copy_from_slice(&digest[8..16]);
            let m = u64::from_be_bytes(last8) % cfg.modulus.max(1);
            work.builder_set(&cfg.target_label, &m.to_string());
            true
        }
        Action::LabelMap => {
            if !work.any_name(|n| cfg.regex.is_match(n)) {
                return true;
            }
            let snapshot = work.snapshot();
            let lb = work.builder();
            for l in snapshot {
                if let Some(name) = cfg.regex.expand(&cfg.replacement, &l.name)
                    && !name.is_empty()
                {
                    lb.set(&name, &l.value);
                }
            }
            true
        }
        Action::LabelDrop => {
            if work.any_name(|n| cfg.regex.is_match(n)) {
                work.builder().retain(|l| !cfg.regex.is_match(&l.name));
            }
            true
        }
        Action::LabelKeep => {
            if work.any_name(|n| !cfg.regex.is_match(n)) {
                work.builder().retain(|l| cfg.regex.is_match(&l.name));
            }
            true
        }
    }
}

/// Go's `strings.ToLower`: each rune by its simple mapping (Rust's full
/// mapping of `İ` is two runes; Go's is `i`).
fn go_lowercase(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_lowercase();
            m.next().unwrap_or(c)
        })
        .collect()
}

/// Go's `strings.ToUpper`: runes without a one-rune mapping (`ß`) stay.
fn go_uppercase(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_uppercase();
            match (m.next(), m.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}
