//! Service discovery sections of scrape and Alertmanager configs.
//!
//! Strata implements static, file, HTTP and Kubernetes discovery. Every other
//! `*_sd_configs` key Prometheus knows is refused by name, so a config that
//! relies on one never silently discovers nothing.

use crate::error::ConfigError;
use crate::http::HttpClientConfig;
use crate::yaml::{Doc, Fields, Node, Value};
use std::path::Path;
use std::time::Duration;
use strata_model::{Label, Labels};

/// `<name>_sd_configs` keys Prometheus 3 accepts and Strata does not.
pub const UNSUPPORTED_SD: [&str; 33] = [
    "aws",
    "azure",
    "consul",
    "digitalocean",
    "docker",
    "dockerswarm",
    "dns",
    "ec2",
    "ecs",
    "elasticache",
    "eureka",
    "gce",
    "hetzner",
    "ionos",
    "kuma",
    "lightsail",
    "linode",
    "marathon",
    "msk",
    "nerve",
    "nomad",
    "oci",
    "openstack",
    "outscale",
    "ovhcloud",
    "puppetdb",
    "rds",
    "scaleway",
    "serverset",
    "stackit",
    "triton",
    "uyuni",
    "vultr",
];

/// A `static_configs` entry: each target becomes a target with
/// `__address__` set, plus the group's labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    /// May hold empty values, as Prometheus' `model.LabelSet` does; they
    /// mean "unset" once merged into a target's labels.
    pub labels: Vec<(String, String)>,
}

