//! The effective configuration printed as YAML, in the shape Prometheus'
//! status page shows (defaults filled in, secrets hidden, empty sections
//! left out).

use crate::config::{
    AlertmanagerConfig, Config, RemoteReadConfig, RemoteWriteConfig, ScrapeConfig,
};
use crate::http::HttpClientConfig;
use crate::relabel::RelabelConfig;
use crate::sd::ServiceDiscovery;
use std::time::Duration;
use strata_model::units::format_duration;

enum Y {
    /// A string, quoted when YAML would read it as something else.
    Str(String),
    /// A scalar printed as is (numbers, booleans, durations).
    Raw(String),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

const SECRET: &str = "<secret>";

fn s(v: &str) -> Y {
    Y::Str(v.to_string())
}
fn d(v: Duration) -> Y {
    Y::Raw(format_duration(v))
}
fn b(v: bool) -> Y {
    Y::Raw(v.to_string())
}
fn n(v: impl ToString) -> Y {
    Y::Raw(v.to_string())
}
fn strs(v: &[String]) -> Y {
    Y::Seq(v.iter().map(|x| s(x)).collect())
}

struct M(Vec<(String, Y)>);

impl M {
    fn new() -> M {
        M(Vec::new())
    }
    fn put(&mut self, k: &str, v: Y) -> &mut Self {
        self.0.push((k.to_string(), v));
        self
    }
    fn put_str(&mut self, k: &str, v: &str) -> &mut Self {
        if !v.is_empty() {
            self.put(k, s(v));
        }
        self
    }
    fn put_nonzero(&mut self, k: &str, v: u64) -> &mut Self {
        if v != 0 {
            self.put(k, n(v));
        }
        self
    }
    fn put_secret(&mut self, k: &str, v: &str) -> &mut Self {
        if !v.is_empty() {
            self.put(k, s(SECRET));
        }
        self
    }
    fn put_seq(&mut self, k: &str, v: Vec<Y>) -> &mut Self {
        if !v.is_empty() {
            self.put(k, Y::Seq(v));
        }
        self
    }
    fn done(self) -> Y {
        Y::Map(self.0)
    }
}

pub(crate) fn config_to_yaml(c: &Config) -> String {
    let mut root = M::new();
    let g = &c.global;
    let mut gm = M::new();
    gm.put("scrape_interval", d(g.scrape_interval))
        .put("scrape_timeout", d(g.scrape_timeout));
    if let Some(p) = &g.scrape_protocols {
        gm.put_seq(
            "scrape_protocols",
            p.iter().map(|p| s(p.as_str())).collect(),
        );
    }
    gm.put("evaluation_interval", d(g.evaluation_interval));
    if !g.rule_query_offset.is_zero() {
        gm.put("rule_query_offset", d(g.rule_query_offset));
    }
    if !g.external_labels.is_empty() {
        gm.put(
            "external_labels",
            Y::Map(
                g.external_labels
                    .iter()
                    .map(|l| (l.name.to_string(), s(&l.value)))
                    .collect(),
            ),
        );
    }
    if g.body_size_limit != 0 {
        gm.put("body_size_limit", Y::Raw(format_bytes(g.body_size_limit)));
    }
    gm.put_nonzero("sample_limit", g.sample_limit)
        .put_nonzero("target_limit", g.target_limit)
        .put_nonzero("label_limit", g.label_limit)
        .put_nonzero("label_name_length_limit", g.label_name_length_limit)
        .put_nonzero("label_value_length_limit", g.label_value_length_limit)
        .put_nonzero("keep_dropped_targets", g.keep_dropped_targets)
        .put(
            "metric_name_validation_scheme",
            s(g.metric_name_validation_scheme.as_str()),
        );
    if let Some(e) = g.metric_name_escaping_scheme {
        gm.put("metric_name_escaping_scheme", s(e.as_str()));
    }
    root.put("global", gm.done());
    if !c.alerting.alertmanagers.is_empty() || !c.alerting.alert_relabel_configs.is_empty() {
        let mut am = M::new();
        am.put_seq(
            "alert_relabel_configs",
            c.alerting
                .alert_relabel_configs
                .iter()
                .map(relabel)
                .collect(),
        );
        am.put_seq(
            "alertmanagers",
            c.alerting.alertmanagers.iter().map(alertmanager).collect(),
        );
        root.put("alerting", am.done());
    }
    root.put_seq("rule_files", c.rule_files.iter().map(|f| s(f)).collect());
    root.put_seq(
        "scrape_config_files",
        c.scrape_config_files.iter().map(|f| s(f)).collect(),
    );
    root.put_seq(
        "scrape_configs",
        c.scrape_configs.iter().map(scrape).collect(),
    );
    root.put_seq(
        "remote_write",
        c.remote_write.iter().map(remote_write).collect(),
    );
    root.put_seq(
        "remote_read",
        c.remote_read.iter().map(remote_read).collect(),
    );
    let mut out = String::new();
    render_map_body(&mut out, &root.0, 0);
    out
}

/// Base-2 sizes printed with the largest exact IEC unit (`10MiB`).
fn format_bytes(v: u64) -> String {
    for (unit, shift) in [
        ("EiB", 60),
        ("PiB", 50),
        ("TiB", 40),
        ("GiB", 30),
        ("MiB", 20),
        ("KiB", 10),
    ] {
        if v.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", v >> shift);
        }
    }
    format!("{v}B")
}

