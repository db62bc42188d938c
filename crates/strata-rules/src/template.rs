//! Alert label and annotation templates: Go text/template as Prometheus runs
//! it (`template/template.go`), on the vendored `gtmpl` (vendor/README.md
//! says what was patched there and why).
//!
//! The text gets Prometheus' prelude (`$labels`, `$externalLabels`,
//! `$externalURL`, `$value`), the data is `.Labels`, `.ExternalLabels`,
//! `.ExternalURL` and `.Value`, and the functions are Prometheus' (`query`,
//! `humanize`…) plus the Go builtins gtmpl lacks or gets wrong (`printf`,
//! `len`, `index`, `html`, `js`, `slice`, `urlquery`), registered here.
//!
//! gtmpl functions are plain `fn` pointers, so what a function needs from
//! the expansion at hand (the query hook, the external URL, the evaluation
//! time) is in a thread-local set for the duration of one render.

use gtmpl::{Context, Func, FuncError, Template, Value};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock};

/// One element of what `query` returns: `.Labels` and `.Value` in a
/// template.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Runs a PromQL instant query for a template's `query` (at the rule's
/// evaluation time); an error becomes the template's.
pub type QueryFn = Arc<dyn Fn(&str) -> Result<Vec<QuerySample>, String> + Send + Sync>;

pub struct TemplateData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
    /// The evaluation time (ms since the epoch), which `now` returns.
    pub time_ms: i64,
    /// What `query` runs; `None`: `query` fails with an error.
    pub query: Option<QueryFn>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// Prometheus' convenience variables, prepended to every text.
const PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Parsed templates by (name, text): alerts are expanded at every
/// evaluation, for every alert, with the same few texts.
static CACHE: LazyLock<Mutex<HashMap<(String, String), Parsed>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Enough for every template of a large rule set; past it the cache starts
/// over rather than tracking use.
const CACHE_LIMIT: usize = 4096;

type Parsed = Result<Arc<Template>, String>;

fn parsed(name: &str, text: &str) -> Parsed {
    let key = (name.to_string(), text.to_string());
    if let Some(p) = CACHE.lock().get(&key) {
        return p.clone();
    }
    let p = parse(name, text);
    let mut cache = CACHE.lock();
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, p.clone());
    p
}

fn parse(name: &str, text: &str) -> Parsed {
    let mut t = Template::with_name(name);
    t.add_funcs(FUNCS);
    // gtmpl is not ours to trust with every input: a panic is an error.
    // Errors as text inside the closure: gtmpl's error types are large.
    let r = catch_unwind(AssertUnwindSafe(|| {
        t.parse(format!("{PRELUDE}{text}"))
            .map_err(|e| e.to_string())
    }));
    match r {
        Ok(Ok(())) => Ok(Arc::new(t)),
        Ok(Err(e)) => Err(e),
        Err(p) => Err(format!("template: {name}: panic: {}", panic_text(&*p))),
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into())
}

/// Checks that `text` parses, as `promtool check rules` does (the error is
/// Go's: `template: NAME:LINE: MESSAGE`).
pub fn check(name: &str, text: &str) -> Result<(), TemplateError> {
    if !text.contains("{{") {
        return Ok(());
    }
    parsed(name, text).map(|_| ()).map_err(TemplateError)
}

