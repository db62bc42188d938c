//! Where the API server is and how to authenticate to it: `api_server`
//! with the config's HTTP client settings, a kubeconfig file, or the pod's
//! service account (in-cluster), as Prometheus chooses them.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use strata_config::{Authorization, BasicAuth, HttpClientConfig, KubernetesSdConfig};

/// The service account files a pod sees.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A configured client for one API server.
pub struct Api {
    /// Scheme, host and any path prefix, without a trailing `/`.
    base: String,
    client: reqwest::Client,
    http: HttpClientConfig,
}

impl Api {
    pub fn new(base: &str, http: HttpClientConfig) -> Result<Api, String> {
        let client = crate::client::build(&http)?;
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            client,
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A GET of `path_and_query` with the credentials (token files are
    /// re-read on every request, so a rotated service account token is
    /// picked up).
    pub fn get(&self, path_and_query: &str) -> Result<reqwest::RequestBuilder, String> {
        let req = self
            .client
            .get(format!("{}{path_and_query}", self.base))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("Strata/", env!("CARGO_PKG_VERSION")),
            );
        crate::client::authorize(req, &self.http)
    }
}

/// The API client of a config and, for `own_namespace`, the pod's own
/// namespace.
pub fn connect(cfg: &KubernetesSdConfig) -> Result<(Api, Option<String>), String> {
    if let Some(server) = &cfg.api_server {
        return Ok((Api::new(server, cfg.http_client.clone())?, None));
    }
    if let Some(file) = &cfg.kubeconfig_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("unable to read kubeconfig {file}: {e}"))?;
        let dir = Path::new(file).parent().unwrap_or(Path::new("."));
        let (server, http) =
            from_kubeconfig(&text, dir).map_err(|e| format!("kubeconfig {file}: {e}"))?;
        return Ok((Api::new(&server, http)?, None));
    }
    let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_default();
    let (server, http) = in_cluster(&host, &port, Path::new(SERVICE_ACCOUNT_DIR))?;
    let own = if cfg.namespaces.own_namespace {
        Some(own_namespace(Path::new(SERVICE_ACCOUNT_DIR))?)
    } else {
        None
    };
    tracing::info!("Kubernetes discovery: using the pod's service account (in-cluster)");
    Ok((Api::new(&server, http)?, own))
}

/// The in-cluster server and credentials from the service environment
/// and the service account directory `sa`.
pub fn in_cluster(host: &str, port: &str, sa: &Path) -> Result<(String, HttpClientConfig), String> {
    if host.is_empty() || port.is_empty() {
        return Err("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".into());
    }
    let token = sa.join("token");
    std::fs::metadata(&token).map_err(|e| format!("unable to read {}: {e}", token.display()))?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let mut http = HttpClientConfig::default();
    http.tls_config.ca_file = sa.join("ca.crt").display().to_string();
    http.authorization = Some(Authorization {
        kind: "Bearer".into(),
        credentials: String::new(),
        credentials_file: token.display().to_string(),
    });
    Ok((format!("https://{host}:{port}"), http))
}

pub fn own_namespace(sa: &Path) -> Result<String, String> {
    let path = sa.join("namespace");
    let ns = std::fs::read_to_string(&path)
        .map_err(|e| format!("could not determine the pod's namespace: {e}"))?;
    let ns = ns.trim();
    if ns.is_empty() {
        return Err("could not read own namespace name (empty file)".into());
    }
    Ok(ns.to_string())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct KubeConfig {
    current_context: String,
    contexts: Vec<Named<Context>>,
    clusters: Vec<Named<Cluster>>,
    users: Vec<Named<User>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Named<T: Default> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: T,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: String,
    certificate_authority_data: String,
    insecure_skip_tls_verify: bool,
    tls_server_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    token: String,
    #[serde(rename = "tokenFile")]
    token_file: String,
    client_certificate: String,
    client_certificate_data: String,
    client_key: String,
    client_key_data: String,
    username: String,
    password: String,
    exec: Option<serde::de::IgnoredAny>,
    auth_provider: Option<serde::de::IgnoredAny>,
}

fn relative(dir: &Path, file: &str) -> String {
    let p = PathBuf::from(file);
    if p.is_absolute() {
        file.to_string()
    } else {
        dir.join(p).display().to_string()
    }
}

fn pem_data(field: &str, b64: &str) -> Result<String, String> {
    let bytes = base64_decode(b64).ok_or_else(|| format!("{field}: invalid base64"))?;
    String::from_utf8(bytes).map_err(|_| format!("{field}: not PEM text"))
}

/// The current context's server and client settings from a kubeconfig;
/// relative file names are relative to `dir`, as kubectl reads them.
pub fn from_kubeconfig(text: &str, dir: &Path) -> Result<(String, HttpClientConfig), String> {
    let kc: KubeConfig = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    if kc.current_context.is_empty() {
        return Err("no current-context".into());
    }
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == kc.current_context)
        .ok_or_else(|| format!("context {:?} not found", kc.current_context))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.value.cluster)
        .ok_or_else(|| format!("cluster {:?} not found", ctx.value.cluster))?;
    let cl = &cluster.value;
    if cl.server.is_empty() {
        return Err(format!("cluster {:?} has no server", cluster.name));
    }
    let mut http = HttpClientConfig::default();
    let tls = &mut http.tls_config;
    if !cl.certificate_authority_data.is_empty() {
        tls.ca = pem_data("certificate-authority-data", &cl.certificate_authority_data)?;
    } else if !cl.certificate_authority.is_empty() {
        tls.ca_file = relative(dir, &cl.certificate_authority);
    }
    tls.insecure_skip_verify = cl.insecure_skip_tls_verify;
    tls.server_name = cl.tls_server_name.clone();

    if !ctx.value.user.is_empty() {
        let user = kc
            .users
            .iter()
            .find(|u| u.name == ctx.value.user)
            .ok_or_else(|| format!("user {:?} not found", ctx.value.user))?;
        let u = &user.value;
        if u.exec.is_some() || u.auth_provider.is_some() {
            return Err(format!(
                "user {:?}: exec and auth-provider credentials are not supported",
                user.name
            ));
        }
        if !u.client_certificate_data.is_empty() {
            tls.cert = pem_data("client-certificate-data", &u.client_certificate_data)?;
        } else if !u.client_certificate.is_empty() {
            tls.cert_file = relative(dir, &u.client_certificate);
        }
        if !u.client_key_data.is_empty() {
            tls.key = pem_data("client-key-data", &u.client_key_data)?;
        } else if !u.client_key.is_empty() {
            tls.key_file = relative(dir, &u.client_key);
        }
        if !u.token.is_empty() {
            http.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: u.token.clone(),
                credentials_file: String::new(),
            });
        } else if !u.token_file.is_empty() {
            http.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: String::new(),
                credentials_file: relative(dir, &u.token_file),
            });
        } else if !u.username.is_empty() {
            http.basic_auth = Some(BasicAuth {
                username: u.username.clone(),
                password: u.password.clone(),
                ..BasicAuth::default()
            });
        }
    }
    Ok((cl.server.clone(), http))
}