fn relabel(r: &RelabelConfig) -> Y {
    let mut m = M::new();
    if !r.source_labels.is_empty() {
        m.put("source_labels", strs(&r.source_labels));
    }
    m.put("separator", s(&r.separator));
    // Prometheus omits the default regex when it prints a config.
    if !r.regex_is_default() {
        m.put("regex", s(r.regex.as_str()));
    }
    if r.modulus != 0 {
        m.put("modulus", n(r.modulus));
    }
    m.put_str("target_label", &r.target_label);
    m.put("replacement", s(&r.replacement));
    m.put("action", s(r.action.as_str()));
    m.done()
}

fn http_client(m: &mut M, h: &HttpClientConfig) {
    if let Some(ba) = &h.basic_auth {
        let mut x = M::new();
        x.put_str("username", &ba.username)
            .put_str("username_file", &ba.username_file)
            .put_secret("password", &ba.password)
            .put_str("password_file", &ba.password_file);
        m.put("basic_auth", x.done());
    }
    if let Some(a) = &h.authorization {
        let mut x = M::new();
        x.put("type", s(&a.kind))
            .put_secret("credentials", &a.credentials)
            .put_str("credentials_file", &a.credentials_file);
        m.put("authorization", x.done());
    }
    let t = &h.tls_config;
    let mut tls = M::new();
    tls.put_secret("ca", &t.ca)
        .put_str("ca_file", &t.ca_file)
        .put_secret("cert", &t.cert)
        .put_str("cert_file", &t.cert_file)
        .put_secret("key", &t.key)
        .put_str("key_file", &t.key_file)
        .put_str("server_name", &t.server_name)
        .put("insecure_skip_verify", b(t.insecure_skip_verify));
    if let Some(v) = t.min_version {
        tls.put("min_version", s(v.as_str()));
    }
    if let Some(v) = t.max_version {
        tls.put("max_version", s(v.as_str()));
    }
    m.put("tls_config", tls.done());
    m.put("follow_redirects", b(h.follow_redirects));
    m.put("enable_http2", b(h.enable_http2));
    if !h.http_headers.is_empty() {
        let headers = h
            .http_headers
            .iter()
            .map(|(name, hd)| {
                let mut x = M::new();
                x.put_seq("values", hd.values.iter().map(|v| s(v)).collect());
                x.put_seq("secrets", hd.secrets.iter().map(|_| s(SECRET)).collect());
                x.put_seq("files", hd.files.iter().map(|v| s(v)).collect());
                (name.clone(), x.done())
            })
            .collect();
        m.put("http_headers", Y::Map(headers));
    }
}