/// Expands `text` for one alert.
pub fn expand(name: &str, text: &str, data: &TemplateData<'_>) -> Result<String, TemplateError> {
    // Without an action the output is the text; no parse needed.
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let tmpl = parsed(name, text)
        .map_err(|e| TemplateError(format!("error parsing template {name}: {e}")))?;
    let ctx = Context::from(data_value(data));
    let _env = EnvGuard::set(Env {
        external_url: data.external_url.to_string(),
        time_ms: data.time_ms,
        query: data.query.clone(),
    });
    match catch_unwind(AssertUnwindSafe(|| {
        tmpl.render(&ctx).map_err(|e| e.to_string())
    })) {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(TemplateError(format!(
            "error executing template {name}: {e}"
        ))),
        Err(p) => Err(TemplateError(format!(
            "panic expanding template {name}: {}",
            panic_text(&*p)
        ))),
    }
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Map(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

fn data_value(d: &TemplateData<'_>) -> Value {
    let mut o = HashMap::new();
    o.insert("Labels".to_string(), string_map(d.labels));
    o.insert("ExternalLabels".to_string(), string_map(d.external_labels));
    o.insert("ExternalURL".to_string(), Value::from(d.external_url));
    o.insert("Value".to_string(), Value::from(d.value));
    Value::Object(o)
}

fn sample_value(s: &QuerySample) -> Value {
    let mut o = HashMap::new();
    o.insert("Labels".to_string(), string_map(&s.labels));
    o.insert("Value".to_string(), Value::from(s.value));
    Value::Object(o)
}

struct Env {
    external_url: String,
    time_ms: i64,
    query: Option<QueryFn>,
}

thread_local! {
    static ENV: RefCell<Option<Env>> = const { RefCell::new(None) };
}

/// Sets the thread's [`Env`] and restores the previous one when dropped
/// (also when the render panics).
struct EnvGuard(Option<Env>);

impl EnvGuard {
    fn set(env: Env) -> EnvGuard {
        EnvGuard(ENV.with(|e| e.replace(Some(env))))
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        ENV.with(|e| *e.borrow_mut() = prev);
    }
}

fn with_env<T>(f: impl FnOnce(&Env) -> T) -> Option<T> {
    ENV.with(|e| e.borrow().as_ref().map(f))
}

static FUNCS: &[(&str, Func)] = &[
    // Prometheus'.
    ("query", query as Func),
    ("first", first as Func),
    ("label", label as Func),
    ("value", value as Func),
    ("strvalue", strvalue as Func),
    ("args", args_map as Func),
    ("reReplaceAll", re_replace_all as Func),
    ("match", re_match as Func),
    ("safeHtml", safe_html as Func),
    ("title", title as Func),
    ("toUpper", to_upper as Func),
    ("toLower", to_lower as Func),
    ("graphLink", graph_link as Func),
    ("tableLink", table_link as Func),
    ("sortByLabel", sort_by_label as Func),
    ("stripPort", strip_port as Func),
    ("stripDomain", strip_domain as Func),
    ("humanize", humanize as Func),
    ("humanize1024", humanize1024 as Func),
    ("humanizeDuration", humanize_duration as Func),
    ("humanizePercentage", humanize_percentage as Func),
    ("humanizeTimestamp", humanize_timestamp as Func),
    ("toTime", to_time as Func),
    ("toDuration", to_duration as Func),
    ("now", now as Func),
    ("pathPrefix", path_prefix as Func),
    ("externalURL", external_url as Func),
    ("parseDuration", parse_duration as Func),
    ("urlQueryEscape", url_query_escape as Func),
    // Go's builtins that gtmpl lacks or gets wrong; these names replace
    // gtmpl's.
    ("printf", printf as Func),
    ("len", len as Func),
    ("index", index as Func),
    ("slice", slice as Func),
    ("html", html as Func),
    ("js", js as Func),
    ("urlquery", urlquery as Func),
];

fn fail(func: &str, msg: impl std::fmt::Display) -> FuncError {
    FuncError::Generic(format!("error calling {func}: {msg}"))
}

fn want(args: &[Value], n: usize, func: &str) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::Generic(format!(
            "wrong number of args for {func}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// Go's name of the type a value stands for, for error messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Number(_) if num(v).is_some_and(|(_, float)| float) => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Map(_) => "map[string]string",
        Value::Object(_) => "*template.sample",
        Value::Array(_) => "[]*template.sample",
        Value::Function(_) => "func",
        Value::NoValue | Value::Nil => "<nil>",
    }
}

fn wrong_type(func: &str, want: &str, got: &Value) -> FuncError {
    fail(
        func,
        format!(
            "wrong type for value; expected {want}; got {}",
            type_name(got)
        ),
    )
}

/// A number's value and whether it is a float (Go's float64) rather than
/// an int.
fn num(v: &Value) -> Option<(f64, bool)> {
    let Value::Number(n) = v else { return None };
    if let Some(f) = n.as_f64() {
        Some((f, true))
    } else if let Some(u) = n.as_u64() {
        Some((u as f64, false))
    } else {
        n.as_i64().map(|i| (i as f64, false))
    }
}

fn str_arg<'v>(func: &str, v: &'v Value) -> Result<&'v str, FuncError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(func, "string", other)),
    }
}

/// Prometheus' `ConvertToFloat`: numbers, and strings as
/// `strconv.ParseFloat` reads them.
fn to_float(func: &str, v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Number(_) => num(v)
            .map(|(f, _)| f)
            .ok_or_else(|| fail(func, "bad number")),
        Value::String(s) => parse_go_float(s).ok_or_else(|| {
            fail(
                func,
                format!(
                    "strconv.ParseFloat: parsing {}: invalid syntax",
                    strata_model::labels::quote(s)
                ),
            )
        }),
        other => Err(fail(
            func,
            format!("can't convert {} to float", type_name(other)),
        )),
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    // Rust and Go agree on decimal and exponent forms and on inf, infinity
    // and nan in any case (Go also reads hex floats; these fail here).
    s.parse::<f64>().ok()
}

// --- Prometheus' functions -------------------------------------------------

fn query(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "query")?;
    let q = str_arg("query", &args[0])?;
    let hook = with_env(|e| e.query.clone())
        .flatten()
        .ok_or_else(|| fail("query", "queries are not available here"))?;
    let samples = hook(q).map_err(|e| fail("query", e))?;
    Ok(Value::Array(samples.iter().map(sample_value).collect()))
}

fn first(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "first")?;
    match &args[0] {
        Value::Array(v) => v
            .first()
            .cloned()
            .ok_or_else(|| fail("first", "first() called on vector with no elements")),
        other => Err(wrong_type("first", "[]*template.sample", other)),
    }
}

fn sample_labels<'v>(func: &str, v: &'v Value) -> Result<&'v HashMap<String, Value>, FuncError> {
    match v {
        Value::Object(o) => match o.get("Labels") {
            Some(Value::Map(m)) => Ok(m),
            _ => Err(wrong_type(func, "*template.sample", v)),
        },
        other => Err(wrong_type(func, "*template.sample", other)),
    }
}

fn label_of(m: &HashMap<String, Value>, name: &str) -> String {
    match m.get(name) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn label(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 2, "label")?;
    let name = str_arg("label", &args[0])?;
    Ok(Value::from(label_of(
        sample_labels("label", &args[1])?,
        name,
    )))
}

fn strvalue(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "strvalue")?;
    Ok(Value::from(label_of(
        sample_labels("strvalue", &args[0])?,
        "__value__",
    )))
}

fn value(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "value")?;
    match &args[0] {
        Value::Object(o) if o.contains_key("Labels") => {
            Ok(o.get("Value").cloned().unwrap_or(Value::Nil))
        }
        other => Err(wrong_type("value", "*template.sample", other)),
    }
}

fn args_map(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Map(
        args.iter()
            .enumerate()
            .map(|(i, a)| (format!("arg{i}"), a.clone()))
            .collect(),
    ))
}

fn compile_re(func: &str, pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pattern).map_err(|e| fail(func, e))
}

fn re_replace_all(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 3, "reReplaceAll")?;
    let re = compile_re("reReplaceAll", str_arg("reReplaceAll", &args[0])?)?;
    let repl = str_arg("reReplaceAll", &args[1])?;
    let text = str_arg("reReplaceAll", &args[2])?;
    // The regex crate's `$1`/`${name}`/`$$` expansion is Go's.
    Ok(Value::from(re.replace_all(text, repl).into_owned()))
}

