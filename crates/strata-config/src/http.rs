//! The HTTP client settings Prometheus inlines into scrape, discovery,
//! Alertmanager and remote-storage sections (prometheus/common's
//! `HTTPClientConfig`).

use crate::error::ConfigError;
use crate::yaml::{Doc, Fields, Node};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasicAuth {
    pub username: String,
    pub username_file: String,
    pub password: String,
    pub password_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authorization {
    /// Defaults to `Bearer`.
    pub kind: String,
    pub credentials: String,
    pub credentials_file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    fn parse(s: &str) -> Option<TlsVersion> {
        Some(match s {
            "TLS10" => TlsVersion::Tls10,
            "TLS11" => TlsVersion::Tls11,
            "TLS12" => TlsVersion::Tls12,
            "TLS13" => TlsVersion::Tls13,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "TLS10",
            TlsVersion::Tls11 => "TLS11",
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsConfig {
    pub ca: String,
    pub ca_file: String,
    pub cert: String,
    pub cert_file: String,
    pub key: String,
    pub key_file: String,
    pub server_name: String,
    pub insecure_skip_verify: bool,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
}

/// One `http_headers` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpHeader {
    pub values: Vec<String>,
    pub secrets: Vec<String>,
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    /// `bearer_token`/`bearer_token_file` are folded into this, as
    /// Prometheus does.
    pub authorization: Option<Authorization>,
    pub tls_config: TlsConfig,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    pub http_headers: Vec<(String, HttpHeader)>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            http_headers: Vec::new(),
        }
    }
}

/// Fields that Prometheus accepts and Strata does not implement yet: a
/// config using them is refused rather than run differently.
const UNSUPPORTED: [&str; 5] = [
    "oauth2",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
];

fn join_dir(base: &Path, file: &str) -> String {
    if file.is_empty() || Path::new(file).is_absolute() {
        file.to_string()
    } else {
        base.join(file).to_string_lossy().into_owned()
    }
}

impl HttpClientConfig {
    /// Takes the inlined HTTP client fields out of `f` and validates them as
    /// prometheus/common's `HTTPClientConfig.Validate` does. File paths are
    /// joined to `base_dir` when relative.
    pub(crate) fn take(
        doc: &Doc<'_>,
        f: &mut Fields<'_>,
        node: &Node,
        base_dir: &Path,
        defaults: HttpClientConfig,
    ) -> Result<HttpClientConfig, ConfigError> {
        let mut c = defaults;
        for key in UNSUPPORTED {
            if let Some(n) = f.take(key) {
                return Err(doc.err(
                    n,
                    &f.child(key),
                    format!("{key} is not supported by Strata yet"),
                ));
            }
        }
        if let Some(n) = f.take("basic_auth") {
            let p = f.child("basic_auth");
            let mut b = doc.fields(n, &p)?;
            let mut ba = BasicAuth::default();
            for (key, slot) in [
                ("username", &mut ba.username),
                ("username_file", &mut ba.username_file),
                ("password", &mut ba.password),
                ("password_file", &mut ba.password_file),
            ] {
                if let Some(v) = b.take(key) {
                    *slot = doc.string(v, &b.child(key))?;
                }
            }
            for key in ["username_ref", "password_ref"] {
                if let Some(v) = b.take(key) {
                    return Err(doc.err(
                        v,
                        &b.child(key),
                        format!("{key} is not supported by Strata yet"),
                    ));
                }
            }
            b.finish(doc)?;
            if !ba.username.is_empty() && !ba.username_file.is_empty() {
                return Err(doc.err(
                    n,
                    &p,
                    "at most one of basic_auth username & username_file must be configured",
                ));
            }
            if !ba.password.is_empty() && !ba.password_file.is_empty() {
                return Err(doc.err(
                    n,
                    &p,
                    "at most one of basic_auth password & password_file must be configured",
                ));
            }
            ba.username_file = join_dir(base_dir, &ba.username_file);
            ba.password_file = join_dir(base_dir, &ba.password_file);
            c.basic_auth = Some(ba);
        }
        let mut bearer = String::new();
        let mut bearer_file = String::new();
        if let Some(n) = f.take("bearer_token") {
            bearer = doc.string(n, &f.child("bearer_token"))?;
        }
        if let Some(n) = f.take("bearer_token_file") {
            bearer_file = doc.string(n, &f.child("bearer_token_file"))?;
        }
        let mut auth_node = None;
        if let Some(n) = f.take("authorization") {
            let p = f.child("authorization");
            let mut a = doc.fields(n, &p)?;
            let mut au = Authorization::default();
            for (key, slot) in [
                ("type", &mut au.kind),
                ("credentials", &mut au.credentials),
                ("credentials_file", &mut au.credentials_file),
            ] {
                if let Some(v) = a.take(key) {
                    *slot = doc.string(v, &a.child(key))?;
                }
            }
            if let Some(v) = a.take("credentials_ref") {
                return Err(doc.err(
                    v,
                    &a.child("credentials_ref"),
                    "credentials_ref is not supported by Strata yet",
                ));
            }
            a.finish(doc)?;
            auth_node = Some(n);
            c.authorization = Some(au);
        }
        if let Some(n) = f.take("follow_redirects") {
            c.follow_redirects = doc.bool(n, &f.child("follow_redirects"))?;
        }
        if let Some(n) = f.take("enable_http2") {
            c.enable_http2 = doc.bool(n, &f.child("enable_http2"))?;
        }
        if let Some(n) = f.take("tls_config") {
            c.tls_config = TlsConfig::decode(doc, n, &f.child("tls_config"), base_dir)?;
        }
        if let Some(n) = f.take("http_headers") {
            let p = f.child("http_headers");
            for (name, _, v) in doc.entries(n, &p)? {
                let hp = format!("{p}.{name}");
                let mut h = doc.fields(v, &hp)?;
                let mut header = HttpHeader::default();
                if let Some(x) = h.take("values") {
                    header.values = doc.strings(x, &h.child("values"))?;
                }
                if let Some(x) = h.take("secrets") {
                    header.secrets = doc.strings(x, &h.child("secrets"))?;
                }
                if let Some(x) = h.take("files") {
                    header.files = doc
                        .strings(x, &h.child("files"))?
                        .iter()
                        .map(|f| join_dir(base_dir, f))
                        .collect();
                }
                h.finish(doc)?;
                c.http_headers.push((name, header));
            }
        }

        // prometheus/common's checks, in its order.
        if !bearer.is_empty() && !bearer_file.is_empty() {
            return Err(doc.err(
                node,
                &f.path,
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if c.basic_auth.is_some() && (!bearer.is_empty() || !bearer_file.is_empty()) {
            return Err(doc.err(
                node,
                &f.path,
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        if let (Some(au), Some(n)) = (&mut c.authorization, auth_node) {
            let p = f.child("authorization");
            if !bearer.is_empty() || !bearer_file.is_empty() {
                return Err(doc.err(
                    n,
                    &p,
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            if !au.credentials.is_empty() && !au.credentials_file.is_empty() {
                return Err(doc.err(n, &p, "at most one of authorization credentials & credentials_file must be configured"));
            }
            au.kind = au.kind.trim().to_string();
            if au.kind.is_empty() {
                au.kind = "Bearer".to_string();
            }
            if au.kind.eq_ignore_ascii_case("basic") {
                return Err(doc.err(
                    n,
                    &p,
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
            au.credentials_file = join_dir(base_dir, &au.credentials_file);
        }
        if c.basic_auth.is_some() && c.authorization.is_some() {
            return Err(doc.err(
                node,
                &f.path,
                "at most one of basic_auth, oauth2 & authorization must be configured",
            ));
        }
        if !bearer.is_empty() || !bearer_file.is_empty() {
            c.authorization = Some(Authorization {
                kind: "Bearer".to_string(),
                credentials: bearer,
                credentials_file: join_dir(base_dir, &bearer_file),
            });
        }
        Ok(c)
    }
}

impl TlsConfig {
    fn decode(
        doc: &Doc<'_>,
        node: &Node,
        path: &str,
        base_dir: &Path,
    ) -> Result<TlsConfig, ConfigError> {
        let mut f = doc.fields(node, path)?;
        let mut t = TlsConfig::default();
        for (key, slot) in [
            ("ca", &mut t.ca),
            ("ca_file", &mut t.ca_file),
            ("cert", &mut t.cert),
            ("cert_file", &mut t.cert_file),
            ("key", &mut t.key),
            ("key_file", &mut t.key_file),
            ("server_name", &mut t.server_name),
        ] {
            if let Some(n) = f.take(key) {
                *slot = doc.string(n, &f.child(key))?;
            }
        }
        for key in ["ca_ref", "cert_ref", "key_ref"] {
            if let Some(n) = f.take(key) {
                return Err(doc.err(
                    n,
                    &f.child(key),
                    format!("{key} is not supported by Strata yet"),
                ));
            }
        }
        if let Some(n) = f.take("insecure_skip_verify") {
            t.insecure_skip_verify = doc.bool(n, &f.child("insecure_skip_verify"))?;
        }
        for (key, slot) in [
            ("min_version", &mut t.min_version),
            ("max_version", &mut t.max_version),
        ] {
            if let Some(n) = f.take(key) {
                let p = f.child(key);
                let s = doc.string(n, &p)?;
                if !s.is_empty() {
                    *slot = Some(
                        TlsVersion::parse(&s)
                            .ok_or_else(|| doc.err(n, &p, format!("unknown TLS version: {s}")))?,
                    );
                }
            }
        }
        f.finish(doc)?;
        let pairs = [
            ("ca", &t.ca, &t.ca_file),
            ("cert", &t.cert, &t.cert_file),
            ("key", &t.key, &t.key_file),
        ];
        for (what, inline, file) in pairs {
            if !inline.is_empty() && !file.is_empty() {
                return Err(doc.err(
                    node,
                    path,
                    format!("at most one of {what}, {what}_file & {what}_ref must be configured"),
                ));
            }
        }
        let has_cert = !t.cert.is_empty() || !t.cert_file.is_empty();
        let has_key = !t.key.is_empty() || !t.key_file.is_empty();
        if has_cert && !has_key {
            return Err(doc.err(node, path, "exactly one of key or key_file must be configured when a client certificate is configured"));
        }
        if has_key && !has_cert {
            return Err(doc.err(node, path, "exactly one of cert or cert_file must be configured when a client key is configured"));
        }
        if let (Some(min), Some(max)) = (t.min_version, t.max_version)
            && min > max
        {
            return Err(doc.err(
                node,
                path,
                "tls_config.max_version must be greater than or equal to tls_config.min_version",
            ));
        }
        t.ca_file = join_dir(base_dir, &t.ca_file);
        t.cert_file = join_dir(base_dir, &t.cert_file);
        t.key_file = join_dir(base_dir, &t.key_file);
        Ok(t)
    }
}