fn discovery(m: &mut M, sd: &ServiceDiscovery) {
    m.put_seq(
        "file_sd_configs",
        sd.file_sd_configs
            .iter()
            .map(|f| {
                let mut x = M::new();
                x.put("files", strs(&f.files))
                    .put("refresh_interval", d(f.refresh_interval));
                x.done()
            })
            .collect(),
    );
    m.put_seq(
        "http_sd_configs",
        sd.http_sd_configs
            .iter()
            .map(|h| {
                let mut x = M::new();
                http_client(&mut x, &h.http_client);
                x.put("refresh_interval", d(h.refresh_interval))
                    .put("url", s(&h.url));
                x.done()
            })
            .collect(),
    );
    m.put_seq(
        "kubernetes_sd_configs",
        sd.kubernetes_sd_configs
            .iter()
            .map(|k| {
                let mut x = M::new();
                if let Some(a) = &k.api_server {
                    x.put("api_server", s(a));
                }
                x.put("role", s(k.role.as_str()));
                x.put(
                    "kubeconfig_file",
                    s(k.kubeconfig_file.as_deref().unwrap_or("")),
                );
                http_client(&mut x, &k.http_client);
                let mut ns = M::new();
                ns.put("own_namespace", b(k.namespaces.own_namespace));
                if !k.namespaces.names.is_empty() {
                    ns.put("names", strs(&k.namespaces.names));
                }
                x.put("namespaces", ns.done());
                x.put_seq(
                    "selectors",
                    k.selectors
                        .iter()
                        .map(|sel| {
                            let mut y = M::new();
                            y.put("role", s(sel.role.as_str()))
                                .put_str("label", &sel.label)
                                .put_str("field", &sel.field);
                            y.done()
                        })
                        .collect(),
                );
                let a = &k.attach_metadata;
                let mut am = M::new();
                am.put("node", b(a.node))
                    .put("namespace", b(a.namespace))
                    .put("deployment", b(a.deployment))
                    .put("job", b(a.job))
                    .put("cronjob", b(a.cronjob));
                x.put("attach_metadata", am.done());
                x.done()
            })
            .collect(),
    );
    m.put_seq(
        "static_configs",
        sd.static_configs
            .iter()
            .map(|sc| {
                let mut x = M::new();
                x.put("targets", strs(&sc.targets));
                if !sc.labels.is_empty() {
                    x.put(
                        "labels",
                        Y::Map(sc.labels.iter().map(|(k, v)| (k.clone(), s(v))).collect()),
                    );
                }
                x.done()
            })
            .collect(),
    );
}