fn re_match(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 2, "match")?;
    let re = compile_re("match", str_arg("match", &args[0])?)?;
    Ok(Value::from(re.is_match(str_arg("match", &args[1])?)))
}

fn safe_html(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "safeHtml")?;
    Ok(Value::from(str_arg("safeHtml", &args[0])?))
}

/// Upper-cases the first letter of each word and leaves the rest
/// (`cases.Title(…, cases.NoLower)`); a word continues across `_`, `'`
/// and a `.`/`:` between letters, as Unicode word breaking has it.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "title")?;
    let s = str_arg("title", &args[0])?;
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let in_word = |j: usize| chars[j].is_alphanumeric() || matches!(chars[j], '_' | '\'' | '’');
        let continues = i > 0
            && (in_word(i - 1)
                || (i > 1 && matches!(chars[i - 1], '.' | ':') && chars[i - 2].is_alphanumeric()));
        if c.is_alphanumeric() && !continues {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    Ok(Value::from(out))
}

fn to_upper(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "toUpper")?;
    Ok(Value::from(str_arg("toUpper", &args[0])?.to_uppercase()))
}

fn to_lower(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "toLower")?;
    Ok(Value::from(str_arg("toLower", &args[0])?.to_lowercase()))
}

fn graph_link(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "graphLink")?;
    let e = str_arg("graphLink", &args[0])?;
    Ok(Value::from(format!(
        "/graph?g0.expr={}&g0.tab=0",
        strata_model::format::query_escape(e)
    )))
}

fn table_link(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "tableLink")?;
    let e = str_arg("tableLink", &args[0])?;
    Ok(Value::from(format!(
        "/graph?g0.expr={}&g0.tab=1",
        strata_model::format::query_escape(e)
    )))
}

fn sort_by_label(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 2, "sortByLabel")?;
    let name = str_arg("sortByLabel", &args[0])?;
    let Value::Array(v) = &args[1] else {
        return Err(wrong_type("sortByLabel", "[]*template.sample", &args[1]));
    };
    let mut keyed = Vec::with_capacity(v.len());
    for s in v {
        keyed.push((label_of(sample_labels("sortByLabel", s)?, name), s.clone()));
    }
    // Stable, as Prometheus' sort.Stable.
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Array(keyed.into_iter().map(|(_, s)| s).collect()))
}

/// Go's `net.SplitHostPort`; `None` where it fails.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let host = if let Some(rest) = hp.strip_prefix('[') {
        let end = rest.find(']')? + 1;
        if end + 1 != i {
            return None;
        }
        &hp[1..end]
    } else {
        let h = &hp[..i];
        if h.contains(':') {
            return None;
        }
        h
    };
    let port = &hp[i + 1..];
    if host.contains(['[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host, port))
}

fn strip_port(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "stripPort")?;
    let hp = str_arg("stripPort", &args[0])?;
    Ok(Value::from(split_host_port(hp).map_or(hp, |(h, _)| h)))
}

fn strip_domain(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "stripDomain")?;
    let hp = str_arg("stripDomain", &args[0])?;
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(Value::from(hp));
    }
    let host = host.split('.').next().unwrap_or(host);
    Ok(Value::from(if port.is_empty() {
        host.to_string()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }))
}

fn humanize(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "humanize")?;
    let mut v = to_float("humanize", &args[0])?;
    if v == 0.0 || !v.is_finite() {
        return Ok(Value::from(go_g(v, Some(4))));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(Value::from(format!("{}{prefix}", go_g(v, Some(4)))))
}

fn humanize1024(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "humanize1024")?;
    let mut v = to_float("humanize1024", &args[0])?;
    if v.abs() <= 1.0 || !v.is_finite() {
        return Ok(Value::from(go_g(v, Some(4))));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(Value::from(format!("{}{prefix}", go_g(v, Some(4)))))
}

fn humanize_duration(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "humanizeDuration")?;
    let mut v = to_float("humanizeDuration", &args[0])?;
    if !v.is_finite() {
        return Ok(Value::from(go_g(v, Some(4))));
    }
    if v == 0.0 {
        return Ok(Value::from(format!("{}s", go_g(v, Some(4)))));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        let s = if days != 0 {
            format!("{sign}{days}d {hours}h {mins}m {secs}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {mins}m {secs}s")
        } else if mins != 0 {
            format!("{sign}{mins}m {secs}s")
        } else {
            format!("{sign}{}s", go_g(v, Some(4)))
        };
        return Ok(Value::from(s));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    Ok(Value::from(format!("{}{prefix}s", go_g(v, Some(4)))))
}

fn humanize_percentage(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "humanizePercentage")?;
    let v = to_float("humanizePercentage", &args[0])?;
    Ok(Value::from(format!("{}%", go_g(v * 100.0, Some(4)))))
}

/// Seconds since the epoch as nanoseconds (Prometheus' `floatToTime`).
fn float_to_nanos(v: f64) -> Result<i64, String> {
    if !v.is_finite() {
        return Err("value is NaN or Inf".into());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            go_g(v, None)
        ));
    }
    Ok(ns as i64)
}

/// Go's `time.Time.String()` of a UTC time.
fn go_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return format!("{ns}ns");
    };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn humanize_timestamp(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "humanizeTimestamp")?;
    let v = to_float("humanizeTimestamp", &args[0])?;
    if !v.is_finite() {
        return Ok(Value::from(go_g(v, Some(4))));
    }
    let ns = float_to_nanos(v).map_err(|e| fail("humanizeTimestamp", e))?;
    Ok(Value::from(go_time(ns)))
}

