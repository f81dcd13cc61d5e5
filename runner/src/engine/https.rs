//! The HTTP(S) transport of the registry client ([`super::registry`]): hyper 1 over rustls
//! (aws-lc-rs, the provider the rest of the project uses) with the system's root certificates
//! (`/etc/ssl/certs`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), plus any root certificate given with
//! [`Transport::with_root_certificate`] (a private CA, a test registry).
//!
//! Which scheme a registry gets: HTTPS, except plain HTTP for loopback registries and those
//! named insecure — unless named in [`Transport::force_tls`] (a loopback registry with TLS).
//! The same crates are in the build through the AWS SDK's HTTP client, so this adds none.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TlsError {
    #[error("invalid root certificate: {0}")]
    InvalidCertificate(String),
}

/// An HTTP/1 client for `http://` and `https://` URLs. Cheap to clone.
#[derive(Clone)]
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Root certificates trusted on top of the system's.
    extra_roots: Vec<CertificateDer<'static>>,
    /// Registries (`host[:port]`) spoken to over HTTPS even when loopback or named insecure.
    force_tls: BTreeSet<String>,
}

impl Default for Transport {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").field("extra_roots", &self.extra_roots.len()).field("force_tls", &self.force_tls).finish()
    }
}

impl Transport {
    /// Trusts the system's root certificates.
    pub fn new() -> Self {
        Self { client: client(&[]), extra_roots: Vec::new(), force_tls: BTreeSet::new() }
    }

    /// Also trusts the certificates in `pem` (one or more `CERTIFICATE` blocks).
    pub fn with_root_certificate(mut self, pem: &[u8]) -> Result<Self, TlsError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::InvalidCertificate(format!("not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(TlsError::InvalidCertificate("no CERTIFICATE block in the PEM text".into()));
        }
        let mut check = RootCertStore::empty();
        for cert in &certs {
            check.add(cert.clone()).map_err(|e| TlsError::InvalidCertificate(e.to_string()))?;
        }
        self.extra_roots.extend(certs);
        self.client = client(&self.extra_roots);
        Ok(self)
    }

    /// Speak HTTPS to `registry` (`host[:port]`) even when it is loopback or named insecure.
    pub fn force_tls(&mut self, registry: impl Into<String>) {
        self.force_tls.insert(registry.into());
    }

    /// `https`, or `http` when `plain_http_allowed` (loopback or named insecure) and `registry`
    /// is not in [`Self::force_tls`].
    pub fn scheme(&self, registry: &str, plain_http_allowed: bool) -> &'static str {
        if plain_http_allowed && !self.force_tls.contains(registry) {
            "http"
        } else {
            "https"
        }
    }

    /// Sends `request` (an absolute `http://` or `https://` URI).
    pub fn request(&self, request: Request<Full<Bytes>>) -> ResponseFuture {
        self.client.request(request)
    }
}

/// The system's root certificates, read once per process. Unreadable ones are skipped: with none
/// at all, HTTPS registries fail with an unknown-issuer error naming the registry.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

fn client(extra_roots: &[CertificateDer<'static>]) -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
    let mut roots = system_roots().clone();
    roots.add_parsable_certificates(extra_roots.iter().cloned());
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let connector = HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_choice() {
        let mut t = Transport::new();
        assert_eq!(t.scheme("registry.example.com", false), "https");
        assert_eq!(t.scheme("127.0.0.1:5055", true), "http");
        t.force_tls("127.0.0.1:5443");
        assert_eq!(t.scheme("127.0.0.1:5443", true), "https");
        assert_eq!(t.scheme("127.0.0.1:5055", true), "http");
    }

    #[test]
    fn root_certificates_must_be_pem_certificates() {
        assert!(Transport::new().with_root_certificate(b"").is_err());
        assert!(Transport::new().with_root_certificate(b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n").is_err());
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        let t = Transport::new().with_root_certificate(cert.pem().as_bytes()).unwrap();
        assert_eq!(t.extra_roots.len(), 1);
    }
}
