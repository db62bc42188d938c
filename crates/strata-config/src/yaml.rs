//! A YAML document as a tree of positioned nodes, and the helpers the
//! config decoders read it with.
//!
//! Prometheus decodes with Go's yaml.v2 in strict mode. Decoding by hand over
//! a positioned tree (rather than serde derive) lets every error carry the
//! node's line, column and field path, lets string fields take any scalar's
//! source text as yaml.v2 does, and lets the `*_sd_configs` keys Strata does
//! not implement be named as unsupported rather than unknown.

use crate::error::{ConfigError, Position};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

pub type Node = Spanned<Value>;

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }
}

/// Deepest nesting of mappings and sequences accepted.
/// Where a node starts in its document.
pub fn position(node: &Node) -> Option<Position> {
    Position::from_location(&node.referenced)
}

pub const MAX_DEPTH: usize = 32;

/// Stack for the parsing thread: debug builds spend ~50 KiB per nesting
/// level; only the pages touched are committed.
const PARSE_STACK_BYTES: usize = 16 << 20;

/// One YAML source: its name for messages and its text (for raw scalars).
pub struct Doc<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl<'a> Doc<'a> {
    /// Parses `text`; an empty document (or only comments) is null.
    pub fn parse(&self) -> Result<Node, ConfigError> {
        let only_comments = self
            .text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---");
        if only_comments {
            return Ok(Spanned::new(
                Value::Null,
                serde_saphyr::Location::UNKNOWN,
                serde_saphyr::Location::UNKNOWN,
            ));
        }
        // The tree is built recursively: its depth is bounded so hostile
        // input cannot exhaust the stack (Prometheus configs nest about 8
        // deep), and the parse runs on its own thread with a known stack, as
        // the caller may be an async worker with a small one.
        let text = self.text;
        let parse = move || {
            let mut budget = serde_saphyr::Budget::default();
            budget.max_depth = MAX_DEPTH;
            let options = serde_saphyr::options! {
                duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
                budget: Some(budget),
            };
            serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|e| {
                (
                    e.location().and_then(|l| Position::from_location(&l)),
                    yaml_message(&e),
                )
            })
        };
        let parsed = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("config-parse".into())
                .stack_size(PARSE_STACK_BYTES)
                .spawn_scoped(scope, parse)
                .map(|handle| handle.join())
        });
        let fail = |pos: Option<Position>, message: String| ConfigError::Yaml {
            file: self.file.to_string(),
            pos,
            message,
        };
        match parsed {
            Ok(Ok(Ok(node))) => Ok(node),
            Ok(Ok(Err((pos, message)))) => Err(fail(pos, message)),
            Ok(Err(_)) => Err(fail(None, "the YAML parser failed".into())),
            Err(e) => Err(fail(None, format!("cannot start the YAML parser: {e}"))),
        }
    }

    pub fn err(&self, node: &Node, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            pos: Position::from_location(&node.referenced),
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The source text of a scalar, as yaml.v2 hands it to a string field
    /// (`job_name: 123` is the string "123").
    fn raw_scalar(&self, node: &Node) -> Option<String> {
        let span = node.referenced.span();
        let (start, len) = (span.byte_offset()?, span.byte_len()?);
        let start = usize::try_from(start).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let raw = self.text.get(start..end)?.trim();
        (!raw.is_empty() && !raw.starts_with('*')).then(|| raw.to_string())
    }

    pub fn string(&self, node: &Node, path: &str) -> Result<String, ConfigError> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Null => Ok(String::new()),
            Value::Bool(b) => Ok(self.raw_scalar(node).unwrap_or_else(|| b.to_string())),
            Value::Int(i) => Ok(self.raw_scalar(node).unwrap_or_else(|| i.to_string())),
            Value::Float(f) => Ok(self.raw_scalar(node).unwrap_or_else(|| f.to_string())),
            Value::Seq(_) => Err(self.err(node, path, "cannot unmarshal a sequence into a string")),
            Value::Map(_) => Err(self.err(node, path, "cannot unmarshal a mapping into a string")),
        }
    }

    pub fn bool(&self, node: &Node, path: &str) -> Result<bool, ConfigError> {
        match &node.value {
            Value::Bool(b) => Ok(*b),
            Value::Null => Ok(false),
            _ => Err(self.err(
                node,
                path,
                format!("cannot unmarshal {} into a boolean", self.describe(node)),
            )),
        }
    }

    /// Unsigned integers (Go `uint`, `int` fields checked by the caller).
    pub fn int(&self, node: &Node, path: &str) -> Result<i128, ConfigError> {
        match &node.value {
            Value::Int(i) => Ok(*i),
            Value::Null => Ok(0),
            // yaml.v2 stores a float into an integer field truncated.
            Value::Float(f) if f.is_finite() && f.abs() < 9.0e18 => Ok(f.trunc() as i128),
            _ => Err(self.err(
                node,
                path,
                format!("cannot unmarshal {} into an integer", self.describe(node)),
            )),
        }
    }

    pub fn uint(&self, node: &Node, path: &str) -> Result<u64, ConfigError> {
        let i = self.int(node, path)?;
        u64::try_from(i)
            .map_err(|_| self.err(node, path, format!("{i} is not a non-negative integer")))
    }

    pub fn float(&self, node: &Node, path: &str) -> Result<f64, ConfigError> {
        match &node.value {
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            Value::Null => Ok(0.0),
            _ => Err(self.err(
                node,
                path,
                format!("cannot unmarshal {} into a number", self.describe(node)),
            )),
        }
    }

    /// Prometheus' `model.Duration`: a string such as `1h30m`.
    pub fn duration(&self, node: &Node, path: &str) -> Result<Duration, ConfigError> {
        if matches!(node.value, Value::Null) {
            return Ok(Duration::ZERO);
        }
        let s = self.string(node, path)?;
        strata_model::units::parse_duration(&s)
            .map_err(|_| self.err(node, path, format!("invalid duration {s:?}")))
    }

    /// `units.Base2Bytes`: `512MB`, `1GiB`, `0`.
    pub fn size(&self, node: &Node, path: &str) -> Result<u64, ConfigError> {
        if matches!(node.value, Value::Null) {
            return Ok(0);
        }
        let s = self.string(node, path)?;
        strata_model::units::parse_base2_bytes(&s).map_err(|_| {
            self.err(
                node,
                path,
                format!("invalid size {s:?} (use e.g. 10MB, 1GiB)"),
            )
        })
    }

    pub fn seq<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [Node], ConfigError> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            Value::Null => Ok(&[]),
            _ => Err(self.err(
                node,
                path,
                format!("cannot unmarshal {} into a list", self.describe(node)),
            )),
        }
    }

    pub fn strings(&self, node: &Node, path: &str) -> Result<Vec<String>, ConfigError> {
        self.seq(node, path)?
            .iter()
            .enumerate()
            .map(|(i, n)| self.string(n, &format!("{path}[{i}]")))
            .collect()
    }

    /// A mapping of scalar keys to values, in document order.
    pub fn entries<'n>(
        &self,
        node: &'n Node,
        path: &str,
    ) -> Result<Vec<(String, &'n Node, &'n Node)>, ConfigError> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| Ok((self.string(k, path)?, k, v)))
                .collect(),
            Value::Null => Ok(Vec::new()),
            _ => Err(self.err(
                node,
                path,
                format!("cannot unmarshal {} into a mapping", self.describe(node)),
            )),
        }
    }

    /// A mapping of strings to strings (label sets, annotations), sorted.
    pub fn string_map(
        &self,
        node: &Node,
        path: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
        let mut out = std::collections::BTreeMap::new();
        for (k, _, v) in self.entries(node, path)? {
            let value = self.string(v, &format!("{path}.{k}"))?;
            out.insert(k, value);
        }
        Ok(out)
    }

    /// Reads a mapping field by field; `finish` reports keys nobody took.
    pub fn fields<'n>(&self, node: &'n Node, path: &str) -> Result<Fields<'n>, ConfigError> {
        let entries = self.entries(node, path)?;
        Ok(Fields {
            path: path.to_string(),
            entries: entries
                .into_iter()
                .map(|(k, kn, v)| (k, kn, v, false))
                .collect(),
        })
    }

    pub fn describe(&self, node: &Node) -> String {
        match &node.value {
            Value::Null => "null".into(),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                format!("{:?}", self.raw_scalar(node).unwrap_or_default())
            }
            Value::Str(s) => format!("string {s:?}"),
            Value::Seq(_) => "a sequence".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }
}