/// A time as its string: Go's methods on `time.Time` cannot be offered.
fn to_time(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "toTime")?;
    let v = to_float("toTime", &args[0])?;
    let ns = float_to_nanos(v).map_err(|e| fail("toTime", e))?;
    Ok(Value::from(go_time(ns)))
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5s`, `500ms`, `0s`.
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let frac = |n: u64, digits: usize| -> String {
        let f = format!("{n:0digits$}");
        let f = f.trim_end_matches('0');
        if f.is_empty() {
            String::new()
        } else {
            format!(".{f}")
        }
    };
    if u < 1_000_000_000 {
        let (unit, div, digits) = if u < 1_000 {
            ("ns", 1, 0)
        } else if u < 1_000_000 {
            ("µs", 1_000, 3)
        } else {
            ("ms", 1_000_000, 6)
        };
        let f = if digits == 0 {
            String::new()
        } else {
            frac(u % div, digits)
        };
        return format!("{sign}{}{f}{unit}", u / div);
    }
    let secs = u / 1_000_000_000;
    let s = format!("{}{}s", secs % 60, frac(u % 1_000_000_000, 9));
    let (mins, hours) = ((secs / 60) % 60, secs / 3600);
    if hours > 0 {
        format!("{sign}{hours}h{mins}m{s}")
    } else if mins > 0 {
        format!("{sign}{mins}m{s}")
    } else {
        format!("{sign}{s}")
    }
}

/// A duration as its string (see `to_time`).
fn to_duration(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "toDuration")?;
    let v = to_float("toDuration", &args[0])?;
    Ok(Value::from(go_duration((v * 1e9) as i64)))
}

fn now(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 0, "now")?;
    let ms = with_env(|e| e.time_ms).unwrap_or_default();
    Ok(Value::from(ms as f64 / 1000.0))
}

fn external_url_str() -> String {
    with_env(|e| e.external_url.clone()).unwrap_or_default()
}

fn path_prefix(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 0, "pathPrefix")?;
    // Prometheus' external URL path has no trailing slash ("" at the root).
    let path = reqwest::Url::parse(&external_url_str())
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    Ok(Value::from(path))
}

fn external_url(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 0, "externalURL")?;
    Ok(Value::from(external_url_str()))
}

fn parse_duration(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "parseDuration")?;
    let s = str_arg("parseDuration", &args[0])?;
    let (neg, abs) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let d = strata_model::units::parse_duration(abs).map_err(|_| {
        fail(
            "parseDuration",
            format!(
                "not a valid duration string: {}",
                strata_model::labels::quote(s)
            ),
        )
    })?;
    let secs = d.as_secs_f64();
    Ok(Value::from(if neg { -secs } else { secs }))
}

fn url_query_escape(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "urlQueryEscape")?;
    Ok(Value::from(strata_model::format::query_escape(str_arg(
        "urlQueryEscape",
        &args[0],
    )?)))
}

// --- Go's builtins ---------------------------------------------------------

/// Go's `fmt.Sprint`: operands with a space between two that are not
/// strings.
fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::String(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&a.to_string());
    }
    out
}

fn len(args: &[Value]) -> Result<Value, FuncError> {
    want(args, 1, "len")?;
    match &args[0] {
        // Go's len of a string counts bytes.
        Value::String(s) => Ok(Value::from(s.len())),
        Value::Array(a) => Ok(Value::from(a.len())),
        Value::Map(m) | Value::Object(m) => Ok(Value::from(m.len())),
        other => Err(fail("len", format!("len of type {}", type_name(other)))),
    }
}

fn int_arg(func: &str, v: &Value) -> Result<i64, FuncError> {
    match num(v) {
        Some((f, false)) => Ok(f as i64),
        _ => Err(fail(
            func,
            format!("cannot index slice/array with type {}", type_name(v)),
        )),
    }
}

fn index(args: &[Value]) -> Result<Value, FuncError> {
    let Some((item, keys)) = args.split_first() else {
        return Err(FuncError::Generic(
            "wrong number of args for index: want at least 1 got 0".into(),
        ));
    };
    let mut cur = item.clone();
    for k in keys {
        cur = match &cur {
            Value::Array(a) => {
                let i = int_arg("index", k)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| a.get(i))
                    .cloned()
                    .ok_or_else(|| fail("index", format!("index out of range: {i}")))?
            }
            // A missing key is the zero value, "" for Prometheus' maps.
            Value::Map(m) => m
                .get(str_arg("index", k)?)
                .cloned()
                .unwrap_or_else(|| Value::from("")),
            other => {
                return Err(fail(
                    "index",
                    format!("can't index item of type {}", type_name(other)),
                ));
            }
        };
    }
    Ok(cur)
}

fn slice(args: &[Value]) -> Result<Value, FuncError> {
    let Some((item, idx)) = args.split_first() else {
        return Err(FuncError::Generic(
            "wrong number of args for slice: want at least 1 got 0".into(),
        ));
    };
    if idx.len() > 2 {
        return Err(fail("slice", "too many slice indexes"));
    }
    let n = match item {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        other => {
            return Err(fail(
                "slice",
                format!("can't slice item of type {}", type_name(other)),
            ));
        }
    };
    let mut bounds = [0, n];
    for (i, v) in idx.iter().enumerate() {
        let x = int_arg("slice", v)?;
        bounds[i] = usize::try_from(x)
            .ok()
            .filter(|&x| x <= n)
            .ok_or_else(|| fail("slice", format!("index out of range: {x}")))?;
    }
    let [lo, hi] = bounds;
    if lo > hi {
        return Err(fail("slice", format!("invalid slice index: {lo} > {hi}")));
    }
    match item {
        Value::String(s) => s
            .get(lo..hi)
            .map(Value::from)
            .ok_or_else(|| fail("slice", "index inside a multi-byte character")),
        Value::Array(a) => Ok(Value::Array(a[lo..hi].to_vec())),
        _ => Err(fail("slice", "can't slice")),
    }
}

fn html(args: &[Value]) -> Result<Value, FuncError> {
    let s = go_sprint(args);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Ok(Value::from(out))
}

fn js(args: &[Value]) -> Result<Value, FuncError> {
    let s = go_sprint(args);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    Ok(Value::from(out))
}

fn urlquery(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(strata_model::format::query_escape(&go_sprint(
        args,
    ))))
}

fn printf(args: &[Value]) -> Result<Value, FuncError> {
    let Some((format, rest)) = args.split_first() else {
        return Err(FuncError::Generic(
            "wrong number of args for printf: want at least 1 got 0".into(),
        ));
    };
    Ok(Value::from(go_sprintf(str_arg("printf", format)?, rest)))
}

// --- Go's number formatting and fmt verbs -----------------------------------

/// Go's `strconv.FormatFloat(v, 'g', prec, 64)`: `None` is the shortest
/// representation (fmt's `%v`), `Some(p)` is `%.pg`.
fn go_g(v: f64, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let e = match prec {
        None => format!("{:e}", v.abs()),
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
    };
    let Some((mantissa, exp)) = e.split_once('e') else {
        return e;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let eprec = match prec {
        None => 6,
        Some(p) => {
            let p = p.max(1) as i32;
            if p > nd && nd >= dp { nd } else { p }
        }
    };
    let sign = if v < 0.0 { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (head, tail) = digits.split_at(1);
        let dot = if tail.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{head}{dot}{tail}e{esign}{:02}", exp.abs());
    }
    if dp <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= nd {
        format!("{sign}{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        format!("{sign}{int}.{frac}")
    }
}

/// Go's `%e` with a precision: at least two exponent digits.
fn go_e(v: f64, prec: usize, upper: bool) -> String {
    if !v.is_finite() {
        return go_g(v, None);
    }
    let e = format!("{v:.prec$e}");
    let (m, x) = e.split_once('e').unwrap_or((&e, "0"));
    let (esign, xd) = match x.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', x),
    };
    let letter = if upper { 'E' } else { 'e' };
    format!("{m}{letter}{esign}{xd:0>2}")
}

#[derive(Default)]
struct Spec {
    plus: bool,
    minus: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf` for the verbs templates use (`%v %s %d %f %e %g %q
/// %x %X %t %c %b %o %%`, flags `+ - space 0`, width and precision, `*`
/// for either). As in Go, a mismatch is written into the output
/// (`%!d(float64=3)`, `%!s(MISSING)`, `%!(EXTRA …)`), not an error.
fn go_sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars().peekable();
    let mut next_arg = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '+' => spec.plus = true,
                '-' => spec.minus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let star = |next_arg: &mut usize| -> Option<usize> {
            let v = args.get(*next_arg).and_then(num).filter(|(_, f)| !f);
            *next_arg += 1;
            v.map(|(n, _)| n.abs() as usize)
        };
        let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        if chars.peek() == Some(&'*') {
            chars.next();
            spec.width = star(&mut next_arg);
        } else {
            spec.width = digits(&mut chars);
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                spec.prec = star(&mut next_arg);
            } else {
                spec.prec = Some(digits(&mut chars).unwrap_or(0));
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        out.push_str(&format_verb(&spec, verb, arg));
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| format!("{}={}", type_name(a), a))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn format_verb(spec: &Spec, verb: char, arg: &Value) -> String {
    let bad = || format!("%!{verb}({}={arg})", type_name(arg));
    // (body, sign, numeric): numbers zero-pad after their sign.
    let (body, negative, numeric) = match arg {
        Value::Number(_) => {
            let Some((f, is_float)) = num(arg) else {
                return bad();
            };
            let neg = f.is_sign_negative() && !f.is_nan();
            if is_float {
                let a = f.abs();
                let body = match verb {
                    'v' | 'g' => go_g(a, spec.prec),
                    'G' => go_g(a, spec.prec).to_uppercase(),
                    'f' | 'F' if a.is_finite() => format!("{:.*}", spec.prec.unwrap_or(6), a),
                    'e' | 'E' => go_e(a, spec.prec.unwrap_or(6), verb == 'E'),
                    'f' | 'F' => go_g(a, None),
                    _ => return bad(),
                };
                (body, neg, a.is_finite())
            } else {
                let i = match arg {
                    Value::Number(n) => n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)),
                    _ => None,
                }
                .unwrap_or_default();
                let a = i.unsigned_abs();
                let body = match verb {
                    'd' | 'v' => a.to_string(),
                    'b' => format!("{a:b}"),
                    'o' => format!("{a:o}"),
                    'x' => format!("{a:x}"),
                    'X' => format!("{a:X}"),
                    'c' => return pad(spec, char_of(i).to_string()),
                    'q' => return pad(spec, format!("'{}'", char_of(i))),
                    _ => return bad(),
                };
                (body, i < 0, true)
            }
        }
        Value::String(s) => {
            let body = match verb {
                's' | 'v' => match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.clone(),
                },
                'q' => strata_model::labels::quote(s),
                'x' => s.bytes().map(|b| format!("{b:02x}")).collect(),
                'X' => s.bytes().map(|b| format!("{b:02X}")).collect(),
                _ => return bad(),
            };
            return pad(spec, body);
        }
        Value::Bool(b) => {
            return match verb {
                't' | 'v' => pad(spec, b.to_string()),
                _ => bad(),
            };
        }
        Value::NoValue | Value::Nil => {
            return match verb {
                'v' => pad(spec, "<nil>".into()),
                _ => format!("%!{verb}(<nil>)"),
            };
        }
        other => {
            return match verb {
                'v' | 's' => pad(spec, other.to_string()),
                _ => bad(),
            };
        }
    };
    let sign = if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let width = spec.width.unwrap_or(0);
    let len = sign.chars().count() + body.chars().count();
    if numeric && spec.zero && !spec.minus && len < width {
        return format!("{sign}{}{body}", "0".repeat(width - len));
    }
    pad(spec, format!("{sign}{body}"))
}

