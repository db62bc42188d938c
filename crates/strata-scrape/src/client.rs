//! HTTP clients from a config's `HttpClientConfig`: redirects, HTTP/2,
//! TLS (rustls) and the per-request authorization (basic auth or an
//! `Authorization` credential, files re-read on every request so rotated
//! secrets are picked up, as Prometheus does).

use std::time::Duration;
use strata_config::HttpClientConfig;

/// Builds the client a scrape pool (or an HTTP SD config) uses.
pub fn build(cfg: &HttpClientConfig) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(300))
        // Decompression is the scrape loop's, under its body size limit.
        .no_gzip()
        .redirect(if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        });
    if !cfg.enable_http2 {
        b = b.http1_only();
    }
    b = crate::tls::configure(b, &cfg.tls_config)?;
    b.build().map_err(|e| e.to_string())
}

fn read_secret(inline: &str, file: &str) -> Result<String, String> {
    if !file.is_empty() {
        return std::fs::read_to_string(file)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("unable to read {file}: {e}"));
    }
    Ok(inline.to_string())
}

/// Adds the configured credentials and headers to a request.
pub fn authorize(
    mut req: reqwest::RequestBuilder,
    cfg: &HttpClientConfig,
) -> Result<reqwest::RequestBuilder, String> {
    if let Some(b) = &cfg.basic_auth {
        let user = read_secret(&b.username, &b.username_file)?;
        let password = read_secret(&b.password, &b.password_file)?;
        req = req.basic_auth(user, Some(password));
    }
    if let Some(a) = &cfg.authorization {
        let credentials = read_secret(&a.credentials, &a.credentials_file)?;
        let kind = if a.kind.is_empty() { "Bearer" } else { &a.kind };
        req = req.header(
            reqwest::header::AUTHORIZATION,
            format!("{kind} {credentials}"),
        );
    }
    for (name, h) in &cfg.http_headers {
        for v in header_values(h)? {
            req = req.header(name.as_str(), v);
        }
    }
    Ok(req)
}

fn header_values(h: &strata_config::HttpHeader) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = h.values.clone();
    out.extend(h.secrets.iter().cloned());
    for f in &h.files {
        out.push(read_secret("", f)?);
    }
    Ok(out)
}