fn scrape(c: &ScrapeConfig) -> Y {
    let mut m = M::new();
    m.put("job_name", s(&c.job_name));
    if c.honor_labels {
        m.put("honor_labels", b(true));
    }
    m.put("honor_timestamps", b(c.honor_timestamps)).put(
        "track_timestamps_staleness",
        b(c.track_timestamps_staleness),
    );
    if !c.params.is_empty() {
        m.put(
            "params",
            Y::Map(c.params.iter().map(|(k, v)| (k.clone(), strs(v))).collect()),
        );
    }
    m.put("scrape_interval", d(c.scrape_interval))
        .put("scrape_timeout", d(c.scrape_timeout))
        .put(
            "scrape_protocols",
            Y::Seq(c.scrape_protocols.iter().map(|p| s(p.as_str())).collect()),
        );
    if let Some(p) = c.fallback_scrape_protocol {
        m.put("fallback_scrape_protocol", s(p.as_str()));
    }
    m.put("scrape_native_histograms", b(c.scrape_native_histograms))
        .put(
            "always_scrape_classic_histograms",
            b(c.always_scrape_classic_histograms),
        )
        .put(
            "convert_classic_histograms_to_nhcb",
            b(c.convert_classic_histograms_to_nhcb),
        )
        .put("metrics_path", s(&c.metrics_path))
        .put("scheme", s(&c.scheme))
        .put("enable_compression", b(c.enable_compression));
    if c.body_size_limit != 0 {
        m.put("body_size_limit", Y::Raw(format_bytes(c.body_size_limit)));
    }
    m.put_nonzero("sample_limit", c.sample_limit)
        .put_nonzero("target_limit", c.target_limit)
        .put_nonzero("label_limit", c.label_limit)
        .put_nonzero("label_name_length_limit", c.label_name_length_limit)
        .put_nonzero("label_value_length_limit", c.label_value_length_limit)
        .put_nonzero(
            "native_histogram_bucket_limit",
            c.native_histogram_bucket_limit,
        )
        .put_nonzero("keep_dropped_targets", c.keep_dropped_targets)
        .put(
            "metric_name_validation_scheme",
            s(c.metric_name_validation_scheme.as_str()),
        )
        .put(
            "metric_name_escaping_scheme",
            s(c.metric_name_escaping_scheme.as_str()),
        );
    http_client(&mut m, &c.http_client);
    discovery(&mut m, &c.service_discovery);
    m.put_seq(
        "relabel_configs",
        c.relabel_configs.iter().map(relabel).collect(),
    );
    m.put_seq(
        "metric_relabel_configs",
        c.metric_relabel_configs.iter().map(relabel).collect(),
    );
    m.done()
}

fn alertmanager(a: &AlertmanagerConfig) -> Y {
    let mut m = M::new();
    http_client(&mut m, &a.http_client);
    m.put("scheme", s(&a.scheme));
    m.put_str("path_prefix", &a.path_prefix);
    m.put("timeout", d(a.timeout))
        .put("api_version", s(&a.api_version));
    m.put_seq(
        "relabel_configs",
        a.relabel_configs.iter().map(relabel).collect(),
    );
    m.put_seq(
        "alert_relabel_configs",
        a.alert_relabel_configs.iter().map(relabel).collect(),
    );
    discovery(&mut m, &a.service_discovery);
    m.done()
}

fn headers(m: &mut M, h: &std::collections::BTreeMap<String, String>) {
    if !h.is_empty() {
        m.put(
            "headers",
            Y::Map(h.iter().map(|(k, v)| (k.clone(), s(v))).collect()),
        );
    }
}

fn remote_write(r: &RemoteWriteConfig) -> Y {
    let mut m = M::new();
    m.put("url", s(&r.url))
        .put("remote_timeout", d(r.remote_timeout));
    headers(&mut m, &r.headers);
    m.put_seq(
        "write_relabel_configs",
        r.write_relabel_configs.iter().map(relabel).collect(),
    );
    m.put_str("name", &r.name);
    if r.send_exemplars {
        m.put("send_exemplars", b(true));
    }
    if r.send_native_histograms {
        m.put("send_native_histograms", b(true));
    }
    if r.round_robin_dns {
        m.put("round_robin_dns", b(true));
    }
    m.put("protobuf_message", s(r.protobuf_message.as_str()));
    http_client(&mut m, &r.http_client);
    let q = &r.queue_config;
    let mut qm = M::new();
    qm.put("capacity", n(q.capacity))
        .put("max_shards", n(q.max_shards))
        .put("min_shards", n(q.min_shards))
        .put("max_samples_per_send", n(q.max_samples_per_send))
        .put("batch_send_deadline", d(q.batch_send_deadline))
        .put("min_backoff", d(q.min_backoff))
        .put("max_backoff", d(q.max_backoff));
    if q.retry_on_http_429 {
        qm.put("retry_on_http_429", b(true));
    }
    if !q.sample_age_limit.is_zero() {
        qm.put("sample_age_limit", d(q.sample_age_limit));
    }
    m.put("queue_config", qm.done());
    let md = &r.metadata_config;
    let mut mm = M::new();
    mm.put("send", b(md.send))
        .put("send_interval", d(md.send_interval))
        .put("max_samples_per_send", n(md.max_samples_per_send));
    m.put("metadata_config", mm.done());
    m.done()
}

