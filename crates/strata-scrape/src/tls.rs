//! `tls_config` as rustls client settings: CA (file or inline), client
//! certificate, `server_name`, `insecure_skip_verify`, TLS versions.
//!
//! Without a `tls_config` reqwest's own rustls setup (the platform's
//! roots) is used unchanged; with one, a rustls `ClientConfig` is built
//! here and handed to reqwest. rustls speaks TLS 1.2 and 1.3 only: a
//! `min_version` of TLS10/TLS11 means TLS 1.2.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::sync::Arc;
use strata_config::{TlsConfig, TlsVersion};

/// Installs ring as the process' rustls provider once (reqwest is built
/// without one, so that only one crypto library is linked).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn pem_or_file(inline: &str, file: &str, what: &str) -> Result<Option<Vec<u8>>, String> {
    if !inline.is_empty() {
        return Ok(Some(inline.as_bytes().to_vec()));
    }
    if file.is_empty() {
        return Ok(None);
    }
    std::fs::read(file)
        .map(Some)
        .map_err(|e| format!("unable to read {what} file {file}: {e}"))
}

/// Accepts any certificate (Go's `InsecureSkipVerify`), still checking
/// that the handshake signatures are made with the presented key.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies against `server_name` instead of the URL's host.
#[derive(Debug)]
struct NamedVerification {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerification {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The rustls settings of a `tls_config`; `None` when it is all defaults.
pub fn client_config(cfg: &TlsConfig) -> Result<Option<rustls::ClientConfig>, String> {
    if *cfg == TlsConfig::default() {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    let min = cfg.min_version.unwrap_or(TlsVersion::Tls12);
    let max = cfg.max_version.unwrap_or(TlsVersion::Tls13);
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err("tls_config: no TLS version Strata supports (1.2, 1.3) is allowed".into());
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_config: {e}"))?;

    let mut roots = rustls::RootCertStore::empty();
    match pem_or_file(&cfg.ca, &cfg.ca_file, "CA")? {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("tls_config: CA: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls_config: CA: {e}"))?;
            }
            if roots.is_empty() {
                return Err("tls_config: the CA holds no certificate".into());
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let roots = Arc::new(roots);
    let verifier: Arc<dyn ServerCertVerifier> = if cfg.insecure_skip_verify {
        Arc::new(NoVerification(provider.clone()))
    } else {
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| format!("tls_config: {e}"))?;
        if cfg.server_name.is_empty() {
            inner
        } else {
            let name = ServerName::try_from(cfg.server_name.clone())
                .map_err(|e| format!("tls_config: server_name {:?}: {e}", cfg.server_name))?;
            Arc::new(NamedVerification { inner, name })
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cert = pem_or_file(&cfg.cert, &cfg.cert_file, "certificate")?;
    let key = pem_or_file(&cfg.key, &cfg.key_file, "key")?;
    let config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("tls_config: certificate: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_slice(&key).map_err(|e| format!("tls_config: key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls_config: client certificate: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("tls_config: cert and key must be given together".into()),
    };
    Ok(Some(config))
}

/// Applies a `tls_config` to a client builder.
pub fn configure(
    b: reqwest::ClientBuilder,
    cfg: &TlsConfig,
) -> Result<reqwest::ClientBuilder, String> {
    install_provider();
    Ok(match client_config(cfg)? {
        Some(c) => b.tls_backend_preconfigured(c),
        None => b,
    })
}