fn char_of(i: i128) -> char {
    u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}')
}

fn pad(spec: &Spec, s: String) -> String {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= width {
        return s;
    }
    let fill = width - len;
    if spec.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if spec.zero {
        format!("{}{s}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failure should stop the test

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run_with(text: &str, value: f64, query: Option<QueryFn>) -> Result<String, TemplateError> {
        let l = labels(&[("job", "api"), ("instance", "a.example.com:80")]);
        let ext = labels(&[("region", "eu")]);
        let data = TemplateData {
            labels: &l,
            external_labels: &ext,
            external_url: "http://strata.example:9090/prom",
            value,
            time_ms: 1_700_000_000_500,
            query,
        };
        expand("__alert_T", text, &data)
    }

    fn run(text: &str) -> String {
        run_with(text, 0.5, None).unwrap()
    }

    fn err(text: &str) -> String {
        run_with(text, 0.5, None).unwrap_err().to_string()
    }

    fn fake_query() -> QueryFn {
        Arc::new(|q: &str| match q {
            "up" => Ok(vec![
                QuerySample {
                    labels: labels(&[("__name__", "up"), ("instance", "b:9")]),
                    value: 1.0,
                },
                QuerySample {
                    labels: labels(&[("__name__", "up"), ("instance", "a:9")]),
                    value: 0.0,
                },
            ]),
            "none" => Ok(vec![]),
            "str" => Ok(vec![QuerySample {
                labels: labels(&[("__value__", "text")]),
                value: 0.0,
            }]),
            other => Err(format!("bad query {other:?}")),
        })
    }

    #[test]
    fn variables_and_fields() {
        assert_eq!(
            run("{{ $labels.job }} on {{ .Labels.instance }}"),
            "api on a.example.com:80"
        );
        assert_eq!(run("[{{ $labels.nope }}]"), "[]", "missing label is empty");
        assert_eq!(run("{{ $externalLabels.region }}"), "eu");
        assert_eq!(run("{{ $externalURL }}"), "http://strata.example:9090/prom");
        assert_eq!(
            run("{{ $labels }}"),
            "map[instance:a.example.com:80 job:api]"
        );
        assert_eq!(run("no actions"), "no actions");
        assert_eq!(run("{{ $x := \"v\" }}{{ $x }}"), "v");
        assert!(err("{{ .Nope }}").contains("can't evaluate field Nope"));
    }

    #[test]
    fn value_prints_as_go_does() {
        let v = |x: f64| run_with("{{ $value }}", x, None).unwrap();
        assert_eq!(v(3.0), "3");
        assert_eq!(v(0.5), "0.5");
        assert_eq!(v(-0.5), "-0.5");
        assert_eq!(v(1e6), "1e+06");
        assert_eq!(v(123456.0), "123456");
        assert_eq!(v(1e-5), "1e-05");
        assert_eq!(v(f64::NAN), "NaN");
        assert_eq!(v(f64::INFINITY), "+Inf");
        assert_eq!(v(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn control_flow() {
        assert_eq!(
            run("{{ if eq $labels.job \"api\" }}y{{ else }}n{{ end }}"),
            "y"
        );
        assert_eq!(
            run("{{ if gt $value 1.0 }}big{{ else if gt $value 0.1 }}mid{{ else }}small{{ end }}"),
            "mid"
        );
        assert_eq!(
            run_with("{{ if $value }}t{{ else }}f{{ end }}", 0.0, None).unwrap(),
            "f"
        );
        assert_eq!(run("{{ with $labels.job }}<{{ . }}>{{ end }}"), "<api>");
        assert_eq!(
            run("{{ with $labels.nope }}x{{ else }}none{{ end }}"),
            "none"
        );
        assert_eq!(
            run("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"),
            "instance=a.example.com:80;job=api;"
        );
        assert_eq!(
            run("{{ range $externalLabels }}{{ . }}{{ else }}empty{{ end }}"),
            "eu"
        );
        assert_eq!(run("{{ range (args) }}x{{ else }}empty{{ end }}"), "empty");
        assert_eq!(
            run("{{ define \"t\" }}<{{ . }}>{{ end }}{{ template \"t\" $labels.job }}"),
            "<api>"
        );
        assert_eq!(run("a {{- \" b \" -}} c"), "a b c");
        assert_eq!(run("{{/* comment */}}ok"), "ok");
        assert_eq!(run("{{ $labels.job | toUpper | printf \"%s!\" }}"), "API!");
        assert_eq!(
            run("{{ and 1 0 }} {{ or 0 2 }} {{ not true }}"),
            "0 2 false"
        );
    }

    #[test]
    fn printf_verbs() {
        let p = |t: &str| run_with(t, 2.61828, None).unwrap();
        assert_eq!(p("{{ printf \"%.2f\" $value }}"), "2.62");
        assert_eq!(p("{{ printf \"%f\" $value }}"), "2.618280");
        assert_eq!(p("{{ printf \"%v|%g\" $value $value }}"), "2.61828|2.61828");
        assert_eq!(p("{{ printf \"%.3g\" $value }}"), "2.62");
        assert_eq!(p("{{ printf \"%e\" $value }}"), "2.618280e+00");
        assert_eq!(p("{{ printf \"%d\" 42 }}"), "42");
        assert_eq!(
            p("{{ printf \"%5d|%-5d|%05d\" 42 42 -42 }}"),
            "   42|42   |-0042"
        );
        assert_eq!(p("{{ printf \"%+.1f\" $value }}"), "+2.6");
        assert_eq!(p("{{ printf \"%s=%q\" \"a\" \"b\\\"c\" }}"), "a=\"b\\\"c\"");
        assert_eq!(p("{{ printf \"%.1f%%\" 12.34 }}"), "12.3%");
        assert_eq!(
            p("{{ printf \"%x %X %t\" 255 \"hi\" true }}"),
            "ff 6869 true"
        );
        assert_eq!(
            p("{{ printf \"%v\" $labels }}"),
            "map[instance:a.example.com:80 job:api]"
        );
        // Go writes a mismatch into the output.
        assert_eq!(p("{{ printf \"%d\" $value }}"), "%!d(float64=2.61828)");
        assert_eq!(p("{{ printf \"%s %s\" \"a\" }}"), "a %!s(MISSING)");
        assert_eq!(p("{{ printf \"%s\" \"a\" 1 }}"), "a%!(EXTRA int=1)");
        assert_eq!(p("{{ printf \"%.2f\" 1e21 }}"), "1000000000000000000000.00");
        assert_eq!(p("{{ printf \"%.2f\" 0.125 }}"), "0.12");
    }

    #[test]
    fn go_g_matches_strconv() {
        assert_eq!(go_g(1234.5678, Some(4)), "1235");
        assert_eq!(go_g(1.5, Some(4)), "1.5");
        assert_eq!(go_g(1000.0, Some(4)), "1000");
        assert_eq!(go_g(100000.0, Some(4)), "1e+05");
        assert_eq!(go_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(go_g(0.0001234, Some(4)), "0.0001234");
        assert_eq!(go_g(0.00001234, Some(4)), "1.234e-05");
        assert_eq!(go_g(-2.5, None), "-2.5");
        assert_eq!(go_g(1234567.0, None), "1.234567e+06");
        assert_eq!(go_g(0.0, Some(4)), "0");
    }

    #[test]
    fn humanize_family() {
        assert_eq!(run("{{ humanize 1234567.0 }}"), "1.235M");
        assert_eq!(run("{{ humanize 0.0012 }}"), "1.2m");
        assert_eq!(run("{{ humanize 0 }}"), "0");
        assert_eq!(run("{{ humanize 999 }}"), "999");
        assert_eq!(run("{{ humanize \"2048\" }}"), "2.048k", "a string parses");
        assert_eq!(run("{{ humanize1024 1048576.0 }}"), "1Mi");
        assert_eq!(run("{{ humanize1024 0.5 }}"), "0.5");
        assert_eq!(run("{{ humanizePercentage 0.1234567 }}"), "12.35%");
        assert_eq!(run("{{ $value | humanizePercentage }}"), "50%");
        assert_eq!(run("{{ humanizeDuration 899.99 }}"), "14m 59s");
        assert_eq!(run("{{ humanizeDuration 90061 }}"), "1d 1h 1m 1s");
        assert_eq!(run("{{ humanizeDuration 3.5 }}"), "3.5s");
        assert_eq!(run("{{ humanizeDuration 0.25 }}"), "250ms");
        assert_eq!(run("{{ humanizeDuration -90 }}"), "-1m 30s");
        assert_eq!(run("{{ humanizeDuration 0 }}"), "0s");
        assert_eq!(
            run("{{ humanizeTimestamp 1435065584.128 }}"),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            run("{{ humanizeTimestamp 0 }}"),
            "1970-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            run_with("{{ humanize $value }}", f64::NAN, None).unwrap(),
            "NaN"
        );
        assert!(
            err("{{ humanize \"abc\" }}")
                .contains("strconv.ParseFloat: parsing \"abc\": invalid syntax")
        );
        assert!(err("{{ humanize true }}").contains("can't convert bool to float"));
    }

    #[test]
    fn strings_and_regexes() {
        assert_eq!(run("{{ toUpper \"ab\" }}{{ toLower \"CD\" }}"), "ABcd");
        assert_eq!(
            run("{{ title \"hello wORLD foo-bar example.com\" }}"),
            "Hello WORLD Foo-Bar Example.com"
        );
        assert_eq!(
            run("{{ reReplaceAll \"(a+)\" \"<$1>\" \"baaac\" }}"),
            "b<aaa>c"
        );
        assert_eq!(
            run("{{ match \"^a\" \"abc\" }} {{ match \"^b\" \"abc\" }}"),
            "true false"
        );
        assert!(err("{{ match \"(\" \"x\" }}").contains("error calling match"));
        assert_eq!(run("{{ safeHtml \"<b>\" }}"), "<b>");
        assert_eq!(
            run("{{ html \"<a href='x'>&\" }}"),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
        assert_eq!(run("{{ js \"a'b<\" }}"), "a\\'b\\u003C");
        assert_eq!(run("{{ urlquery \"a b&c\" }}"), "a+b%26c");
        assert_eq!(run("{{ urlQueryEscape \"x=1/2\" }}"), "x%3D1%2F2");
        assert_eq!(
            run("{{ graphLink \"up == 0\" }}"),
            "/graph?g0.expr=up+%3D%3D+0&g0.tab=0"
        );
        assert_eq!(run("{{ tableLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=1");
        assert_eq!(run("{{ len \"héllo\" }} {{ len $labels }}"), "6 2");
        assert_eq!(
            run("{{ index $labels \"job\" }}[{{ index $labels \"nope\" }}]"),
            "api[]"
        );
        assert_eq!(run("{{ slice \"abcdef\" 1 3 }}"), "bc");
        assert!(err("{{ slice \"ab\" 1 5 }}").contains("index out of range: 5"));
    }

    #[test]
    fn host_ports() {
        assert_eq!(run("{{ stripPort \"a.example.com:80\" }}"), "a.example.com");
        assert_eq!(run("{{ stripPort \"[::1]:9090\" }}"), "::1");
        assert_eq!(run("{{ stripPort \"nohost\" }}"), "nohost");
        assert_eq!(run("{{ stripDomain $labels.instance }}"), "a:80");
        assert_eq!(run("{{ stripDomain \"a.example.com\" }}"), "a");
        assert_eq!(run("{{ stripDomain \"10.0.0.1:80\" }}"), "10.0.0.1:80");
        assert_eq!(run("{{ stripDomain \"[::1]:80\" }}"), "[::1]:80");
    }

    #[test]
    fn times_urls_and_durations() {
        assert_eq!(run("{{ now }}"), "1.7000000005e+09");
        assert_eq!(run("{{ pathPrefix }}"), "/prom");
        assert_eq!(run("{{ externalURL }}"), "http://strata.example:9090/prom");
        assert_eq!(run("{{ parseDuration \"1h30m\" }}"), "5400");
        assert_eq!(run("{{ parseDuration \"-1m\" }}"), "-60");
        assert_eq!(run("{{ parseDuration \"500ms\" }}"), "0.5");
        assert!(err("{{ parseDuration \"x\" }}").contains("not a valid duration string: \"x\""));
        assert_eq!(
            run("{{ toTime 1435065584.128 }}"),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(run("{{ toDuration 3723.5 }}"), "1h2m3.5s");
        assert_eq!(run("{{ toDuration 0.0015 }}"), "1.5ms");
        assert_eq!(run("{{ toDuration 0 }}"), "0s");
        assert!(err("{{ toTime 1e300 }}").contains("overflows int64"));
        assert!(
            run_with("{{ toTime $value }}", f64::NAN, None)
                .unwrap_err()
                .to_string()
                .contains("value is NaN or Inf")
        );
    }

    #[test]
    fn queries() {
        let q = |t: &str| run_with(t, 0.0, Some(fake_query()));
        assert_eq!(q("{{ query \"up\" | first | value }}").unwrap(), "1");
        assert_eq!(
            q("{{ query \"up\" | first | label \"instance\" }}").unwrap(),
            "b:9"
        );
        assert_eq!(
            q("{{ range query \"up\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}").unwrap(),
            "b:9=1 a:9=0 "
        );
        assert_eq!(
            q("{{ range sortByLabel \"instance\" (query \"up\") }}{{ label \"instance\" . }} {{ end }}").unwrap(),
            "a:9 b:9 "
        );
        assert_eq!(
            q("{{ with query \"none\" }}x{{ else }}nothing{{ end }}").unwrap(),
            "nothing"
        );
        assert_eq!(q("{{ query \"str\" | first | strvalue }}").unwrap(), "text");
        assert_eq!(q("{{ len (query \"up\") }}").unwrap(), "2");
        assert_eq!(
            q("{{ with $x := query \"up\" | first }}{{ $x.Value | humanize }}{{ end }}").unwrap(),
            "1"
        );
        let e = q("{{ query \"none\" | first }}").unwrap_err().to_string();
        assert!(
            e.contains("first() called on vector with no elements"),
            "{e}"
        );
        let e = q("{{ query \"boom\" }}").unwrap_err().to_string();
        assert!(e.starts_with("error executing template __alert_T: "), "{e}");
        assert!(e.contains("bad query \"boom\""), "{e}");
        let e = run_with("{{ query \"up\" }}", 0.0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("queries are not available"), "{e}");
        assert_eq!(run("{{ (args 1 \"b\").arg1 }}"), "b");
    }

    #[test]
    fn errors() {
        let e = err("{{ nofunc }}");
        assert!(
            e.starts_with("error parsing template __alert_T: template: __alert_T:1: "),
            "{e}"
        );
        assert!(e.contains("nofunc"), "{e}");
        let e = check("__alert_A", "{{ $labels.instance ")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "template: __alert_A:1: unclosed action");
        let e = check("__alert_A", "line one\nline two {{ end }}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("template: __alert_A:2: "), "{e}");
        assert!(check("__alert_A", "{{ $undefined }}").is_err());
        assert!(
            check(
                "__alert_A",
                "{{ $labels.job | humanize }} {{ query \"up\" }}"
            )
            .is_ok()
        );
        assert!(check("__alert_A", "plain").is_ok());
        assert!(err("{{ humanize }}").contains("wrong number of args for humanize: want 1 got 0"));
        assert!(err("{{ toUpper 1 }}").contains("expected string; got int"));
        assert!(err("{{ first \"x\" }}").contains("error calling first"));
        // Nothing a template holds may take the caller down.
        for t in [
            "{{ .é }}",
            "{{ é }}",
            "{{ 'ab' }}",
            "{{ ( }}",
            "{{ ) }}",
            "{{ \"x }}",
            "{{ `x }}",
            "{{ $ }}",
            "{{ . . }}",
            "{{ range }}",
            "{{ end }}",
            "{{ else }}",
            "{{ 1e999 }}",
            "{{ 0x }}",
            "{{ printf }}",
            "{{ index }}",
            "{{ template \"nope\" }}",
            "{{- -}}",
            "{{ - }}",
        ] {
            let _ = run_with(t, 1.0, None);
            let _ = check("__alert_X", t);
        }
    }

    #[test]
    fn cache_keeps_results_apart() {
        // The same text under two names, and a cached parse error.
        assert!(
            check("__alert_A", "{{ bad")
                .unwrap_err()
                .to_string()
                .contains("__alert_A")
        );
        assert!(
            check("__alert_B", "{{ bad")
                .unwrap_err()
                .to_string()
                .contains("__alert_B")
        );
        assert!(check("__alert_A", "{{ bad").is_err());
        assert_eq!(run_with("{{ $value }}", 1.0, None).unwrap(), "1");
        assert_eq!(run_with("{{ $value }}", 2.0, None).unwrap(), "2");
    }
}