fn remote_read(r: &RemoteReadConfig) -> Y {
    let mut m = M::new();
    m.put("url", s(&r.url))
        .put("remote_timeout", d(r.remote_timeout))
        .put("chunked_read_limit", n(r.chunked_read_limit));
    headers(&mut m, &r.headers);
    if r.read_recent {
        m.put("read_recent", b(true));
    }
    m.put_str("name", &r.name);
    if !r.required_matchers.is_empty() {
        m.put(
            "required_matchers",
            Y::Map(
                r.required_matchers
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v)))
                    .collect(),
            ),
        );
    }
    http_client(&mut m, &r.http_client);
    m.put("filter_external_labels", b(r.filter_external_labels));
    m.done()
}

fn needs_quotes(v: &str) -> bool {
    if v.is_empty() {
        return true;
    }
    const WORDS: [&str; 22] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "True", "False", "TRUE",
        "FALSE", "Yes", "No", "YES", "NO", "On", "Off", "Null", "NULL",
    ];
    if WORDS.contains(&v)
        || v.parse::<f64>().is_ok()
        || v.starts_with(['.', '-', '+']) && v[1..].parse::<f64>().is_ok()
    {
        return true;
    }
    let first_ok = v.starts_with(|c: char| c.is_alphanumeric() || c == '/' || c == '_' || c == '.');
    let plain = v
        .chars()
        .all(|c| c.is_alphanumeric() || "_./:-@+<>=!()^$|*?[]{}\\,".contains(c) || (c == ' '));
    !first_ok
        || !plain
        || v.ends_with(' ')
        || v.contains(": ")
        || v.contains(" #")
        || v.ends_with(':')
        || v.contains(['[', ']', '{', '}', ','])
        || v.starts_with(['*', '!', '&', '?', '|', '>', '%', '@', '`'])
}

fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(y: &Y) -> Option<String> {
    match y {
        Y::Str(v) => Some(if needs_quotes(v) { quote(v) } else { v.clone() }),
        Y::Raw(v) => Some(v.clone()),
        Y::Seq(v) if v.is_empty() => Some("[]".into()),
        Y::Map(v) if v.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn key(k: &str) -> String {
    if needs_quotes(k) {
        quote(k)
    } else {
        k.to_string()
    }
}

fn render_map_body(out: &mut String, entries: &[(String, Y)], indent: usize) {
    let pad = " ".repeat(indent);
    for (k, v) in entries {
        match scalar(v) {
            Some(sv) => out.push_str(&format!("{pad}{}: {sv}\n", key(k))),
            None => {
                out.push_str(&format!("{pad}{}:\n", key(k)));
                match v {
                    Y::Map(m) => render_map_body(out, m, indent + 2),
                    // Sequences sit at the key's indent, as Go's yaml.v2 prints them.
                    Y::Seq(items) => render_seq(out, items, indent),
                    _ => {}
                }
            }
        }
    }
}

fn render_seq(out: &mut String, items: &[Y], indent: usize) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Y::Map(m) if !m.is_empty() => {
                let mut body = String::new();
                render_map_body(&mut body, m, indent + 2);
                // The first line's indent becomes "- ".
                let body = body
                    .strip_prefix(&" ".repeat(indent + 2))
                    .unwrap_or(&body)
                    .to_string();
                out.push_str(&format!("{pad}- {body}"));
            }
            Y::Seq(s) if !s.is_empty() => {
                out.push_str(&format!("{pad}-\n"));
                render_seq(out, s, indent + 2);
            }
            other => {
                let sv = scalar(other).unwrap_or_default();
                out.push_str(&format!("{pad}- {sv}\n"));
            }
        }
    }
}