/// Standard base64 (padding optional, whitespace ignored); `None` when
/// the text is not base64.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let digits = match digits.iter().position(|&c| c == b'=') {
        Some(i) if digits[i..].iter().all(|&c| c == b'=') && digits[i..].len() <= 2 => &digits[..i],
        Some(_) => return None,
        None => &digits[..],
    };
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(
                base64_decode(enc).as_deref(),
                Some(plain.as_bytes()),
                "{enc}"
            );
            assert_eq!(
                base64_decode(enc.trim_end_matches('=')).as_deref(),
                Some(plain.as_bytes())
            );
        }
        assert_eq!(
            base64_decode("Zm9v\nYmFy\n").as_deref(),
            Some(&b"foobar"[..])
        );
        assert!(base64_decode("Zm9v!").is_none());
        assert!(base64_decode("Z").is_none());
        assert!(base64_decode("Zg==Zg").is_none());
    }

    #[test]
    fn kubeconfig_current_context_selects_cluster_and_user() {
        let text = r#"
apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: dev
  context: {cluster: dev, user: dev}
- name: prod
  context: {cluster: prod, user: admin, namespace: default}
clusters:
- name: dev
  cluster: {server: "https://dev:6443"}
- name: prod
  cluster:
    server: https://prod.example:6443
    certificate-authority-data: Zm9vYmFy
    tls-server-name: kube
users:
- name: dev
  user: {token: nope}
- name: admin
  user:
    client-certificate: certs/admin.crt
    client-key-data: Zm9v
    tokenFile: /run/token
"#;
        let (server, http) =
            from_kubeconfig(text, Path::new("/etc/kube")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(server, "https://prod.example:6443");
        assert_eq!(http.tls_config.ca, "foobar");
        assert_eq!(http.tls_config.server_name, "kube");
        assert_eq!(http.tls_config.cert_file, "/etc/kube/certs/admin.crt");
        assert_eq!(http.tls_config.key, "foo");
        let auth = http.authorization.unwrap_or_else(|| panic!("no auth"));
        assert_eq!(auth.credentials_file, "/run/token");
        assert_eq!(auth.kind, "Bearer");

        assert!(from_kubeconfig("current-context: x\n", Path::new(".")).is_err());
        let exec = "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://x'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n";
        let err = from_kubeconfig(exec, Path::new("."))
            .err()
            .unwrap_or_default();
        assert!(err.contains("exec"), "{err}");
    }

    #[test]
    fn in_cluster_reads_the_service_account() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(in_cluster("", "443", dir.path()).is_err());
        assert!(
            in_cluster("10.0.0.1", "443", dir.path()).is_err(),
            "no token file"
        );
        std::fs::write(dir.path().join("token"), "tok\n").unwrap_or_else(|e| panic!("{e}"));
        let (server, http) =
            in_cluster("fd00::1", "443", dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(server, "https://[fd00::1]:443");
        assert!(http.tls_config.ca_file.ends_with("ca.crt"));
        assert!(own_namespace(dir.path()).is_err());
        std::fs::write(dir.path().join("namespace"), "monitoring")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(own_namespace(dir.path()).as_deref(), Ok("monitoring"));
    }
}