impl StaticConfig {
    /// The group's labels as a label set (empty values dropped).
    pub fn label_set(&self) -> Labels {
        Labels::new(
            self.labels
                .iter()
                .map(|(n, v)| Label::new(n.clone(), v.clone()))
                .collect(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSdConfig {
    /// Glob patterns, joined to the config file's directory when relative.
    pub files: Vec<String>,
    pub refresh_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSdConfig {
    pub url: String,
    pub refresh_interval: Duration,
    pub http_client: HttpClientConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KubernetesRole {
    Pod,
    Endpoints,
    EndpointSlice,
    Service,
    Node,
    Ingress,
}

impl KubernetesRole {
    pub fn parse(s: &str) -> Option<KubernetesRole> {
        Some(match s {
            "pod" => KubernetesRole::Pod,
            "endpoints" => KubernetesRole::Endpoints,
            "endpointslice" => KubernetesRole::EndpointSlice,
            "service" => KubernetesRole::Service,
            "node" => KubernetesRole::Node,
            "ingress" => KubernetesRole::Ingress,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            KubernetesRole::Pod => "pod",
            KubernetesRole::Endpoints => "endpoints",
            KubernetesRole::EndpointSlice => "endpointslice",
            KubernetesRole::Service => "service",
            KubernetesRole::Node => "node",
            KubernetesRole::Ingress => "ingress",
        }
    }

    /// Which selector roles a discovery role may use (Prometheus'
    /// `allowedSelectors`).
    fn allowed_selectors(&self) -> &'static [KubernetesRole] {
        use KubernetesRole::*;
        match self {
            Pod => &[Pod, Node],
            Service => &[Service],
            EndpointSlice => &[Pod, Service, EndpointSlice],
            Endpoints => &[Pod, Service, Endpoints],
            Node => &[Node],
            Ingress => &[Ingress],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSelector {
    pub role: KubernetesRole,
    pub label: String,
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubernetesNamespaces {
    pub own_namespace: bool,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubernetesAttachMetadata {
    pub node: bool,
    pub namespace: bool,
    pub deployment: bool,
    pub job: bool,
    pub cronjob: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSdConfig {
    pub role: KubernetesRole,
    pub api_server: Option<String>,
    pub kubeconfig_file: Option<String>,
    pub namespaces: KubernetesNamespaces,
    pub selectors: Vec<KubernetesSelector>,
    pub attach_metadata: KubernetesAttachMetadata,
    pub http_client: HttpClientConfig,
}

/// All discovery configured for one job or Alertmanager set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceDiscovery {
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub http_sd_configs: Vec<HttpSdConfig>,
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
}

impl ServiceDiscovery {
    pub(crate) fn take(
        doc: &Doc<'_>,
        f: &mut Fields<'_>,
        base_dir: &Path,
    ) -> Result<ServiceDiscovery, ConfigError> {
        for name in UNSUPPORTED_SD {
            let key = format!("{name}_sd_configs");
            if let Some(n) = f.take(&key) {
                return Err(doc.err(
                    n,
                    &f.child(&key),
                    format!("{name} service discovery ({key}) is not supported by Strata"),
                ));
            }
        }
        let mut sd = ServiceDiscovery::default();
        if let Some(n) = f.take("static_configs") {
            let p = f.child("static_configs");
            for (i, item) in doc.seq(n, &p)?.iter().enumerate() {
                let ip = format!("{p}[{i}]");
                if matches!(item.value, Value::Null) {
                    return Err(doc.err(item, &ip, "empty or null section in static_configs"));
                }
                sd.static_configs.push(decode_static(doc, item, &ip)?);
            }
        }
        if let Some(n) = f.take("file_sd_configs") {
            let p = f.child("file_sd_configs");
            for (i, item) in doc.seq(n, &p)?.iter().enumerate() {
                sd.file_sd_configs
                    .push(decode_file_sd(doc, item, &format!("{p}[{i}]"), base_dir)?);
            }
        }
        if let Some(n) = f.take("http_sd_configs") {
            let p = f.child("http_sd_configs");
            for (i, item) in doc.seq(n, &p)?.iter().enumerate() {
                sd.http_sd_configs
                    .push(decode_http_sd(doc, item, &format!("{p}[{i}]"), base_dir)?);
            }
        }
        if let Some(n) = f.take("kubernetes_sd_configs") {
            let p = f.child("kubernetes_sd_configs");
            for (i, item) in doc.seq(n, &p)?.iter().enumerate() {
                sd.kubernetes_sd_configs.push(decode_kubernetes_sd(
                    doc,
                    item,
                    &format!("{p}[{i}]"),
                    base_dir,
                )?);
            }
        }
        Ok(sd)
    }

    /// Prometheus refuses a static target that looks like a URL when no
    /// relabeling could rewrite it.
    pub(crate) fn check_static_targets(&self) -> Result<(), String> {
        for sc in &self.static_configs {
            for t in &sc.targets {
                if t.contains('/') {
                    return Err(format!("{t:?} is not a valid hostname"));
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn decode_label_set(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, key, value) in doc.entries(node, path)? {
        // Prometheus 3 validates these names with the UTF-8 scheme.
        if name.is_empty() {
            return Err(doc.err(key, path, format!("{name:?} is not a valid label name")));
        }
        let v = doc.string(value, &format!("{path}.{name}"))?;
        out.push((name, v));
    }
    Ok(out)
}

fn decode_static(doc: &Doc<'_>, node: &Node, path: &str) -> Result<StaticConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let mut sc = StaticConfig::default();
    if let Some(n) = f.take("targets") {
        sc.targets = doc.strings(n, &f.child("targets"))?;
    }
    if let Some(n) = f.take("labels") {
        sc.labels = decode_label_set(doc, n, &f.child("labels"))?;
    }
    f.finish(doc)?;
    Ok(sc)
}

/// Prometheus' `patFileSDName`: `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn valid_file_sd_name(name: &str) -> bool {
    let ext_ok = ["json", "yml", "yaml", "JSON", "YML", "YAML"]
        .iter()
        .any(|e| {
            name.len() > e.len()
                && name.ends_with(e)
                && name.as_bytes()[name.len() - e.len() - 1] == b'.'
        });
    if !ext_ok {
        return false;
    }
    match name.find('*') {
        None => true,
        // After the first `*` anything but `/` may follow (more `*` too).
        Some(star) => !name[star + 1..].contains('/'),
    }
}

fn join_dir(base: &Path, file: &str) -> String {
    if file.is_empty() || Path::new(file).is_absolute() {
        file.to_string()
    } else {
        base.join(file).to_string_lossy().into_owned()
    }
}

fn decode_file_sd(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    base_dir: &Path,
) -> Result<FileSdConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let mut files = Vec::new();
    let mut refresh_interval = Duration::from_secs(300);
    if let Some(n) = f.take("files") {
        files = doc.strings(n, &f.child("files"))?;
    }
    if let Some(n) = f.take("refresh_interval") {
        refresh_interval = doc.duration(n, &f.child("refresh_interval"))?;
    }
    f.finish(doc)?;
    if files.is_empty() {
        return Err(doc.err(
            node,
            path,
            "file service discovery config must contain at least one path name",
        ));
    }
    for name in &files {
        if !valid_file_sd_name(name) {
            return Err(doc.err(
                node,
                path,
                format!("path name {name:?} is not valid for file discovery"),
            ));
        }
    }
    Ok(FileSdConfig {
        files: files.iter().map(|f| join_dir(base_dir, f)).collect(),
        refresh_interval,
    })
}

/// The scheme and host of an absolute URL, as Go's `url.Parse` splits them
/// for the checks Prometheus makes (not a general URL parser).
pub(crate) fn url_scheme_host(url: &str) -> (String, String) {
    let Some((scheme, rest)) = url.split_once("://") else {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        let valid = !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        return (
            if valid {
                scheme.to_ascii_lowercase()
            } else {
                String::new()
            },
            String::new(),
        );
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (scheme.to_ascii_lowercase(), host.to_string())
}

fn decode_http_sd(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    base_dir: &Path,
) -> Result<HttpSdConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let mut url = String::new();
    let mut refresh_interval = Duration::from_secs(60);
    if let Some(n) = f.take("url") {
        url = doc.string(n, &f.child("url"))?;
    }
    if let Some(n) = f.take("refresh_interval") {
        refresh_interval = doc.duration(n, &f.child("refresh_interval"))?;
    }
    let http_client =
        HttpClientConfig::take(doc, &mut f, node, base_dir, HttpClientConfig::default())?;
    f.finish(doc)?;
    if url.is_empty() {
        return Err(doc.err(node, path, "URL is missing"));
    }
    let (scheme, host) = url_scheme_host(&url);
    if scheme != "http" && scheme != "https" {
        return Err(doc.err(
            node,
            &format!("{path}.url"),
            "URL scheme must be 'http' or 'https'",
        ));
    }
    if host.is_empty() {
        return Err(doc.err(node, &format!("{path}.url"), "host is missing in URL"));
    }
    Ok(HttpSdConfig {
        url,
        refresh_interval,
        http_client,
    })
}

fn decode_kubernetes_sd(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    base_dir: &Path,
) -> Result<KubernetesSdConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    const ROLES: &str = "one of: pod, service, endpoints, endpointslice, node, ingress";
    let role = match f.take("role") {
        Some(n) => {
            let p = f.child("role");
            let s = doc.string(n, &p)?;
            if s.is_empty() {
                return Err(doc.err(n, &p, format!("role missing ({ROLES})")));
            }
            KubernetesRole::parse(&s)
                .ok_or_else(|| doc.err(n, &p, format!("unknown Kubernetes SD role {s:?}")))?
        }
        None => return Err(doc.err(node, path, format!("role missing ({ROLES})"))),
    };
    let mut api_server = None;
    if let Some(n) = f.take("api_server") {
        let p = f.child("api_server");
        let s = doc.string(n, &p)?;
        if !s.is_empty() {
            api_server = Some(s);
        }
    }
    let mut kubeconfig_file = None;
    if let Some(n) = f.take("kubeconfig_file") {
        let s = doc.string(n, &f.child("kubeconfig_file"))?;
        if !s.is_empty() {
            kubeconfig_file = Some(join_dir(base_dir, &s));
        }
    }
    let mut namespaces = KubernetesNamespaces::default();
    if let Some(n) = f.take("namespaces") {
        let p = f.child("namespaces");
        let mut nf = doc.fields(n, &p)?;
        if let Some(x) = nf.take("own_namespace") {
            namespaces.own_namespace = doc.bool(x, &nf.child("own_namespace"))?;
        }
        if let Some(x) = nf.take("names") {
            namespaces.names = doc.strings(x, &nf.child("names"))?;
        }
        nf.finish(doc)?;
    }
    let mut selector_nodes = Vec::new();
    if let Some(n) = f.take("selectors") {
        let p = f.child("selectors");
        for (i, item) in doc.seq(n, &p)?.iter().enumerate() {
            let ip = format!("{p}[{i}]");
            let mut sf = doc.fields(item, &ip)?;
            let mut role_s = String::new();
            let mut label = String::new();
            let mut field = String::new();
            if let Some(x) = sf.take("role") {
                role_s = doc.string(x, &sf.child("role"))?;
            }
            if let Some(x) = sf.take("label") {
                label = doc.string(x, &sf.child("label"))?;
            }
            if let Some(x) = sf.take("field") {
                field = doc.string(x, &sf.child("field"))?;
            }
            sf.finish(doc)?;
            selector_nodes.push((item, ip, role_s, label, field));
        }
    }
    let mut attach_metadata = KubernetesAttachMetadata::default();
    if let Some(n) = f.take("attach_metadata") {
        let p = f.child("attach_metadata");
        let mut af = doc.fields(n, &p)?;
        for (key, slot) in [
            ("node", &mut attach_metadata.node),
            ("namespace", &mut attach_metadata.namespace),
            ("deployment", &mut attach_metadata.deployment),
            ("job", &mut attach_metadata.job),
            ("cronjob", &mut attach_metadata.cronjob),
        ] {
            if let Some(x) = af.take(key) {
                *slot = doc.bool(x, &af.child(key))?;
            }
        }
        af.finish(doc)?;
    }
    let http_client =
        HttpClientConfig::take(doc, &mut f, node, base_dir, HttpClientConfig::default())?;
    f.finish(doc)?;

    let custom_http = http_client != HttpClientConfig::default();
    let fail = |m: &str| Err(doc.err(node, path, m.to_string()));
    if api_server.is_some() && kubeconfig_file.is_some() {
        return fail("cannot use 'kubeconfig_file' and 'api_server' simultaneously");
    }
    if kubeconfig_file.is_some() && custom_http {
        return fail(
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        );
    }
    if api_server.is_none() && custom_http {
        return fail(
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        );
    }
    if api_server.is_some() && namespaces.own_namespace {
        return fail("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
    }
    if kubeconfig_file.is_some() && namespaces.own_namespace {
        return fail("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously");
    }
    let mut selectors: Vec<KubernetesSelector> = Vec::new();
    for (item, ip, role_s, label, field) in selector_nodes {
        let sel_role = KubernetesRole::parse(&role_s);
        if selectors.iter().any(|s| Some(s.role) == sel_role) {
            return Err(doc.err(item, &ip, format!("duplicated selector role: {role_s}")));
        }
        let allowed = role.allowed_selectors();
        let Some(sel_role) = sel_role.filter(|r| allowed.contains(r)) else {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            return Err(doc.err(
                item,
                &ip,
                format!(
                    "{} role supports only {} selectors",
                    role.as_str(),
                    names.join(", ")
                ),
            ));
        };
        check_field_selector(&field).map_err(|m| doc.err(item, &format!("{ip}.field"), m))?;
        check_label_selector(&label).map_err(|m| doc.err(item, &format!("{ip}.label"), m))?;
        selectors.push(KubernetesSelector {
            role: sel_role,
            label,
            field,
        });
    }
    Ok(KubernetesSdConfig {
        role,
        api_server,
        kubeconfig_file,
        namespaces,
        selectors,
        attach_metadata,
        http_client,
    })
}

/// Kubernetes field selectors: comma-separated `key=value`, `key==value`
/// or `key!=value` terms (`fields.ParseSelector`).
fn check_field_selector(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Ok(());
    }
    for term in split_unescaped_commas(s) {
        let ok = ["!=", "==", "="].iter().any(|op| {
            term.split_once(op)
                .is_some_and(|(k, _)| !k.trim().is_empty())
        });
        if !ok {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{term}'"
            ));
        }
    }
    Ok(())
}

fn split_unescaped_commas(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Kubernetes label selectors (`labels.Parse`): terms `k`, `!k`, `k=v`,
/// `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`; keys are qualified
/// names, values at most 63 characters of `[A-Za-z0-9_.-]`.
fn check_label_selector(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Ok(());
    }
    let bad = |why: &str| Err(format!("invalid label selector {s:?}: {why}"));
    // Split on commas outside parentheses.
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    for term in terms {
        let t = term.trim();
        if t.is_empty() {
            return bad("empty term");
        }
        if let Some(k) = t.strip_prefix('!') {
            if !valid_label_key(k.trim()) {
                return bad("invalid key");
            }
            continue;
        }
        let set_op = [" notin ", " in "].iter().find_map(|op| t.split_once(op));
        if let Some((k, rest)) = set_op {
            let rest = rest.trim();
            let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
                return bad("expected a parenthesized value list");
            };
            if !valid_label_key(k.trim()) || !inner.split(',').all(|v| valid_label_value(v.trim()))
            {
                return bad("invalid key or value");
            }
            continue;
        }
        if let Some((k, v)) = ["!=", "==", "="].iter().find_map(|op| t.split_once(op)) {
            if !valid_label_key(k.trim()) || !valid_label_value(v.trim()) {
                return bad("invalid key or value");
            }
            continue;
        }
        if !valid_label_key(t) {
            return bad("invalid key");
        }
    }
    Ok(())
}

fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && (v.is_empty()
            || (v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())))
}

fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty()
            || p.len() > 253
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c)))
    {
        return false;
    }
    !name.is_empty() && valid_label_value(name)
}