pub struct Fields<'n> {
    pub path: String,
    entries: Vec<(String, &'n Node, &'n Node, bool)>,
}

impl<'n> Fields<'n> {
    /// The value of `key`, None when absent. A present null is returned: yaml.v2
    /// sets a field given null to its zero value (not its default), so
    /// `honor_timestamps: ~` is false; the typed getters read null as zero.
    pub fn take(&mut self, key: &str) -> Option<&'n Node> {
        let e = self.entries.iter_mut().find(|e| e.0 == key)?;
        e.3 = true;
        Some(e.2)
    }

    pub fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Keys not taken, with their key nodes.
    pub fn remaining(&self) -> impl Iterator<Item = (&str, &'n Node)> {
        self.entries
            .iter()
            .filter(|e| !e.3)
            .map(|e| (e.0.as_str(), e.1))
    }

    pub fn finish(self, doc: &Doc<'_>) -> Result<(), ConfigError> {
        if let Some((key, key_node)) = self.remaining().next() {
            let path = self.child(key);
            return Err(doc.err(key_node, &path, format!("unknown field {key:?}")));
        }
        Ok(())
    }
}

fn yaml_message(e: &serde_saphyr::Error) -> String {
    // The rendered error may carry a source snippet over several lines;
    // the first line holds the message.
    let text = e.to_string();
    let mut first = text.lines().next().unwrap_or("invalid YAML").trim();
    first = first.strip_prefix("error: ").unwrap_or(first);
    // The position is printed by ConfigError; drop the library's copy.
    if let Some(rest) = first.strip_prefix("line ")
        && let Some((_, msg)) = rest.split_once(": ")
    {
        first = msg;
    }
    let first = first
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(first);
    if first.contains("multiple YAML documents") || first.contains("multiple documents") {
        return "more than one YAML document: Prometheus reads only the first and ignores the rest; Strata refuses the file".into();
    }
    if first.contains("budget breached: Depth") || first.contains("recursion limit exceeded") {
        return format!("YAML nested deeper than {MAX_DEPTH} levels");
    }
    first.to_string()
}
